"""The appeals service's route table: the live OpenAPI document and the in-process app's routes.

The OpenAPI document lists what the API offers; the UI's pages are left out of it
(``include_in_schema=False``), so the app's own route table is read as well, to cover them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from services.appeals.entrypoints.http import create_app

__all__ = ["RouteInfo", "app_routes", "openapi_routes", "path_params", "resolve"]

METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class RouteInfo:
    """One method on one path."""

    method: str  # upper case
    path: str
    in_schema: bool


def _walk(routes: list[Any]) -> list[RouteInfo]:
    found: list[RouteInfo] = []
    for route in routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                found.append(RouteInfo(method, route.path, route.include_in_schema))
        elif isinstance(route, Mount):
            found.append(RouteInfo("MOUNT", route.path, False))
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append(RouteInfo(method, route.path, route.include_in_schema))
        elif hasattr(route, "original_route") and hasattr(route, "methods"):
            # an included route as FastAPI >= 0.16x describes it
            for method in sorted(route.methods or ()):
                found.append(RouteInfo(method, route.path, route.include_in_schema))
        elif hasattr(route, "effective_route_contexts"):
            # FastAPI >= 0.16x keeps included routers as one entry that expands lazily.
            contexts = route.effective_route_contexts
            contexts = contexts() if callable(contexts) else contexts
            found.extend(_walk(list(contexts)))
        else:
            raise AssertionError(f"the route table has an entry the tests cannot read: {route!r}")
    return found


def app_routes() -> list[RouteInfo]:
    """Every route of the appeals app as built by ``create_app`` (not started)."""
    return sorted(set(_walk(list(create_app().routes))), key=lambda r: (r.path, r.method))


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a top-level ``$ref`` followed."""
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def openapi_routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every operation in an OpenAPI document."""
    return [
        (method.upper(), path, op)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    ]


def path_params(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The operation's path parameters: name -> parameter object."""
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
