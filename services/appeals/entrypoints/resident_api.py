"""The resident's status page over HTTP: look up one's appeal and rate the result.

    GET  /api/v1/status/{tracking_no}          state, unit, deadlines, public history and
                                               messages to the resident
    POST /api/v1/status/{tracking_no}/review   {satisfaction, solved, comment}: the
                                               satisfaction callback (回访), once resolved

Both need the secret token given at intake, as the ``X-Appeal-Token`` header or the ``token``
query parameter. Its SHA-256 is compared with the stored hash in constant time; a wrong token
and an unknown tracking number get the same 404 (nobody can probe which numbers exist). Each
client IP gets ``APPEALS_STATUS_RATE_LIMIT_PER_MINUTE`` requests a minute (429 beyond, with
Retry-After): a token has 144 random bits, the limit is against scraping and load.

What a resident sees is the public part of the record: no internal notes, no staff ids, no
return reasons, extension requests, supervision or overdue events. An appeal merged into
another follows it: the page shows the master's state, unit and deadlines.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.appeals.bootstrap import AppealsContext
from services.appeals.domain.lifecycle import CommandRefused, Review, Staff
from services.appeals.service_layer.commands import AppealNotFound, StaleVersion, execute
from services.appeals.service_layer.intake import hash_token
from shared.city import City

__all__ = ["RateLimiter", "public_history", "resident_router"]

resident_router = APIRouter(prefix="/api/v1/status", tags=["resident status"])

_NOT_FOUND = "no appeal with this tracking number and token"
# Compared against when the tracking number is unknown, so both paths do the same work.
_DUMMY_HASH = hash_token("no-such-appeal")


class RateLimiter:
    """At most ``limit`` requests per ``period`` seconds per key (sliding window, in process).

    Memory is bounded: beyond ``max_keys`` clients the least recently seen are forgotten.
    """

    def __init__(self, limit: int, period: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, key: str, now: float | None = None) -> float | None:
        """None if allowed (and counted); else the seconds until the next request is allowed."""
        now = time.monotonic() if now is None else now
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.period:
            hits.popleft()
        self._hits[key] = hits
        if len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)
        if len(hits) >= self.limit:
            return max(hits[0] + self.period - now, 0.0)
        hits.append(now)
        return None


# ---------------------------------------------------------------------------- views

_PUBLIC_EVENTS: dict[str, str] = {
    "appeal.received": "已受理 received",
    "appeal.dispatched": "已派单 assigned",
    "appeal.triaged": "区调度中心分派中 being assigned by the district dispatch centre",
    "appeal.transferred": "已转 transferred",
    "appeal.signed": "承办单位已签收 accepted by the unit",
    "appeal.responded": "承办单位已联系 the unit contacted you",
    "appeal.returned": "重新分派中 being reassigned",
    "appeal.extended": "办理期限已延长 deadline extended",
    "appeal.paused": "等待您的回复 waiting for you",
    "appeal.resumed": "继续办理 work resumed",
    "appeal.resolved": "已办结 resolved",
    "appeal.reviewed": "已回访 rated",
    "appeal.reopened": "重新办理 reopened",
    "appeal.closed": "已结案 closed",
    "appeal.merged": "已与同一事项合并办理 merged with an appeal about the same matter",
}


def _public_details(event: Mapping[str, Any], city: City) -> dict[str, Any]:
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == "appeal.dispatched":
        return {"unit": event.get("unit"), "unit_name": city.unit_name(event.get("unit"))}
    if kind == "appeal.transferred":
        return {"to": data.get("to")}
    if kind == "appeal.responded" and data.get("message"):
        return {"message": data.get("message")}
    if kind == "appeal.extended":
        return {"resolve_by": (data.get("deadlines") or {}).get("resolve")}
    if kind == "appeal.resolved":
        return {"result": data.get("result"), "solved": data.get("solved")}
    if kind == "appeal.reviewed":
        return {"satisfaction": data.get("satisfaction"), "solved": data.get("solved")}
    return {}


def public_history(events: list[Mapping[str, Any]], city: City) -> list[dict[str, Any]]:
    """The milestones a resident may see, oldest first (no staff ids, no internal matters)."""
    return [
        {
            "type": e["type"],
            "label": _PUBLIC_EVENTS[e["type"]],
            "at": e.get("occurred_at"),
            **_public_details(e, city),
        }
        for e in events
        if e.get("type") in _PUBLIC_EVENTS
    ]


def messages_to_resident(doc: Mapping[str, Any], city: City) -> list[dict[str, Any]]:
    """Notes staff wrote for the resident (``internal=false``), signed by unit, never by person."""
    return [
        {"text": n.get("text"), "at": n.get("at"), "from": city.unit_name(n.get("unit"))}
        for n in doc.get("notes") or []
        if n.get("internal") is False
    ]


class StatusView(BaseModel):
    """What the resident's status page shows."""

    tracking_no: str
    state: str
    own_state: str
    merged: bool = False
    unit_name: str | None = None
    deadlines: dict[str, Any] | None = None
    received_at: datetime
    resolved_at: datetime | None = None
    result: str | None = None
    satisfaction: str | None = None
    can_review: bool = False
    history: list[dict[str, Any]]
    messages: list[dict[str, Any]]


