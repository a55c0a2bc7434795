"""Scoping on every endpoint, generated from the route table.

Every operation of the live OpenAPI document (and every hidden UI route of the app) is
classified here: public by design, about the caller's own session, or scoped. Scoped routes
are exercised by staff of another street (a unit's staff and the coordinator) and of another
district (the dispatcher) against appeals of street JA-JAS, with the home street's codes in the
path. They must be refused (403 or 404) without the appeal's data, and MongoDB must show the
appeals unchanged. A route the tests do not know fails ``test_every_route_is_classified``
with a message naming it: whoever adds an endpoint teaches the tests how to exercise it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from threading import Event, Thread
from typing import Any

import httpx
import pytest

from services.appeals.domain import lifecycle as lc
from services.appeals.entrypoints.auth import SESSION_COOKIE
from services.appeals.entrypoints.staff_api import COMMANDS
from tests.security.conftest import (
    HOME_DISTRICT,
    HOME_STREET,
    INTRUDERS,
    LEAD,
    LIGHT_ADDRESS,
    World,
    fresh_client,
)
from tests.security.routes import app_routes, openapi_routes, path_params, resolve

# Routes open to anyone by design, with the reason. Everything else must be scoped.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness",
    ("GET", "/readyz"): "readiness",
    ("GET", "/metrics"): "Prometheus counters, no appeal data (test_personal_data.py)",
    ("POST", "/api/v1/appeals"): "resident intake",
    ("POST", "/api/v1/hotline/appeals"): "operator intake (role checked), creates, reads nothing",
    ("POST", "/api/v1/auth/login"): "login",
    ("GET", "/open311/v2/services.{fmt}"): "Open311: the public service catalog",
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): "Open311: a service definition",
    ("POST", "/open311/v2/requests.{fmt}"): "Open311 intake (api_key)",
    ("GET", "/open311/v2/requests.{fmt}"): "Open311: public request list, no contact data",
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): "Open311: one public request",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "Open311: token -> service_request_id",
}
# About the caller's own session only.
SELF: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/logout"): "ends the caller's session",
    ("GET", "/api/v1/auth/me"): "the caller's account",
}
# Hidden UI routes (not in OpenAPI) and how they are covered.
UI_PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/"): "redirects to the caller's desk",
    ("GET", "/login"): "login form",
    ("POST", "/login"): "login form",
    ("POST", "/logout"): "ends the caller's session",
    ("GET", "/operator"): "the hotline intake form (no appeal data)",
    ("POST", "/operator"): "hotline intake: creates, reads nothing",
    ("GET", "/ui/suggest/matters"): "the matter catalog, proxied from routing",
    ("GET", "/ui/suggest/addresses"): "the gazetteer, proxied from routing",
    ("GET", "/status"): "the resident's look-up form",
    ("POST", "/status"): "the resident's look-up: tracking number + token (test_residents.py)",
    ("POST", "/status/review"): "the resident's review: tracking number + token",
    ("MOUNT", "/static"): "CSS and JS",
}
UI_SCOPED = {
    ("GET", "/appeals/{appeal_id}"),
    ("POST", "/appeals/{appeal_id}/do/{command}"),
    ("GET", "/queue"),
    ("GET", "/queue/panel"),
    ("GET", "/coordinator"),
    ("GET", "/coordinator/panel"),
    ("GET", "/triage"),
    ("GET", "/triage/panel"),
    ("GET", "/ui/duplicates"),
    ("GET", "/ui/events"),
}
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SCOPE_PARAMS = {"appeal_id", "unit", "street", "district", "tracking_no"}

# A valid body for each staff command. The intruders' bodies try to pull the appeal their way.
BODIES: dict[str, dict[str, Any]] = {
    "sign": {},
    "respond": {"message": "已联系"},
    "return": {"reason": "不归我们"},
    "extension-request": {"reason": "需要时间", "workdays": 3},
    "extension-approve": {},
    "extension-reject": {"reason": "不批"},
    "pause": {"reason": "等待"},
    "resume": {},
    "resolve": {"result": "已办结", "solved": True},
    "review": {"satisfaction": "satisfied", "solved": True},
    "reopen": {"reason": "重办"},
    "close": {"reason": "结案"},
    "reassign": {"unit": "JA-NJX-RM"},
    "dispatch": {"unit": "JA-NJX-RM", "matter": "road.street_light"},
    "supervise": {"level": "district", "note": "督办"},
    "supervision-ack": {"note": "收到"},
    "notes": {"text": "外人的留言", "internal": False},
    "merge": {"master_id": "<master>"},
}
TARGET_STATES: tuple[lc.State, ...] = (
    "received",
    "triage",
    "dispatched",
    "signed",
    "responded",
    "returned",
    "resolved",
    "reviewed",
)


def command_of(name: str, body: dict[str, Any]) -> type[lc.Command]:
    """The lifecycle command a staff endpoint runs, from ``staff_api.COMMANDS``."""
    model, build = COMMANDS[name]
    return type(build(model.model_validate(body)))


@pytest.fixture(scope="module")
def spec(world: World) -> dict[str, Any]:
    response = world.http.get(world.url("/openapi.json"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def targets(world: World) -> dict[str, str]:
    """One appeal of the home street per state (plus a master to merge into)."""
    made: dict[str, str] = {state: world.drive(state) for state in TARGET_STATES}
    made["master"] = world.drive("dispatched")
    return made


def _secret_bits(world: World, appeal_id: str) -> list[str]:
    """What a refusal must not show: the appeal's tracking number and its state."""
    doc = world.doc(appeal_id)
    return [doc["tracking_no"], f'"{doc["state"]}"', f" {doc['state']};", f"is {doc['state']}"]


