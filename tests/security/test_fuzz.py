"""Fuzzing the appeals service's HTTP API from its OpenAPI document (schemathesis).

Every operation of the live document gets a few generated requests (bounded: a handful of
examples per operation, derandomized, so the module stays within a few minutes on a shared
machine), sent with an operator's bearer token to the running service. No answer may be a 5xx,
and every service still answers /healthz afterwards. ``POST /api/v1/auth/logout`` is left
out: it would end the session the other requests use (it takes no input to fuzz).

Schemathesis's pytest loader (``from_fixture``) does not work with pytest 9 yet, so the
operations are driven through its Python API: one hypothesis run per operation.
"""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok

from tests.security.conftest import World, poll

MAX_EXAMPLES = 4
# It would end the session the other requests use; it takes no input to fuzz.
SKIPPED = {"/api/v1/auth/logout"}


def test_no_server_errors(world: World) -> None:
    """Each operation gets MAX_EXAMPLES valid and MAX_EXAMPLES invalid requests; every 5xx is
    collected."""
    schema = schemathesis.openapi.from_url(world.url("/openapi.json"))
    headers = world.people["operator"].headers
    failures: list[str] = []
    operations = negative = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation of the document cannot be fuzzed: {result!r}"
        operation = result.ok()
        if operation.path in SKIPPED:
            continue
        operations += 1

        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.definition.raw.get("parameters") or operation.body:
            modes.append(schemathesis.GenerationMode.NEGATIVE)  # input the schema forbids
        for mode in modes:

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            def fuzz(case: Any) -> None:
                response = case.call(base_url=world.url(""), headers=headers, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:200]} (body {case.body!r:.200}, query {case.query!r})"
                    )

            try:
                fuzz()
            except Unsatisfiable:
                # nothing of this operation can be made invalid (e.g. only free-form strings)
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                continue
            negative += mode is schemathesis.GenerationMode.NEGATIVE
    assert operations >= 30, operations
    assert negative >= 20, negative
    assert not failures, "\n".join(failures)


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
