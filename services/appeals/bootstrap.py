"""Wires the appeals service: settings -> database, broker clients, relay, consumer.

Everything the HTTP layer needs hangs off one ``AppealsContext``; tests build it the same way
against the real broker and database started by the harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.appeals.adapters.accounts import StaffAccounts
from services.appeals.adapters.decisions_consumer import DecisionsConsumer
from services.appeals.adapters.open_work import OpenWork
from services.appeals.adapters.outbox_relay import OutboxRelay
from services.appeals.adapters.queue_store import QueueStore
from services.appeals.adapters.store import AppealStore
from services.appeals.config import AppealsSettings
from services.appeals.domain.duplicates import DuplicatePolicy
from services.appeals.domain.sla import WorkCalendar
from services.appeals.service_layer.decisions import apply_decision
from services.appeals.service_layer.duplicates import flag_if_duplicate
from services.appeals.service_layer.routing_watchdog import RoutingWatchdog
from services.appeals.service_layer.sweeper import SlaSweeper
from shared.city import City, load_city
from shared.events import RoutingDecision
from shared.kafka import BROKER_PROFILES, make_consumer, make_producer
from shared.mongo import make_client
from shared.topics import DECISIONS_GROUP, ROUTING_DECISIONS

__all__ = ["AppealsContext", "bootstrap"]


@dataclass
class AppealsContext:
    """The running service's collaborators."""

    settings: AppealsSettings
    city: City
    calendar: WorkCalendar
    store: AppealStore
    relay: OutboxRelay
    decisions: DecisionsConsumer
    # --- Staff login hook: accounts and sessions (adapters/accounts.py).
    accounts: StaffAccounts
    # --- Queues / sweeper / duplicates hook (issue 3): queue reads, the SLA sweeper task and
    # the duplicate policy the post-decision hook applies.
    queues: QueueStore
    # The open appeals in memory, fed by a change stream; queues fall back to the database
    # while it loads or when it is off (adapters/open_work.py).
    open_work: OpenWork | None
    sweeper: SlaSweeper
    duplicates: DuplicatePolicy
    # --- Routing watchdog: re-sends appeals left `received` (service_layer/routing_watchdog.py).
    watchdog: RoutingWatchdog

    async def start(self) -> None:
        """Create indexes and start the background loops."""
        await self.store.create_indexes()
        await self.accounts.create_indexes()
        await self.queues.create_indexes()
        if self.open_work is not None:
            self.open_work.start()
        self.relay.start()
        self.decisions.start()
        self.sweeper.start()
        self.watchdog.start()
        self.relay.wake()

    async def stop(self) -> None:
        """Stop background loops, then close the database client."""
        await self.watchdog.stop()
        await self.sweeper.stop()
        await self.decisions.stop()
        await self.relay.stop()
        if self.open_work is not None:
            await self.open_work.stop()
        await self.store.client.close()


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
        durable_after_s=BROKER_PROFILES[profile].durable_after_s,
    )
    calendar = WorkCalendar()
    # Every write that adds events wakes the relay at once (intake, commands, decisions, the
    # sweeper), so an event does not wait for the relay's poll.
    store.on_events.append(relay.wake)

    open_work = None
    if settings.open_work_view:
        open_work = OpenWork(store.appeals, wait_s=settings.open_work_wait_ms / 1000)
        store.write_watchers.append(open_work)
    queues = QueueStore(store.appeals, open_work)
    duplicates = DuplicatePolicy(
        radius_m=settings.duplicate_radius_m,
        window=timedelta(hours=settings.duplicate_window_hours),
    )

    async def handle(decision: RoutingDecision) -> bool:
        applied = await apply_decision(decision, store=store, city=city, calendar=calendar)
        # --- Duplicates hook: once routing has settled matter and place, look for an open
        # appeal this one repeats (service_layer/duplicates.py).
        if applied:
            await flag_if_duplicate(
                decision.appeal_id, store=store, queues=queues, city=city, policy=duplicates
            )
        return applied

    decisions = DecisionsConsumer(
        lambda: make_consumer(
            ROUTING_DECISIONS,
            bootstrap=bootstrap_servers,
            profile=profile,
            group_id=DECISIONS_GROUP,
            instance_id=settings.worker_id,
        ),
        lambda: make_producer(bootstrap_servers, profile),
        handle,
    )
    # --- Staff login hook: the accounts share the store's database client.
    accounts = StaffAccounts(
        store.client,
        settings.mongo_db,
        city,
        session_hours=settings.session_hours,
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.login_lockout_minutes,
    )
    # --- SLA sweeper hook (service_layer/sweeper.py).
    sweeper = SlaSweeper(
        store=store,
        queues=queues,
        city=city,
        calendar=calendar,
        interval_seconds=settings.sweeper_interval_seconds,
        batch=settings.sweeper_batch,
        district_after_workdays=settings.escalation_district_workdays,
        on_events=relay.wake,
    )
    watchdog = RoutingWatchdog(
        store=store,
        queues=queues,
        stall_seconds=settings.routing_stall_seconds,
        batch=settings.sweeper_batch,
        republish=relay.forget,
    )
    return AppealsContext(
        settings,
        city,
        calendar,
        store,
        relay,
        decisions,
        accounts,
        queues,
        open_work,
        sweeper,
        duplicates,
        watchdog,
    )
