"""Every transition of ``lifecycle.TRANSITIONS``, driven over HTTP against the running services.

The cases are generated from the table: for each command and each state it may start from,
a fresh appeal is driven into that state over HTTP (created through intake, dispatched by the
real router, then staff commands), and the command is tried

- by a login role the row does not name                           -> 403
- by the right role outside its scope (other unit/street/district) -> 403
- with a stale ``If-Match``                                       -> 409
- on an appeal in a state the row does not start from             -> 409, reason in the body
- by the right role, in scope, with the current version           -> 200, events from the row

Rows only the system may run (the router's decision, the sweeper's overdue check) have no
staff endpoint; every appeal here goes through the first, test_sweeper.py through the second.

Appeals in ``received`` do not stay there (the router answers in milliseconds), so that state
is made by storing an appeal whose ``appeal.received`` is kept out of the outbox: the router
never hears of it. Staff accounts are created with the accounts adapter on the services'
database. The other integration tests of issue 3 reuse ``Desk`` from here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.appeals.adapters.accounts import StaffAccounts
from services.appeals.adapters.documents import appeal_fields
from services.appeals.domain import lifecycle as lc
from services.appeals.domain.appeal import evolve
from services.appeals.domain.intake import AppealCreate, new_appeal, new_tracking_no
from services.appeals.entrypoints.staff_api import COMMANDS
from services.appeals.service_layer.intake import hash_token
from shared.city import City, load_city
from shared.embedded import DatabaseProcess
from shared.events import Actor
from shared.mongo import make_client
from tests.integration.conftest import RunningServices, reference_city

T = TypeVar("T")
PASSWORD = "lantern-river-9-copper"
LEAD = "JA-JAS-RM"
OTHER_UNIT = "JA-JAS-UE"
STREET = "JA-JAS"
DISTRICT = "JA"

# name -> (role, post code). "other_*" sit outside the appeals' unit, street or district.
STAFF: dict[str, tuple[lc.Role, str | None]] = {
    "lead": ("unit_staff", LEAD),
    "lead2": ("unit_staff", LEAD),
    "other_unit": ("unit_staff", OTHER_UNIT),
    "coordinator": ("coordinator", "JA-JAS-OPS"),
    "other_coordinator": ("coordinator", "JA-NJX-OPS"),
    "dispatcher": ("dispatcher", "JA-DC"),
    "other_dispatcher": ("dispatcher", "CN-DC"),
    "district_admin": ("district_admin", DISTRICT),
    "operator": ("operator", None),
    "viewer": ("viewer", STREET),
}
# Who acts for a role in scope, and who has the role but not the scope.
IN_SCOPE: dict[lc.Role, str] = {
    "unit_staff": "lead",
    "coordinator": "coordinator",
    "dispatcher": "dispatcher",
    "district_admin": "district_admin",
    "operator": "operator",
    "viewer": "viewer",
}
OUT_OF_SCOPE: dict[lc.Scope, str] = {
    lc.Scope.LEAD_UNIT: "other_unit",
    lc.Scope.HANDLERS: "other_unit",
    lc.Scope.STREET: "other_coordinator",
    lc.Scope.DISTRICT: "other_dispatcher",
}
LOGIN_ROLES: tuple[lc.Role, ...] = (
    "unit_staff",
    "coordinator",
    "dispatcher",
    "district_admin",
    "operator",
    "viewer",
)

# The staff endpoint of each command and a valid body for it.
ENDPOINTS: dict[type[lc.Command], tuple[str, dict[str, Any]]] = {
    lc.Dispatch: ("dispatch", {"unit": LEAD, "matter": "road.street_light"}),
    lc.Sign: ("sign", {}),
    lc.Respond: ("respond", {"message": "已电话联系居民"}),
    lc.Return: ("return", {"reason": "不属于本单位职责"}),
    lc.Reassign: ("reassign", {"unit": OTHER_UNIT}),
    lc.RequestExtension: ("extension-request", {"reason": "需协调物业", "workdays": 3}),
    lc.ApproveExtension: ("extension-approve", {}),
    lc.RejectExtension: ("extension-reject", {"reason": "理由不足"}),
    lc.Pause: ("pause", {"reason": "居民出差"}),
    lc.Resume: ("resume", {}),
    lc.Resolve: ("resolve", {"result": "路灯已修复", "solved": True}),
    lc.Review: ("review", {"satisfaction": "unsatisfied", "solved": False, "comment": "还是不亮"}),
    lc.Reopen: ("reopen", {"reason": "居民不满意"}),
    lc.Close: ("close", {"reason": "办结归档"}),
    lc.Merge: ("merge", {}),  # master_id filled in per case
    lc.Supervise: ("supervise", {"level": "street", "note": "请加快办理"}),
    lc.AcknowledgeSupervision: ("supervision-ack", {"note": "收到"}),
    lc.AddNote: ("notes", {"text": "已现场查看", "internal": True}),
}
SYSTEM_ONLY = {cmd for cmd, row in lc.TRANSITIONS.items() if set(row.roles) <= {"system"}}
# A flag some commands need besides the state: (endpoint, body, who) run first.
PRECONDITION: dict[type[lc.Command], tuple[str, dict[str, Any], str]] = {
    lc.ApproveExtension: ("extension-request", {"reason": "需协调物业", "workdays": 3}, "lead"),
    lc.RejectExtension: ("extension-request", {"reason": "需协调物业", "workdays": 3}, "lead"),
    lc.Resume: ("pause", {"reason": "居民出差"}, "lead"),
    lc.AcknowledgeSupervision: ("supervise", {"level": "street", "note": "请加快"}, "coordinator"),
}
# The order states are reached in; "received" is made without the router (module docstring).
STATE_ORDER: tuple[lc.State, ...] = (
    "received",
    "dispatched",
    "signed",
    "responded",
    "resolved",
    "reviewed",
    "closed",
    "returned",
    "triage",
    "transferred",
    "merged",
)


async def wait_for(
    check: Callable[[], Awaitable[T | None]], *, within: float = 30.0, what: str = ""
) -> T:
    """Await ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


