"""Fuzzing the appeals service's HTTP API from its OpenAPI document (schemathesis).

Every operation of the live document gets a few generated requests (bounded: a handful of
examples per operation, so the module stays within a few minutes on a shared machine), sent
with an operator's bearer token to the running service. No answer may be a 5xx, and every
service still answers /healthz afterwards. ``POST /api/v1/auth/logout`` is left out: it
would end the session the other requests use (it takes no input to fuzz).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.security.conftest import World, poll

MAX_EXAMPLES = 4


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    loaded = schemathesis.openapi.from_url(world.url("/openapi.json"))
    return loaded.exclude(path="/api/v1/auth/logout")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Any, world: World) -> None:
    response = case.call(
        base_url=world.url(""), headers=world.people["operator"].headers, timeout=30
    )
    case.validate_response(response, checks=[not_a_server_error])


def test_every_service_is_still_up(world: World) -> None:
    for service in ("appeals", "routing", "notify", "metrics"):
        process = world.services.processes[service]
        assert process.alive, f"{service} died during the fuzzing"

        def healthy(name: str = service) -> bool:
            try:
                return httpx.get(world.url("/healthz", name), timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        poll(healthy, timeout=30, what=f"{service} /healthz")
    # and the operator's session is still good: the fuzzing did not end or corrupt it
    me = world.http.get(world.url("/api/v1/auth/me"), headers=world.people["operator"].headers)
    assert me.status_code == 200, me.text
