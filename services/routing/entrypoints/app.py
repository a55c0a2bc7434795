"""The routing worker (faust): appeal events in, routing decisions out.

Run: ``appeals serve routing`` (or ``faust -A services.routing.entrypoints.app worker``).

Consumes ``appeal.received``, ``appeal.returned`` and ``appeal.reopened`` from
``appeals.events``; emits one ``RoutingDecision`` per request to ``routing.decisions``. The
text and place of each appeal are kept in a table (changelog-backed, partitioned like the
events) because a returned appeal must be routed again without the unit that returned it.
If the table has lost an appeal (its changelog record dropped in a broker crash: docs/faults.md,
finding 9), a return or reopening is routed from the appeal's history read back from the
appeals service's ``event_log`` (``state_restored_total`` counts it); only an appeal the log
does not know either is dead-lettered.
A message that is not a valid event goes to ``appeals.events.dlq`` and the agent goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import faust
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.routing.config import RoutingSettings
from services.routing.domain.corrections import fingerprint
from services.routing.domain.embedding import TextEmbedder
from services.routing.domain.router import LabelledAppeal, RouteOutcome, Router, RouteRequest
from shared.city import load_city
from shared.event_log import history_before_waiting
from shared.events import EventEnvelope, InvalidEvent, RoutingDecision, decode_event, encode
from shared.faust_app import dead_letter, make_faust_app
from shared.mongo import make_client
from shared.pipeline_metrics import PipelineMetrics, install_lag_timer
from shared.topics import APPEAL_EVENTS, DEAD_LETTERS, ROUTING_DECISIONS, ROUTING_GROUP

__all__ = ["app", "create_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE = "routing"
ROUTED_TYPES = {"appeal.received", "appeal.returned", "appeal.reopened"}
OUTCOMES = ("dispatch", "triage", "transfer")  # the outcome label of the decision counters


class RoutingMetrics:
    """Prometheus metrics of the routing worker, on the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "routing_decisions_total", "Decisions emitted.", ["outcome"], registry=registry
        )
        self.invalid = Counter(
            "routing_invalid_events_total",
            "Messages sent to the dead-letter topic.",
            registry=registry,
        )
        self.second_opinions = Counter(
            "routing_second_opinions_total",
            "Decisions for which the sentence encoder was asked (docs/routing.md, step 6).",
            ["outcome"],
            registry=registry,
        )
        self.second_opinion_ready = Gauge(
            "routing_second_opinion_ready",
            "1 once the router with the sentence encoder decides, 0 while the words alone do.",
            registry=registry,
        )
        self.second_opinion_enabled = Gauge(
            "routing_second_opinion_enabled",
            "1 when APPEALS_ROUTING_EMBEDDINGS is on (the second opinion is or will be ready).",
            registry=registry,
        )
        self.training_examples = Gauge(
            "routing_training_examples",
            "Labelled examples the router in use learnt from: the training file's, and the "
            "corrections stored in the appeals database (APPEALS_ROUTING_LEARN_FROM_HISTORY).",
            ["source"],
            registry=registry,
        )
        self.relearns = Counter(
            "routing_relearns_total",
            "Looks for new corrections (APPEALS_ROUTING_RELEARN_MINUTES): retrained (a new "
            "router swapped in), unchanged, or failed (the router in use kept).",
            ["outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "routing_decide_seconds",
            "Time to decide one appeal in-process.",
            # The words alone decide in ~1 ms; with the second opinion asked, the encoder takes
            # ~1 ms per character of the appeal (50-250 ms for 50-200 characters).
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        # Every outcome's series exists from the start, at 0: a dashboard's rate() and share
        # need the series before the first decision of that kind (deploy/grafana, pipeline).
        for outcome in OUTCOMES:
            self.decisions.labels(outcome)
            self.second_opinions.labels(outcome)
        for outcome in ("retrained", "unchanged", "failed"):
            self.relearns.labels(outcome)

    def trained_on(self, training: Training) -> None:
        files, history = training
        self.training_examples.labels("file").set(len(files))
        self.training_examples.labels("history").set(len(history))


Training = tuple[list[LabelledAppeal], list[LabelledAppeal]]


def load_training(settings: RoutingSettings) -> Training:
    """The labelled examples the worker learns from: the training file's (if any), and the
    corrections stored in the appeals database (if it learns from history)."""
    files: list[LabelledAppeal] = []
    if settings.routing_training_data:
        from services.routing.adapters.training_data import read_labelled

        files = read_labelled(settings.routing_training_data)
    history: list[LabelledAppeal] = []
    if settings.routing_learn_from_history:
        from services.routing.adapters.history import corrections_from_database

        history = corrections_from_database(settings.mongo_url, settings.mongo_db)
    return files, history


def build_router(settings: RoutingSettings, training: Training | None = None) -> Router:
    """Load the city files and train the router on the words (the second opinion comes later:
    ``Router.enable_second_opinion``)."""
    city = load_city(settings.jurisdiction_file, settings.matters_file)
    files, history = load_training(settings) if training is None else training
    options: dict[str, Any] = {}
    if settings.routing_threshold is not None:
        options["threshold"] = settings.routing_threshold
    return Router.from_city(city, training=[*files, *history], **options)


def load_embedder(settings: RoutingSettings) -> TextEmbedder:
    """The sentence encoder of the second opinion (its training vectors cached between starts)."""
    from services.routing.adapters.embedder import E5Embedder

    return E5Embedder(cache=settings.embedding_cache_path)


def relearn(
    settings: RoutingSettings, learnt: str | None, embedder: TextEmbedder | None
) -> tuple[Router, Training, str] | None:
    """A router trained on the corrections stored now, or None when they are the ones the
    current router learnt (``learnt``: their fingerprint). With an encoder, the new router
    has the second opinion before it is handed over, so no decision goes without it."""
    training = load_training(settings)
    digest = fingerprint(training[1])
    if digest == learnt:
        return None
    router = build_router(settings, training)
    if embedder is not None:
        router.enable_second_opinion(embedder)
    return router, training, digest


async def in_daemon_thread(name: str, work: Callable[[], T]) -> T:
    """Run blocking ``work`` off the event loop, in a daemon thread: a worker stopped meanwhile
    exits at once instead of finishing it first (what the work writes is written atomically)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as exc:  # reported on the loop, where the caller awaits it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed: the worker is stopping
            loop.call_soon_threadsafe(_settle, done, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(cast(T, result))
    else:
        future.set_exception(error)


def request_for(event: EventEnvelope, remembered: dict[str, Any] | None) -> RouteRequest | None:
    """What to route for this event, or None when the event needs no routing."""
    if event.type == "appeal.received":
        data = event.data
        location = data.get("location")
        return RouteRequest(
            text=data["text"],
            address=data.get("address"),
            location=(location["lon"], location["lat"]) if location else None,
            matter_hint=data.get("matter"),
            excluded_units=tuple(data.get("excluded_units") or ()),
        )
    if remembered is None:
        return None
    excluded = tuple(remembered.get("excluded_units", ()))
    return_count = int(remembered.get("return_count", 0))
    if event.type == "appeal.returned":
        excluded = (*excluded, event.data["returned_by"])
        return_count = int(event.data.get("return_count", return_count + 1))
    location = remembered.get("location")
    return RouteRequest(
        text=remembered["text"],
        address=remembered.get("address"),
        location=tuple(location) if location else None,
        matter_hint=remembered.get("matter_hint"),
        excluded_units=excluded,
        return_count=return_count,
    )


def remembered_input(request: RouteRequest) -> dict[str, Any]:
    """What the table keeps of a routed request, to route the appeal again later."""
    return {
        "text": request.text,
        "address": request.address,
        "location": list(request.location) if request.location else None,
        "matter_hint": request.matter_hint,
        "excluded_units": list(request.excluded_units),
        "return_count": request.return_count,
    }


def remembered_from(history: list[EventEnvelope]) -> dict[str, Any] | None:
    """The table entry an appeal's past events would have left (None: never received)."""
    remembered: dict[str, Any] | None = None
    for past in history:
        if past.type not in ROUTED_TYPES:
            continue
        request = request_for(past, remembered)
        if request is not None:
            remembered = remembered_input(request)
    return remembered


def to_decision(event: EventEnvelope, outcome: RouteOutcome) -> RoutingDecision:
    """The message for ``routing.decisions``."""
    return RoutingDecision(
        decision_id=uuid.uuid4().hex,
        appeal_id=event.appeal_id,
        based_on_event_id=event.event_id,
        decided_at=datetime.now(UTC),
        street=outcome.street,
        community=outcome.community,
        district=outcome.district,
        matter=outcome.matter,
        unit=outcome.unit,
        co_handlers=list(outcome.co_handlers),
        urgency=outcome.urgency,
        triage=outcome.triage,
        transfer=outcome.transfer,
        dispatch_center=outcome.dispatch_center,
        confidence=outcome.confidence,
        reasons=list(outcome.reasons),
        candidates=list(outcome.candidates),
    )


def create_app(settings: RoutingSettings | None = None) -> faust.App:
    """The faust app with its agent, table and metrics."""
    settings = settings or RoutingSettings()
    registry = CollectorRegistry()
    metrics = RoutingMetrics(registry)
    app = make_faust_app(
        ROUTING_GROUP,
        settings,
        web_port=settings.routing_port,
        registry=registry,
        data_dir=settings.data_dir / "faust" / "routing",
    )
    pipeline = PipelineMetrics(registry)
    pipeline.state_restored.labels(SERVICE)  # a 0, not a missing series, until it happens
    install_lag_timer(app, pipeline, service=SERVICE, topic=APPEAL_EVENTS, interval=5.0)
    metrics.second_opinion_enabled.set(1 if settings.routing_embeddings else 0)
    router_holder: dict[str, Router] = {}
    # What the router in use learnt from (the corrections' fingerprint) and the encoder, which
    # a router trained again reuses (loading it costs ~90 MB and a second).
    learnt: dict[str, str] = {}
    encoder: dict[str, TextEmbedder] = {}
    warmed = asyncio.Event()  # the first router is complete (with its second opinion, if on)
    database: dict[str, Any] = {}  # the event log's database, connected on first need

    build_lock = asyncio.Lock()

    async def router() -> Router:
        # Built lazily in the worker, so importing the module (faust -A, tests) stays cheap, and
        # off the event loop: a loop blocked for the second or two of training misses
        # heartbeats, and the group rebalances around a worker that is only busy.
        if "router" not in router_holder:
            async with build_lock:
                if "router" not in router_holder:
                    started = time.perf_counter()
                    training = await asyncio.to_thread(load_training, settings)
                    built = await asyncio.to_thread(build_router, settings, training)
                    learnt["corrections"] = fingerprint(training[1])
                    metrics.trained_on(training)
                    router_holder["router"] = built
                    log.info(
                        "router ready in %.1f s (%d labelled examples, %d of them corrections)",
                        time.perf_counter() - started,
                        len(training[0]) + len(training[1]),
                        len(training[1]),
                    )
        return router_holder["router"]

    events = app.topic(
        APPEAL_EVENTS,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    decisions = app.topic(ROUTING_DECISIONS, key_serializer="raw", value_serializer="raw")
    inputs = app.Table("appeal-inputs", default=None, partitions=4)

    @app.task
    async def warm_up() -> None:
        current = await router()
        if not settings.routing_embeddings:
            warmed.set()
            return
        # The second opinion needs every training text encoded: ~6 s for the reference catalog
        # on a quiet machine, a minute or more with labelled appeals on a busy one, and nothing
        # on later starts (the vectors are cached). Until then the words alone decide, and an
        # appeal they are unsure of goes to triage, as it would without the second opinion.
        log.info("routing on the words alone until the second opinion is ready")
        started = time.perf_counter()

        # Only the encoder runs in the thread (its C engine releases the GIL); the router is
        # not trained again, and the agent keeps using it while the vectors are computed.
        def work() -> None:
            encoder["embedder"] = load_embedder(settings)
            current.enable_second_opinion(encoder["embedder"])

        try:
            await in_daemon_thread("second-opinion", work)
        finally:
            # Learning from corrections goes on even if the encoder failed (on the words).
            warmed.set()
        metrics.second_opinion_ready.set(1)
        log.info("second opinion ready in %.1f s", time.perf_counter() - started)

    if settings.routing_learn_from_history and settings.routing_relearn_minutes > 0:

        @app.timer(interval=settings.routing_relearn_minutes * 60)
        async def relearn_from_corrections() -> None:
            # Every manual dispatch a unit signed is a labelled example (docs/routing.md,
            # "Learning from the people who correct it"): the router in the city gets better
            # without a restart. Trained beside the agent, then swapped in whole.
            if not warmed.is_set():
                return
            started = time.perf_counter()
            try:
                result = await in_daemon_thread(
                    "relearn",
                    lambda: relearn(settings, learnt.get("corrections"), encoder.get("embedder")),
                )
            except Exception:
                metrics.relearns.labels("failed").inc()
                log.exception("training on the stored corrections failed; the router is kept")
                return
            if result is None:
                metrics.relearns.labels("unchanged").inc()
                return
            new_router, training, digest = result
            router_holder["router"] = new_router
            learnt["corrections"] = digest
            metrics.trained_on(training)
            metrics.relearns.labels("retrained").inc()
            log.info(
                "router trained again on %d corrections in %.1f s",
                len(training[1]),
                time.perf_counter() - started,
            )

    # Suggestions for the operator console as the call is typed in: the appeals service asks
    # these over HTTP (it never imports the router).
    @app.page("/api/v1/suggest/matters")
    async def suggest_matters(web: Any, request: Any) -> Any:
        text = (request.query.get("text") or "").strip()[:2000]
        if not text:
            return web.json({"detail": "query parameter 'text' is required"}, status=422)
        current = await router()
        by_code = current.city.catalog.by_code()
        return web.json(
            [
                {"matter": code, "name": by_code[code].name, "score": score}
                for code, score in current.suggest_matters(text, k=5)
            ]
        )

    @app.page("/api/v1/suggest/addresses")
    async def suggest_addresses(web: Any, request: Any) -> Any:
        prefix = (request.query.get("q") or "").strip()[:100]
        if not prefix:
            return web.json({"detail": "query parameter 'q' is required"}, status=422)
        return web.json((await router()).suggest_addresses(prefix, k=10))

    async def restore(event: EventEnvelope) -> dict[str, Any] | None:
        """The input of an appeal the table lost, from the event log (None: not there)."""
        if "db" not in database:
            database["db"] = make_client(settings.mongo_url)[settings.mongo_db]
        history = await history_before_waiting(database["db"], event)
        remembered = remembered_from(history)
        if remembered is not None:
            pipeline.restored(SERVICE)
            log.warning(
                "input of an appeal missing from the table restored from the event log",
                extra={"appeal_id": event.appeal_id, "event_id": event.event_id},
            )
        return remembered

    @app.agent(events)
    async def route(stream: faust.StreamT[bytes]) -> None:
        async for event_ctx in stream.events():
            try:
                event = decode_event(event_ctx.value)
            except InvalidEvent as exc:
                metrics.invalid.inc()
                pipeline.invalid(SERVICE)
                log.error("invalid event sent to dead letters: %s", exc)
                if await dead_letter(app, APPEAL_EVENTS, event_ctx, str(exc)):
                    pipeline.dead_letter(SERVICE, DEAD_LETTERS[APPEAL_EVENTS])
                continue
            pipeline.consumed(SERVICE, event.type)
            if event.type not in ROUTED_TYPES:
                continue
            remembered = inputs.get(event.appeal_id)
            if remembered is None and event.type != "appeal.received":
                remembered = await restore(event)
            request = request_for(event, remembered)
            if request is None:
                # A return or reopening of an appeal this router never saw received: nothing
                # to route it from. Park it for a person instead of dropping it silently.
                log.warning(
                    "no stored input for %s", event.type, extra={"appeal_id": event.appeal_id}
                )
                if await dead_letter(
                    app, APPEAL_EVENTS, event_ctx, f"{event.type} for an appeal never received"
                ):
                    pipeline.dead_letter(SERVICE, DEAD_LETTERS[APPEAL_EVENTS])
                continue
            current = await router()
            started = time.perf_counter()
            try:
                outcome = current.route(request)
            except Exception as exc:  # the router promises not to raise; never stop the agent
                log.exception("router failed", extra={"appeal_id": event.appeal_id})
                metrics.invalid.inc()
                if await dead_letter(app, APPEAL_EVENTS, event_ctx, f"router failed: {exc!r}"):
                    pipeline.dead_letter(SERVICE, DEAD_LETTERS[APPEAL_EVENTS])
                continue
            metrics.seconds.observe(time.perf_counter() - started)
            inputs[event.appeal_id] = remembered_input(request)
            decision = to_decision(event, outcome)
            kind = "transfer" if outcome.transfer else "triage" if outcome.triage else "dispatch"
            metrics.decisions.labels(kind).inc()
            if outcome.asked_second_opinion:
                metrics.second_opinions.labels(kind).inc()
            # Send now (force: not attached to the event, which faust would publish only after
            # the agent is done with it) and wait for the broker's ack before moving on: faust
            # commits the event's offset without waiting for what the agent sent, so a crash
            # in between would lose the decision and leave the appeal unrouted.
            sent = await decisions.send(
                key=event.appeal_id.encode(), value=encode(decision), force=True
            )
            await sent

    return app


app = create_app()
