"""Staff work queues over HTTP, and the merge confirmation for suspected duplicates.

    GET /api/v1/queues/units/{unit}/{queue}           new | in_progress | waiting | due_soon |
                                                      overdue | co_handling
    GET /api/v1/queues/units/{unit}                   how many appeals each of those holds
    GET /api/v1/queues/streets/{street}/{section}     open | returns | extensions |
                                                      comprehensive | due_soon | overdue
    GET /api/v1/queues/streets/{street}               counts per section
    GET /api/v1/queues/districts/{district}/{section} triage | extensions
    POST /api/v1/appeals/{id}/merge                   {master_id}: confirm a duplicate

Lists take ``sort`` (due | sign_by | respond_by | resolve_by | received_at), ``order``
(asc | desc), ``page`` (from 1) and ``size`` (1-100) and answer ``{queue, page, size, total,
items}``; personal data in items is masked. A desk outside the caller's read scope is 403.
The queries are described in domain/queues.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.appeals.bootstrap import AppealsContext
from services.appeals.domain import queues as q
from services.appeals.domain.lifecycle import Staff
from services.appeals.entrypoints.auth import CurrentStaff
from services.appeals.entrypoints.command_http import command_errors, expected_version
from services.appeals.service_layer.duplicates import MasterNotFound, merge_into_master

__all__ = ["merge_router", "queues_router"]

# A queue or section name of one desk (unit queues, street sections).
Name = TypeVar("Name", bound=str)

queues_router = APIRouter(prefix="/api/v1/queues", tags=["work queues"])
merge_router = APIRouter(prefix="/api/v1/appeals", tags=["staff commands"])


class QueueList(BaseModel):
    """One page of a work queue."""

    queue: str
    page: int
    size: int
    total: int
    items: list[dict[str, Any]]


class QueueCounts(BaseModel):
    """How many appeals each queue of a desk holds."""

    counts: dict[str, int]


def _context(request: Request) -> AppealsContext:
    context: AppealsContext = request.app.state.context
    return context


def _planned(make: Callable[[], q.QueuePlan]) -> q.QueuePlan:
    """The plan ``make`` builds, or 403 naming why this caller may not see that queue."""
    try:
        return make()
    except q.QueueForbidden as exc:
        raise HTTPException(403, detail=str(exc)) from None


async def _counts(
    context: AppealsContext, names: Iterable[Name], plan_for: Callable[[Name], q.QueuePlan]
) -> QueueCounts:
    """How many appeals each named queue holds (all refused if the first one is)."""
    plans = {name: _planned(partial(plan_for, name)) for name in names}
    # Counted concurrently (a street's six sections are 16 queries): a MongoDB server runs them
    # in parallel. SecantusDB, one Python process, gains nothing from it (measured at 150,000
    # appeals: street counts the same within noise) and loses nothing.
    totals = await asyncio.gather(*(context.queues.count(plan) for plan in plans.values()))
    return QueueCounts(counts=dict(zip(plans, totals, strict=True)))


def _due(context: AppealsContext) -> dict[str, Any]:
    """The "due soon" window of this deployment, for the unit and street plans."""
    return {"due_soon_minutes": context.settings.due_soon_minutes}


SortParam = Annotated[q.Sort, Query(description="due: each appeal's current stage deadline")]
OrderParam = Annotated[Literal["asc", "desc"], Query()]
PageParam = Annotated[int, Query(ge=1, le=q.MAX_PAGE)]
SizeParam = Annotated[int, Query(ge=1, le=q.MAX_PAGE_SIZE)]


async def _list(
    context: AppealsContext,
    staff: Staff,
    plan: q.QueuePlan,
    *,
    sort: q.Sort,
    order: Literal["asc", "desc"],
    page: int,
    size: int,
    now: datetime,
) -> QueueList:
    found = await context.queues.page(
        plan,
        sort=sort,
        order=order,
        page=page,
        size=size,
        with_events=plan.name == "triage",
    )
    rows = q.readable(staff, found.docs)
    return QueueList(
        queue=plan.name,
        page=page,
        size=size,
        total=found.total,
        items=[q.queue_item(doc, context.city, now) for doc in rows],
    )


@queues_router.get("/units/{unit}/{queue}", response_model=QueueList)
async def unit_queue(
    unit: str,
    queue: q.UnitQueue,
    staff: CurrentStaff,
    request: Request,
    sort: SortParam = "due",
    order: OrderParam = "asc",
    page: PageParam = 1,
    size: SizeParam = 20,
) -> QueueList:
    """One of a unit's work queues."""
    context = _context(request)
    now = datetime.now(UTC)
    plan = _planned(lambda: q.unit_plan(queue, unit, staff, context.city, now=now, **_due(context)))
    return await _list(context, staff, plan, sort=sort, order=order, page=page, size=size, now=now)


