"""The appeals service's HTTP API (FastAPI): intake, look-ups, health and metrics.

Run: ``appeals serve appeals`` (or ``uvicorn services.appeals.entrypoints.http:create_app
--factory``). API docs at /docs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from pydantic import BaseModel
from pymongo.errors import PyMongoError

from services.appeals.adapters.open_work import OpenWork
from services.appeals.bootstrap import AppealsContext, bootstrap
from services.appeals.config import AppealsSettings
from services.appeals.domain.access import can_read
from services.appeals.domain.intake import AppealCreate, HotlineAppealCreate
from services.appeals.domain.lifecycle import Staff
from services.appeals.entrypoints.auth import CurrentStaff, auth_router, require_roles
from services.appeals.entrypoints.limits import BodySizeLimit
from services.appeals.entrypoints.open311 import open311_router
from services.appeals.entrypoints.queues_api import merge_router, queues_router
from services.appeals.entrypoints.resident_api import resident_router
from services.appeals.entrypoints.staff_api import staff_router
from services.appeals.entrypoints.ui import mount_ui
from services.appeals.service_layer.intake import UnknownMatter, submit_appeal
from shared.events import Actor

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class AppealCreated(BaseModel):
    """What intake answers: the ids, and the secret token shown this once."""

    id: str
    tracking_no: str
    token: str | None = None
    state: str
    replayed: bool = False


class AppealPublic(BaseModel):
    """An appeal as staff see it (personal data left out)."""

    id: str
    tracking_no: str
    state: str
    channel: str
    text: str
    address: str | None
    matter: str | None = None
    urgency: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    unit: str | None = None
    co_handlers: list[str] = []
    version: int
    history: list[dict[str, Any]] = []


def _context(request: Request) -> AppealsContext:
    context: AppealsContext = request.app.state.context
    return context


ContextDep = Annotated[AppealsContext, Depends(_context)]


class IntakeMetrics:
    """The service's own Prometheus metrics, on a registry of its own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.accepted = Counter(
            "appeals_intake_accepted_total",
            "Appeals stored by intake.",
            ["channel"],
            registry=registry,
        )
        self.rejected = Counter(
            "appeals_intake_rejected_total",
            "Submissions refused by intake.",
            ["reason"],
            registry=registry,
        )
        self.routing_resent = Counter(
            "appeals_routing_resent_total",
            "Appeals still received after APPEALS_ROUTING_STALL_SECONDS, sent to routing again.",
            registry=registry,
        )
        self.open_work_ready = Gauge(
            "appeals_open_work_ready",
            "1 while the work queues are answered from the open appeals in memory, "
            "0 while they read the database (loading, change stream away, or turned off).",
            registry=registry,
        )
        self.open_work_appeals = Gauge(
            "appeals_open_work_appeals",
            "Open appeals held in memory for the work queues.",
            registry=registry,
        )

    def follow(self, open_work: OpenWork | None) -> None:
        """Read the open-work gauges from ``open_work`` at each scrape."""
        if open_work is not None:
            self.open_work_ready.set_function(lambda: float(open_work.ready))
            self.open_work_appeals.set_function(lambda: float(len(open_work)))