@dataclass
class Created:
    """An appeal as intake answered it."""

    id: str
    tracking_no: str
    token: str


@dataclass
class Desk:
    """Staff logged in to the running appeals service, and the steps that drive appeals."""

    services: RunningServices
    http: httpx.AsyncClient
    mongo: AsyncMongoClient[dict[str, Any]]
    city: City
    tokens: dict[str, str] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.services.url("appeals", path)

    @property
    def db(self) -> Any:
        return self.mongo[self.services.mongo_db]

    async def sign_in(self, staff: dict[str, tuple[lc.Role, str | None]]) -> None:
        accounts = StaffAccounts(self.mongo, self.services.mongo_db, self.city)
        await accounts.create_indexes()
        suffix = uuid.uuid4().hex[:8]
        for name, (role, code) in staff.items():
            username = f"{name.replace('_', '-')}-{suffix}"
            await accounts.add(username=username, role=role, unit=code, password=PASSWORD)
            response = await self.http.post(
                self.url("/api/v1/auth/login"), json={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.tokens[name] = response.json()["token"]
            self.usernames[name] = username

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def create(
        self,
        text: str = "华山路120号门口的路灯坏了一个礼拜，晚上黑漆漆的",
        *,
        address: str = "华山路120号",
        matter: str | None = "road.street_light",
        **extra: Any,
    ) -> Created:
        body = {"text": text, "address": address, "matter": matter, **extra}
        response = await self.http.post(self.url("/api/v1/appeals"), json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return Created(data["id"], data["tracking_no"], data["token"])

    async def get(self, appeal_id: str, who: str = "operator") -> dict[str, Any]:
        response = await self.http.get(
            self.url(f"/api/v1/appeals/{appeal_id}"), headers=self.auth(who)
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def wait_state(self, appeal_id: str, state: str, within: float = 30) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            appeal = await self.get(appeal_id)
            return appeal if appeal["state"] == state else None

        return await wait_for(reached, within=within, what=f"appeal {appeal_id} {state}")

    async def cmd(
        self,
        who: str,
        appeal_id: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        if_match: int | None = None,
    ) -> httpx.Response:
        headers = self.auth(who)
        if if_match is not None:
            headers["If-Match"] = str(if_match)
        return await self.http.post(
            self.url(f"/api/v1/appeals/{appeal_id}/{path}"), json=body or {}, headers=headers
        )

    async def ok(
        self, who: str, appeal_id: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.cmd(who, appeal_id, path, body)
        assert response.status_code == 200, (path, response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    async def dispatched(self, **create: Any) -> Created:
        created = await self.create(**create)
        appeal = await self.wait_state(created.id, "dispatched")
        assert appeal["unit"] == LEAD, appeal
        return created

    async def received(self) -> str:
        """An appeal stored as intake stores it, its first event held back from the router."""
        now = datetime.now(UTC)
        doc, event = new_appeal(
            AppealCreate(
                text="华山路120号路灯不亮", address="华山路120号", matter="road.street_light"
            ),
            channel="web",
            actor=Actor(kind="resident", id="web"),
            now=now,
            tracking_no=new_tracking_no(now, "T"),
            token_hash=hash_token(uuid.uuid4().hex),
            idempotency_key=None,
        )
        appeal = evolve(None, event)
        await self.db.appeals.insert_one(
            {
                **appeal_fields(appeal, self.city),
                **doc,
                "version": appeal.version,
                "events": [event.model_dump()],
                "outbox": [],
                "outbox_pending": False,
            }
        )
        return appeal.id

    async def drive(self, state: lc.State, master_id: str | None = None) -> str:
        """A fresh appeal in ``state``, reached over HTTP the ordinary way."""
        if state == "received":
            return await self.received()
        if state == "transferred":
            fire = await self.create("华山路120号楼里着火了，浓烟很大，有人被困", matter="oos.fire")
            await self.wait_state(fire.id, "transferred")
            return fire.id
        if state == "merged":
            duplicate = await self.drive("triage")
            master = master_id or (await self.dispatched()).id
            await self.ok("dispatcher", duplicate, "merge", {"master_id": master})
            return duplicate
        appeal = (await self.dispatched()).id
        steps: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
            "dispatched": [],
            "signed": [("lead", "sign", {})],
            "responded": [("lead", "sign", {}), ("lead", "respond", {"message": "已联系"})],
            "returned": [("lead", "sign", {}), ("lead", "return", {"reason": "非本单位职责"})],
            "triage": [
                ("lead", "sign", {}),
                ("lead", "return", {"reason": "非本单位职责"}),
                ("coordinator", "reassign", {"unit": OTHER_UNIT}),
                ("other_unit", "sign", {}),
                ("other_unit", "return", {"reason": "也不是我们的"}),
            ],
        }
        finish: list[tuple[str, str, dict[str, Any]]] = [
            ("lead", "sign", {}),
            ("lead", "respond", {"message": "已联系"}),
            ("lead", "resolve", {"result": "已修复", "solved": True}),
        ]
        steps["resolved"] = finish
        steps["reviewed"] = [
            *finish,
            ("operator", "review", {"satisfaction": "unsatisfied", "solved": False}),
        ]
        steps["closed"] = [*steps["reviewed"], ("operator", "close", {"reason": "归档"})]
        for who, path, body in steps[state]:
            await self.ok(who, appeal, path, body)
        return appeal


@pytest.fixture(scope="module")
async def desk(services: RunningServices, mongo: DatabaseProcess) -> AsyncIterator[Desk]:
    path = reference_city()
    city = load_city(path / "jurisdiction.yaml", path / "matters.yaml")
    client = make_client(mongo.url)
    async with httpx.AsyncClient(timeout=30) as http:
        desk = Desk(services, http, client, city)
        await desk.sign_in(STAFF)
        try:
            yield desk
        finally:
            await client.close()


# ---------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    command: type[lc.Command]
    state: lc.State

    @property
    def row(self) -> lc.Transition:
        return lc.TRANSITIONS[self.command]

    def __str__(self) -> str:
        return f"{ENDPOINTS[self.command][0]}-from-{self.state}"


CASES = [
    Case(command, state)
    for command, row in lc.TRANSITIONS.items()
    if command not in SYSTEM_ONLY
    for state in STATE_ORDER
    if state in row.from_states
]


def actor_for(row: lc.Transition, appeal: dict[str, Any]) -> tuple[lc.Role, lc.Scope]:
    """A login role of the row that can be in scope of ``appeal`` (as GET shows it)."""
    order: tuple[lc.Role, ...] = (
        "unit_staff",
        "coordinator",
        "dispatcher",
        "operator",
        "district_admin",
    )
    for role in order:
        scope = row.roles.get(role)
        if scope is None:
            continue
        # Unrouted or transferred appeals have no unit, street or district to be in scope of.
        if scope in (lc.Scope.LEAD_UNIT, lc.Scope.HANDLERS) and not appeal["unit"]:
            continue
        if scope is lc.Scope.STREET and appeal["street"] != STREET:
            continue
        if scope is lc.Scope.DISTRICT and appeal["district"] != DISTRICT:
            continue
        return role, scope
    raise AssertionError(f"no login role can {row.command.name} appeal {appeal}")


def body_for(case: Case, appeal: dict[str, Any], master_id: str) -> dict[str, Any]:
    body = ENDPOINTS[case.command][1]
    if case.command is lc.Merge:
        return {"master_id": master_id}
    if case.command is lc.Reassign and case.state == "returned":
        return {"unit": LEAD}  # the lead has been cleared by the return
    if case.command is lc.Supervise and actor_for(case.row, appeal)[0] != "coordinator":
        return {**body, "level": "district"}
    return body


def test_every_command_a_person_may_issue_has_an_endpoint_and_a_case() -> None:
    people = {cmd for cmd in lc.TRANSITIONS if cmd not in SYSTEM_ONLY}
    assert set(ENDPOINTS) == people
    assert {ENDPOINTS[c][0] for c in people} <= set(COMMANDS)
    assert {c.command for c in CASES} == people
    assert SYSTEM_ONLY == {lc.ApplyRoutingDecision, lc.RecordOverdue}
    for cmd in SYSTEM_ONLY:
        assert cmd.name.replace(" ", "-") not in COMMANDS


@pytest.fixture(scope="module")
async def prepared(desk: Desk) -> dict[str, Any]:
    """An appeal per case in its starting state (precondition met), a bystander per state,
    and a master to merge into; made concurrently to keep the module fast."""
    gate = asyncio.Semaphore(6)
    master = (await desk.dispatched()).id

    async def one(state: lc.State, command: type[lc.Command] | None) -> str:
        async with gate:
            appeal = await desk.drive(state, master_id=master)
            if command in PRECONDITION:
                path, body, who = PRECONDITION[command]
                await desk.ok(who, appeal, path, body)
            return appeal

    case_ids = await asyncio.gather(*(one(c.state, c.command) for c in CASES))
    bystanders = await asyncio.gather(*(one(s, None) for s in STATE_ORDER))
    return {
        "cases": {str(c): a for c, a in zip(CASES, case_ids, strict=True)},
        "bystanders": dict(zip(STATE_ORDER, bystanders, strict=True)),
        "master": master,
    }


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_transition_over_http(case: Case, desk: Desk, prepared: dict[str, Any]) -> None:
    appeal_id = prepared["cases"][str(case)]
    path = ENDPOINTS[case.command][0]
    before = await desk.get(appeal_id)
    assert before["state"] == case.state
    body = body_for(case, before, prepared["master"])
    role, scope = actor_for(case.row, before)

    # a login role the row does not name -> 403
    wrong_role = next(r for r in LOGIN_ROLES if r not in case.row.roles)
    refused = await desk.cmd(IN_SCOPE[wrong_role], appeal_id, path, body)
    assert refused.status_code == 403, refused.text
    assert wrong_role in refused.json()["detail"]

    # the right role outside its unit / street / district -> 403
    if scope in OUT_OF_SCOPE:
        refused = await desk.cmd(OUT_OF_SCOPE[scope], appeal_id, path, body)
        assert refused.status_code == 403, refused.text

    # a stale If-Match -> 409
    stale = await desk.cmd(IN_SCOPE[role], appeal_id, path, body, if_match=before["version"] - 1)
    assert stale.status_code == 409, stale.text
    assert "version" in stale.json()["detail"]

    # a state the row does not start from -> 409 naming the state (AddNote has none); an
    # appeal not yet placed within the caller's post (received; returned for a unit) is
    # refused for scope first, 403 naming no state
    wrong_states = [s for s in STATE_ORDER if s not in case.row.from_states]
    if wrong_states:
        answers = {
            state: await desk.cmd(IN_SCOPE[role], prepared["bystanders"][state], path, body)
            for state in wrong_states
        }
        assert any(r.status_code == 409 for r in answers.values()), {
            s: r.text for s, r in answers.items()
        }
        for state, refused in answers.items():
            detail = refused.json()["detail"]
            if refused.status_code == 409:
                assert state in detail, (state, detail)
            else:
                assert refused.status_code == 403 and state not in detail, (state, detail)
    else:
        assert case.row.from_states == lc.ALL_STATES

    # nothing above changed the appeal
    assert (await desk.get(appeal_id))["version"] == before["version"]

    done = await desk.cmd(IN_SCOPE[role], appeal_id, path, body, if_match=before["version"])
    assert done.status_code == 200, done.text
    events = done.json()["events"]
    assert events and set(events) <= set(case.row.events), events
    after = await desk.get(appeal_id)
    assert after["version"] == before["version"] + len(events)
    assert [h["type"] for h in after["history"][-len(events) :]] == events


async def test_two_staff_sign_at_once_exactly_one_wins(desk: Desk) -> None:
    appeal = (await desk.dispatched()).id
    version = (await desk.get(appeal))["version"]
    first, second = await asyncio.gather(
        desk.cmd("lead", appeal, "sign", if_match=version),
        desk.cmd("lead2", appeal, "sign", if_match=version),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (
        first.text,
        second.text,
    )
    history = (await desk.get(appeal))["history"]
    assert [h["type"] for h in history].count("appeal.signed") == 1
    # without If-Match the loser is refused by the state instead
    appeal = (await desk.dispatched()).id
    first, second = await asyncio.gather(
        desk.cmd("lead", appeal, "sign"), desk.cmd("lead2", appeal, "sign")
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]


async def test_a_second_return_goes_to_triage_and_history_shows_every_hop(desk: Desk) -> None:
    appeal = await desk.drive("triage")
    detail = await desk.get(appeal)
    hops = [(h["type"], h["unit"], h["actor"]["role"]) for h in detail["history"]]
    assert hops == [
        ("appeal.received", None, None),
        ("appeal.dispatched", LEAD, "system"),
        ("appeal.signed", LEAD, "unit_staff"),
        ("appeal.returned", LEAD, "unit_staff"),
        ("appeal.dispatched", OTHER_UNIT, "coordinator"),
        ("appeal.signed", OTHER_UNIT, "unit_staff"),
        ("appeal.returned", OTHER_UNIT, "unit_staff"),
        ("appeal.triaged", None, "unit_staff"),
    ]
    triaged = detail["history"][-1]["data"]
    assert triaged["dispatch_center"] == "JA-DC" and "returned 2 times" in triaged["reasons"][0]
    # the district's assignment stands: its unit cannot return it a third time
    await desk.ok("dispatcher", appeal, "dispatch", {"unit": LEAD, "matter": "road.street_light"})
    await desk.ok("lead", appeal, "sign")
    third = await desk.cmd("lead", appeal, "return", {"reason": "再退一次"})
    assert third.status_code == 409 and "stands" in third.json()["detail"]
