"""Open work in memory: every open appeal's queue fields, kept current by a change stream.

Why it exists: SecantusDB reads every document an index matches, even under a limit, at about
0.1 ms each (``explain`` at 150,000 appeals). A street's ``open`` section holds every open
appeal of the street (510 there), so its page cost 130 ms however the query was shaped, and a
desk's counts touched the same appeals again. Open work is small (about 2% of the stored
appeals in a steady city) and every queue is a subset of it, so each appeals process keeps
it here; ``QueueStore`` then finds a page's ids in memory and reads only that page's rows, by
``_id``. On MongoDB the database path is fast as well; the view saves it the round trips.

Consistency (docs/architecture.md, "Work queues"):

- **No gap between snapshot and stream.** The change stream is opened before the open
  appeals are read, so every change after the read's start reaches the view.
- **Newer wins.** Every state change bumps the appeal's ``version``; a copy older than the
  one held is ignored, so snapshot and stream may deliver the same appeal in any order. A
  closed appeal leaves the view and its version is kept for ``TOMBSTONE_S`` (a tombstone),
  so a late copy from before the closing cannot bring it back.
- **Read your own writes.** ``AppealStore`` tells the view every version this process is
  about to write (``writing``), before the write, so a request the event loop serves while
  the write is on its way waits for it too; a write that fails (a version conflict, an
  error) is withdrawn (``abandoned``). A query first waits, at most ``wait_s``, until the
  stream has brought those. Other processes' writes arrive within the stream's delay (a few
  milliseconds). While the view reloads after a broken stream, a write still on its way when
  the snapshot read starts is not waited for (the stream brings it moments later).
- **Never wrong, at worst slower.** While the view is loading, after the stream broke (it
  reloads, backing off), when a write is late, or for a filter on a field the view does not
  hold, ``answer`` returns None and ``QueueStore`` asks the database as before.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.appeals.adapters.queue_store import checkable, compile_rest
from services.appeals.domain.lifecycle import OPEN_STATES
from shared.tasks import cancel_and_wait

__all__ = ["FIELDS", "KEYED_FIELDS", "OpenWork"]

log = logging.getLogger(__name__)

Doc = dict[str, Any]

# What a queue filter or sort may read (top-level names; ``deadlines`` holds the dotted ones).
FIELDS: tuple[str, ...] = (
    "_id",
    "version",
    "state",
    "holder",
    "unit",
    "co_handlers",
    "handlers",
    "street",
    "district",
    "community",
    "deadlines",
    "received_at",
    "paused_since",
    "extension_pending",
)
_HELD = frozenset(FIELDS)
# Every queue query pins one of these (and ``state``) by equality; the view keeps the open
# appeals grouped by (field, value, state), so a query reads only its desk's one state.
KEYED_FIELDS: tuple[str, ...] = ("holder", "unit", "co_handlers", "street", "district")
# A closed appeal's last version is remembered this long (see the module docstring).
TOMBSTONE_S = 600.0
# A write this process made and the stream has not brought after this long is forgotten.
EXPECT_S = 60.0
_GONE = sys.maxsize  # a deleted appeal's tombstone version: no copy is newer

# Which changes can move an appeal between queues: inserts, replacements, deletions, and
# updates other than the outbox relay's bookkeeping (pulling published event ids, clearing
# ``outbox_pending``: two updates per appeal, neither bumping ``version``). A state change
# bumps ``version`` and sets ``outbox_pending`` in one update, so it passes.
_PIPELINE: list[Doc] = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$ne": "update"}},
                {"updateDescription.updatedFields.version": {"$exists": True}},
                {
                    "updateDescription.updatedFields.outbox": {"$exists": False},
                    "updateDescription.updatedFields.outbox_pending": {"$exists": False},
                },
            ]
        }
    },
    {
        "$project": {
            "operationType": 1,
            "documentKey": 1,
            **{f"fullDocument.{name}": 1 for name in FIELDS},
        }
    },
]


def _keys(doc: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The (field, value, state) groups ``doc`` belongs to (one per co-handler)."""
    state = doc.get("state")
    keys: list[tuple[str, Any, Any]] = []
    for name in KEYED_FIELDS:
        value = doc.get(name)
        values = value if isinstance(value, list) else [value]
        keys += [(name, each, state) for each in values if each is not None]
    return keys


