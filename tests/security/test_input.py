"""Input handling: strict schemas, size limits and escaping, against the running service.

The cases are generated from the appeals service's OpenAPI document (built in process at
collection time; ``test_the_generated_cases_match_the_live_document`` checks it is the one
the running service serves): every operation with a JSON body must refuse an unknown field,
at the top level and in every nested object, with a 422 naming it, and every string field
with a ``maxLength`` must refuse one character more with a 422 naming the field. A body
over ``APPEALS_MAX_BODY_BYTES`` is refused with 413, declared or chunked. Text with
``<script>`` is stored and returned as text, and escaped in every HTML page that shows it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.appeals.config import AppealsSettings
from services.appeals.entrypoints.auth import SESSION_COOKIE
from services.appeals.entrypoints.http import create_app
from tests.security.conftest import LEAD, LIGHT_ADDRESS, World, fresh_client
from tests.security.routes import openapi_routes, resolve

SPEC: dict[str, Any] = create_app().openapi()
UNKNOWN = "zz_not_a_field"
# Known bugs, reported to the lead; strict, so the fix turns them into failures to remove.
# (method, path) -> why a route is known to break the rule (marked strict xfail); none now.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _json_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return resolve(SPEC, content["application/json"]["schema"])


def _object_schemas(
    schema: dict[str, Any], where: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The location of every object in a body schema (the body itself first)."""
    yield where
    for name, prop in schema.get("properties", {}).items():
        for option in [prop, *prop.get("anyOf", [])]:
            option = resolve(SPEC, option)
            if option.get("type") == "object" and "properties" in option:
                yield from _object_schemas(option, (*where, name))


def _long_strings(schema: dict[str, Any]) -> Iterator[tuple[str, int]]:
    for name, prop in schema.get("properties", {}).items():
        for option in [prop, *prop.get("anyOf", [])]:
            if option.get("type") == "string" and "maxLength" in option:
                yield name, int(option["maxLength"])


def _nest(where: tuple[str, ...], leaf: dict[str, Any]) -> dict[str, Any]:
    body = leaf
    for name in reversed(where):
        body = {name: body}
    return body


def _cases(*, known_bugs: bool = False) -> Iterator[Any]:
    for method, path, op in openapi_routes(SPEC):
        schema = _json_schema(op)
        if schema is None:
            continue
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(method, path)])]
            if known_bugs and (method, path) in KNOWN_BUGS
            else []
        )
        yield pytest.param(method, path, op, id=f"{method} {path}", marks=marks)


def _concrete(world: World, path: str, appeal_id: str, tracking_no: str) -> str:
    return world.url(path.replace("{appeal_id}", appeal_id).replace("{tracking_no}", tracking_no))


@pytest.fixture(scope="module")
def some_appeal(world: World) -> tuple[str, str]:
    appeal = world.dispatched()
    return appeal.id, appeal.tracking_no


def test_the_generated_cases_match_the_live_document(world: World) -> None:
    live = world.http.get(world.url("/openapi.json")).json()
    assert live["paths"] == SPEC["paths"]
    assert live["components"] == SPEC["components"]
    assert any(True for _ in _cases())


@pytest.mark.parametrize(("method", "path", "op"), list(_cases(known_bugs=True)))
def test_unknown_fields_are_refused_naming_them(
    method: str, path: str, op: dict[str, Any], world: World, some_appeal: tuple[str, str]
) -> None:
    schema = _json_schema(op)
    assert schema is not None
    url = _concrete(world, path, *some_appeal)
    operator = world.people["operator"].headers
    version = world.doc(some_appeal[0])["version"]
    for where in _object_schemas(schema):
        body = _nest(where, {UNKNOWN: "x"})
        with fresh_client() as client:  # a client of its own: status look-ups are rate limited
            response = client.request(method, url, json=body, headers=operator)
        assert response.status_code == 422, (where, response.status_code, response.text)
        locations = [tuple(e["loc"]) for e in response.json()["detail"]]
        assert ("body", *where, UNKNOWN) in locations, (where, locations)
    assert world.doc(some_appeal[0])["version"] == version


