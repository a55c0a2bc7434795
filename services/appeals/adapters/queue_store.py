"""MongoDB reads for work queues, the SLA sweeper and the duplicate check, with their indexes.

Each query of ``domain.queues`` is one ``find`` (equality on an indexed pair + at most one
range), sorted and limited; a plan's queries are merged here by the same sort key. Nothing
here writes appeal state: state changes go through ``service_layer.commands.execute``.

Indexes (``create_indexes``, idempotent; beside ``AppealStore.create_indexes``)::

    holder, state, <deadline>       a unit's / dispatch centre's queues, sorted by deadline
    street, state, <deadline>       a coordinator's street view
    district, state                 the district view (extensions)
    co_handlers, state              appeals a unit co-handles (multikey)
    state, deadlines.<x>            the sweeper: missed deadlines (x = sign_by, respond_by,
                                    resolve_by)
    matter, received_at             the duplicate check: same matter, recent

SecantusDB walks an index only when the filter's fields are *exactly* an index's leading
fields (equalities, then at most one range on the next field); one more clause — a
``paused_since: None``, an ``extension_pending: {$ne: None}``, the unit scope's ``handlers``
— and it scans the whole collection (measured with ``explain`` at 3,000 appeals: 3,000
documents read for a queue of 20). So each query is split (``split_filter``): the longest
index-served part goes to the server, the rest is checked here on the desk's candidates,
which are one desk's one state. Queries without a rest run exactly as before.
"""

from __future__ import annotations

import asyncio
import heapq
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from services.appeals.domain.queues import QueuePlan, QueueQuery, Sort, sort_key

if TYPE_CHECKING:
    from services.appeals.adapters.open_work import OpenWork

__all__ = ["QueuePage", "QueueStore", "checkable", "compile_rest", "matches_rest", "split_filter"]

Doc = dict[str, Any]
_DEADLINES = ("deadlines.sign_by", "deadlines.respond_by", "deadlines.resolve_by")
_RANGE = frozenset({"$gt", "$gte", "$lt", "$lte"})


def _index_keys() -> tuple[tuple[str, ...], ...]:
    """Key patterns of the indexes ``create_indexes`` makes (what ``split_filter`` may use)."""
    # Most selective first: of two indexes that serve as many fields, split_filter takes the
    # first, and one unit's appeals are fewer than its street's (a street's comprehensive
    # section, {street, unit: its city_ops unit, state}, read the whole street's appeals in
    # that state when the street index came first).
    keys: list[tuple[str, ...]] = [
        ("holder", "state"),
        ("unit", "state"),
        ("co_handlers", "state"),
        ("street", "state"),
        ("district", "state"),
        ("matter", "received_at"),
        ("state", "received_at"),
    ]
    for field in _DEADLINES:
        keys += [("holder", "state", field), ("street", "state", field), ("state", field)]
    return tuple(keys)


_INDEX_KEYS = _index_keys()

# What a list row needs; the event log stays out except for triage (router's reasons).
_LIST_FIELDS: dict[str, Any] = {
    name: 1
    for name in (
        "tracking_no",
        "version",
        "state",
        "channel",
        "text",
        "address",
        "matter",
        "urgency",
        "district",
        "street",
        "community",
        "unit",
        "co_handlers",
        "holder",
        "received_at",
        "deadlines",
        "overdue_flags",
        "paused_since",
        "pause_reason",
        "extension_pending",
        "supervision_pending",
        "return_count",
        "reopen_count",
        "suspected_duplicate_of",
        "contact",
        "routing_suggestion",
        "routing",
        "notes",
    )
}


class QueuePage:
    """One page of a queue: the documents, in order, and how many the queue holds."""

    def __init__(self, docs: list[Doc], total: int) -> None:
        self.docs = docs
        self.total = total


