"""The facts store (adapters/facts_store.py) against the real MongoDB-protocol server.

A generated month's facts are written through ``FactsStore.upsert``; every query the reports
and the worker make (a month; a month and a district or a street; both; a partition) must
return exactly the appeals whose facts can count in it, decided here from the facts themselves,
and must go through the ``scopes`` index: SecantusDB answers a query no index serves by
decoding every document (../shared/INFRA.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.metrics.adapters.facts_store import FactsStore
from services.metrics.domain import AppealFacts, fold
from services.metrics.domain.formulas import period_key
from shared.embedded import DatabaseProcess
from shared.mongo import make_client
from shared.topics import ALL_TOPICS, APPEAL_EVENTS, partition_of
from tests.unit.metrics.metrics_month import DISTRICTS, district_map, generate_month


@pytest.fixture
async def store(mongo: DatabaseProcess) -> AsyncIterator[FactsStore]:
    client = make_client(mongo.url)
    facts_store = FactsStore(client[f"facts_store_{uuid.uuid4().hex[:8]}"])
    await facts_store.ensure_indexes()
    try:
        yield facts_store
    finally:
        await client.drop_database(facts_store.db.name)
        await client.close()


def folded_month() -> dict[str, AppealFacts]:
    table: dict[str, AppealFacts] = {}
    for event in generate_month(seed=7, appeals=240).events:
        table[event.appeal_id] = fold(table.get(event.appeal_id), event, district_map())
    return table


def touches(facts: AppealFacts, month: str, district: str | None, street: str | None) -> bool:
    """Whether the appeal has a date in ``month`` and a place in ``district``/``street``:
    the definition the reports' selection must match, written out independently."""
    names = ("received_at", "dispatched_at", "signed_at", "responded_at", "resolved_at",
             "reviewed_at", "closed_at", "sign_by", "respond_by", "resolve_by")  # fmt: skip
    times = [t for name in names if (t := getattr(facts, name)) is not None]
    places = [facts.place]
    for assignment in facts.assignments:
        times += [assignment.dispatched_at, *(o.due_at for o in assignment.overdue)]
        places.append(assignment.place)
    if month not in {period_key(t, "month") for t in times}:
        return False
    if district is not None and district not in {p.district for p in places}:
        return False
    return street is None or street in {p.street for p in places}


async def test_every_query_returns_exactly_the_appeals_that_can_count_in_it(
    store: FactsStore,
) -> None:
    table = folded_month()
    assert await store.upsert(table.values()) == len(table)
    districts = sorted(DISTRICTS)
    streets = sorted(s for d in districts for s in DISTRICTS[d])
    asked: list[tuple[str, str | None, str | None]] = [("2024-03", None, None)]
    asked += [("2024-03", d, None) for d in districts]
    asked += [("2024-03", None, s) for s in streets]
    asked += [("2024-03", d, s) for d in districts for s in streets]  # in and out of d
    asked += [("2024-04", None, None), ("2024-02", districts[0], None)]
    seen_some = 0
    for month, district, street in asked:
        found = await store.find(month=month, district=district, street=street)
        want = {a for a, f in table.items() if touches(f, month, district, street)}
        assert {f.appeal_id for f in found} == want, (month, district, street)
        assert all(f == table[f.appeal_id] for f in found)
        seen_some += bool(want) and len(want) < len(table)
    assert seen_some > len(districts) + len(streets), "the queries must select, not take all"

    by_partition: dict[str, AppealFacts] = {}
    for partition in range(ALL_TOPICS[APPEAL_EVENTS]):
        got = await store.of_partition(partition)
        assert all(partition_of(a) == partition for a in got), partition
        by_partition.update(got)
    assert by_partition == table


async def test_the_queries_are_served_by_the_scopes_index(store: FactsStore) -> None:
    await store.upsert(folded_month().values())
    collection = await store.current()
    for query in ({"scopes": "m:2024-03|s:D1-S1"}, {"scopes": "p:3"}):
        plan: Any = (await collection.find(query).explain())["queryPlanner"]["winningPlan"]
        assert plan["inputStage"]["stage"] == "IXSCAN", (query, plan)
        assert plan["inputStage"]["indexName"] == "scopes_1"


async def test_a_generation_written_before_scopes_is_told_apart(store: FactsStore) -> None:
    assert not await store.written_before_scopes()
    collection = await store.current()
    await collection.create_index([("months", 1), ("districts", 1)])  # the layout before
    assert await store.written_before_scopes()