def _versions(world: World, targets: dict[str, str]) -> dict[str, tuple[int, int]]:
    return {
        appeal: (world.doc(appeal)["version"], len(world.doc(appeal)["events"]))
        for appeal in targets.values()
    }


def _enum_values(spec: dict[str, Any], param: dict[str, Any]) -> list[str]:
    schema = resolve(spec, param.get("schema", {}))
    values = schema.get("enum")
    if not values:
        raise AssertionError(f"path parameter {param['name']} has no enum: teach test_scoping")
    return [str(v) for v in values]


def _expansions(
    spec: dict[str, Any], path: str, op: dict[str, Any], codes: dict[str, str]
) -> Iterator[str]:
    """Every concrete path of a queue route with ``codes`` for unit/street/district."""
    params = path_params(op)
    fixed = {name: codes[name] for name in params if name in codes}
    free = [name for name in params if name not in codes]
    choices: list[list[tuple[str, str]]] = [
        [(name, v) for v in _enum_values(spec, params[name])] for name in free
    ]
    combos: list[list[tuple[str, str]]] = [[]]
    for options in choices:
        combos = [[*c, o] for c in combos for o in options]
    for combo in combos:
        concrete = path
        for name, value in [*fixed.items(), *combo]:
            concrete = concrete.replace("{" + name + "}", value)
        yield concrete


def classify(method: str, path: str, op: dict[str, Any]) -> str:
    """The probe a route gets, or raises naming the route the tests do not know."""
    key = (method, path)
    if key in PUBLIC:
        return "public"
    if key in SELF:
        return "self"
    params = set(path_params(op))
    if params == {"appeal_id"} and method == "GET" and path.endswith("/{appeal_id}"):
        return "read"
    name = path.rsplit("/", 1)[-1]
    if params == {"appeal_id"} and method == "POST" and path.endswith("/{appeal_id}/" + name):
        if name not in BODIES:
            raise AssertionError(f"{method} {path}: a command with no body in BODIES")
        return "command"
    if params & {"unit", "street", "district"} and method == "GET":
        return "desk"
    if "tracking_no" in params and method in ("GET", "POST"):
        return "resident"
    raise AssertionError(
        f"{method} {path}: the security tests do not know how to exercise this route; "
        "add it to PUBLIC/SELF or teach classify() (tests/security/test_scoping.py)"
    )


def test_every_route_is_classified(spec: dict[str, Any]) -> None:
    problems = []
    for method, path, op in openapi_routes(spec):
        try:
            classify(method, path, op)
        except AssertionError as exc:
            problems.append(str(exc))
    listed = {(m, p) for m, p, _ in openapi_routes(spec)}
    for route in app_routes():
        key = (route.method, route.path)
        if route.path in FRAMEWORK or key in listed:
            continue
        if key not in UI_PUBLIC and key not in UI_SCOPED:
            problems.append(
                f"{route.method} {route.path}: a route outside the OpenAPI document the security "
                "tests do not know; add it to UI_PUBLIC or UI_SCOPED with a probe"
            )
    stale = (set(PUBLIC) | set(SELF)) - listed
    assert not stale, f"classified routes the service no longer has: {sorted(stale)}"
    assert not problems, "\n".join(problems)
    # the commands the lifecycle lets a person issue all have a scoped endpoint
    commands = {p.rsplit("/", 1)[-1] for m, p, op in openapi_routes(spec) if "{appeal_id}/" in p}
    assert set(COMMANDS) <= commands


