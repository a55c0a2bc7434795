"""Wires the appeals service: settings -> database, broker clients, relay, consumer.

Everything the HTTP layer needs hangs off one ``AppealsContext``; tests build it the same way
against the real broker and database started by the harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.appeals.adapters.decisions_consumer import DecisionsConsumer
from services.appeals.adapters.outbox_relay import OutboxRelay
from services.appeals.adapters.store import AppealStore
from services.appeals.config import AppealsSettings
from services.appeals.service_layer.decisions import apply_decision
from shared.city import City, load_city
from shared.events import RoutingDecision
from shared.kafka import make_consumer, make_producer
from shared.mongo import make_client
from shared.topics import ROUTING_DECISIONS

__all__ = ["AppealsContext", "bootstrap"]


@dataclass
class AppealsContext:
    """The running service's collaborators."""

    settings: AppealsSettings
    city: City
    store: AppealStore
    relay: OutboxRelay
    decisions: DecisionsConsumer

    async def start(self) -> None:
        """Create indexes and start the background loops."""
        await self.store.create_indexes()
        self.relay.start()
        self.decisions.start()
        self.relay.wake()

    async def stop(self) -> None:
        """Stop background loops, then close the database client."""
        await self.decisions.stop()
        await self.relay.stop()
        await self.store.client.close()


def simple_deadlines(city: City) -> object:
    """Elapsed-time deadlines from the catalog's urgency table (calendar-free fallback)."""

    def rule(urgency: str, start: datetime) -> dict[str, datetime]:
        limits = city.catalog.limits(urgency)  # type: ignore[arg-type]
        return {
            "sign_by": start + timedelta(minutes=limits.sign_minutes),
            "respond_by": start + timedelta(hours=limits.respond_hours),
            "resolve_by": start + timedelta(days=limits.resolve_workdays),
        }

    return rule


def bootstrap(settings: AppealsSettings | None = None) -> AppealsContext:
    """Build the service from settings (nothing is started yet)."""
    settings = settings or AppealsSettings()
    city = load_city(settings.jurisdiction_file, settings.matters_file)
    store = AppealStore(make_client(settings.mongo_url), settings.mongo_db)
    profile = settings.broker_profile
    bootstrap_servers = settings.kafka_bootstrap

    relay = OutboxRelay(
        store,
        lambda: make_producer(bootstrap_servers, profile),
        batch=settings.relay_batch,
        poll_seconds=settings.relay_poll_seconds,
        retry_max_seconds=settings.relay_retry_max_seconds,
    )
    deadline_rule = simple_deadlines(city)

    async def handle(decision: RoutingDecision) -> bool:
        return await apply_decision(
            decision,
            store=store,
            city=city,
            deadlines=deadline_rule,  # type: ignore[arg-type]
        )

    decisions = DecisionsConsumer(
        lambda: make_consumer(
            ROUTING_DECISIONS,
            bootstrap=bootstrap_servers,
            profile=profile,
            group_id="appeals-decisions",
        ),
        lambda: make_producer(bootstrap_servers, profile),
        handle,
    )
    return AppealsContext(settings, city, store, relay, decisions)
