"""What the routing worker rebuilds from an appeal's logged history when its table lost the
appeal (pure: events in, table entry out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.routing.entrypoints.app import remembered_from
from shared.events import (
    Actor,
    AppealReceived,
    AppealReturned,
    AppealSigned,
    EventEnvelope,
    new_event,
)

STAFF = Actor(kind="staff", id="s1")
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def event(type_: str, data: object, minutes: int) -> EventEnvelope:
    return new_event(
        type_,
        appeal_id="a1",
        actor=STAFF,
        data=data,  # type: ignore[arg-type]
        street="JA-JAS",
        community="JA-JAS-C01",
        occurred_at=T0 + timedelta(minutes=minutes),
    )


RECEIVED = event(
    "appeal.received",
    AppealReceived(
        channel="web",
        tracking_no="T1",
        text="路灯坏了",
        address="华山路120号",
        location={"lon": 121.44, "lat": 31.22},
        matter="road.street_light",
    ),
    0,
)


def test_the_received_event_gives_the_text_place_and_hint() -> None:
    assert remembered_from([RECEIVED]) == {
        "text": "路灯坏了",
        "address": "华山路120号",
        "location": [121.44, 31.22],
        "matter_hint": "road.street_light",
        "excluded_units": [],
        "return_count": 0,
    }


def test_each_return_in_the_history_excludes_the_unit_that_returned_it() -> None:
    history = [
        RECEIVED,
        event("appeal.signed", AppealSigned(), 5),
        event(
            "appeal.returned",
            AppealReturned(reason="不归我管", returned_by="U1", return_count=1),
            9,
        ),
        event(
            "appeal.returned",
            AppealReturned(reason="也不归我", returned_by="U2", return_count=2),
            20,
        ),
    ]
    remembered = remembered_from(history)
    assert remembered is not None
    assert remembered["excluded_units"] == ["U1", "U2"]
    assert remembered["return_count"] == 2
    assert remembered["text"] == "路灯坏了"


def test_a_history_without_its_received_event_restores_nothing() -> None:
    returned = event(
        "appeal.returned", AppealReturned(reason="x", returned_by="U1", return_count=1), 9
    )
    assert remembered_from([returned]) is None
    assert remembered_from([]) is None
