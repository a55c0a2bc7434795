"""The queue store's split of a query into an index-served part and a part it checks itself.

SecantusDB serves a filter from an index only when its fields are exactly an index's leading
fields (equalities, then one range); ``split_filter`` sends only such a part to the server.
Checked two ways: every served part has that shape, and served + checked rest select the same
documents as the whole query (the matcher of test_queues.py) for every plan, desk and state.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.appeals.adapters.queue_store import _INDEX_KEYS, matches_rest, split_filter
from services.appeals.domain.lifecycle import STATES, Pause, RequestExtension
from services.appeals.domain.queues import UNIT_QUEUES, unit_plan
from tests.unit.appeals.appeals_world import CITY, LEAD, LEAD_STAFF, story_in
from tests.unit.appeals.test_queues import NOW, all_plans, doc_of, matches


def _served_by_an_index(served: dict) -> bool:
    names = list(served)
    ranged = [n for n in names if isinstance(served[n], dict)]
    equal = {n for n in names if n not in ranged}
    for key in _INDEX_KEYS:
        if set(key[: len(equal)]) == equal and (
            not ranged or (len(key) > len(equal) and key[len(equal)] == ranged[0])
        ):
            return True
    return False


def _plans() -> list:
    plans = all_plans(NOW) + all_plans(NOW + timedelta(days=3))
    # unit staff: their scope adds the ``handlers`` clause
    plans += [
        unit_plan(q, LEAD, LEAD_STAFF, CITY, now=NOW, due_soon_minutes=60) for q in UNIT_QUEUES
    ]
    return plans


def test_every_served_part_is_exactly_an_index_prefix() -> None:
    for plan in _plans():
        for query in plan.queries:
            served, rest = split_filter(query.filter)
            assert served, plan.name
            assert {**served, **rest} == query.filter
            if rest:
                assert _served_by_an_index(served), (plan.name, served)


def _docs() -> list[dict]:
    docs = [doc_of(story_in(state)) for state in STATES]
    paused = story_in("signed")
    paused.do(Pause("居民出差"), LEAD_STAFF)
    pending = story_in("responded")
    pending.do(RequestExtension("需要协调物业", 5), LEAD_STAFF)
    return [*docs, doc_of(paused), doc_of(pending), {**docs[0], "co_handlers": [LEAD]}]


@pytest.mark.parametrize("doc", _docs(), ids=lambda d: str(d.get("state")))
def test_served_and_rest_select_what_the_whole_query_selects(doc: dict) -> None:
    for plan in _plans():
        for query in plan.queries:
            served, rest = split_filter(query.filter)
            assert (matches(doc, served) and matches_rest(doc, rest)) == matches(
                doc, query.filter
            ), (plan.name, query.filter)


def test_matches_rest_follows_mongodb_for_null_ne_in_and_arrays() -> None:
    doc = {"a": None, "tags": ["x", "y"], "n": 3}
    assert matches_rest(doc, {"a": None, "missing": None})
    assert matches_rest(doc, {"missing": {"$ne": "z"}, "tags": "x", "n": {"$in": [1, 3]}})
    assert not matches_rest(doc, {"tags": {"$ne": "y"}})
    assert not matches_rest(doc, {"a": {"$ne": None}})
    assert matches_rest(doc, {"n": {"$gt": 2, "$lte": 3}})
    assert not matches_rest(doc, {"missing": {"$lt": 5}})


def test_of_two_indexes_serving_as_much_the_unit_one_is_taken() -> None:
    # A street's comprehensive section asks for its city_ops unit's appeals in one state: the
    # (unit, state) index reads that unit's appeals; (street, state) would read the street's.
    served, rest = split_filter({"street": "S1", "unit": "S1-OPS", "state": "signed"})
    assert served == {"unit": "S1-OPS", "state": "signed"}
    assert rest == {"street": "S1"}
