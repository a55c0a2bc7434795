"""The reports' content (domain/reports.py) on a generated month, against the plans."""

from __future__ import annotations

import csv
import io

import pytest
from metrics_month import SHANGHAI, Month, district_map

from services.metrics.domain import AppealFacts, aggregate, fold
from services.metrics.domain.reports import (
    figures_row,
    month_figures,
    overdue_follow_up,
    ranking_rows,
    scope,
    scopes,
    to_csv,
)


def folded(month: Month) -> list[AppealFacts]:
    table: dict[str, AppealFacts] = {}
    for event in month.events:
        table[event.appeal_id] = fold(table.get(event.appeal_id), event, district_map())
    return list(table.values())


def test_scopes_keep_every_appeal_a_months_figures_need(month: Month) -> None:
    facts = folded(month)
    months = {key[2:9] for f in facts for key in scopes(f)}
    assert "2024-03" in months
    for key in sorted(months):
        for district, street in (("D1", "D1-S1"), ("D2", "D2-S1")):
            by_street = [f for f in facts if scope(key, street=street) in scopes(f)]
            by_district = [f for f in facts if scope(key, district=district) in scopes(f)]
            in_month = [f for f in facts if scope(key) in scopes(f)]
            for level, chosen, where in (
                ("street", by_street, {"street": street}),
                ("unit", by_street, {"street": street}),
                ("street", by_district, {"district": district}),
                ("district", in_month, {}),
            ):
                everything = aggregate(facts, level, "month", **where)
                selected = aggregate(chosen, level, "month", **where)
                want = {b: figures_row(f) for b, f in everything.items() if b.period == key}
                got = {b: figures_row(f) for b, f in selected.items() if b.period == key}
                assert got == want, (key, where, level)
                if where:
                    assert len(chosen) < len(facts), f"{where} left no appeal out"


def test_a_scope_names_a_month_and_at_most_one_place() -> None:
    assert scope("2024-03") == "m:2024-03"
    assert scope("2024-03", district="D1") == "m:2024-03|d:D1"
    assert scope("2024-03", street="D1-S1") == "m:2024-03|s:D1-S1"
    with pytest.raises(ValueError, match="not both"):
        scope("2024-03", district="D1", street="D1-S1")


def test_ranking_rows_carry_samples_intervals_and_insufficient_data(month: Month) -> None:
    facts = folded(month)
    units = month_figures(facts, "unit", "2024-03", as_of=None, street="D1-S1")
    rows = ranking_rows(units, min_sample=20)
    assert {r["key"] for r in rows} == set(units)
    ranked = [r for r in rows if r["position"] is not None]
    small = [r for r in rows if r["position"] is None]
    assert ranked and all(r["sample"] >= 20 and r["status"] == "ranked" for r in ranked)
    assert all(r["status"] == "insufficient_data" for r in small)
    assert [r["score_lower"] for r in ranked] == sorted(
        (r["score_lower"] for r in ranked), reverse=True
    )
    for r in rows:
        for rate in r["rates"].values():
            if rate["sample"]:
                assert rate["ci_low"] <= rate["value"] <= rate["ci_high"]
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [t["key"] for t in table] == [r["key"] for r in rows]
    assert table[0]["rates.satisfaction.sample"] == str(rows[0]["rates"]["satisfaction"]["sample"])
    assert all(t["position"] == "" for t in table[len(ranked) :])


def test_follow_up_lists_each_missed_deadline_of_the_units_asked_for(month: Month) -> None:
    facts = folded(month)
    units = ["D1-S1-U1", "D1-S1-U3"]
    got = overdue_follow_up(facts, street="D1-S1", month="2024-03", units=units)
    want = sorted(
        (d.unit, due, plan.appeal_id, deadline)
        for plan in month.plans
        if plan.street == "D1-S1"
        for d in plan.dispatches
        if d.unit in units
        for deadline, due in d.overdue
        if due.astimezone(SHANGHAI).strftime("%Y-%m") == "2024-03"
    )
    assert want
    assert [(f.unit, f.due_at, f.appeal_id, f.deadline) for f in got] == want
