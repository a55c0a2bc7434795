"""The benchmark's day of appeals: how many, when, what, and how many repeats."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from services.appeals.domain.intake import AppealCreate, HotlineAppealCreate
from services.bench.workload import (
    DAY_WEIGHTS,
    AppealSample,
    peak_factor,
    plan_day,
    samples_from_city,
    send_times,
)
from shared.city import City, load_city
from shared.settings import DEMO_CITY

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference-city"


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


@pytest.fixture(scope="module")
def samples(city: City) -> list[AppealSample]:
    labelled = REFERENCE / "dev-appeals.jsonl"
    return samples_from_city(city, labelled if labelled.is_file() else None)


def test_samples_cover_every_catalog_example_at_an_address(
    city: City, samples: list[AppealSample]
) -> None:
    examples = sum(len(m.examples) for m in city.catalog.matters)
    from_catalog = [s for s in samples if s.text.startswith(s.address or "\0")]
    assert len(from_catalog) >= examples
    assert all(s.address or s.location for s in samples)


def test_plan_has_rate_times_duration_requests_in_send_order(
    samples: list[AppealSample],
) -> None:
    plan = plan_day(samples, rate=50, duration=20)
    assert len(plan) == 1000
    times = [p.at for p in plan]
    assert times == sorted(times)
    assert 0 <= times[0] and times[-1] < 20


def test_about_five_percent_repeat_an_earlier_appeal(samples: list[AppealSample]) -> None:
    plan = plan_day(samples, rate=100, duration=40)
    kinds = Counter(p.kind for p in plan)
    repeats = kinds["resend"] + kinds["near_duplicate"]
    assert 0.03 * len(plan) < repeats < 0.07 * len(plan)
    assert kinds["resend"] > 0 and kinds["near_duplicate"] > 0


def test_a_resend_is_the_same_request_with_the_same_key(samples: list[AppealSample]) -> None:
    plan = plan_day(samples, rate=100, duration=20)
    resends = [p for p in plan if p.kind == "resend"]
    assert resends
    for resend in resends:
        assert resend.of is not None
        original = plan[resend.of]
        assert original.at <= resend.at
        assert resend.idempotency_key == original.idempotency_key
        assert resend.body == original.body
        assert resend.channel == original.channel


def test_a_near_duplicate_is_the_same_place_and_matter_in_new_words(
    samples: list[AppealSample],
) -> None:
    plan = plan_day(samples, rate=100, duration=20)
    near = [p for p in plan if p.kind == "near_duplicate"]
    assert near
    keys = Counter(p.idempotency_key for p in plan if p.kind != "resend")
    for item in near:
        assert item.of is not None
        original = plan[item.of]
        assert item.body.get("address") == original.body.get("address")
        assert item.extra["sample"].matter == original.extra["sample"].matter
        assert keys[item.idempotency_key] == 1


def test_bodies_are_what_intake_accepts(samples: list[AppealSample]) -> None:
    plan = plan_day(samples, rate=50, duration=20)
    channels = Counter(p.channel for p in plan)
    assert channels["web"] and channels["hotline"]
    for item in plan:
        model = HotlineAppealCreate if item.channel == "hotline" else AppealCreate
        model.model_validate(item.body)
        # the service takes the operator from the login, not from the body
        assert "operator_id" not in item.body
        assert item.path.endswith("/hotline/appeals") == (item.channel == "hotline")


def test_web_only_plan(samples: list[AppealSample]) -> None:
    plan = plan_day(samples, rate=20, duration=10, hotline_share=0.0)
    assert {p.channel for p in plan} == {"web"}


def test_same_seed_same_plan(samples: list[AppealSample]) -> None:
    one = plan_day(samples, rate=20, duration=10, seed=3)
    two = plan_day(samples, rate=20, duration=10, seed=3)
    assert [(p.at, p.body) for p in one] == [(p.at, p.body) for p in two]


def test_day_shape_has_peaks_and_a_quiet_night() -> None:
    import random

    times = send_times(24_000, 24.0, shape="day", rng=random.Random(1))
    per_hour = Counter(int(t) for t in times)
    assert per_hour[10] > 4 * per_hour[3]  # mid-morning vs before dawn
    assert per_hour[20] > per_hour[16]  # the evening peak
    assert peak_factor("day") == pytest.approx(max(DAY_WEIGHTS) * 24 / sum(DAY_WEIGHTS))


def test_flat_shape_is_evenly_spaced() -> None:
    import random

    times = send_times(4, 2.0, shape="flat", rng=random.Random(1))
    assert times == [0.0, 0.5, 1.0, 1.5]
    assert peak_factor("flat") == 1.0


def test_nonsense_rates_are_refused(samples: list[AppealSample]) -> None:
    with pytest.raises(ValueError, match="positive"):
        plan_day(samples, rate=0, duration=10)