class ReviewBody(BaseModel):
    """The resident's verdict on the result."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    solved: bool
    comment: str = Field(default="", max_length=2000)


class ReviewDone(BaseModel):
    """The appeal's state after the review."""

    tracking_no: str
    state: str


def _context(request: Request) -> AppealsContext:
    context: AppealsContext = request.app.state.context
    return context


def _limit(request: Request, context: AppealsContext) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "status_limiter", None)
    if limiter is None:
        limiter = RateLimiter(context.settings.status_rate_limit_per_minute)
        request.app.state.status_limiter = limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.check(client)
    if wait is not None:
        raise HTTPException(
            429,
            detail="too many status look-ups; try again in a minute",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )


async def _authenticated(
    tracking_no: str, token: str | None, context: AppealsContext
) -> dict[str, Any]:
    doc = await context.store.get_by_tracking_no(tracking_no) if len(tracking_no) <= 40 else None
    presented = hash_token(token or "")
    stored = str(doc.get("token_hash", "")) if doc else _DUMMY_HASH
    if not hmac.compare_digest(presented.encode(), stored.encode()) or doc is None or not token:
        raise HTTPException(404, detail=_NOT_FOUND)
    return doc


TokenHeader = Annotated[str | None, Header(alias="X-Appeal-Token", max_length=200)]
TokenQuery = Annotated[str | None, Query(alias="token", max_length=200)]


@resident_router.get(
    "/{tracking_no}",
    response_model=StatusView,
    responses={404: {"description": _NOT_FOUND}, 429: {"description": "rate limited"}},
)
async def appeal_status(
    tracking_no: str,
    request: Request,
    x_appeal_token: TokenHeader = None,
    token: TokenQuery = None,
) -> StatusView:
    """The resident's view of their appeal."""
    context = _context(request)
    _limit(request, context)
    doc = await _authenticated(tracking_no, x_appeal_token or token, context)
    shown = doc
    if doc.get("state") == "merged" and doc.get("master_id"):
        shown = await context.store.get(str(doc["master_id"])) or doc
    history = public_history(doc.get("events") or [], context.city)
    if shown is not doc:
        # The master's milestones from the merge on, so the resident sees the work go on.
        merged_at = history[-1]["at"] if history else None
        history += [
            {**h, "of_master": True}
            for h in public_history(shown.get("events") or [], context.city)
            if merged_at is None or h["at"] is None or h["at"] >= merged_at
        ]
    return StatusView(
        tracking_no=doc["tracking_no"],
        state=shown["state"],
        own_state=doc["state"],
        merged=shown is not doc,
        unit_name=context.city.unit_name(shown.get("unit")),
        deadlines=shown.get("deadlines"),
        received_at=doc["received_at"],
        resolved_at=shown.get("resolved_at"),
        result=shown.get("result"),
        satisfaction=doc.get("satisfaction"),
        can_review=doc.get("state") == "resolved",
        history=history,
        messages=messages_to_resident(doc, context.city),
    )


@resident_router.post(
    "/{tracking_no}/review",
    response_model=ReviewDone,
    responses={
        404: {"description": _NOT_FOUND},
        409: {"description": "the appeal is not resolved (yet, or any more)"},
        429: {"description": "rate limited"},
    },
)
async def review(
    tracking_no: str,
    body: ReviewBody,
    request: Request,
    x_appeal_token: TokenHeader = None,
    token: TokenQuery = None,
) -> ReviewDone:
    """The satisfaction callback (回访): allowed once the appeal is resolved."""
    context = _context(request)
    _limit(request, context)
    doc = await _authenticated(tracking_no, x_appeal_token or token, context)
    resident = Staff(id=f"resident:{doc['_id']}", role="resident")
    try:
        result = await execute(
            doc["_id"],
            Review(satisfaction=body.satisfaction, solved=body.solved, comment=body.comment),
            resident,
            store=context.store,
            city=context.city,
            calendar=context.calendar,
            expected_version=int(doc["version"]),
            now=datetime.now(UTC),
        )
    except AppealNotFound:
        raise HTTPException(404, detail=_NOT_FOUND) from None
    except StaleVersion as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except CommandRefused as exc:
        if exc.status == 409:
            # The lifecycle's reason names internal ids; the resident needs only the state.
            raise HTTPException(
                409,
                detail=f"your appeal is {doc['state']}; it can be rated once it is resolved",
            ) from None
        raise HTTPException(exc.status, detail=exc.reason) from None
    if result.events:
        context.relay.wake()
    return ReviewDone(tracking_no=tracking_no, state=result.appeal.state)