@queues_router.get("/units/{unit}", response_model=QueueCounts)
async def unit_counts(unit: str, staff: CurrentStaff, request: Request) -> QueueCounts:
    """How many appeals each of a unit's queues holds."""
    context = _context(request)
    now = datetime.now(UTC)
    return await _counts(
        context,
        q.UNIT_QUEUES,
        lambda name: q.unit_plan(name, unit, staff, context.city, now=now, **_due(context)),
    )


@queues_router.get("/streets/{street}/{section}", response_model=QueueList)
async def street_section(
    street: str,
    section: q.StreetSection,
    staff: CurrentStaff,
    request: Request,
    sort: SortParam = "due",
    order: OrderParam = "asc",
    page: PageParam = 1,
    size: SizeParam = 20,
) -> QueueList:
    """One section of a street coordinator's view (综合管理权)."""
    context = _context(request)
    now = datetime.now(UTC)
    plan = _planned(
        lambda: q.street_plan(section, street, staff, context.city, now=now, **_due(context))
    )
    return await _list(context, staff, plan, sort=sort, order=order, page=page, size=size, now=now)


@queues_router.get("/streets/{street}", response_model=QueueCounts)
async def street_counts(street: str, staff: CurrentStaff, request: Request) -> QueueCounts:
    """How many appeals each section of a street's view holds."""
    context = _context(request)
    now = datetime.now(UTC)
    return await _counts(
        context,
        q.STREET_SECTIONS,
        lambda name: q.street_plan(name, street, staff, context.city, now=now, **_due(context)),
    )


@queues_router.get("/districts/{district}/{section}", response_model=QueueList)
async def district_section(
    district: str,
    section: q.DistrictSection,
    staff: CurrentStaff,
    request: Request,
    sort: SortParam = "due",
    order: OrderParam = "asc",
    page: PageParam = 1,
    size: SizeParam = 20,
) -> QueueList:
    """The district dispatch centre's triage queue (with the router's candidates) or extensions."""
    context = _context(request)
    plan = _planned(lambda: q.district_plan(section, district, staff, context.city))
    now = datetime.now(UTC)
    return await _list(context, staff, plan, sort=sort, order=order, page=page, size=size, now=now)


# ---------------------------------------------------------------------------- merge


class MergeBody(BaseModel):
    """The appeal to merge into."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    master_id: str = Field(min_length=1, max_length=64)


class MergeDone(BaseModel):
    """The merged appeal after the command."""

    id: str
    state: str
    version: int
    master_id: str
    events: list[str]


@merge_router.post(
    "/{appeal_id}/merge",
    response_model=MergeDone,
    responses={
        403: {"description": "role or scope does not allow it"},
        404: {"description": "no such appeal or master (within your scope)"},
        409: {"description": "state, master or version does not allow it"},
    },
)
async def merge(
    appeal_id: str,
    body: MergeBody,
    staff: CurrentStaff,
    request: Request,
    if_match: Annotated[str | None, Header()] = None,
) -> MergeDone:
    """Confirm a (suspected) duplicate: merge this appeal into its master (lifecycle Merge)."""
    context = _context(request)
    with command_errors(appeal_id):
        try:
            result = await merge_into_master(
                appeal_id,
                body.master_id,
                staff,
                store=context.store,
                city=context.city,
                calendar=context.calendar,
                expected_version=expected_version(if_match),
            )
        except MasterNotFound:
            raise HTTPException(404, detail=f"no master appeal {body.master_id}") from None
    if result.events:
        context.relay.wake()
    return MergeDone(
        id=appeal_id,
        state=result.appeal.state,
        version=result.appeal.version,
        master_id=body.master_id,
        events=[e.type for e in result.events],
    )
