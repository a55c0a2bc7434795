"""The open work held in memory (adapters/open_work.py), without a database.

The view is fed here by ``apply`` as the change stream would feed it. Checked: for every
plan of every desk it selects what the whole query selects on MongoDB (the matcher of
test_queues.py); an older copy never replaces a newer one, a closed appeal leaves and a late
copy cannot bring it back; it declines what it cannot answer; and a query waits for this
process's own writes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from services.appeals.adapters.open_work import OpenWork
from services.appeals.domain.lifecycle import OPEN_STATES, STATES
from tests.unit.appeals.appeals_world import LEAD, STREET
from tests.unit.appeals.test_queue_split import _docs, _plans
from tests.unit.appeals.test_queues import NOW, matches


def _view(*docs: dict[str, Any]) -> OpenWork:
    view = OpenWork(None, wait_s=0.05)
    for doc in docs:
        view.apply(doc)
    view.ready = True
    return view


def _corpus() -> list[dict[str, Any]]:
    """Every state, paused, extension pending and co-handled, each its own appeal."""
    return [{**doc, "_id": f"A{n}"} for n, doc in enumerate(_docs())]


def test_every_plan_selects_what_the_whole_query_selects() -> None:
    docs = _corpus()
    view = _view(*docs)
    answered = 0
    for plan in _plans():
        for query in plan.queries:
            held = view.matching(query.filter)
            assert held is not None, (plan.name, query.filter)
            expected = sorted(d["_id"] for d in docs if matches(d, query.filter))
            assert sorted(d["_id"] for d in held) == expected, (plan.name, query.filter)
            answered += len(expected)
    assert answered > 20  # the corpus puts appeals in most queues, not none


def test_only_open_appeals_are_held() -> None:
    view = _view(*_corpus())
    held_states = {view._docs[i]["state"] for i in view._docs}
    assert held_states == {s for s in STATES if s in OPEN_STATES} & {d["state"] for d in _corpus()}
    assert "closed" not in held_states


def _appeal(version: int, state: str = "signed", **more: Any) -> dict[str, Any]:
    return {
        "_id": "X1",
        "version": version,
        "state": state,
        "holder": LEAD,
        "unit": LEAD,
        "street": STREET,
        "deadlines": {"respond_by": NOW + timedelta(hours=1)},
        **more,
    }


def _ids(view: OpenWork, query: dict[str, Any]) -> list[str]:
    held = view.matching(query)
    assert held is not None
    return [d["_id"] for d in held]


def test_an_older_copy_never_replaces_a_newer_one() -> None:
    view = _view(_appeal(5, "responded"))
    view.apply(_appeal(4, "signed"))  # the snapshot's copy, arriving after the stream's
    assert _ids(view, {"holder": LEAD, "state": "responded"}) == ["X1"]
    assert _ids(view, {"holder": LEAD, "state": "signed"}) == []
    # The same version again (a deadline moved without a state change) is taken.
    view.apply(_appeal(5, "responded", deadlines={"resolve_by": NOW}))
    assert view._docs["X1"]["deadlines"] == {"resolve_by": NOW}


def test_a_closed_appeal_leaves_and_a_late_copy_cannot_bring_it_back() -> None:
    view = _view(_appeal(5))
    view.apply(_appeal(6, "closed"))
    assert len(view) == 0
    view.apply(_appeal(5))
    assert len(view) == 0
    view.apply(_appeal(7, "reviewed"))  # reopened: a newer version
    assert _ids(view, {"street": STREET, "state": "reviewed"}) == ["X1"]


def test_changing_co_handlers_moves_the_appeal_between_desks() -> None:
    view = _view(_appeal(1, co_handlers=["U-A", "U-B"]))
    assert _ids(view, {"co_handlers": "U-B", "state": "signed"}) == ["X1"]
    view.apply(_appeal(2, co_handlers=["U-A"]))
    assert _ids(view, {"co_handlers": "U-B", "state": "signed"}) == []
    assert _ids(view, {"co_handlers": "U-A", "state": "signed"}) == ["X1"]
    assert view._groups.get(("co_handlers", "U-B", "signed")) is None  # no empty groups kept


@pytest.mark.parametrize(
    "query",
    [
        {"holder": LEAD, "state": "closed"},  # closed appeals are not held
        {"holder": LEAD, "state": {"$in": ["signed", "responded"]}},  # no single state
        {"holder": LEAD, "state": "signed", "matter": "noise"},  # a field it does not hold
        {"holder": LEAD, "state": "signed", "paused_since": {"$exists": True}},  # operator
        {"state": "signed", "paused_since": None},  # no desk field pinned
        {"$or": [{"holder": LEAD}], "state": "signed"},
    ],
)
def test_it_declines_what_it_cannot_answer(query: dict[str, Any]) -> None:
    assert _view(_appeal(1)).matching(query) is None


def test_a_query_waits_for_this_process_own_writes() -> None:
    async def scenario() -> None:
        view = _view(_appeal(1))
        assert await view.settled()
        view.writing("X1", 2)
        assert not await view.settled()  # the stream has not brought version 2: 50 ms, then no
        assert await view.answer([{"holder": LEAD, "state": "signed"}]) is None

        # Having waited in vain once, queries go to the database without waiting again ...
        view.wait_s = 5.0
        started = asyncio.get_running_loop().time()
        assert not await view.settled()
        assert asyncio.get_running_loop().time() - started < 1.0
        view.apply(_appeal(2))
        assert await view.settled()  # ... until the stream has caught up.

        async def stream_brings_it() -> None:
            await asyncio.sleep(0.01)
            view.apply(_appeal(3, "responded"))
            await view._notify()

        view.writing("X1", 3)
        bringing = asyncio.create_task(stream_brings_it())
        assert await view.answer([{"holder": LEAD, "state": "responded"}]) == [[view._docs["X1"]]]
        await bringing
        # A write the stream delivered before ``writing`` ran is not waited for.
        view.writing("X1", 3)
        assert view._expected == {}

    asyncio.run(scenario())


def test_a_write_that_failed_is_not_waited_for() -> None:
    async def scenario() -> None:
        view = _view(_appeal(1))
        view.wait_s = 5.0
        view.writing("X1", 2)
        view.abandoned("X1", 3)  # not the version it is writing: still waited for
        assert view._expected == {"X1": (2, view._expected["X1"][1])}

        async def the_write_fails() -> None:
            await asyncio.sleep(0.01)
            view.abandoned("X1", 2)

        failing = asyncio.create_task(the_write_fails())
        started = asyncio.get_running_loop().time()
        assert await view.settled()  # woken by the withdrawal, not after wait_s
        assert asyncio.get_running_loop().time() - started < 1.0
        await failing
        assert view._expected == {} and not view._lagging

    asyncio.run(scenario())


def test_a_view_that_is_not_ready_answers_nothing() -> None:
    view = _view(_appeal(1))
    view.ready = False
    assert asyncio.run(view.answer([{"holder": LEAD, "state": "signed"}])) is None
