"""Open311 GeoReport v2 endpoints of the appeals service, mounted at ``/open311/v2``.

Served by the appeals app (``appeals serve appeals``; ``http.py`` includes ``open311_router``).
Every endpoint answers in JSON or XML by its suffix (``services.json``, ``services.xml``)::

    GET  services.{fmt}                    the matter catalog as services
    GET  services/{service_code}.{fmt}     a service definition (its attributes)
    POST requests.{fmt}                    a new appeal (form-encoded or JSON; api_key required)
    GET  requests.{fmt}                    appeals, filtered, newest first, at most 1000
    GET  requests/{service_request_id}.{fmt}
    GET  tokens/{token}.{fmt}              the service_request_id of a POST's token

``service_request_id`` is the appeal's tracking number; the token is the appeal's internal
id (``domain/open311.py`` explains both). Errors are the spec's ``[{code, description}]``
with 400, 403, 404 or 503, in the format asked for. The mapping itself is pure and lives in
``services.appeals.domain.open311``; this module reads the request, asks the store and renders.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import PyMongoError

from services.appeals.adapters.store import AppealStore
from services.appeals.bootstrap import AppealsContext
from services.appeals.domain.open311 import (
    FORMATS,
    MAX_RESULTS,
    Open311Problem,
    RequestQuery,
    created_receipt,
    error_list,
    newest_first,
    parse_request_query,
    render_xml,
    service_definition,
    service_list,
    service_request,
    submission_from_fields,
    token_answer,
)
from services.appeals.service_layer.intake import UnknownMatter, submit_appeal
from shared.events import Actor

__all__ = ["ensure_open311_indexes", "open311_router"]

log = logging.getLogger(__name__)

# What a service request shows; contact details and the token hash are never read.
_REQUEST_FIELDS = {
    "tracking_no": 1,
    "state": 1,
    "matter": 1,
    "matter_hint": 1,
    "text": 1,
    "channel": 1,  # whose words may be shown (open311.public_description)
    "unit": 1,
    "received_at": 1,
    "updated_at": 1,
    "deadlines": 1,
    "address": 1,
    "location": 1,
    "routing.transfer": 1,
}


async def ensure_open311_indexes(store: AppealStore) -> None:
    """Indexes behind ``GET requests``: the date window, alone or with a service code.

    The service code is the routed ``matter`` or, before routing, the submitter's
    ``matter_hint``; each gets its own index so neither query scans the collection.
    """
    await store.appeals.create_indexes(
        [
            IndexModel([("received_at", DESCENDING)], name="open311_received_at"),
            IndexModel(
                [("matter", ASCENDING), ("received_at", DESCENDING)],
                name="open311_matter_received_at",
            ),
            IndexModel(
                [("matter_hint", ASCENDING), ("received_at", DESCENDING)],
                name="open311_matter_hint_received_at",
            ),
        ]
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs inside the app's own lifespan (FastAPI nests an included router's lifespan), so
    # the context has been built and started by then.
    context: AppealsContext = app.state.context
    await ensure_open311_indexes(context.store)
    yield


# ---------------------------------------------------------------------------- rendering


def _format_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(
            render_xml(root, value), status_code=status, media_type="text/xml; charset=utf-8"
        )
    return Response(
        orjson.dumps(value), status_code=status, media_type="application/json; charset=utf-8"
    )


def _error(fmt: str, status: int, description: str) -> Response:
    return _render(fmt, "errors", error_list(status, description), status)


class Open311Route(APIRoute):
    """Routes whose refusals are the spec's error list, never FastAPI's ``detail``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = _format_of(request)
            try:
                return await handler(request)
            except Open311Problem as problem:
                return _error(fmt, problem.status, problem.description)
            except RequestValidationError as exc:
                where = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
                    for e in exc.errors()
                )
                return _error(fmt, 400, where)
            except PyMongoError as exc:
                log.error("open311: database unavailable: %s", exc)
                response = _error(fmt, 503, "the database is unavailable; please retry")
                response.headers["Retry-After"] = "5"
                return response

        return route


