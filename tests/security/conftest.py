"""Security tests against the running services: who sees what, what is logged, what is refused.

The services are the integration tests' ``services`` fixture (appeals, routing, notify and
metrics as real processes on the reference city, with the session's real broker and
SecantusDB). Staff log in over HTTP with accounts made by the real ``appeals staff add`` CLI;
appeals are made through intake and driven with staff commands, as people would.

The home of every appeal made here is street JA-JAS of district JA (the router sends a broken
street light on 华山路 to JA-JAS-RM). The intruders sit elsewhere: a unit and the coordinator of
street JA-NJX (same district, other street) and the dispatcher of district CN.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from services.appeals.adapters.documents import appeal_fields
from services.appeals.domain.appeal import evolve
from services.appeals.domain.intake import AppealCreate, new_appeal, new_tracking_no
from services.appeals.service_layer.intake import hash_token
from shared.city import City, load_city
from shared.embedded import DatabaseProcess
from shared.events import Actor
from tests.integration import conftest as integration
from tests.integration.conftest import (
    RunningServices,
    poll,
    reference_city,
    staff_login,
)

# The integration tests' fixtures, served to these tests too.
services = integration.services
http = integration.http

HOME_STREET = "JA-JAS"
HOME_DISTRICT = "JA"
LEAD = "JA-JAS-RM"
SECOND_UNIT = "JA-JAS-UE"
LIGHT_TEXT = "华山路120号门口的路灯坏了一个礼拜，晚上黑漆漆的"
LIGHT_ADDRESS = "华山路120号"

# name -> (role, post). Home staff act on the appeals; intruders must get nowhere with them.
HOME: dict[str, tuple[str, str | None]] = {
    "lead": ("unit_staff", LEAD),
    "second_unit": ("unit_staff", SECOND_UNIT),
    "coordinator": ("coordinator", "JA-JAS-OPS"),
    "dispatcher": ("dispatcher", "JA-DC"),
    "operator": ("operator", None),
}
INTRUDERS: dict[str, tuple[str, str | None]] = {
    "other_street_unit": ("unit_staff", "JA-NJX-RM"),
    "other_street_coordinator": ("coordinator", "JA-NJX-OPS"),
    "other_district_dispatcher": ("dispatcher", "CN-DC"),
}
# Each client of these tests looks up status pages from its own loopback address, so the
# per-IP rate limit of one test never spills into another.
_SOURCE_ADDRESSES = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(2, 250)))


def fresh_client(**kwargs: Any) -> httpx.Client:
    """An HTTP client connecting from a loopback address no other client of the session uses."""
    transport = httpx.HTTPTransport(local_address=next(_SOURCE_ADDRESSES))
    return httpx.Client(transport=transport, timeout=30, **kwargs)


@dataclass
class Person:
    """A logged-in staff member."""

    name: str
    role: str
    post: str | None
    token: str
    username: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Appeal:
    """An appeal as intake answered it."""

    id: str
    tracking_no: str
    token: str


@dataclass
class World:
    """The running services, the database, the staff and the steps that drive appeals."""

    services: RunningServices
    db: Database[dict[str, Any]]
    city: City
    http: httpx.Client
    people: dict[str, Person] = field(default_factory=dict)

    def url(self, path: str, service: str = "appeals") -> str:
        return self.services.url(service, path)

    def doc(self, appeal_id: str) -> dict[str, Any]:
        found = self.db.appeals.find_one({"_id": appeal_id})
        assert found is not None, appeal_id
        return found

    def create(
        self,
        text: str = LIGHT_TEXT,
        *,
        address: str = LIGHT_ADDRESS,
        matter: str | None = "road.street_light",
        **extra: Any,
    ) -> Appeal:
        body = {"text": text, "address": address, "matter": matter, **extra}
        response = self.http.post(self.url("/api/v1/appeals"), json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return Appeal(data["id"], data["tracking_no"], data["token"])

    def wait_state(self, appeal_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            doc = self.doc(appeal_id)
            return doc if doc["state"] == state else None

        return poll(reached, timeout=timeout, what=f"appeal {appeal_id} in {state}")

    def cmd(
        self, who: str, appeal_id: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return self.http.post(
            self.url(f"/api/v1/appeals/{appeal_id}/{path}"),
            json=body or {},
            headers=self.people[who].headers,
        )

    def ok(self, who: str, appeal_id: str, path: str, body: dict[str, Any] | None = None) -> None:
        response = self.cmd(who, appeal_id, path, body)
        assert response.status_code == 200, (who, path, response.status_code, response.text)

    def dispatched(self, **create: Any) -> Appeal:
        appeal = self.create(**create)
        doc = self.wait_state(appeal.id, "dispatched")
        assert (doc["unit"], doc["street"], doc["district"]) == (LEAD, HOME_STREET, "JA"), doc
        return appeal

    def received(self) -> str:
        """An appeal stored as intake stores it, its first event kept from the router (the
        router answers in milliseconds, so ``received`` does not last otherwise)."""
        now = datetime.now(UTC)
        doc, event = new_appeal(
            AppealCreate(text=LIGHT_TEXT, address=LIGHT_ADDRESS, matter="road.street_light"),
            channel="web",
            actor=Actor(kind="resident", id="web"),
            now=now,
            tracking_no=new_tracking_no(now, "S"),
            token_hash=hash_token(uuid.uuid4().hex),
            idempotency_key=None,
        )
        appeal = evolve(None, event)
        self.db.appeals.insert_one(
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

    def drive(self, state: str) -> str:
        """A fresh appeal of the home street in ``state``, reached over HTTP."""
        if state == "received":
            return self.received()
        appeal = self.dispatched().id
        sign: list[tuple[str, str, dict[str, Any]]] = [("lead", "sign", {})]
        respond = [*sign, ("lead", "respond", {"message": "已联系"})]
        resolve = [*respond, ("lead", "resolve", {"result": "已修复", "solved": True})]
        steps: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
            "dispatched": [],
            "signed": sign,
            "responded": respond,
            "returned": [*sign, ("lead", "return", {"reason": "非本单位职责"})],
            "triage": [
                *sign,
                ("lead", "return", {"reason": "非本单位职责"}),
                ("coordinator", "reassign", {"unit": SECOND_UNIT}),
                ("second_unit", "sign", {}),
                ("second_unit", "return", {"reason": "也不是我们的"}),
            ],
            "resolved": resolve,
            "reviewed": [
                *resolve,
                ("operator", "review", {"satisfaction": "satisfied", "solved": True}),
            ],
        }
        for who, path, body in steps[state]:
            self.ok(who, appeal, path, body)
        self.wait_state(appeal, state, timeout=10)
        return appeal


def _login(services: RunningServices, name: str, role: str, post: str | None) -> Person:
    username = f"sec-{name.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    headers = staff_login(services, role, post, username=username)
    return Person(name, role, post, headers["Authorization"].split(" ", 1)[1], username)


@pytest.fixture(scope="session")
def city() -> City:
    path = reference_city()
    return load_city(path / "jurisdiction.yaml", path / "matters.yaml")


@pytest.fixture(scope="session")
def db(services: RunningServices, mongo: DatabaseProcess) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url)
    try:
        yield client[services.mongo_db]
    finally:
        client.close()


@pytest.fixture(scope="session")
def world(services: RunningServices, db: Database[dict[str, Any]], city: City) -> Iterator[World]:
    """Everyone of HOME and INTRUDERS logged in."""
    with fresh_client() as client:
        world = World(services, db, city, client)
        for name, (role, post) in {**HOME, **INTRUDERS}.items():
            world.people[name] = _login(services, name, role, post)
        yield world


def unique_marker(prefix: str = "m") -> str:
    """A string no other test writes: proves that a match found later came from this test."""
    return f"{prefix}{uuid.uuid4().hex[:12]}{int(time.time())}"