class QueueStore:
    """Queue, sweeper and duplicate queries on the ``appeals`` collection."""

    def __init__(self, appeals: AsyncCollection[Doc], open_work: OpenWork | None = None) -> None:
        self.appeals = appeals
        # The open appeals in memory (adapters/open_work.py): when it can answer a plan, a
        # page reads only its own rows and a count reads nothing.
        self.open_work = open_work

    async def create_indexes(self) -> None:
        """The indexes these queries are designed around (see the module docstring)."""
        # Some are AppealStore's too: creating an existing index is a no-op, and listing them
        # here keeps split_filter's assumptions true whoever starts first.
        await self.appeals.create_indexes(
            [IndexModel([(field, ASCENDING) for field in key]) for key in _INDEX_KEYS]
        )

    async def page(
        self,
        plan: QueuePlan,
        *,
        sort: Sort,
        order: Literal["asc", "desc"],
        page: int,
        size: int,
        with_events: bool = False,
    ) -> QueuePage:
        """Page ``page`` (1-based) of ``size`` rows of ``plan``, merged across its queries."""
        direction = ASCENDING if order == "asc" else DESCENDING
        wanted = page * size
        projection = {**_LIST_FIELDS, **({"events": 1} if with_events else {})}
        held = await self._held(plan)
        if held is not None:
            return await self._page_held(plan, held, sort, order, page, size, projection)

        async def first_rows(query: QueueQuery) -> tuple[list[Doc], int, str]:
            """The first ``wanted`` rows of one query, how many it matches, its sort field."""
            field = plan.sort_field(query, sort)
            served, rest = split_filter(query.filter)
            if rest:
                docs, found = await self._page_checked(
                    served, rest, field, order, wanted, projection
                )
                return docs, found, field
            cursor = (
                self.appeals.find(served, projection)
                .sort([(field, direction), ("_id", direction)])
                .limit(wanted)
            )
            docs = [doc async for doc in cursor]
            return docs, await self.appeals.count_documents(served), field

        # A plan's queries are disjoint and independent: asked concurrently, not one by one
        # (a street's open section is seven), which a MongoDB server runs in parallel.
        results = await asyncio.gather(*(first_rows(query) for query in plan.queries))
        runs = [[(sort_key(doc, field), doc) for doc in docs] for docs, _, field in results]
        total = sum(found for _, found, _ in results)
        merged = heapq.merge(*runs, key=lambda pair: _directed(pair[0], order))
        rows = [doc for _, doc in merged]
        return QueuePage(rows[(page - 1) * size : wanted], total)

    async def _held(self, plan: QueuePlan) -> list[list[Doc]] | None:
        """Each query's matches from the open work in memory, or None: ask the database."""
        if self.open_work is None:
            return None
        return await self.open_work.answer([query.filter for query in plan.queries])

    async def _page_held(
        self,
        plan: QueuePlan,
        held: list[list[Doc]],
        sort: Sort,
        order: Literal["asc", "desc"],
        page: int,
        size: int,
        projection: Doc,
    ) -> QueuePage:
        """A page ordered from the open work in memory; only its rows are read, by ``_id``."""
        keyed = [
            (sort_key(doc, plan.sort_field(query, sort)), doc["_id"])
            for query, docs in zip(plan.queries, held, strict=True)
            for doc in docs
        ]
        keyed.sort(key=lambda pair: pair[0], reverse=order == "desc")
        ids = [appeal_id for _, appeal_id in keyed[(page - 1) * size : page * size]]
        return QueuePage(await self._rows(ids, projection), len(keyed))

    async def _rows(self, ids: list[Any], projection: Doc) -> list[Doc]:
        """The appeals ``ids``, in that order, in one round trip (none for no ids). An appeal
        deleted since its id was found (only the erasure of test data does that) is left out."""
        if not ids:
            return []
        rows = {
            doc["_id"]: doc async for doc in self.appeals.find({"_id": {"$in": ids}}, projection)
        }
        return [rows[i] for i in ids if i in rows]

    async def _page_checked(
        self,
        served: Doc,
        rest: Doc,
        field: str,
        order: Literal["asc", "desc"],
        wanted: int,
        projection: Doc,
    ) -> tuple[list[Doc], int]:
        """The first ``wanted`` rows of ``served`` + ``rest``, and how many match in all.

        Two round trips: the candidates with only what the check and the sort read, then the
        page's rows by ``_id``; the rows a desk does not see never cross the wire in full.
        """
        matching = await self._checked(served, rest, extra=(field,))
        matching.sort(key=lambda doc: sort_key(doc, field), reverse=order == "desc")
        ids = [doc["_id"] for doc in matching[:wanted]]
        return await self._rows(ids, projection), len(matching)

    async def _checked(self, served: Doc, rest: Doc, extra: tuple[str, ...] = ()) -> list[Doc]:
        """Documents matching ``served`` (index) and ``rest`` (checked here), few fields each."""
        fields = {name: 1 for name in (*rest, *extra)}
        matches = compile_rest(rest)
        return [
            doc async for doc in self.appeals.find(served, {"_id": 1, **fields}) if matches(doc)
        ]

    async def count(self, plan: QueuePlan) -> int:
        """How many appeals ``plan`` holds (its queries counted concurrently)."""
        held = await self._held(plan)
        if held is not None:
            return sum(len(docs) for docs in held)
        return sum(await asyncio.gather(*(self._count(query.filter) for query in plan.queries)))

    async def _count(self, query: Doc) -> int:
        served, rest = split_filter(query)
        if rest:
            return len(await self._checked(served, rest))
        return await self.appeals.count_documents(served)

    # ------------------------------------------------------------------ sweeper

    async def missed_unflagged(self, now: datetime, limit: int) -> list[Doc]:
        """Open, running appeals with a passed deadline not yet recorded as overdue.

        One query per deadline, each an equality on ``state`` plus a range on the deadline
        (index ``state, deadlines.x``); the flag test runs on the few that match.
        """
        found: dict[str, Doc] = {}
        checks = (
            ("sign", "deadlines.sign_by", ["dispatched"]),
            ("respond", "deadlines.respond_by", ["dispatched", "signed"]),
            ("resolve", "deadlines.resolve_by", ["dispatched", "signed", "responded"]),
        )
        for flag, field, states in checks:
            for state in states:
                cursor = self.appeals.find(
                    {
                        "state": state,
                        field: {"$lt": now},
                        "overdue_flags": {"$ne": flag},
                        "paused_since": None,
                    },
                    {"_id": 1, "version": 1},
                    limit=limit,
                )
                async for doc in cursor:
                    found.setdefault(doc["_id"], doc)
                if len(found) >= limit:
                    return list(found.values())[:limit]
        return list(found.values())

    async def received_before(self, cutoff: datetime, limit: int) -> list[Doc]:
        """Appeals still ``received`` (not yet routed) that arrived before ``cutoff``, oldest
        first (index ``state, received_at``), for the routing watchdog."""
        cursor = self.appeals.find(
            {"state": "received", "received_at": {"$lt": cutoff}},
            {
                "_id": 1,
                "state": 1,
                "received_at": 1,
                "outbox": 1,
                "routing_resent_at": 1,
                "events.type": 1,
                "events.event_id": 1,
            },
            sort=[("state", ASCENDING), ("received_at", ASCENDING)],
            limit=limit,
        )
        return [doc async for doc in cursor]

    async def past_resolve_deadline(self, now: datetime, limit: int) -> list[Doc]:
        """Running appeals whose resolve deadline has passed (escalation candidates)."""
        docs: list[Doc] = []
        for state in ("dispatched", "signed", "responded"):
            cursor = self.appeals.find(
                {"state": state, "deadlines.resolve_by": {"$lt": now}, "paused_since": None},
                {
                    "_id": 1,
                    "version": 1,
                    "state": 1,
                    "street": 1,
                    "district": 1,
                    "deadlines": 1,
                    "dispatched_at": 1,
                    "events.type": 1,
                    "events.actor": 1,
                    "events.data.level": 1,
                    "events.occurred_at": 1,
                },
                limit=limit - len(docs),
            )
            docs += [doc async for doc in cursor]
            if len(docs) >= limit:
                break
        return docs

    # ------------------------------------------------------------------ duplicates

    async def recent_of_matter(
        self, matter: str, since: datetime, until: datetime, exclude: str, limit: int = 200
    ) -> list[Doc]:
        """Open appeals of ``matter`` received in [since, until] (index ``matter, received_at``)."""
        cursor = self.appeals.find(
            {"matter": matter, "received_at": {"$gte": since, "$lte": until}},
            {
                "_id": 1,
                "state": 1,
                "is_open": 1,
                "location": 1,
                "community": 1,
                "received_at": 1,
                "suspected_duplicate_of": 1,
            },
            limit=limit,
        )
        return [doc async for doc in cursor if doc["_id"] != exclude and doc.get("is_open")]


