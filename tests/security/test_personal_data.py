"""Personal data: the phone numbers and e-mail addresses residents give at intake stay inside.

Appeals are made through all three intake channels (web form, hotline, Open311) with a phone
and an e-mail no other test uses, driven to the end of their life (so notify writes to the
resident and metrics counts them), and then every outlet is searched for them: the services'
log files, every event on ``appeals.events``, the ``/metrics`` output of all four services,
the Open311 GET answers (JSON and XML), the work-queue lists (masked there) and the staff
views. What the staff views show is the contract written in docs/security.md: the JSON
detail shows no contact; the single-appeal UI page shows it in full to staff in scope (they
call the resident back).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer

from services.appeals.entrypoints.auth import SESSION_COOKIE
from shared.embedded import BrokerProcess
from shared.topics import APPEAL_EVENTS
from tests.integration.conftest import OPEN311_TEST_KEY
from tests.security.conftest import LEAD, LIGHT_ADDRESS, LIGHT_TEXT, World, fresh_client, poll


@dataclass(frozen=True)
class Secret:
    """One resident's personal data, unique to this test run."""

    phone: str
    email: str
    name: str

    @property
    def needles(self) -> list[str]:
        """Every spelling that would give the data away."""
        digits = re.sub(r"\D", "", self.phone)
        local = self.email.split("@")[0]
        return [self.phone, digits, self.email, local, self.name]


def new_secret() -> Secret:
    digits = f"{secrets.randbelow(10**8):08d}"
    return Secret(
        phone=f"139{digits}",
        email=f"pii{secrets.token_hex(6)}@example.org",
        name=f"隐私{secrets.token_hex(3)}",
    )


@dataclass
class Intake:
    """The appeals made and the data they carry."""

    appeals: dict[str, Secret]  # appeal id -> its resident's data

    @property
    def all_needles(self) -> list[str]:
        return [n for s in self.appeals.values() for n in s.needles]


def _found(text: str, needles: list[str]) -> list[str]:
    return sorted({n for n in needles if n in text})


@pytest.fixture(scope="module")
def intake(world: World) -> Intake:
    made: dict[str, Secret] = {}
    web = new_secret()
    body = {"name": web.name, "phone": web.phone, "email": web.email}
    made[world.dispatched(contact=body).id] = web

    hotline = new_secret()
    response = world.http.post(
        world.url("/api/v1/hotline/appeals"),
        json={
            "text": LIGHT_TEXT,
            "address": LIGHT_ADDRESS,
            "matter": "road.street_light",
            "caller_phone": hotline.phone,
            "contact": {"name": hotline.name, "email": hotline.email},
            "call_id": f"call-{secrets.token_hex(6)}",
        },
        headers=world.people["operator"].headers,
    )
    assert response.status_code == 201, response.text
    made[response.json()["id"]] = hotline

    open311 = new_secret()
    response = world.http.post(
        world.url("/open311/v2/requests.json"),
        data={
            "api_key": OPEN311_TEST_KEY,
            "service_code": "road.street_light",
            "address_string": LIGHT_ADDRESS,
            "description": LIGHT_TEXT,
            "phone": open311.phone,
            "email": open311.email,
            "first_name": open311.name,
        },
    )
    assert response.status_code == 201, response.text
    made[response.json()[0]["token"]] = open311

    # every appeal lives its whole life: notify writes to the resident, metrics counts it
    for appeal in made:
        world.wait_state(appeal, "dispatched")
        world.ok("lead", appeal, "sign")
        world.ok("lead", appeal, "respond", {"message": "已电话联系"})
        world.ok("lead", appeal, "notes", {"text": "我们明天来修", "internal": False})
        world.ok("lead", appeal, "resolve", {"result": "路灯已修复", "solved": True})
    return Intake(made)