def _check_refused(
    response: httpx.Response, secrets: list[str], what: str, problems: list[str]
) -> None:
    if response.status_code not in (403, 404):
        problems.append(f"{what}: {response.status_code} {response.text[:300]}")
        return
    shown = [s for s in secrets if s in response.text]
    if shown:
        problems.append(f"{what}: refused but shows {shown}: {response.text[:300]}")


def _target_for(name: str, targets: dict[str, str], *, allowed: bool) -> str | None:
    """An appeal whose state the command starts from (``allowed``) or does not."""
    command = command_of(name, _body(name, targets))
    states = lc.TRANSITIONS[command].from_states
    for state in TARGET_STATES:
        if (state in states) == allowed:
            return targets[state]
    return None


def _body(name: str, targets: dict[str, str]) -> dict[str, Any]:
    body = dict(BODIES[name])
    if "master_id" in body:
        body["master_id"] = targets["master"]
    return body


@pytest.mark.parametrize("intruder", sorted(INTRUDERS))
def test_staff_of_another_street_or_district_cannot_read_or_change_appeals(
    intruder: str, world: World, spec: dict[str, Any], targets: dict[str, str]
) -> None:
    person = world.people[intruder]
    before = _versions(world, targets)
    problems: list[str] = []
    home_codes = {"unit": LEAD, "street": HOME_STREET, "district": HOME_DISTRICT}
    post = world.city.units.get(person.post or "")
    own_codes = {
        "unit": person.post or "",
        "street": post[1].code if post and post[1] else "",
        "district": post[0].code if post else "",
    }
    every_tracking_no = [world.doc(a)["tracking_no"] for a in targets.values()]
    probed = 0
    for method, path, op in openapi_routes(spec):
        kind = classify(method, path, op)
        if kind == "read":
            for state, appeal in targets.items():
                url = world.url(path.replace("{appeal_id}", appeal))
                response = world.http.get(url, headers=person.headers)
                _check_refused(
                    response, _secret_bits(world, appeal), f"GET {path} ({state})", problems
                )
                probed += 1
        elif kind == "command":
            name = path.rsplit("/", 1)[-1]
            target = _target_for(name, targets, allowed=True)
            assert target is not None, f"no target appeal in a state {name} starts from"
            url = world.url(path.replace("{appeal_id}", target))
            response = world.http.post(url, json=_body(name, targets), headers=person.headers)
            _check_refused(response, _secret_bits(world, target), f"POST {path}", problems)
            probed += 1
        elif kind == "desk":
            for concrete in _expansions(spec, path, op, home_codes):
                response = world.http.get(world.url(concrete), headers=person.headers)
                _check_refused(response, every_tracking_no, f"GET {concrete}", problems)
                probed += 1
            # the intruder's own desks list nothing of the home street
            if all(own_codes.get(p) for p in path_params(op) if p in home_codes):
                for concrete in _expansions(spec, path, op, own_codes):
                    response = world.http.get(world.url(concrete), headers=person.headers)
                    leaked = [t for t in every_tracking_no if t in response.text]
                    if response.status_code not in (200, 403) or leaked:
                        problems.append(f"own desk GET {concrete}: {response.status_code} {leaked}")
                    probed += 1
        elif kind == "resident":
            appeal = targets["resolved"]
            tracking_no = world.doc(appeal)["tracking_no"]
            url = world.url(path.replace("{tracking_no}", tracking_no))
            body = {"satisfaction": "unsatisfied", "solved": False} if method == "POST" else None
            response = world.http.request(method, url, json=body, headers=person.headers)
            if response.status_code != 404:
                problems.append(
                    f"{method} {path} with a staff token, no appeal token: {response.status_code}"
                )
            probed += 1
    assert probed > 40, probed
    after = _versions(world, targets)
    changed = {a: (before[a], after[a]) for a in before if before[a] != after[a]}
    assert not changed, f"{intruder} changed appeals (version, events): {changed}"
    assert not problems, f"{intruder} ({person.role} at {person.post}):\n" + "\n".join(problems)