def split_filter(query: Mapping[str, Any]) -> tuple[Doc, Doc]:
    """``query`` as (the part an index of ``_INDEX_KEYS`` serves exactly, the rest).

    The served part is the longest run of an index's leading fields that ``query`` pins by
    equality (not to None: a null test also matches a missing field, which the rest checks),
    plus a range on the index's next field if ``query`` has one. When no index serves any
    part, or the rest uses an operator ``matches_rest`` does not know, the whole query goes
    to the server: slower, never wrong.
    """
    best: tuple[str, ...] = ()
    for key in _INDEX_KEYS:
        served: list[str] = []
        for name in key:
            cond = query.get(name)
            if cond is not None and not isinstance(cond, dict):
                served.append(name)
                continue
            if served and isinstance(cond, dict) and cond and set(cond) <= _RANGE:
                served.append(name)
            break
        if len(served) > len(best):
            best = tuple(served)
    rest = {k: v for k, v in query.items() if k not in best}
    if not best or not all(checkable(cond) for cond in rest.values()):
        return dict(query), {}
    return {k: query[k] for k in best}, rest


_CHECKED_OPS = frozenset({"$ne", "$in", *_RANGE})


def checkable(cond: Any) -> bool:
    """Whether ``compile_rest`` can evaluate this condition (equality, $ne, $in, ranges)."""
    return not isinstance(cond, dict) or (bool(cond) and set(cond) <= _CHECKED_OPS)