def _events(broker: BrokerProcess, appeal_ids: set[str]) -> Iterator[bytes]:
    """Every message of appeals.events about ``appeal_ids`` once each has its resolved event."""
    consumer = KafkaConsumer(
        APPEAL_EVENTS,
        bootstrap_servers=broker.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    seen: list[bytes] = []
    resolved: set[str] = set()
    try:

        def collect() -> bool:
            for message in consumer:
                event = orjson.loads(message.value)
                if event["appeal_id"] in appeal_ids:
                    seen.append(message.value)
                    if event["type"] == "appeal.resolved":
                        resolved.add(event["appeal_id"])
            return resolved == appeal_ids

        poll(collect, timeout=60, what="the appeals' events on appeals.events")
    finally:
        consumer.close()
    return iter(seen)


def test_events_on_the_broker_carry_no_contact(
    world: World, intake: Intake, broker: BrokerProcess
) -> None:
    messages = list(_events(broker, set(intake.appeals)))
    assert len(messages) >= 5 * len(intake.appeals)
    for value in messages:
        text = value.decode()
        assert not _found(text, intake.all_needles), text
    # and the copy kept as the event log
    for appeal in intake.appeals:
        events = len(world.doc(appeal)["events"])

        def copied(a: str = appeal, n: int = events) -> bool:
            return world.db.event_log.count_documents({"appeal_id": a}) >= n

        poll(copied, timeout=30, what=f"the event log copy of {appeal}")
        logged = list(world.db.event_log.find({"appeal_id": appeal}))
        assert not _found(str(logged), intake.all_needles)


def test_log_files_carry_no_contact(world: World, intake: Intake, infra_dir: Path) -> None:
    # notify has handled the appeals (its delivery log names them) before the logs are read
    def delivered() -> bool:
        found = world.db.deliveries.distinct(
            "appeal_id", {"appeal_id": {"$in": list(intake.appeals)}}
        )
        return set(found) == set(intake.appeals)

    poll(delivered, timeout=60, what="notify's deliveries for the appeals")
    logs = sorted((infra_dir / "services").glob("*.log"))
    assert {p.stem for p in logs} >= {"appeals", "routing", "notify", "metrics"}, logs
    for path in logs:
        text = path.read_text(errors="replace")
        assert text, path
        leaked = _found(text, intake.all_needles)
        lines = [line for line in text.splitlines() if any(n in line for n in leaked)]
        assert not leaked, f"{path.name} shows {leaked}:\n" + "\n".join(lines[:5])


def test_metrics_carry_no_contact(world: World, intake: Intake) -> None:
    for service in ("appeals", "routing", "notify", "metrics"):
        response = world.http.get(world.url("/metrics", service))
        assert response.status_code == 200, (service, response.text)
        assert not _found(response.text, intake.all_needles), service


def test_open311_answers_carry_no_contact(world: World, intake: Intake) -> None:
    for appeal in intake.appeals:
        tracking_no = world.doc(appeal)["tracking_no"]
        for fmt in ("json", "xml"):
            for path, params in (
                (f"/open311/v2/requests/{tracking_no}.{fmt}", {}),
                (f"/open311/v2/requests.{fmt}", {"service_request_id": tracking_no}),
                (f"/open311/v2/requests.{fmt}", {"service_code": "road.street_light"}),
            ):
                response = world.http.get(world.url(path), params=params)
                assert response.status_code == 200, response.text
                assert tracking_no in response.text
                assert not _found(response.text, intake.all_needles), (path, params)


def test_queue_rows_show_the_masked_form(world: World) -> None:
    secret = new_secret()
    contact = {"name": secret.name, "phone": secret.phone, "email": secret.email}
    appeal = world.dispatched(contact=contact)
    response = world.http.get(
        world.url(f"/api/v1/queues/units/{LEAD}/new"),
        params={"size": 100, "sort": "received_at", "order": "desc"},
        headers=world.people["lead"].headers,
    )
    assert response.status_code == 200, response.text
    row = next(i for i in response.json()["items"] if i["id"] == appeal.id)
    assert row["contact"]["phone"] == f"{secret.phone[:3]}****{secret.phone[-4:]}"
    assert row["contact"]["email"].endswith("***@example.org")
    assert not _found(response.text, secret.needles)
    # the street's lists and counts, and the live UI desk, mask it the same way
    coordinator = world.people["coordinator"].headers
    for path in ("/api/v1/queues/streets/JA-JAS/open", "/api/v1/queues/streets/JA-JAS"):
        response = world.http.get(world.url(path), params={"size": 100}, headers=coordinator)
        assert response.status_code == 200, response.text
        assert not _found(response.text, secret.needles), path
    with fresh_client(cookies={SESSION_COOKIE: world.people["lead"].token}) as browser:
        page = browser.get(world.url("/queue"), params={"tab": "new"})
        assert page.status_code == 200, page.text
        assert not _found(page.text, secret.needles)


def test_staff_detail_shows_contact_only_where_intended(world: World, intake: Intake) -> None:
    appeal, secret = next(iter(intake.appeals.items()))
    # the JSON detail (AppealPublic) leaves the contact out, even for the city-wide operator
    for who in ("operator", "lead", "coordinator"):
        response = world.http.get(
            world.url(f"/api/v1/appeals/{appeal}"), headers=world.people[who].headers
        )
        assert response.status_code == 200, response.text
        assert not _found(response.text, secret.needles), who
    # the single-appeal page shows it to the staff in scope, who call the resident back
    with fresh_client(cookies={SESSION_COOKIE: world.people["lead"].token}) as browser:
        page = browser.get(world.url(f"/appeals/{appeal}"))
        assert page.status_code == 200, page.text
        assert secret.phone in page.text and secret.email in page.text


def test_resident_status_page_shows_no_contact(world: World) -> None:
    secret = new_secret()
    contact = {"name": secret.name, "phone": secret.phone, "email": secret.email}
    appeal = world.dispatched(contact=contact)
    with fresh_client() as resident:
        response = resident.get(
            world.url(f"/api/v1/status/{appeal.tracking_no}"),
            headers={"X-Appeal-Token": appeal.token},
        )
    assert response.status_code == 200, response.text
    assert not _found(response.text, secret.needles)
    assert world.people["lead"].username not in response.text


def test_open311_masks_a_phone_typed_into_the_text(world: World) -> None:
    secret = new_secret()
    appeal = world.dispatched(text=f"华山路120号路灯坏了，请回电{secret.phone}")
    queue = world.http.get(
        world.url(f"/api/v1/queues/units/{LEAD}/new"),
        params={"size": 100, "sort": "received_at", "order": "desc"},
        headers=world.people["lead"].headers,
    )
    assert appeal.id in queue.text and secret.phone not in queue.text  # the lists mask it
    response = world.http.get(world.url(f"/open311/v2/requests/{appeal.tracking_no}.json"))
    assert response.status_code == 200, response.text
    assert secret.phone not in response.text
