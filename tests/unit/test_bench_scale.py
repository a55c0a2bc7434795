"""``appeals bench scale``'s pure parts: busiest desks, deep pages, rebuild output, targets."""

from __future__ import annotations

import math

import pytest

from services.bench.scale import (
    Desks,
    DeskTally,
    deep_page,
    judge,
    parse_rebuild,
    probes_for,
    summary_lines,
    tally_for,
)
from services.bench.seed import generate
from shared.city import City, load_city
from shared.settings import DEMO_CITY


def _doc(state: str, holder: str | None, street: str, district: str = "D1") -> dict:
    return {"state": state, "holder": holder, "street": street, "district": district,
            "is_open": state != "closed"}  # fmt: skip


def test_tally_picks_the_desk_holding_most_open_appeals() -> None:
    tally = DeskTally({"S1": "S1-OPS", "S2": "S2-OPS"}, {"D1": "D1-DC", "D2": "D2-DC"})
    for doc in [
        _doc("dispatched", "U1", "S1"),
        _doc("signed", "U1", "S1"),
        _doc("dispatched", "U2", "S2"),
        _doc("closed", "U2", "S2"),
        _doc("closed", "U2", "S2"),
        _doc("triage", "D2-DC", "S2", "D2"),
        _doc("dispatched", "U3", "NO-COORDINATOR"),
    ]:
        tally.add(doc)
    desks = tally.busiest()
    assert (desks.unit, desks.street, desks.coordinator) == ("U1", "S1", "S1-OPS")
    assert (desks.district, desks.dispatch_center) == ("D2", "D2-DC")
    assert desks.held == {"unit": 2, "street": 2, "district_triage": 1}


def test_tally_without_triage_refuses() -> None:
    tally = DeskTally({"S1": "S1-OPS"}, {"D1": "D1-DC"})
    tally.add(_doc("dispatched", "U1", "S1"))
    with pytest.raises(ValueError, match="too few"):
        tally.busiest()


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


def test_seeded_city_has_desks_staff_can_hold(city: City) -> None:
    tally = tally_for(city)
    for doc, _token in generate(city, 600, seed=3, backlog="heavy"):
        tally.add(doc)
    desks = tally.busiest()
    assert desks.unit in city.units
    assert city.streets[desks.street][1].coordinator.code == desks.coordinator  # type: ignore[union-attr]
    assert city.districts[desks.district].dispatch_center == desks.dispatch_center


def test_probes_cover_every_queue_section_and_count() -> None:
    desks = Desks("U1", "S1", "S1-OPS", "D1", "D1-DC")
    names = {p.name for p in probes_for(desks, 20)}
    assert {"unit:new:p1", "unit:co_handling:p1", "street:open:p1", "street:overdue:p1"} <= names
    assert {"district:triage:p1", "unit:counts", "street:counts"} <= names
    assert len(names) == 6 + 6 + 1 + 2


@pytest.mark.parametrize(
    ("total", "size", "page"), [(0, 20, None), (20, 20, None), (21, 20, 2), (5000, 20, 100)]
)
def test_deep_page_is_the_last_page_within_the_api_bound(
    total: int, size: int, page: int | None
) -> None:
    assert deep_page(total, size) == page


def test_parse_rebuild_reads_the_done_line_only() -> None:
    assert parse_rebuild("8194 events, 1312 appeals, 1695 events/s") is None
    found = parse_rebuild("done: 18673 events of 3000 appeals in 15.9 s (1177 events/s)")
    assert found == {"events": 18673, "appeals": 3000, "seconds": 15.9, "events_per_s": 1174.4}


def test_judge_names_the_worst_kind_and_projects_the_rebuild() -> None:
    latency = {"status": {"p95": 12.0}, "queue_counts": {"p95": 80.0}, "none": {"p95": math.nan}}
    targets = judge(latency, {"events_per_s": 10_000.0})
    assert targets["queues_and_status_p95_ms"] == {
        "target": 50.0, "worst_kind": "queue_counts", "worst_p95": 80.0, "met": False,
    }  # fmt: skip
    assert targets["rebuild_1m_events_s"] == {"target": 120.0, "projected": 100.0, "met": True}
    assert judge({}, None)["rebuild_1m_events_s"]["met"] is None


def _result(rebuild: dict | None) -> dict:
    latency = {"status": {"count": 10, "p50": 3.0, "p95": 4.0, "p99": 5.0}}
    return {
        "appeals": 1000,
        "events": 6000,
        "seed": {"appeals_per_s": 500.0, "events_per_s": 3000.0},
        "service_ready_s": 1.0,
        "open_work": True,
        "open_work_load_s": 0.2,
        "latency_ms": latency,
        "rebuild": rebuild,
        "targets": judge(latency, rebuild),
    }


def test_summary_says_when_the_rebuild_was_not_run() -> None:
    without = "\n".join(summary_lines(_result(None)))
    assert "rebuild: not run (seeded without the event log)" in without
    assert "1M events rebuilt" not in without
    assert "open work in memory (loaded in 0.2 s)" in without
    ran = {"events": 6000, "seconds": 1.0, "events_per_s": 6000.0}
    with_log = "\n".join(summary_lines(_result(ran)))
    assert "rebuild: 6,000 events in 1.0 s" in with_log
    assert "1M events rebuilt < 120 s: projected 166.7 s -> NOT met" in with_log
