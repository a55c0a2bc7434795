"""Seeded appeals look exactly like the ones the appeals service stores.

``appeals bench seed`` restates the document layout (the benchmark may not import a service);
these tests read its documents back with the service's own reader, so a drift fails here.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from services.appeals.adapters.documents import APPEAL_FIELDS, appeal_fields, appeal_from_doc
from services.bench.seed import STATE_PATHS, appeal_document, generate, targets_of
from shared.city import City, load_city
from shared.events import EventEnvelope, decode_event
from shared.settings import DEMO_CITY


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


@pytest.fixture(scope="module")
def docs(city: City) -> list[dict]:
    return [doc for doc, _token in generate(city, 400, seed=5)]


def test_state_shares_add_up_to_one() -> None:
    assert sum(share for _s, _e, share in STATE_PATHS) == pytest.approx(1.0)


def test_documents_read_back_with_the_service_reader(city: City, docs: list[dict]) -> None:
    for doc in docs:
        appeal = appeal_from_doc(doc)
        assert appeal.state == doc["state"]
        # the fields the service would write for this aggregate are the ones seeded
        written = appeal_fields(appeal, city)
        for name in (
            "holder",
            "unit",
            "handlers",
            "is_open",
            "state",
            "lead_unit",
            "matter",
            "street",
        ):
            assert doc[name] == written[name], name


def test_every_aggregate_field_is_present(docs: list[dict]) -> None:
    expected = set(APPEAL_FIELDS) - {"id"}
    for doc in docs:
        assert expected <= doc.keys()


def test_events_are_valid_envelopes_in_order(docs: list[dict]) -> None:
    for doc in docs:
        events = doc["events"]
        assert events[0]["type"] == "appeal.received"
        assert doc["version"] == len(events)
        times = [e["occurred_at"] for e in events]
        assert times == sorted(times)
        for event in events:
            envelope = EventEnvelope.model_validate(event)
            decode_event(envelope.model_dump(mode="json"))


def test_states_follow_the_year(docs: list[dict]) -> None:
    states = Counter(doc["state"] for doc in docs)
    assert states["closed"] > len(docs) / 2
    assert {"dispatched", "triage", "transferred"} <= states.keys()


def _open_share_and_ages(city: City, backlog: str) -> tuple[float, list[float]]:
    docs = [doc for doc, _token in generate(city, 4000, seed=3, backlog=backlog)]  # type: ignore[arg-type]
    now = max(doc["received_at"] for doc in docs)
    open_ages = [
        (now - doc["received_at"]).total_seconds() / 86400 for doc in docs if doc["is_open"]
    ]
    return len(open_ages) / len(docs), open_ages


def test_a_steady_backlog_holds_only_recent_work_open(city: City) -> None:
    # Open work is what the last two weeks' intake has not finished: ~2% of a year's appeals
    # (14/365 x 1/2), most of it from the last days.
    share, ages = _open_share_and_ages(city, "steady")
    assert 0.01 < share < 0.03
    assert max(ages) <= 14.01
    assert sum(1 for a in ages if a < 7) > 2 * sum(1 for a in ages if a >= 7)


def test_a_heavy_backlog_keeps_the_open_share_of_every_size(city: City) -> None:
    share, ages = _open_share_and_ages(city, "heavy")
    assert 0.15 < share < 0.21
    assert max(ages) <= 14.01


def test_an_unknown_backlog_is_refused(city: City) -> None:
    with pytest.raises(ValueError, match="backlog must be one of steady, heavy"):
        next(generate(city, 1, backlog="huge"))  # type: ignore[arg-type]


def test_only_the_first_appeals_carry_a_token(city: City) -> None:
    tokens = [token for _doc, token in generate(city, 5, tokens=2)]
    assert tokens[2:] == ["-", "-", "-"]
    assert all(t.startswith("seed-") for t in tokens[:2])


def test_targets_are_units_of_the_city(city: City) -> None:
    targets = targets_of(city)
    assert all(t.unit in city.units for t in targets)
    doc = appeal_document(random.Random(1), targets, datetime.now(UTC), "x")
    assert doc["outbox"] == [] and doc["outbox_pending"] is False


def test_tracking_numbers_are_unique(city: City) -> None:
    # The service's unique index on tracking_no must build over whatever was seeded.
    numbers = [doc["tracking_no"][8:] for doc, _token in generate(city, 3000, seed=2)]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 8 and n.isdigit() for n in numbers)


def test_a_repeated_batch_that_finds_only_its_own_documents_is_done() -> None:
    from pymongo.errors import BulkWriteError

    from services.bench.seed import stored_before

    duplicates = BulkWriteError({"writeErrors": [{"code": 11000}, {"code": 11000}]})
    assert stored_before(duplicates)
    mixed = BulkWriteError({"writeErrors": [{"code": 11000}, {"code": 121}]})  # validation
    assert not stored_before(mixed)
    assert not stored_before(BulkWriteError({"writeErrors": []}))