def create_app(settings: AppealsSettings | None = None) -> FastAPI:
    """Build the FastAPI application (the context starts with the app's lifespan)."""
    settings = settings or AppealsSettings()
    metrics = IntakeMetrics(CollectorRegistry())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = bootstrap(settings)
        context.watchdog.on_resent = metrics.routing_resent.inc
        metrics.follow(context.open_work)
        app.state.context = context
        await context.start()
        try:
            yield
        finally:
            await context.stop()

    app = FastAPI(
        title="City appeals (诉求) service",
        version="0.1.0",
        description="Intake from the web, the hotline and Open311; the system of record.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    api = APIRouter(prefix="/api/v1")

    async def intake(
        submission: AppealCreate,
        context: AppealsContext,
        *,
        channel: str,
        actor: Actor,
        idempotency_key: str | None,
    ) -> JSONResponse:
        try:
            doc, token, created = await submit_appeal(
                submission,
                store=context.store,
                city=context.city,
                channel=channel,  # type: ignore[arg-type]
                actor=actor,
                idempotency_key=idempotency_key,
                tracking_prefix=context.settings.tracking_prefix,
            )
        except UnknownMatter as exc:
            metrics.rejected.labels("unknown_matter").inc()
            raise HTTPException(
                422,
                detail=[{"loc": ["body", "matter"], "msg": str(exc), "type": "value_error"}],
            ) from None
        except PyMongoError as exc:
            log.error("intake: database unavailable: %s", exc)
            metrics.rejected.labels("database_unavailable").inc()
            return JSONResponse(
                {"detail": "the appeal could not be stored; please retry"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if created:
            metrics.accepted.labels(channel).inc()
            context.relay.wake()
        body = AppealCreated(
            id=doc["_id"],
            tracking_no=doc["tracking_no"],
            token=token,
            state=doc["state"],
            replayed=not created,
        )
        return JSONResponse(body.model_dump(), status_code=201 if created else 200)

    @api.post("/appeals", status_code=201, response_model=AppealCreated, tags=["intake"])
    async def create_web_appeal(
        submission: AppealCreate,
        context: ContextDep,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> JSONResponse:
        """A resident's web submission (诉求). Retrying with the same Idempotency-Key is safe."""
        actor = Actor(kind="resident", id="web")
        return await intake(
            submission, context, channel="web", actor=actor, idempotency_key=idempotency_key
        )

    @api.post("/hotline/appeals", status_code=201, response_model=AppealCreated, tags=["intake"])
    async def create_hotline_appeal(
        submission: HotlineAppealCreate,
        context: ContextDep,
        operator: Annotated[Staff, Depends(require_roles("operator", "dispatcher"))],
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> JSONResponse:
        """An operator's record of a hotline call; the call id makes retries safe."""
        if submission.operator_id is not None and submission.operator_id != operator.id:
            raise HTTPException(
                422,
                detail=[
                    {
                        "loc": ["body", "operator_id"],
                        "msg": f"operator_id must be the logged-in operator ({operator.id})",
                        "type": "value_error",
                    }
                ],
            )
        key = idempotency_key or (f"call:{submission.call_id}" if submission.call_id else None)
        return await intake(
            submission,
            context,
            channel="hotline",
            actor=operator.as_actor(),
            idempotency_key=key,
        )

    @api.get("/appeals/{appeal_id}", response_model=AppealPublic, tags=["appeals"])
    async def get_appeal(appeal_id: str, context: ContextDep, staff: CurrentStaff) -> AppealPublic:
        """One appeal with its full history (only within the caller's scope)."""
        doc = await context.store.get(appeal_id)
        # Outside one's scope an appeal is "not found": its existence is not disclosed.
        if doc is None or not can_read(staff, doc):
            raise HTTPException(404, detail=f"no appeal {appeal_id}")
        return AppealPublic(
            id=doc["_id"],
            tracking_no=doc["tracking_no"],
            state=doc["state"],
            channel=doc["channel"],
            text=doc["text"],
            address=doc.get("address"),
            matter=doc.get("matter"),
            urgency=doc.get("urgency"),
            district=doc.get("district"),
            street=doc.get("street"),
            community=doc.get("community"),
            unit=doc.get("unit"),
            co_handlers=doc.get("co_handlers") or [],
            version=doc["version"],
            history=[
                {k: e[k] for k in ("event_id", "type", "occurred_at", "actor", "unit", "data")}
                for e in doc.get("events", [])
            ],
        )

    app.include_router(api)
    # Open311 GeoReport v2 under /open311/v2 (entrypoints/open311.py).
    app.include_router(open311_router)
    # --- Staff login hook: /api/v1/auth (entrypoints/auth.py).
    app.include_router(auth_router)
    # --- Queues / duplicates / status page hook (issue 3): work queues, the resident's status
    # page, and the checked merge, included before staff_router so it serves .../merge.
    app.include_router(queues_router)
    app.include_router(resident_router)
    app.include_router(merge_router)
    app.include_router(staff_router)
    # --- Staff UI hook (entrypoints/ui.py): HTML pages at /, /login, /operator, /queue ...,
    # live updates at /ui/events, static files at /static.
    mount_ui(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(context: ContextDep) -> JSONResponse:
        """Ready when the database answers (the broker may be away: the outbox holds events)."""
        if getattr(app.state, "draining", False):
            return JSONResponse({"status": "draining"}, 503)
        try:
            await context.store.ping()
        except PyMongoError as exc:
            return JSONResponse({"status": "database unavailable", "error": str(exc)}, 503)
        return JSONResponse(
            {
                "status": "ready",
                "broker_connected": context.relay.broker_connected,
                "events_published": context.relay.published,
                # Queues read the database until the open work is in memory (not a readiness
                # condition: they answer either way, only slower).
                "open_work": None
                if context.open_work is None
                else {"ready": context.open_work.ready, "appeals": len(context.open_work)},
            }
        )

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        """Prometheus exposition of the service's own metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
