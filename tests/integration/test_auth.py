"""Staff accounts, login and scoping against the real database and the running appeals service.

Accounts are created through the accounts adapter on the services' own database (and once
through the ``appeals staff`` CLI as a subprocess), then used over HTTP.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from pymongo import AsyncMongoClient

from services.appeals.adapters.accounts import (
    AccountExists,
    AccountLocked,
    InvalidAccount,
    InvalidCredentials,
    StaffAccounts,
    hash_token,
)
from services.appeals.domain.access import can_read, post_for, scoped, visible_filter
from services.appeals.domain.lifecycle import Role, Staff
from services.appeals.entrypoints.auth import (
    SESSION_COOKIE,
    CurrentStaff,
    auth_router,
    require_roles,
)
from shared.city import City, load_city
from shared.embedded import DatabaseProcess
from shared.mongo import make_client
from tests.integration.conftest import RunningServices, reference_city

PASSWORD = "lantern-river-9-copper"


@pytest.fixture(scope="module")
def city() -> City:
    path = reference_city()
    return load_city(path / "jurisdiction.yaml", path / "matters.yaml")


@pytest.fixture
async def client(mongo: DatabaseProcess) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    mongo_client = make_client(mongo.url)
    try:
        yield mongo_client
    finally:
        await mongo_client.close()


@pytest.fixture
async def accounts(
    client: AsyncMongoClient[dict[str, Any]], services: RunningServices, city: City
) -> StaffAccounts:
    """The adapter on the running service's database, with the service's lockout setting."""
    adapter = StaffAccounts(client, services.mongo_db, city, max_failures=5)
    await adapter.create_indexes()
    return adapter


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def web() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as http:
        yield http


def login(services: RunningServices, username: str, password: str) -> httpx.Response:
    return httpx.post(
        services.url("appeals", "/api/v1/auth/login"),
        json={"username": username, "password": password},
        timeout=20,
    )


async def alogin(
    web: httpx.AsyncClient, services: RunningServices, username: str, password: str
) -> httpx.Response:
    return await web.post(
        services.url("appeals", "/api/v1/auth/login"),
        json={"username": username, "password": password},
    )


# ---------------------------------------------------------------------------- the adapter


async def test_passwords_are_stored_as_argon2id_and_verified(accounts: StaffAccounts) -> None:
    name = unique("hash")
    account = await accounts.add(
        username=name, role="unit_staff", unit="JA-JAS-UE", password=PASSWORD, name="王力"
    )
    assert (account.unit, account.street, account.district) == ("JA-JAS-UE", "JA-JAS", "JA")
    doc = await accounts.staff.find_one({"_id": name})
    assert doc is not None
    assert doc["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(doc)
    assert (await accounts.authenticate(name.upper(), PASSWORD)).username == name
    with pytest.raises(InvalidCredentials):
        await accounts.authenticate(name, PASSWORD + "x")
    with pytest.raises(InvalidCredentials):
        await accounts.authenticate(unique("nobody"), PASSWORD)
    with pytest.raises(AccountExists):
        await accounts.add(username=name, role="viewer", unit=None, password=PASSWORD)


async def test_accounts_that_break_the_rules_are_refused(accounts: StaffAccounts) -> None:
    cases: list[tuple[Role, str | None, str, str]] = [
        ("unit_staff", "JA-JAS-NOPE", PASSWORD, "does not exist"),
        ("coordinator", "JA-JAS-UE", PASSWORD, "city_ops"),
        ("dispatcher", "JA-JAS-OPS", PASSWORD, "dispatch centre"),
        ("unit_staff", "JA-JAS-UE", "short", "at least 12"),
    ]
    for role, unit, password, why in cases:
        name = unique("bad")
        with pytest.raises(InvalidAccount, match=why):
            await accounts.add(username=name, role=role, unit=unit, password=password)
        assert await accounts.staff.find_one({"_id": name}) is None
    with pytest.raises(InvalidAccount, match="username"):
        await accounts.add(username="x!", role="viewer", unit=None, password=PASSWORD)


async def test_lockout_after_repeated_failures_then_reopens(accounts: StaffAccounts) -> None:
    name = unique("lock")
    await accounts.add(username=name, role="viewer", unit="JA", password=PASSWORD)
    for _ in range(accounts.max_failures):
        with pytest.raises(InvalidCredentials):
            await accounts.authenticate(name, "wrong-password-123")
    with pytest.raises(AccountLocked) as locked:
        await accounts.authenticate(name, PASSWORD)  # even the right password
    assert 0 < locked.value.retry_after <= accounts.lockout.total_seconds() + 1
    # The lockout runs out: the right password works and the counter starts again.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await accounts.staff.update_one({"_id": name}, {"$set": {"locked_until": past}})
    assert (await accounts.authenticate(name, PASSWORD)).username == name
    doc = await accounts.staff.find_one({"_id": name})
    assert doc is not None and doc["failed_logins"] == 0 and doc["locked_until"] is None


async def test_sessions_are_stored_hashed_and_end(accounts: StaffAccounts) -> None:
    name = unique("sess")
    account = await accounts.add(username=name, role="operator", unit=None, password=PASSWORD)
    session = await accounts.open_session(account)
    assert await accounts.sessions.find_one({"_id": session.token}) is None
    stored = await accounts.sessions.find_one({"_id": hash_token(session.token)})
    assert stored is not None and stored["staff_id"] == name
    assert (await accounts.account_for_token(session.token)) == account
    await accounts.set_active(name, False)
    assert await accounts.account_for_token(session.token) is None
    await accounts.set_active(name, True)
    assert (await accounts.account_for_token(session.token)) is None  # ended, not suspended
    indexes = await accounts.sessions.index_information()
    assert any(i.get("expireAfterSeconds") == 0 for i in indexes.values()), indexes


# ---------------------------------------------------------------------------- over HTTP


async def test_login_then_me_with_bearer_and_with_cookie_then_logout(
    accounts: StaffAccounts, services: RunningServices, web: httpx.AsyncClient
) -> None:
    name = unique("coord")
    await accounts.add(
        username=name, role="coordinator", unit="JA-JAS-OPS", password=PASSWORD, name="李协调"
    )
    response = await alogin(web, services, name, PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["staff"] == {
        "username": name,
        "role": "coordinator",
        "name": "李协调",
        "unit": "JA-JAS-OPS",
        "street": "JA-JAS",
        "district": "JA",
        "language": "zh-CN",
    }
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=7) < expires - datetime.now(UTC) <= timedelta(hours=8)
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}={body['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")

    me = services.url("appeals", "/api/v1/auth/me")
    by_bearer = await web.get(me, headers={"Authorization": f"Bearer {body['token']}"})
    assert by_bearer.status_code == 200, by_bearer.text
    assert by_bearer.json()["username"] == name
    async with httpx.AsyncClient(cookies={SESSION_COOKIE: body["token"]}) as browser:
        by_cookie = await browser.get(me)
        assert by_cookie.status_code == 200, by_cookie.text
        assert by_cookie.json()["street"] == "JA-JAS"
        out = await browser.post(services.url("appeals", "/api/v1/auth/logout"))
        assert out.status_code == 204, out.text
    after = await web.get(me, headers={"Authorization": f"Bearer {body['token']}"})
    assert after.status_code == 401
    assert await accounts.sessions.find_one({"_id": hash_token(body["token"])}) is None


def test_failed_logins_look_the_same_for_unknown_users_and_wrong_passwords(
    services: RunningServices,
) -> None:
    unknown = login(services, unique("nobody"), PASSWORD)
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "invalid username or password"}
    assert unknown.headers["www-authenticate"].startswith("Bearer")
    assert SESSION_COOKIE not in unknown.headers.get("set-cookie", "")


async def test_wrong_password_over_http_then_lockout(
    accounts: StaffAccounts, services: RunningServices, web: httpx.AsyncClient
) -> None:
    name = unique("lockhttp")
    await accounts.add(username=name, role="dispatcher", unit="CN-DC", password=PASSWORD)
    for _ in range(5):  # the service's default APPEALS_LOGIN_MAX_FAILURES
        wrong = await alogin(web, services, name, "not-the-password-1")
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "invalid username or password"}
    locked = await alogin(web, services, name, PASSWORD)
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert "token" not in locked.json()


async def test_missing_invalid_and_expired_sessions_get_401(
    accounts: StaffAccounts, services: RunningServices, web: httpx.AsyncClient
) -> None:
    me = services.url("appeals", "/api/v1/auth/me")
    missing = await web.get(me)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="appeals"'
    invalid = await web.get(me, headers={"Authorization": "Bearer not-a-session"})
    assert invalid.status_code == 401
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
    malformed = await web.get(me, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert malformed.status_code == 401

    name = unique("expired")
    await accounts.add(username=name, role="viewer", unit="JA-JAS", password=PASSWORD)
    token = uuid.uuid4().hex + uuid.uuid4().hex
    now = datetime.now(UTC)
    await accounts.sessions.insert_one(
        {
            "_id": hash_token(token),
            "staff_id": name,
            "created_at": now - timedelta(hours=9),
            "expires_at": now - timedelta(minutes=1),
        }
    )
    expired = await web.get(me, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    # The same token with a live expiry is accepted: the 401 above was the expiry.
    later = now + timedelta(hours=1)
    await accounts.sessions.update_one({"_id": hash_token(token)}, {"$set": {"expires_at": later}})
    live = await web.get(me, headers={"Authorization": f"Bearer {token}"})
    assert live.status_code == 200, live.text


def test_the_cli_adds_an_account_that_can_log_in(services: RunningServices) -> None:
    name = unique("cli")
    added = subprocess.run(
        [sys.executable, "-m", "services.appeals.entrypoints.staff_cli", "staff", "add",
         "--username", name, "--role", "unit_staff", "--unit", "CN-XHL-UE",
         "--name", "张三", "--password-stdin"],
        input=PASSWORD + "\n", env=services.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"created {name} (unit_staff at CN-XHL-UE)" in added.stdout
    assert PASSWORD not in added.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "services.appeals.entrypoints.staff_cli", "staff", "list"],
        env=services.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith(name) and "CN-XHL-UE" in line for line in listed.stdout.splitlines())
    response = login(services, name, PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["staff"]["district"] == "CN"


def test_seed_demo_creates_one_login_per_role_once(services: RunningServices) -> None:
    env = {**services.env, "APPEALS_DEMO_PASSWORD": PASSWORD}
    argv = [sys.executable, "-m", "services.appeals.entrypoints.staff_cli", "staff", "seed-demo"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert PASSWORD not in first.stdout  # the shared password is named, not echoed
    created = {line.split()[0]: line.split()[1] for line in first.stdout.splitlines()}
    assert sorted(created.values()) == sorted(
        ["operator", "unit_staff", "coordinator", "dispatcher", "district_admin", "viewer"]
    )
    for username in ("demo-operator", "demo-dispatcher"):
        response = login(services, username, PASSWORD)
        assert response.status_code == 200, (username, response.text)
        assert response.json()["staff"]["role"] == created[username]
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists, unchanged") == 6


async def test_require_roles_names_the_role_needed(accounts: StaffAccounts) -> None:
    # A small app of its own (no staff route uses require_roles yet) on the real adapter.
    app = FastAPI()
    app.state.context = type("Context", (), {"accounts": accounts})()
    app.include_router(auth_router)

    @app.get("/dispatch-only")
    async def dispatch_only(
        staff: Staff = Depends(require_roles("dispatcher", "district_admin")),
    ) -> dict[str, str]:
        return {"id": staff.id}

    @app.get("/anyone")
    async def anyone(staff: CurrentStaff) -> dict[str, str | None]:
        return {"id": staff.id, "district": staff.district}

    viewer = unique("viewer")
    dispatcher = unique("disp")
    await accounts.add(username=viewer, role="viewer", unit="JA", password=PASSWORD)
    await accounts.add(username=dispatcher, role="dispatcher", unit="JA-DC", password=PASSWORD)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        tokens = {}
        for name in (viewer, dispatcher):
            response = await http.post(
                "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            tokens[name] = {"Authorization": f"Bearer {response.json()['token']}"}
        # The jar now holds the dispatcher's cookie; the viewer's header still wins.
        refused = await http.get("/dispatch-only", headers=tokens[viewer])
        assert refused.status_code == 403
        assert refused.json()["detail"] == (
            "this needs the role dispatcher or district_admin; you are viewer"
        )
        allowed = await http.get("/dispatch-only", headers=tokens[dispatcher])
        assert allowed.status_code == 200 and allowed.json() == {"id": dispatcher}
        who = await http.get("/anyone", headers=tokens[viewer])
        assert who.json() == {"id": viewer, "district": "JA"}
        by_cookie = await http.get("/anyone")
        assert by_cookie.json()["id"] == dispatcher
        http.cookies.clear()
        assert (await http.get("/anyone")).status_code == 401


# ---------------------------------------------------------------------------- scoping


STREETS = ("JA-JAS", "JA-NJX", "CN-XHL", "CN-HYL")


def appeal_docs(city: City, run: str) -> list[dict[str, Any]]:
    """Appeals over two streets of each of two districts, led and co-handled in every way."""
    docs: list[dict[str, Any]] = []
    for street in STREETS:
        district = city.streets[street][0]
        other = next(s for s in STREETS if s[:2] != street[:2])
        leads: list[str | None] = [f"{street}-OPS", f"{street}-UE", f"{street}-PCS"]
        leads += [f"{district.code}-UE", district.dispatch_center, None]
        co_variants = [[], [f"{street}-GS"], [f"{other}-UE"], [f"{district.code}-MS"]]
        for n, (lead, co) in enumerate(itertools.product(leads, co_variants)):
            docs.append(
                {
                    "_id": f"{run}-{street}-{n}",
                    "run": run,
                    "district": district.code,
                    "street": street,
                    "unit": lead,
                    "co_handlers": co,
                    # as adapters/documents.appeal_fields lays it out
                    "handlers": [u for u in (lead, *co) if u],
                    "state": "dispatched" if lead else "transferred",
                }
            )
    for n in range(3):
        docs.append({"_id": f"{run}-unplaced-{n}", "run": run, "state": "received"})
    return docs


def staff_at_every_level(city: City) -> list[Staff]:
    posts: list[tuple[Role, str | None]] = [
        ("operator", None),
        ("unit_staff", "JA-JAS-UE"),
        ("unit_staff", "JA-UE"),
        ("unit_staff", "JA-JAS-GS"),
        ("unit_staff", "CN-HYL-OPS"),
        ("unit_staff", "HP-WLQ-UE"),
        ("coordinator", "JA-JAS-OPS"),
        ("coordinator", "CN-XHL-OPS"),
        ("dispatcher", "JA-DC"),
        ("dispatcher", "CN-DC"),
        ("district_admin", "CN"),
        ("viewer", "JA-NJX-PCS"),
        ("viewer", "CN-HYL"),
        ("viewer", "JA"),
        ("viewer", None),
    ]
    people = []
    for role, code in posts:
        post = post_for(role, code, city)
        people.append(Staff(f"{role}@{code}", role, post.unit, post.street, post.district))
    return [*people, Staff("router", "system"), Staff("someone", "resident")]


async def test_visible_filter_and_can_read_agree_on_the_database(
    client: AsyncMongoClient[dict[str, Any]], city: City
) -> None:
    collection = client["access_it"][unique("appeals")]
    run = unique("run")
    docs = appeal_docs(city, run)
    await collection.insert_many(docs)
    try:
        sizes = set()
        for person in staff_at_every_level(city):
            query = scoped(person, {"run": run})
            found = {d["_id"] async for d in collection.find(query, {"_id": 1})}
            expected = {d["_id"] for d in docs if can_read(person, d)}
            assert found == expected, (person, visible_filter(person))
            sizes.add(len(found))
            # A query's own condition is kept, never widened by the scope.
            narrowed = scoped(person, {"run": run, "street": "JA-NJX"})
            in_street = {d["_id"] async for d in collection.find(narrowed, {"_id": 1})}
            assert in_street == {i for i in expected if "-JA-NJX-" in i}
        # The people really differ: nothing, a few, a street, a district, the whole city.
        assert {0, len(docs)} <= sizes and len(sizes) >= 6, sizes
    finally:
        await collection.drop()
