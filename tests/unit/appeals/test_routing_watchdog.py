"""Which appeals the routing watchdog sends to routing again (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.appeals.service_layer.routing_watchdog import stalled_received

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
STALL = timedelta(seconds=120)


def received(appeal_id: str = "a1", *, age_s: float = 300, **extra: Any) -> dict[str, Any]:
    return {
        "_id": appeal_id,
        "state": "received",
        "received_at": NOW - timedelta(seconds=age_s),
        "outbox": [],
        "events": [{"type": "appeal.received", "event_id": f"ev-{appeal_id}"}],
        **extra,
    }


def test_an_appeal_received_longer_ago_than_the_stall_is_resent_with_its_received_event() -> None:
    assert stalled_received([received()], now=NOW, stall=STALL) == [("a1", "ev-a1")]


def test_a_young_appeal_waits() -> None:
    assert stalled_received([received(age_s=119)], now=NOW, stall=STALL) == []


def test_an_appeal_with_events_still_in_the_outbox_is_the_relays_business() -> None:
    doc = received(outbox=["ev-a1"])
    assert stalled_received([doc], now=NOW, stall=STALL) == []


def test_an_appeal_resent_within_the_stall_is_not_resent_again_until_it_passes() -> None:
    recent = received(routing_resent_at=NOW - timedelta(seconds=60))
    old = received("a2", routing_resent_at=NOW - timedelta(seconds=121))
    assert stalled_received([recent, old], now=NOW, stall=STALL) == [("a2", "ev-a2")]


def test_only_appeals_still_received_count() -> None:
    moved_on = received(state="dispatched")
    assert stalled_received([moved_on], now=NOW, stall=STALL) == []


def test_naive_times_from_the_database_are_read_as_utc() -> None:
    doc = received(received_at=(NOW - timedelta(seconds=300)).replace(tzinfo=None))
    assert stalled_received([doc], now=NOW, stall=STALL) == [("a1", "ev-a1")]


def test_an_appeal_without_a_received_event_is_left_alone() -> None:
    doc = received(events=[{"type": "appeal.note_added", "event_id": "n1"}])
    assert stalled_received([doc], now=NOW, stall=STALL) == []