@pytest.mark.parametrize("intruder", sorted(INTRUDERS))
def test_refusals_outside_ones_scope_do_not_tell_the_state(
    intruder: str, world: World, spec: dict[str, Any], targets: dict[str, str]
) -> None:
    person = world.people[intruder]
    problems: list[str] = []
    for method, path, op in openapi_routes(spec):
        if classify(method, path, op) != "command":
            continue
        name = path.rsplit("/", 1)[-1]
        appeal = _target_for(name, targets, allowed=False)
        if appeal is None:  # the command starts from any state (notes)
            continue
        url = world.url(path.replace("{appeal_id}", appeal))
        response = world.http.post(url, json=_body(name, targets), headers=person.headers)
        _check_refused(response, _secret_bits(world, appeal), f"POST {path}", problems)
    for method, path, op in openapi_routes(spec):
        if classify(method, path, op) != "command":
            continue
        # a stale If-Match must not tell the caller the appeal's version either
        name = path.rsplit("/", 1)[-1]
        target = _target_for(name, targets, allowed=True)
        assert target is not None
        url = world.url(path.replace("{appeal_id}", target))
        stale = world.http.post(
            url, json=_body(name, targets), headers={**person.headers, "If-Match": "1"}
        )
        bits = [*_secret_bits(world, target), "version"]
        _check_refused(stale, bits, f"POST {path} If-Match", problems)
    assert not problems, f"{intruder}:\n" + "\n".join(problems)


def test_home_staff_reach_the_same_routes(
    world: World, spec: dict[str, Any], targets: dict[str, str]
) -> None:
    """The control: the refusals above are about scope, not broken requests."""
    operator = world.people["operator"].headers
    for appeal in targets.values():
        response = world.http.get(world.url(f"/api/v1/appeals/{appeal}"), headers=operator)
        assert response.status_code == 200, response.text
    desks = {"unit": ("lead", LEAD), "street": ("coordinator", HOME_STREET)}
    desks["district"] = ("dispatcher", HOME_DISTRICT)
    seen = ""
    for method, path, op in openapi_routes(spec):
        if classify(method, path, op) != "desk":
            continue
        level = next(p for p in path_params(op) if p in desks)
        who, code = desks[level]
        for concrete in _expansions(spec, path, op, {level: code}):
            # the largest page: other tests of this module add appeals to the same desks
            response = world.http.get(
                world.url(concrete), params={"size": 100}, headers=world.people[who].headers
            )
            assert response.status_code == 200, (concrete, response.text)
            seen += response.text
    # the home desks do list the home street's appeals
    assert world.doc(targets["dispatched"])["tracking_no"] in seen
    assert world.doc(targets["triage"])["tracking_no"] in seen


# ---------------------------------------------------------------------------- the UI


def _browser(world: World, who: str) -> httpx.Client:
    token = world.people[who].token
    return fresh_client(cookies={SESSION_COOKIE: token})


def _csrf(token: str) -> str:
    """The form token of a logged-in page: found in the page itself."""
    return hmac.new(token.encode(), b"appeals-ui-csrf", hashlib.sha256).hexdigest()


