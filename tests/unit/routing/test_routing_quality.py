"""Regression guard: cross-validated quality on the reference dev set must not fall.

The floors are the figures measured when the router was tuned (docs/routing.md) minus a margin,
so that an honest change of method passes while a real loss of quality fails. Every case is
routed by a router that was trained on the catalog plus the *other* folds, never on itself.
"""

from __future__ import annotations

import pytest

from services.routing.adapters.training_data import AppealRecord
from services.routing.domain.evaluation import (
    CrossValidation,
    cross_validate,
    score,
    threshold_curve,
)
from services.routing.domain.router import (
    DEFAULT_THRESHOLD,
    LabelledAppeal,
    RouteOutcome,
    Router,
)
from shared.city import City

# Measured 5-fold (docs/routing.md): see MEASURED_* for the figures, the floors keep a margin.
MEASURED_PRECISION = 1.0
MEASURED_COVERAGE = 0.9083
PRECISION_FLOOR = MEASURED_PRECISION - 0.03
COVERAGE_FLOOR = MEASURED_COVERAGE - 0.06


@pytest.fixture(scope="module")
def cv(city: City, dev_records: list[AppealRecord]) -> CrossValidation:
    def factory(examples: list[LabelledAppeal]) -> Router:
        return Router.from_city(city, training=examples, threshold=0.0)

    return cross_validate(dev_records, factory, folds=5)  # type: ignore[arg-type]