open311_router = APIRouter(
    prefix="/open311/v2", tags=["open311"], route_class=Open311Route, lifespan=_lifespan
)


def _context(request: Request) -> AppealsContext:
    context: AppealsContext = request.app.state.context
    return context


ContextDep = Annotated[AppealsContext, Depends(_context)]


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Problem(404, f"format {fmt!r} is not served: use .json or .xml")
    return fmt


# ---------------------------------------------------------------------------- services


@open311_router.get("/services.{fmt}", summary="GET services: the matter catalog")
async def get_services(fmt: str, context: ContextDep) -> Response:
    """Every matter this city handles, as an Open311 service (110/119/120 matters left out)."""
    return _render(_check_format(fmt), "services", service_list(context.city.catalog))


@open311_router.get(
    "/services/{service_code}.{fmt}", summary="GET service definition: a service's attributes"
)
async def get_service_definition(service_code: str, fmt: str, context: ContextDep) -> Response:
    """The attributes a request for this service may carry."""
    fmt = _check_format(fmt)
    matter = context.city.catalog.get(service_code)
    if matter is None or matter.out_of_scope:
        raise Open311Problem(404, f"service_code {service_code!r} is not a service of this city")
    return _render(fmt, "service_definition", service_definition(matter))


# ---------------------------------------------------------------------------- POST requests


async def _fields(request: Request) -> dict[str, list[str]]:
    """The POST's fields, each a list of strings, from a form or a JSON object."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, list[str]] = {}
    if content_type == "application/json":
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise Open311Problem(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Open311Problem(400, "the JSON body must be an object of request fields")
        for name, value in body.items():
            if name == "attribute" and isinstance(value, dict):
                # {"attribute": {"details": "..."}} is the JSON spelling of attribute[details].
                for code, answer in value.items():
                    fields[f"attribute[{code}]"] = _strings(answer)
            else:
                fields[name] = _strings(value)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        form = await request.form()
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, []).append(value)
    else:
        raise Open311Problem(
            400,
            f"content type {content_type!r} is not accepted: send "
            "application/x-www-form-urlencoded or application/json",
        )
    # Some clients put api_key in the query string; the spec's place is the body.
    if "api_key" not in fields and "api_key" in request.query_params:
        fields["api_key"] = [request.query_params["api_key"]]
    return fields


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _client_of(fields: dict[str, list[str]], keys: list[str]) -> str:
    """The caller's client id (a short hash of its key); 403 unless the key is configured."""
    if not keys:
        raise Open311Problem(
            403,
            "this server accepts no Open311 submissions: no API keys are configured "
            "(APPEALS_OPEN311_API_KEYS)",
        )
    given = (fields.get("api_key") or [""])[-1]
    if not given:
        raise Open311Problem(403, "api_key is required to submit a service request")
    # Compare with every key in constant time so the answer's timing says nothing.
    matched = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
    if not any(matched):
        raise Open311Problem(403, "api_key is not valid")
    return hashlib.sha256(given.encode()).hexdigest()[:10]