@pytest.mark.parametrize("intruder", sorted(INTRUDERS))
def test_ui_pages_and_forms_are_scoped(
    intruder: str, world: World, targets: dict[str, str]
) -> None:
    person = world.people[intruder]
    before = _versions(world, targets)
    problems: list[str] = []
    every_tracking_no = [world.doc(a)["tracking_no"] for a in targets.values()]
    with _browser(world, intruder) as browser:
        # the page's CSRF token is what the tests send (checked against the page itself)
        page = browser.get(world.url("/"), follow_redirects=True)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        csrf = found.group(1) if found else _csrf(person.token)
        assert csrf == _csrf(person.token)
        for state, appeal in targets.items():
            response = browser.get(world.url(f"/appeals/{appeal}"))
            _check_refused(
                response, _secret_bits(world, appeal)[:1], f"/appeals ({state})", problems
            )
        for name in COMMANDS:
            target = _target_for(name, targets, allowed=True)
            assert target is not None
            form = {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in _body(name, targets).items()
            }
            response = browser.post(
                world.url(f"/appeals/{target}/do/{name}"),
                data={**form, "csrf": csrf, "version": str(world.doc(target)["version"])},
            )
            if response.status_code not in (303, 403, 404):
                problems.append(f"UI {name}: {response.status_code}")
        for desk, code in (
            ("/queue", LEAD),
            ("/coordinator", HOME_STREET),
            ("/triage", HOME_DISTRICT),
        ):
            for path in (desk, desk + "/panel"):
                for tab in ("", "new", "open", "triage", "returns", "extensions", "overdue"):
                    params = {"code": code, **({"tab": tab} if tab else {})}
                    response = browser.get(world.url(path), params=params)
                    leaked = [t for t in every_tracking_no if t in response.text]
                    if leaked:
                        problems.append(f"{path}?{params}: shows {leaked}")
        duplicates = browser.get(
            world.url("/ui/duplicates"),
            params={"address": LIGHT_ADDRESS, "matter": "road.street_light"},
        )
        leaked = [a for a in targets.values() if a in duplicates.text]
        if leaked or duplicates.status_code not in (200, 403):
            problems.append(f"/ui/duplicates: {duplicates.status_code} {leaked}")
    after = _versions(world, targets)
    assert before == after, f"{intruder} changed appeals through the UI"
    assert not problems, "\n".join(problems)


def _listen(client: httpx.Client, url: str, until: str, out: list[str], ready: Event) -> None:
    """Read one SSE stream into ``out`` until a line names ``until`` (or 20 s of silence)."""
    try:
        with client.stream("GET", url, timeout=httpx.Timeout(20)) as response:
            out.append(f"status: {response.status_code}")
            for line in response.iter_lines():
                out.append(line)
                if line.startswith("event: ready"):
                    ready.set()
                if until in line:
                    return
    except httpx.HTTPError as exc:
        out.append(f"error: {exc!r}")
    finally:
        ready.set()


def test_ui_live_feed_tells_intruders_nothing(world: World, targets: dict[str, str]) -> None:
    """A change to a home appeal reaches the home coordinator's feed, never an intruder's.

    The feed is one ordered change stream fanned out to every listener. After the change to
    the home appeal, a sentinel appeal each intruder may read is stored; once an intruder has
    its sentinel, it has been offered everything before it, so the check is not a race.
    """
    appeal = targets["signed"]
    sentinels = {
        "other_street_unit": ("JA", "JA-NJX", "JA-NJX-RM"),
        "other_street_coordinator": ("JA", "JA-NJX", "JA-NJX-RM"),
        "other_district_dispatcher": ("CN", "CN-XHL", "CN-XHL-RM"),
    }
    assert set(sentinels) == set(INTRUDERS)
    sentinel_ids = {place: world.received() for place in set(sentinels.values())}
    url = world.url("/ui/events")
    listeners: dict[str, tuple[Thread, list[str], httpx.Client]] = {}
    readies = []
    for who in ["coordinator", *sorted(INTRUDERS)]:
        until = appeal if who == "coordinator" else sentinel_ids[sentinels[who]]
        out: list[str] = []
        ready = Event()
        client = _browser(world, who)
        thread = Thread(target=_listen, args=(client, url, until, out, ready), daemon=True)
        thread.start()
        listeners[who] = (thread, out, client)
        readies.append(ready)
    try:
        for ready in readies:
            assert ready.wait(20), "a feed never became ready"
        world.ok("lead", appeal, "notes", {"text": "已到现场", "internal": True})
        for (district, street, unit), sentinel in sentinel_ids.items():
            # placed where the intruder may read it: a change its feed must deliver
            world.db.appeals.update_one(
                {"_id": sentinel},
                {
                    "$set": {"district": district, "street": street, "unit": unit},
                    "$push": {"handlers": unit},
                    "$inc": {"version": 1},
                },
            )
        for thread, _, _ in listeners.values():
            thread.join(30)
    finally:
        for _, _, client in listeners.values():
            client.close()
    home = "\n".join(listeners["coordinator"][1])
    assert appeal in home, f"the home coordinator's feed never showed the change: {home}"
    for who in INTRUDERS:
        got = "\n".join(listeners[who][1])
        assert sentinel_ids[sentinels[who]] in got, f"{who} never got its sentinel: {got}"
        assert appeal not in got, f"{who} was told about a home appeal: {got}"
