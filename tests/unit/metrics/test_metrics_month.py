"""A generated month, folded and aggregated, against answers computed from the plans.

The expected figures are tallied here straight from each appeal's plan (conftest.py), with
code of their own: plain loops over the plan, a percentile by counting, the Wilson-free rate
definitions of docs/metrics.md. Every level, both period kinds, every rate and percentile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pytest
from metrics_month import SHANGHAI, Month, Plan, district_map

from services.metrics.domain import LEVELS, AppealFacts, aggregate, fold

OPEN = {
    "received",
    "triage",
    "dispatched",
    "signed",
    "responded",
    "returned",
    "extension_requested",
    "extended",
    "resolved",
    "reviewed",
    "reopened",
}


def folded(events: Iterable[Any]) -> list[AppealFacts]:
    table: dict[str, AppealFacts] = {}
    mapping = district_map()
    for event in events:
        table[event.appeal_id] = fold(table.get(event.appeal_id), event, mapping)
    return list(table.values())


def local(at: datetime, period: str) -> str:
    day = at.astimezone(SHANGHAI).date()
    return f"{day.year:04d}-{day.month:02d}" + (f"-{day.day:02d}" if period == "day" else "")


def entity(level: str, district: str, street: str, community: str, unit: str) -> str:
    return {
        "city": "city",
        "district": district,
        "street": street,
        "community": community,
        "unit": unit,
    }[level]


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # The smallest value with at least a fraction q of all values at or below it.
    for i, value in enumerate(ordered, start=1):
        if i >= q * len(ordered) - 1e-9:
            return value
    return ordered[-1]


def expected(plans: list[Plan], level: str, period: str) -> dict[tuple[str, str], dict[str, Any]]:
    tallies: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))

    def at(district: str, street: str, community: str, unit: str, when: datetime) -> Any:
        return tallies[(entity(level, district, street, community, unit), local(when, period))]

    for p in plans:
        placed = p.outcome == "normal"
        unit = p.dispatches[-1].unit if p.dispatches else "none"
        here = (p.district, p.street, p.community, unit)
        if not placed:
            here = ("none", "none", "none", "none")
        t = at(*here, p.received_at)
        t["received"] += 1
        if p.state in OPEN:
            t[f"backlog:{p.state}"] += 1
        for d in p.dispatches:
            t = at(p.district, p.street, p.community, d.unit, d.at)
            t["dispatched"] += 1
            t["returned"] += d.returned_at is not None
            for deadline, due in d.overdue:
                at(p.district, p.street, p.community, d.unit, due)[f"overdue:{deadline}"] += 1
        if not placed:
            continue
        cur = p.dispatches[-1]
        if cur.sign_at:
            at(*here, cur.sign_at).setdefault("sign", []).append(
                (cur.sign_at - cur.at).total_seconds()
            )
        if cur.respond_at:
            delta = (cur.respond_at - cur.at).total_seconds()
            at(*here, cur.respond_at).setdefault("response", []).append(delta)
        if p.resolved_at:
            delta = (p.resolved_at - cur.at).total_seconds()
            at(*here, p.resolved_at).setdefault("resolution", []).append(delta)
            t = at(*here, p.resolved_at)
            t["first_resolved"] += 1
            t["reopened"] += p.reopened
        t = at(*here, cur.sign_by)
        t["sign_due"] += 1
        t["sign_ok"] += cur.sign_at is not None and cur.sign_at <= cur.sign_by
        t = at(*here, cur.respond_by)
        t["respond_due"] += 1
        t["respond_ok"] += cur.respond_at is not None and cur.respond_at <= cur.respond_by
        resolve_by = p.resolve_by or cur.resolve_by
        t = at(*here, resolve_by)
        t["resolve_due"] += 1
        t["closed_ok"] += p.closed_at is not None and p.closed_at <= resolve_by
        if p.reviews:
            review = p.reviews[-1]
            t = at(*here, review.at)
            t["callbacks"] += 1
            t[review.satisfaction] += 1
            t["solved"] += review.solved
    return tallies


def rate(num: float, den: int) -> float | None:
    return None if den == 0 else num / den


@pytest.mark.parametrize("period", ["month", "day"])
@pytest.mark.parametrize("level", LEVELS)
def test_every_figure_matches_the_plans(month: Month, level: Any, period: Any) -> None:
    got = aggregate(folded(month.events), level, period)
    want = expected(month.plans, level, period)
    assert {tuple(b) for b in got} == set(want)
    for bucket, figures in got.items():
        w = want[tuple(bucket)]  # type: ignore[index]
        c = figures.counters
        where = f"{level} {bucket}"
        assert c.received == w["received"], where
        assert c.dispatched == w["dispatched"], where
        assert figures.backlog == {state: w[f"backlog:{state}"] for state in figures.backlog}, where
        assert dict(c.overdue) == {
            k.split(":")[1]: v for k, v in w.items() if k.startswith("overdue:") and v
        }, where
        satisfied = w["satisfied"] + 0.9 * w["basically_satisfied"]
        assert figures.rates == pytest.approx(
            {
                "on_time_sign": rate(w["sign_ok"], w["sign_due"]),
                "response": rate(w["respond_ok"], w["respond_due"]),
                "resolution": rate(w["solved"], w["callbacks"]),
                "satisfaction": rate(satisfied, w["callbacks"]),
                "closure": rate(w["closed_ok"], w["resolve_due"]),
                "return": rate(w["returned"], w["dispatched"]),
                "reopen": rate(w["reopened"], w["first_resolved"]),
            }
        ), where
        assert figures.percentiles == {
            f"{name}_p{q}": nearest_rank(w.get(name, []), q / 100)
            for name in ("sign", "response", "resolution")
            for q in (50, 90)
        }, where
        response, resolution, satisfaction = (
            figures.rates[name] for name in ("response", "resolution", "satisfaction")
        )
        if response is None or resolution is None or satisfaction is None:
            assert figures.composite is None
        else:
            assert figures.composite == pytest.approx(
                10 * response + 50 * resolution + 40 * satisfaction
            )


def test_the_month_exercises_every_path(month: Month) -> None:
    """Guards the generator: each figure above must rest on real cases, not on zeros."""
    want = expected(month.plans, "city", "month")[("city", "2024-03")]
    for key in (
        "returned",
        "overdue:sign",
        "overdue:respond",
        "overdue:resolve",
        "reopened",
        "basically_satisfied",
        "unsatisfied",
        "closed_ok",
        "backlog:responded",
        "backlog:dispatched",
        "backlog:resolved",
    ):
        assert want[key] > 0, key
    assert want["closed_ok"] < want["resolve_due"]
    assert want["sign_ok"] < want["sign_due"]
    months = {b.period for b in aggregate(folded(month.events), "city", "month")}
    assert months == {"2024-03", "2024-04"}  # late events spill into April and count there


def test_duplicates_and_replays_change_nothing(month: Month) -> None:
    unique = list({e.event_id: e for e in month.events}.values())
    once = {f.appeal_id: f for f in folded(unique)}
    twice = {f.appeal_id: f for f in folded([*month.events, *reversed(month.events)])}
    assert len(month.events) > len(unique)  # the stream holds repeats
    assert once == twice
    assert aggregate(once.values(), "unit", "month") == aggregate(twice.values(), "unit", "month")


def test_facts_survive_a_round_trip_through_json(month: Month) -> None:
    for facts in folded(month.events)[:100]:
        assert AppealFacts.from_dict(facts.to_dict()) == facts
