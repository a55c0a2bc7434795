"""Audit: every staff action is an event with its actor and time, and history is append-only.

From the route table: no PUT, PATCH or DELETE anywhere, and nothing that names events or
history besides reading them. Over HTTP: each command appends its events to the appeal's
``events`` (the audit trail) and leaves every earlier event exactly as it was; the relay's
copy in ``event_log`` is identical; a refused command appends nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.security.conftest import World, poll
from tests.security.routes import app_routes, openapi_routes


def test_no_route_can_modify_or_delete_events(world: World) -> None:
    spec = world.http.get(world.url("/openapi.json")).json()
    routes = {(m, p) for m, p, _ in openapi_routes(spec)}
    routes |= {(r.method, r.path) for r in app_routes()}
    writers = sorted((m, p) for m, p in routes if m in ("PUT", "PATCH", "DELETE"))
    assert not writers, f"routes that could rewrite records: {writers}"
    history = sorted(
        (m, p)
        for m, p in routes
        if any(word in p.lower() for word in ("event", "history", "audit")) and m != "GET"
    )
    assert not history, f"write routes on events/history: {history}"
    # whatever method is tried on the appeal itself, nothing answers but GET
    appeal = world.dispatched().id
    operator = world.people["operator"].headers
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (f"/api/v1/appeals/{appeal}", f"/api/v1/appeals/{appeal}/notes"):
            response = world.http.request(method, world.url(path), headers=operator, json={})
            assert response.status_code == 405, (method, path, response.status_code)


def _strip(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "_id"}


def test_each_command_appends_events_with_actor_and_time_and_rewrites_none(world: World) -> None:
    appeal = world.dispatched().id
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("lead", "sign", {}),
        ("lead", "notes", {"text": "已到现场", "internal": True}),
        ("lead", "extension-request", {"reason": "需协调物业", "workdays": 3}),
        ("coordinator", "extension-approve", {}),
        ("coordinator", "supervise", {"level": "street", "note": "请加快"}),
        ("lead", "supervision-ack", {"note": "收到"}),
        ("lead", "respond", {"message": "已联系"}),
        ("lead", "resolve", {"result": "已修复", "solved": True}),
        ("operator", "review", {"satisfaction": "satisfied", "solved": True}),
        ("operator", "close", {"reason": "归档"}),
    ]
    for who, path, body in steps:
        before = world.doc(appeal)
        started = datetime.now(UTC) - timedelta(seconds=1)
        response = world.cmd(who, appeal, path, body)
        assert response.status_code == 200, (path, response.text)
        finished = datetime.now(UTC) + timedelta(seconds=1)
        after = world.doc(appeal)
        old, new = before["events"], after["events"]
        added = new[len(old) :]
        assert new[: len(old)] == old, f"{path} rewrote earlier events"
        assert [e["type"] for e in added] == response.json()["events"], path
        assert added, f"{path} recorded nothing"
        assert after["version"] == before["version"] + len(added)
        person = world.people[who]
        for event in added:
            actor = event["actor"]
            assert (actor["kind"], actor["id"], actor["role"]) == (
                "staff",
                person.username,
                person.role,
            ), event
            occurred = event["occurred_at"].replace(tzinfo=UTC)
            assert started <= occurred <= finished, (event["type"], occurred)
            assert event["appeal_id"] == appeal and event["event_id"]
    # event ids are unique and the relay's copy of each event is the same event
    events = world.doc(appeal)["events"]
    assert len({e["event_id"] for e in events}) == len(events)

    def copied() -> bool:
        return world.db.event_log.count_documents({"appeal_id": appeal}) == len(events)

    poll(copied, timeout=30, what="the event log copy")
    for event in events:
        logged = world.db.event_log.find_one({"_id": event["event_id"]})
        assert logged is not None
        assert _strip(logged) == _strip(event), event["type"]


def test_refused_commands_record_nothing(world: World) -> None:
    appeal = world.dispatched().id
    before = world.doc(appeal)
    refused = [
        world.cmd("coordinator", appeal, "sign"),  # the role may not
        world.cmd("second_unit", appeal, "sign"),  # not its appeal
        world.cmd("lead", appeal, "resolve", {"result": "x", "solved": True}),  # wrong state
        world.cmd("lead", appeal, "notes", {"text": ""}),  # invalid
    ]
    assert [r.status_code for r in refused] == [403, 403, 409, 422], [r.text for r in refused]
    after = world.doc(appeal)
    assert (after["version"], after["events"]) == (before["version"], before["events"])