def test_auto_dispatch_precision_and_coverage(cv: CrossValidation, city: City) -> None:
    figures = score(cv.cases, cv.outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["precision"] >= PRECISION_FLOOR, figures
    assert figures["coverage"] >= COVERAGE_FLOOR, figures


def test_every_emergency_is_transferred_and_nothing_else(cv: CrossValidation, city: City) -> None:
    figures = score(cv.cases, cv.outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["emergencies"] > 0
    assert figures["emergencies_transferred"] == figures["emergencies"]
    assert figures["false_transfers"] == 0


def test_nothing_is_dispatched_that_has_no_unit(cv: CrossValidation, city: City) -> None:
    figures = score(cv.cases, cv.outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["dispatched_without_unit"] == 0
    # Placement was right for every placeable appeal when measured: keep it that way.
    assert figures["street_accuracy"] >= 0.99 and figures["community_accuracy"] >= 0.99


def test_precision_rises_with_the_threshold(cv: CrossValidation) -> None:
    curve = threshold_curve(cv.cases, cv.outcomes, [0.0, DEFAULT_THRESHOLD, 0.9])
    assert curve[0]["coverage"] == 1.0  # at threshold 0 everything placeable is dispatched
    assert curve[0]["precision"] <= curve[1]["precision"] <= curve[2]["precision"]
    assert curve[0]["coverage"] >= curve[1]["coverage"] >= curve[2]["coverage"]


# A probe of unseen wording: 42 appeals written for this test after the dev set, one or two per
# matter, some in English, three emergencies. Four phrase-table entries were added after a
# first run on it (docs/routing.md), so it is only a rough guard against over-fitting dev.
PROBE_PRECISION_FLOOR = 0.93
PROBE_COVERAGE_FLOOR = 0.60


def test_probe_of_unseen_wording(city: City, dev_records: list[AppealRecord]) -> None:
    from pathlib import Path

    from services.routing.adapters.training_data import read_appeals, training_examples

    probe = read_appeals(Path(__file__).with_name("probe-appeals.jsonl"))
    router = Router.from_city(city, training=training_examples(dev_records), threshold=0.0)
    outcomes = [router.route(case.request) for case in probe]
    figures = score(probe, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["emergencies"] == 3
    assert figures["emergencies_transferred"] == 3 and figures["false_transfers"] == 0
    assert figures["precision"] >= PROBE_PRECISION_FLOOR, figures
    assert figures["coverage"] >= PROBE_COVERAGE_FLOOR, figures


# Fresh probes written after the phrase table of 2026-11-26 (docs/routing.md): probe2 was read
# while broadening the table (diagnostic), probe4 was written afterwards and only its emergencies
# were looked at. Floors sit below the measured figures (probe2 0.978/0.885, probe4 1.0/0.63).
@pytest.mark.parametrize(
    ("name", "emergencies", "precision_floor", "coverage_floor"),
    [("probe2-appeals.jsonl", 5, 0.93, 0.75), ("probe4-appeals.jsonl", 3, 0.93, 0.50)],
)
def test_fresh_probes(
    city: City,
    dev_records: list[AppealRecord],
    name: str,
    emergencies: int,
    precision_floor: float,
    coverage_floor: float,
) -> None:
    from pathlib import Path

    from services.routing.adapters.training_data import read_appeals, training_examples

    probe = read_appeals(Path(__file__).with_name(name))
    router = Router.from_city(city, training=training_examples(dev_records), threshold=0.0)
    outcomes = [router.route(case.request) for case in probe]
    figures = score(probe, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["emergencies"] == emergencies
    assert figures["emergencies_transferred"] == emergencies and figures["false_transfers"] == 0
    assert figures["dispatched_without_unit"] == 0
    assert figures["precision"] >= precision_floor, figures
    assert figures["coverage"] >= coverage_floor, figures


# probe5 (2026-11-26): 61 appeals written blind, before any change of that day, from general
# knowledge of what residents say (3 emergencies, 3 that cannot be placed). Measured once at
# the start and once at the end (docs/routing.md): matter 0.82, precision 0.946 (35/37),
# coverage 0.673 at the default threshold 0.55. Its known failures are guarded, not hidden.
PROBE5_PRECISION_FLOOR = 0.90
PROBE5_COVERAGE_FLOOR = 0.60


@pytest.fixture(scope="module")
def probe5(
    city: City, dev_records: list[AppealRecord]
) -> tuple[list[AppealRecord], list[RouteOutcome]]:
    from pathlib import Path

    from services.routing.adapters.training_data import read_appeals, training_examples

    probe = read_appeals(Path(__file__).with_name("probe5-appeals.jsonl"))
    router = Router.from_city(city, training=training_examples(dev_records), threshold=0.0)
    return probe, [router.route(case.request) for case in probe]


def test_blind_probe5_figures(
    probe5: tuple[list[AppealRecord], list[RouteOutcome]], city: City
) -> None:
    probe, outcomes = probe5
    figures = score(probe, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["cases"] == 61 and figures["emergencies"] == 3
    assert figures["false_transfers"] == 0
    assert figures["precision"] >= PROBE5_PRECISION_FLOOR, figures
    assert figures["coverage"] >= PROBE5_COVERAGE_FLOOR, figures


# Its one missed emergency (a fire told by its sparks, smell and smoke: 电表箱冒火星, 焦味,
# 烟越来越大, read as factory fumes and dispatched) was fixed afterwards with general fire
# phrases (sparks, an electrical device smoking, a burning smell with smoke): emergencies are
# the one part of probe5 that is no longer blind.
def test_blind_probe5_every_emergency_transferred_and_nothing_dispatched_without_unit(
    probe5: tuple[list[AppealRecord], list[RouteOutcome]], city: City
) -> None:
    probe, outcomes = probe5
    figures = score(probe, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["emergencies_transferred"] == figures["emergencies"]
    assert figures["dispatched_without_unit"] == 0


# probe6 (2026-11-26, session 6): 57 appeals written blind from the catalog and the
# jurisdiction, before any change of that session (4 emergencies, 4 in English, 2 that cannot
# be placed). First measured at precision 0.868 (33/38), coverage 0.745, emergencies 2/4 with
# both misses dispatched. General emergency phrases were then added (smoke out of a home's
# window, a person who does not answer when called, English "collapsed" / "isn't breathing"):
# 0.917 (33/36) at 0.706, emergencies 4/4. Its emergencies are therefore no longer blind; its
# dispatches were not looked at one by one.
PROBE6_PRECISION_FLOOR = 0.88
PROBE6_COVERAGE_FLOOR = 0.62


def test_blind_probe6(city: City, dev_records: list[AppealRecord]) -> None:
    from pathlib import Path

    from services.routing.adapters.training_data import read_appeals, training_examples

    probe = read_appeals(Path(__file__).with_name("probe6-appeals.jsonl"))
    router = Router.from_city(city, training=training_examples(dev_records), threshold=0.0)
    outcomes = [router.route(case.request) for case in probe]
    figures = score(probe, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["cases"] == 57 and figures["emergencies"] == 4
    assert figures["emergencies_transferred"] == 4 and figures["false_transfers"] == 0
    assert figures["dispatched_without_unit"] == 0
    assert figures["precision"] >= PROBE6_PRECISION_FLOOR, figures
    assert figures["coverage"] >= PROBE6_COVERAGE_FLOOR, figures


# Session 12: a city's labelled history carries to wording the router has not seen. Probes 25-28
# (256 appeals, two plain and two hard on purpose) were written blind by four new writers and
# routed once, before they were read, by a router trained on the catalog, dev and probes 1-24
# (1,702 labelled appeals): the words alone gave precision 1.000 at coverage 0.927 (and dev
# alone 0.966 at 0.642). The emergency rules read from them afterwards are in
# test_routing_emergency.py. Floors below the measured figures; the same router with the
# second opinion is measured in BENCHMARKS.md (session 12).
def test_a_router_that_learnt_from_the_probes_routes_new_writers(
    city: City, dev_records: list[AppealRecord]
) -> None:
    from pathlib import Path

    from services.routing.adapters.training_data import (
        read_appeals,
        read_labelled,
        training_examples,
    )

    here = Path(__file__).parent
    history = [here / f"probe{n}-appeals.jsonl" for n in ["", *range(2, 25)]]
    dev = training_examples(dev_records)
    router = Router.from_city(city, training=[*dev, *read_labelled(history)], threshold=0.0)
    new = [c for n in range(25, 29) for c in read_appeals(here / f"probe{n}-appeals.jsonl")]
    outcomes = [router.route(case.request) for case in new]
    figures = score(new, outcomes, city.catalog, DEFAULT_THRESHOLD)
    assert figures["emergencies"] == figures["emergencies_transferred"] == 16
    assert figures["false_transfers"] == 0 and figures["dispatched_without_unit"] == 0
    assert figures["precision"] >= 0.99, figures
    assert figures["coverage"] >= 0.88, figures