@open311_router.post("/requests.{fmt}", summary="POST service request: a new appeal")
async def post_request(
    fmt: str,
    request: Request,
    context: ContextDep,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Response:
    """File an appeal. Fields: api_key, service_code, lat+long or address_string or
    address_id, description (required here), email, first_name, last_name, phone, media_url,
    attribute[details]. Form-encoded (the spec) or a JSON object of the same fields.

    Answers ``[{service_request_id, token, service_notice, account_id}]`` with 201; retrying
    with the same Idempotency-Key header answers the first appeal again with 200.
    """
    fmt = _check_format(fmt)
    fields = await _fields(request)
    client = _client_of(fields, context.settings.open311_api_keys)
    submission = submission_from_fields(fields, context.city)
    metrics = getattr(request.app.state, "metrics", None)
    try:
        doc, _token, created = await submit_appeal(
            submission,
            store=context.store,
            city=context.city,
            channel="open311",
            # The resident submits; the client app that relayed it is named for the audit.
            actor=Actor(kind="resident", id=f"open311:{client}"),
            idempotency_key=f"{client}:{idempotency_key}" if idempotency_key else None,
            tracking_prefix=context.settings.tracking_prefix,
        )
    except UnknownMatter as exc:  # the catalog was checked above; kept for safety
        raise Open311Problem(400, str(exc)) from None
    if created:
        if metrics is not None:
            metrics.accepted.labels("open311").inc()
        context.relay.wake()
    receipt = created_receipt(doc["tracking_no"], doc["_id"], replayed=not created)
    return _render(fmt, "service_requests", [receipt], 201 if created else 200)


# ---------------------------------------------------------------------------- GET requests


async def find_requests(store: AppealStore, query: RequestQuery) -> list[dict[str, Any]]:
    """The appeals a checked query selects, newest first, at most ``MAX_RESULTS``."""
    collection = store.appeals
    if query.ids:
        cursor = collection.find({"tracking_no": {"$in": list(query.ids)}}, _REQUEST_FIELDS)
        return newest_first([d async for d in cursor])
    base: dict[str, Any] = {"received_at": {"$gte": query.start, "$lte": query.end}}
    states = query.states()
    if states:
        base["state"] = {"$in": states}
    if not query.service_codes:
        filters = [base]
    else:
        codes = list(query.service_codes)
        # Two filters, not a top-level $or (a full scan on SecantusDB): unrouted appeals by
        # the matter the submitter chose, routed ones by their matter. In that order: an
        # appeal routed between the two queries is then found by the second, not missed by
        # both (routing only ever sets the matter).
        filters = [
            {**base, "matter": None, "matter_hint": {"$in": codes}},
            {**base, "matter": {"$in": codes}},
        ]
    found: dict[str, dict[str, Any]] = {}
    for where in filters:
        cursor = (
            collection.find(where, _REQUEST_FIELDS)
            .sort([("received_at", DESCENDING)])
            .limit(MAX_RESULTS)
        )
        async for doc in cursor:
            found[doc["_id"]] = doc
    return newest_first(found.values())


@open311_router.get("/requests.{fmt}", summary="GET service requests: appeals, filtered")
async def get_requests(
    fmt: str,
    context: ContextDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    """Appeals newest first, at most 1000. ``service_request_id`` (comma list) overrides the
    other filters; ``start_date``/``end_date`` (ISO 8601) span at most 90 days and default
    to the last 90; ``status`` is open, closed or both; ``service_code`` a comma list."""
    fmt = _check_format(fmt)
    query = parse_request_query(
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
        now=datetime.now(UTC),
    )
    docs = await find_requests(context.store, query)
    return _render(fmt, "service_requests", [service_request(d, context.city) for d in docs])


@open311_router.get(
    "/requests/{service_request_id}.{fmt}", summary="GET service request: one appeal"
)
async def get_request(service_request_id: str, fmt: str, context: ContextDep) -> Response:
    """One appeal by its tracking number (a list of one, as the spec has it)."""
    fmt = _check_format(fmt)
    doc = await context.store.appeals.find_one({"tracking_no": service_request_id}, _REQUEST_FIELDS)
    if doc is None:
        raise Open311Problem(404, f"no service request {service_request_id!r}")
    return _render(fmt, "service_requests", [service_request(doc, context.city)])


@open311_router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
async def get_token(token: str, fmt: str, context: ContextDep) -> Response:
    """The tracking number of the appeal a POST's token (the appeal id) names."""
    fmt = _check_format(fmt)
    doc = await context.store.appeals.find_one({"_id": token}, {"tracking_no": 1})
    if doc is None:
        raise Open311Problem(404, f"no service request for token {token!r}")
    return _render(fmt, "service_requests", [token_answer(token, doc["tracking_no"])])