class OpenWork:
    """The open appeals' queue fields, grouped by desk and state (module docstring)."""

    def __init__(self, appeals: AsyncCollection[Doc] | None, *, wait_s: float = 0.5) -> None:
        self.appeals = appeals
        self.wait_s = wait_s
        self.ready = False
        self._docs: dict[str, Doc] = {}
        self._groups: dict[tuple[str, Any, Any], dict[str, Doc]] = {}
        # id -> (version, monotonic time it closed); insertion-ordered, pruned from the head.
        self._tombstones: dict[str, tuple[int, float]] = {}
        # id -> (version this process wrote, monotonic time); cleared as the stream brings them.
        self._expected: dict[str, tuple[int, float]] = {}
        self._changed = asyncio.Condition()
        # Set when a query waited ``wait_s`` in vain; until the stream has caught up, queries
        # go straight to the database instead of each waiting again.
        self._lagging = False
        self._task: asyncio.Task[None] | None = None
        self._wakers: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load the open appeals and follow the change stream in the background."""
        if self.appeals is not None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="open-work-view")

    async def stop(self) -> None:
        """Stop following the stream; queries go to the database from now on."""
        self.ready = False
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        assert self.appeals is not None
        backoff = 0.5
        while True:
            try:
                # Opened first: whatever changes while the snapshot is read is in the stream.
                async with await self.appeals.watch(
                    _PIPELINE, full_document="updateLookup"
                ) as stream:
                    await self._load_snapshot()
                    self.ready = True
                    backoff = 0.5
                    log.info("open work: %d open appeals in memory", len(self._docs))
                    async for change in stream:
                        self._apply_change(change)
                        await self._notify()
                # The stream ended without an error (the collection was dropped or renamed).
                reason = "the change stream ended"
            except asyncio.CancelledError:
                self.ready = False
                raise
            except PyMongoError as exc:
                reason = f"the change stream is unavailable ({exc})"
            except Exception:  # a bug must not leave a stale view answering: reload instead
                log.exception("open work: failed applying a change")
                reason = "a change could not be applied"
            self.ready = False
            log.warning(
                "open work: %s; queues read the database, reloading in %.1f s", reason, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _load_snapshot(self) -> None:
        assert self.appeals is not None
        # Writes acknowledged before the read starts are in what it reads.
        settled = dict(self._expected)
        self._docs.clear()
        self._groups.clear()
        self._tombstones.clear()  # the snapshot is what is open now; the stream what follows
        # The ``state`` index serves an $in; a $nin or an is_open test would read every appeal.
        cursor = self.appeals.find(
            {"state": {"$in": sorted(OPEN_STATES)}}, {name: 1 for name in FIELDS}
        )
        async for doc in cursor:
            self.apply(doc)
        for appeal_id, wrote in settled.items():
            if self._expected.get(appeal_id) == wrote:
                del self._expected[appeal_id]
        await self._notify()

    def _apply_change(self, change: Mapping[str, Any]) -> None:
        if change.get("operationType") == "delete":
            appeal_id = (change.get("documentKey") or {}).get("_id")
            if appeal_id is not None:
                self._remove(str(appeal_id), _GONE)
            return
        doc = change.get("fullDocument")
        if doc:  # None when the appeal was deleted before the lookup: its delete follows
            self.apply(doc)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ changes

    def apply(self, doc: Mapping[str, Any]) -> None:
        """Take one appeal's current fields, unless the view holds a newer copy."""
        appeal_id = str(doc["_id"])
        version = int(doc.get("version") or 0)
        self._satisfy(appeal_id, version)
        held = self._docs.get(appeal_id)
        if held is not None and int(held.get("version") or 0) > version:
            return
        tomb = self._tombstones.get(appeal_id)
        if tomb is not None and tomb[0] >= version:
            return
        if doc.get("state") not in OPEN_STATES:
            self._remove(appeal_id, version)
            return
        self._tombstones.pop(appeal_id, None)
        if held is not None:
            self._ungroup(appeal_id, held)
        slim = {name: doc[name] for name in FIELDS if name in doc}
        self._docs[appeal_id] = slim
        for key in _keys(slim):
            self._groups.setdefault(key, {})[appeal_id] = slim

    def _remove(self, appeal_id: str, version: int) -> None:
        held = self._docs.pop(appeal_id, None)
        if held is not None:
            self._ungroup(appeal_id, held)
        self._tombstones.pop(appeal_id, None)  # re-inserted at the tail: newest last
        self._tombstones[appeal_id] = (version, time.monotonic())
        cutoff = time.monotonic() - TOMBSTONE_S
        for old, (_, at) in list(self._tombstones.items()):
            if at >= cutoff:
                break
            del self._tombstones[old]

    def _ungroup(self, appeal_id: str, doc: Mapping[str, Any]) -> None:
        for key in _keys(doc):
            group = self._groups.get(key)
            if group is not None:
                group.pop(appeal_id, None)
                if not group:
                    del self._groups[key]

    # ------------------------------------------------------------------ own writes

    def writing(self, appeal_id: str, version: int) -> None:
        """This process is storing ``version`` of the appeal: queries wait until the view has
        it (told before the write, so a query the loop runs while it is on its way waits too)."""
        if not self.ready or self._holds(appeal_id, version):
            return  # loading (the snapshot will have it), or the stream was faster
        self._expected.pop(appeal_id, None)  # re-inserted at the tail: oldest first
        self._expected[appeal_id] = (version, time.monotonic())

    def abandoned(self, appeal_id: str, version: int) -> None:
        """The write of ``version`` failed (a version conflict, an error): stop waiting for it."""
        wrote = self._expected.get(appeal_id)
        if wrote is None or wrote[0] != version:
            return
        del self._expected[appeal_id]
        if not self._expected:
            self._lagging = False
        # Queries waiting for it re-check now, not when the stream next brings something.
        wake = asyncio.get_running_loop().create_task(self._notify())
        self._wakers.add(wake)
        wake.add_done_callback(self._wakers.discard)

    def _holds(self, appeal_id: str, version: int) -> bool:
        held = self._docs.get(appeal_id)
        if held is not None and int(held.get("version") or 0) >= version:
            return True
        tomb = self._tombstones.get(appeal_id)
        return tomb is not None and tomb[0] >= version

    def _satisfy(self, appeal_id: str, version: int) -> None:
        wrote = self._expected.get(appeal_id)
        if wrote is not None and version >= wrote[0]:
            del self._expected[appeal_id]
            if not self._expected:
                self._lagging = False

    def _caught_up(self, waited_for: Mapping[str, tuple[int, float]]) -> bool:
        return all(self._expected.get(i) != wrote for i, wrote in waited_for.items())

    async def settled(self) -> bool:
        """Whether the view holds every write this process made before the call (waits for
        the stream up to ``wait_s``)."""
        if not self.ready:
            return False
        cutoff = time.monotonic() - EXPECT_S
        for appeal_id, (_, at) in list(self._expected.items()):
            if at >= cutoff:
                break  # insertion order: the rest are younger
            del self._expected[appeal_id]  # the stream missed it: stop waiting for it
        if not self._expected:
            self._lagging = False
            return True
        if self._lagging:
            return False
        waited_for = dict(self._expected)
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._caught_up(waited_for)), self.wait_s
                )
        except TimeoutError:
            self._lagging = True
            log.warning(
                "open work: the change stream is more than %.0f ms behind this process's "
                "writes; queues read the database until it catches up",
                self.wait_s * 1000,
            )
            return False
        return self.ready

    # ------------------------------------------------------------------ reads

    def matching(self, query: Mapping[str, Any]) -> list[Doc] | None:
        """The held appeals ``query`` matches, or None when the view cannot answer it."""
        state = query.get("state")
        if not isinstance(state, str) or state not in OPEN_STATES:
            return None
        for name, cond in query.items():
            if name.split(".", 1)[0] not in _HELD:
                return None
            if not checkable(cond):
                return None
        for name in KEYED_FIELDS:
            value = query.get(name)
            if value is not None and not isinstance(value, dict | list):
                group = self._groups.get((name, value, state), {})
                # The group's key already is ``name == value`` and ``state == state``: a
                # query asking no more (a street's open section) takes the group whole.
                rest = {k: v for k, v in query.items() if k not in (name, "state")}
                if not rest:
                    return list(group.values())
                matches = compile_rest(rest)
                return [doc for doc in group.values() if matches(doc)]
        return None

    async def answer(self, queries: Sequence[Mapping[str, Any]]) -> list[list[Doc]] | None:
        """Each query's matching appeals, or None when the database must answer instead."""
        if not await self.settled():
            return None
        found = []
        for query in queries:
            docs = self.matching(query)
            if docs is None:
                return None
            found.append(docs)
        return found

    def __len__(self) -> int:
        return len(self._docs)