def _equals(value: Any, wanted: Any) -> bool:
    """MongoDB equality: an array field matches any of its elements; None matches missing."""
    if isinstance(value, list) and not isinstance(wanted, list):
        return wanted in value
    return bool(value == wanted)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _compare(compare: Callable[[Any, Any], Any], value: Any, bound: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for each in values:
        try:
            if compare(each, bound):
                return True
        except TypeError:  # different BSON types never compare in a range query
            continue
    return False


def compile_rest(rest: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """``rest`` as a predicate on documents, with ``matches_rest``'s semantics.

    Compiled once per query: the open work in memory runs one query over thousands of
    appeals (a street's 3,600 at 1M stored), where parsing the filter per document cost more
    than the test itself.
    """
    checks: list[tuple[tuple[str, ...], str, Any]] = []
    for name, cond in rest.items():
        path = tuple(name.split("."))
        if isinstance(cond, dict):
            checks += [(path, op, arg) for op, arg in cond.items()]
        else:
            checks.append((path, "$eq", cond))

    def matches(doc: Mapping[str, Any]) -> bool:
        for path, op, arg in checks:
            value: Any = doc
            for part in path:
                value = value.get(part) if isinstance(value, Mapping) else None
            if op == "$eq":
                ok = _equals(value, arg)
            elif op == "$ne":
                ok = not _equals(value, arg)
            elif op == "$in":
                ok = any(_equals(value, each) for each in arg)
            else:
                ok = value is not None and _compare(_COMPARE[op], value, arg)
            if not ok:
                return False
        return True

    return matches


def matches_rest(doc: Mapping[str, Any], rest: Mapping[str, Any]) -> bool:
    """Whether ``doc`` meets every clause of ``rest`` (MongoDB semantics for ``split_filter``'s
    operators: equality, ``$ne``, ``$in`` and ranges)."""
    return compile_rest(rest)(doc)


def _directed(key: tuple[bool, Any, str], order: str) -> Any:
    if order == "asc":
        return key
    return _Reversed(key)


class _Reversed:
    """Inverts the comparison of a key, for merging descending runs."""

    __slots__ = ("key",)

    def __init__(self, key: Mapping[int, Any] | tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.key > other.key)  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.key == other.key
