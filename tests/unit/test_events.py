"""The event contract: envelopes round-trip, bad messages are refused with a reason, old
versions are upcast, and the checked-in JSON Schemas match the models."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from shared import events
from shared.events import (
    Actor,
    AppealReceived,
    AppealSigned,
    InvalidEvent,
    decode_event,
    encode,
    new_event,
)
from shared.schemas import SCHEMA_DIR, render_schemas

ACTOR = Actor(kind="resident", id="web")


def received() -> events.EventEnvelope:
    return new_event(
        "appeal.received",
        appeal_id="a1",
        actor=ACTOR,
        data=AppealReceived(channel="web", tracking_no="2026112500000001", text="路灯坏了"),
    )


def test_an_event_round_trips_through_the_wire_format() -> None:
    event = received()
    decoded = decode_event(encode(event))
    assert decoded == event
    assert decoded.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: {**e, "type": "appeal.exploded"}, "unknown event type"),
        (lambda e: {**e, "schema_version": 0}, "schema_version"),
        (lambda e: {**e, "schema_version": 99}, "newer than this code knows"),
        (lambda e: {**e, "data": {"channel": "fax"}}, "data.channel"),
        (lambda e: {**e, "occurred_at": "2026-11-25T10:00:00"}, "time zone"),
        (lambda e: {**e, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_events_are_refused_naming_what_is_wrong(mutate, message) -> None:
    raw = orjson.loads(encode(received()))
    with pytest.raises(InvalidEvent, match=message):
        decode_event(orjson.dumps(mutate(raw)))


def test_not_json_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode_event(b"\xff{")


def test_data_of_the_wrong_type_is_refused_when_building() -> None:
    with pytest.raises(InvalidEvent):
        new_event("appeal.received", appeal_id="a1", actor=ACTOR, data=AppealSigned())


def test_an_old_schema_version_is_upcast(monkeypatch: pytest.MonkeyPatch) -> None:
    class SignedV2(AppealSigned):
        SCHEMA_VERSION = 2
        note: str

    monkeypatch.setitem(events.DATA_MODELS, "appeal.signed", SignedV2)
    monkeypatch.setitem(events.UPCASTERS, ("appeal.signed", 1), lambda d: {**d, "note": "v1"})
    v1 = {
        "event_id": "e1",
        "type": "appeal.signed",
        "schema_version": 1,
        "appeal_id": "a1",
        "occurred_at": datetime(2026, 11, 25, tzinfo=UTC).isoformat(),
        "actor": {"kind": "staff", "id": "s1"},
        "data": {},
    }
    decoded = decode_event(orjson.dumps(v1))
    assert decoded.schema_version == 2
    assert decoded.data == {"note": "v1"}


def test_checked_in_json_schemas_match_the_models() -> None:
    rendered = render_schemas()
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(rendered), "run `python -m shared.schemas` and commit the result"
    for name, text in rendered.items():
        assert (SCHEMA_DIR / name).read_text() == text, (
            f"{name} is stale: run python -m shared.schemas"
        )