@pytest.mark.parametrize(("method", "path", "op"), list(_cases()))
def test_fields_over_their_limit_are_refused_naming_them(
    method: str, path: str, op: dict[str, Any], world: World, some_appeal: tuple[str, str]
) -> None:
    schema = _json_schema(op)
    assert schema is not None
    url = _concrete(world, path, *some_appeal)
    operator = world.people["operator"].headers
    checked = 0
    for where in _object_schemas(schema):
        nested = schema
        for name in where:
            prop = nested["properties"][name]
            nested = next(
                resolve(SPEC, o)
                for o in [prop, *prop.get("anyOf", [])]
                if resolve(SPEC, o).get("type") == "object"
            )
        for name, limit in _long_strings(nested):
            body = _nest(where, {name: "字" * (limit + 1)})
            with fresh_client() as client:
                response = client.request(method, url, json=body, headers=operator)
            assert response.status_code == 422, (name, response.status_code, response.text)
            problems = {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}
            assert problems.get(("body", *where, name)) == "string_too_long", problems
            checked += 1
    properties = schema.get("properties", {})
    if properties and not all(p.get("type") == "boolean" for p in properties.values()):
        assert checked or not list(_long_strings(schema)), "no string field with a limit"


def _max_body(world: World) -> int:
    configured = world.services.env.get("APPEALS_MAX_BODY_BYTES")
    default = AppealsSettings.model_fields["max_body_bytes"].default
    return int(configured) if configured else int(default)


def test_bodies_over_the_limit_are_refused_with_413(world: World) -> None:
    limit = _max_body(world)
    # a well-formed appeal, its text longer than the body limit (each character is 3 bytes)
    text = secrets.token_hex(8) + "字" * (limit // 3 + 10)
    body = httpx.Request("POST", "http://x", json={"text": text, "address": LIGHT_ADDRESS}).content
    assert len(body) > limit
    declared = world.http.post(
        world.url("/api/v1/appeals"), content=body, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413, declared.text
    # a staff command and the HTML login form are bounded by the same limit
    operator = world.people["operator"].headers
    command = world.http.post(
        world.url("/api/v1/appeals/whatever/notes"),
        content=body,
        headers={**operator, "Content-Type": "application/json"},
    )
    assert command.status_code == 413, command.text
    form = world.http.post(world.url("/login"), data={"username": "x" * (limit + 10)})
    assert form.status_code == 413, form.text
    # nothing was stored; a small body is still read
    assert world.db.appeals.find_one({"text": text}) is None
    fits = world.http.post(
        world.url("/api/v1/appeals"),
        json={"text": "路灯不亮", "address": LIGHT_ADDRESS, "matter": "road.street_light"},
    )
    assert fits.status_code == 201, fits.text


def test_chunked_bodies_over_the_limit_are_refused_with_413(world: World) -> None:
    limit = _max_body(world)
    body = httpx.Request("POST", "http://x", json={"text": "字" * (limit // 3 + 10)}).content

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    chunked = world.http.post(
        world.url("/api/v1/appeals"),
        content=chunks(),  # no Content-Length: the limit must count what arrives
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413, chunked.text


def test_script_text_is_stored_as_text_and_escaped_in_html(world: World) -> None:
    marker = secrets.token_hex(6)
    script = f"<script>alert('{marker}')</script>"
    text = f"{script}华山路120号路灯坏了 <img src=x onerror=alert(1)>"
    appeal = world.dispatched(text=text)
    note = f"<script>note('{marker}')</script>"
    world.ok("lead", appeal.id, "notes", {"text": note, "internal": False})

    assert world.doc(appeal.id)["text"] == text  # stored as given
    detail = world.http.get(
        world.url(f"/api/v1/appeals/{appeal.id}"), headers=world.people["operator"].headers
    )
    assert detail.status_code == 200
    assert detail.json()["text"] == text  # JSON returns the text itself
    assert detail.headers["content-type"].startswith("application/json")

    pages: dict[str, str] = {}
    with fresh_client(cookies={SESSION_COOKIE: world.people["lead"].token}) as browser:
        home = browser.get(world.url("/"), follow_redirects=True)  # the lead's desk
        assert home.status_code == 200
        pages["/ (desk)"] = home.text
        panel = browser.get(world.url("/queue/panel"), params={"code": LEAD, "tab": "new"})
        pages["/queue/panel"] = panel.text
        page = browser.get(world.url(f"/appeals/{appeal.id}"))
        assert page.status_code == 200
        pages["/appeals/{id}"] = page.text
    with fresh_client() as resident:
        form = resident.get(world.url("/status"))
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        status = resident.post(
            world.url("/status"),
            data={"tracking_no": appeal.tracking_no, "token": appeal.token, "csrf": csrf},
        )
        assert status.status_code == 200, status.text
        pages["/status"] = status.text
    for name, body in pages.items():
        assert f"<script>alert('{marker}')" not in body, name
        assert f"<script>note('{marker}')" not in body, name
        assert "<img src=x" not in body, name
    # the text is there, escaped, where it is shown
    assert "&lt;script&gt;alert(" in pages["/appeals/{id}"] and marker in pages["/appeals/{id}"]
    assert "&lt;script&gt;note(" in pages["/status"] and marker in pages["/status"]
