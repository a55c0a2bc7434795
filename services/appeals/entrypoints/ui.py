"""The staff web UI and the resident's status page: server-rendered HTML (Jinja2) + small JS.

Pages (all under the appeals service, beside the JSON API)::

    GET  /                      to the caller's desk (or /login)
    GET  /login  POST /login    staff login form (sets the same session cookie as the API)
    POST /logout
    GET  /operator              hotline call intake (operator, dispatcher); POST records the call
    GET  /queue                 a unit's work queues (new / in progress / waiting / due soon /
                                overdue / co-handling), with deadline countdowns
    GET  /coordinator           a street's coordinator view (综合管理权): returns, extensions,
                                comprehensive matters ...
    GET  /triage                a district dispatch centre's triage queue and extensions
    GET  /appeals/{id}          one appeal: details, map, full history, notes, actions
    POST /appeals/{id}/do/{command}   one lifecycle command from a form (then back to ``next``)
    GET  /status  POST /status  the resident's look-up by tracking number + token; POST
    POST /status/review         the satisfaction callback form
    GET  /ui/events             server-sent events: appeals in the caller's scope that changed
    GET  /ui/suggest/matters|addresses, /ui/duplicates   JSON for the operator console
    GET  /{queue,coordinator,triage}/panel   the live part of a desk (refreshed by the JS)

Rules kept here:

- Scope: every list and page goes through ``access`` (``can_read``, the queue plans' own
  scope checks); an appeal outside one's scope is "not found".
- Buttons: the actions shown are the commands ``lifecycle.decide`` would accept from this
  person on this appeal now — a dry run of the real decision with placeholder parameters
  (a 422 about a placeholder still means "allowed"), so the UI cannot drift from the table.
- Forms post to the same service layer as the JSON API, with the body models of
  ``staff_api.COMMANDS`` (identical validation) and the version shown as If-Match.
- CSRF: the session cookie is SameSite=Lax; on top of that every state-changing form carries
  a token. Logged in, it is an HMAC of the session token (a secret the page cannot read,
  HttpOnly, so another site cannot compute it); before login (login form, resident page) it
  is a double-submit cookie. A POST with a foreign ``Origin`` is refused outright.
- Escaping: Jinja2 autoescape is on for every template; the JS inserts text with
  ``textContent`` only.
- Live updates (``/ui/events``): one MongoDB change stream per process (``AppealFeed``,
  started with the first listener, stopped with the last) fanned out to the open connections,
  each filtered by the listener's ``can_read``. A reconnecting browser re-fetches its panel,
  so nothing missed while away stays missing. Documented in docs/ui.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import jinja2
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError
from sse_starlette.sse import EventSourceResponse

from services.appeals.adapters.accounts import AccountLocked, InvalidCredentials, StaffAccount
from services.appeals.adapters.documents import appeal_from_doc
from services.appeals.bootstrap import AppealsContext
from services.appeals.domain import lifecycle as lc
from services.appeals.domain import queues as q
from services.appeals.domain.access import can_read, read_scope
from services.appeals.domain.appeal import Appeal
from services.appeals.domain.intake import HotlineAppealCreate
from services.appeals.domain.ui_text import LANGUAGES, language, text
from services.appeals.entrypoints import resident_api
from services.appeals.entrypoints.auth import SESSION_COOKIE
from services.appeals.entrypoints.staff_api import COMMANDS
from services.appeals.service_layer.commands import AppealNotFound, StaleVersion, execute
from services.appeals.service_layer.duplicates import MasterNotFound, merge_into_master
from services.appeals.service_layer.intake import UnknownMatter, submit_appeal
from shared.city import City

__all__ = ["AppealFeed", "available_actions", "mount_ui", "ui_router"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"

LANG_COOKIE = "appeals_lang"
FLASH_COOKIE = "appeals_flash"
PRE_CSRF_COOKIE = "appeals_csrf"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
LIST_SIZE = 50

ui_router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    # Every template escapes: appeal texts, notes and names are the public's words.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def mount_ui(app: FastAPI) -> None:
    """Serve the UI's pages and its static files on ``app``."""
    app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


# ---------------------------------------------------------------------------- formatting


def _local(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:  # stored datetimes are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


_env.filters["local"] = _local
_env.filters["iso"] = _iso


# ---------------------------------------------------------------------------- context


def _context(request: Request) -> AppealsContext:
    context: AppealsContext = request.app.state.context
    return context


def _lang(request: Request, account: StaffAccount | None = None) -> str:
    return language(
        request.query_params.get("lang") or request.cookies.get(LANG_COOKIE),
        account.language if account else None,
    )


def _session_csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"appeals-ui-csrf", hashlib.sha256).hexdigest()


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


async def _account(request: Request) -> StaffAccount | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await _context(request).accounts.account_for_token(token)


async def _require_account(request: Request) -> StaffAccount:
    account = await _account(request)
    if account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": "/login?" + urlencode({"next": target})})
    return account


def _safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, ``//x``) becomes ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise HTTPException(403, detail="cross-origin form post refused")


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    values: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        values[key] = items if key in _LIST_FIELDS else (items[0] if items else "")
    return values


_LIST_FIELDS = {"co_handlers"}


async def _check_session_csrf(request: Request, form: Mapping[str, Any]) -> None:
    _check_origin(request)
    token = request.cookies.get(SESSION_COOKIE) or ""
    presented = str(form.get("csrf") or "")
    if not token or not hmac.compare_digest(presented, _session_csrf(token)):
        raise HTTPException(403, detail="missing or invalid CSRF token; reload the page")


def _check_pre_csrf(request: Request, form: Mapping[str, Any]) -> bool:
    _check_origin(request)
    cookie = request.cookies.get(PRE_CSRF_COOKIE) or ""
    presented = str(form.get("csrf") or "")
    return bool(cookie) and hmac.compare_digest(presented, cookie)


def _set_pre_csrf(response: Response, value: str, request: Request) -> None:
    response.set_cookie(
        PRE_CSRF_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def _flash(response: Response, kind: str, message: str) -> None:
    response.set_cookie(
        FLASH_COOKIE,
        json.dumps({"kind": kind, "message": message[:500]}, ensure_ascii=True),
        max_age=60,
        httponly=True,
        samesite="lax",
        path="/",
    )


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {"kind": str(value.get("kind", "info")), "message": str(value.get("message", ""))}


@dataclass(frozen=True)
class NavItem:
    """One entry of the page header's menu."""

    path: str
    key: str


def _nav(staff: lc.Staff) -> list[NavItem]:
    role = staff.role
    items: list[NavItem] = []
    if role in ("operator", "dispatcher"):
        items.append(NavItem("/operator", "nav.operator"))
    if role == "unit_staff" or (role == "viewer" and staff.unit):
        items.append(NavItem("/queue", "nav.queue"))
    if role == "coordinator" or (role == "viewer" and staff.street and not staff.unit):
        items.append(NavItem("/queue", "nav.queue"))
        items.append(NavItem("/coordinator", "nav.coordinator"))
    if role in ("dispatcher", "district_admin") or (
        role == "viewer" and staff.district and not staff.street
    ):
        items.append(NavItem("/coordinator", "nav.coordinator"))
        items.append(NavItem("/triage", "nav.triage"))
    items.append(NavItem("/status", "nav.status"))
    return items


def _home(staff: lc.Staff) -> str:
    role = staff.role
    if role == "operator":
        return "/operator"
    if role == "unit_staff":
        return "/queue"
    if role == "coordinator":
        return "/coordinator"
    if role in ("dispatcher", "district_admin"):
        return "/triage"
    scope = read_scope(staff)
    return {"unit": "/queue", "street": "/coordinator", "district": "/triage"}.get(
        scope.level, "/operator"
    )


def _lang_links(request: Request, lang: str) -> dict[str, str]:
    links = {}
    for code in LANGUAGES:
        params = dict(request.query_params)
        params["lang"] = code
        links[code] = request.url.path + "?" + urlencode(params)
    return links


def _render(
    request: Request,
    name: str,
    values: Mapping[str, Any],
    *,
    account: StaffAccount | None = None,
    status_code: int = 200,
    lang: str | None = None,
) -> HTMLResponse:
    lang = lang or _lang(request, account)
    context = _context(request)
    staff = account.as_staff() if account else None
    flash = _read_flash(request)
    page: dict[str, Any] = {
        "lang": lang,
        "t": lambda key: text(key, lang),
        "account": account,
        "staff": staff,
        "nav": _nav(staff) if staff else [],
        "csrf": _session_csrf(request.cookies.get(SESSION_COOKIE, "")) if account else "",
        "flash": flash,
        "path": request.url.path,
        "lang_links": _lang_links(request, lang),
        "unit_name": context.city.unit_name,
        "matter_name": lambda code: _matter_name(context.city, code),
        "due_soon_minutes": context.settings.due_soon_minutes,
        **values,
    }
    response = templates.TemplateResponse(request, name, page, status_code=status_code)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    explicit = request.query_params.get("lang")
    if explicit in LANGUAGES:
        response.set_cookie(LANG_COOKIE, explicit, max_age=365 * 86400, samesite="lax", path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def _matter_name(city: City, code: str | None) -> str:
    if not code:
        return "—"
    matter = city.catalog.get(code)
    return matter.name if matter else code


# ---------------------------------------------------------------------------- actions


def _probe(path: str, staff: lc.Staff) -> lc.Command:
    """A placeholder command of ``path``: enough for ``decide`` to answer may-I."""
    level: Literal["street", "district"] = "street" if staff.role == "coordinator" else "district"
    probes: dict[str, lc.Command] = {
        "sign": lc.Sign(),
        "respond": lc.Respond(message=""),
        "return": lc.Return(reason="?"),
        "extension-request": lc.RequestExtension(reason="?", workdays=1),
        "extension-approve": lc.ApproveExtension(),
        "extension-reject": lc.RejectExtension(reason="?"),
        "pause": lc.Pause(reason="?"),
        "resume": lc.Resume(),
        "resolve": lc.Resolve(result="?"),
        "review": lc.Review(satisfaction="satisfied", solved=True),
        "reopen": lc.Reopen(),
        "close": lc.Close(),
        "reassign": lc.Reassign(unit="?"),
        "dispatch": lc.Dispatch(unit="?", matter="?"),
        "supervise": lc.Supervise(level=level, note="?"),
        "supervision-ack": lc.AcknowledgeSupervision(),
        "notes": lc.AddNote(text="?"),
        "merge": lc.Merge(master_id="?"),
    }
    return probes[path]


# The order buttons appear in: the next step of the work first.
ACTION_ORDER = (
    "sign",
    "respond",
    "resolve",
    "dispatch",
    "reassign",
    "extension-approve",
    "extension-reject",
    "supervision-ack",
    "resume",
    "return",
    "extension-request",
    "pause",
    "supervise",
    "review",
    "reopen",
    "close",
    "merge",
    "notes",
)


def available_actions(
    appeal: Appeal, staff: lc.Staff, *, city: City, calendar: Any, now: datetime
) -> list[str]:
    """The commands (staff API paths) ``lifecycle.decide`` would accept from ``staff`` now."""
    allowed = []
    for path in ACTION_ORDER:
        try:
            lc.decide(appeal, _probe(path, staff), staff, now, city=city, calendar=calendar)
        except lc.CommandRefused as refused:
            if refused.status != 422:  # 422: only the placeholder parameters were wrong
                continue
        allowed.append(path)
    return allowed


def _appeal_of(doc: Mapping[str, Any]) -> Appeal | None:
    # Queue lists project ``unit`` (the lead unit's indexed copy) rather than ``lead_unit``.
    values = {**doc}
    values.setdefault("lead_unit", doc.get("unit"))
    try:
        return appeal_from_doc(values)
    except ValidationError:
        log.warning("appeal document does not validate", extra={"appeal_id": doc.get("_id")})
        return None


def _actions_for(doc: Mapping[str, Any], staff: lc.Staff, context: AppealsContext) -> list[str]:
    appeal = _appeal_of(doc)
    if appeal is None:
        return []
    return available_actions(
        appeal, staff, city=context.city, calendar=context.calendar, now=datetime.now(UTC)
    )


# ---------------------------------------------------------------------------- login


@ui_router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    """The caller's desk, or the login page."""
    account = await _account(request)
    if account is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(_home(account.as_staff()), status_code=303)


@ui_router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form."""
    csrf = secrets.token_urlsafe(24)
    response = _render(
        request, "login.html", {"next": _safe_next(next, ""), "error": None, "form_csrf": csrf}
    )
    _set_pre_csrf(response, csrf, request)
    return response


@ui_router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request) -> Response:
    """Check the credentials, open a session, set the cookie, go to the desk (or ``next``)."""
    form = await _form(request)
    lang = _lang(request)
    error: str | None = None
    if not _check_pre_csrf(request, form):
        error = text("csrf.invalid", lang)
    else:
        accounts = _context(request).accounts
        username = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))[:256]
        try:
            account = await accounts.authenticate(username, password)
        except InvalidCredentials:
            error = text("login.invalid", lang)
        except AccountLocked:
            error = text("login.locked", lang)
        else:
            session = await accounts.open_session(account)
            target = _safe_next(form.get("next"), _home(account.as_staff()))
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                session.token,
                max_age=int(accounts.session_lifetime.total_seconds()),
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
                path="/",
            )
            response.delete_cookie(PRE_CSRF_COOKIE, path="/")
            return response
    csrf = secrets.token_urlsafe(24)
    page = _render(
        request,
        "login.html",
        {
            "next": _safe_next(form.get("next"), ""),
            "error": error,
            "form_csrf": csrf,
            "username": str(form.get("username", ""))[:64],
        },
        status_code=401 if error != text("csrf.invalid", lang) else 403,
    )
    _set_pre_csrf(page, csrf, request)
    return page


@ui_router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session and clear the cookie."""
    form = await _form(request)
    await _check_session_csrf(request, form)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await _context(request).accounts.close_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


# ---------------------------------------------------------------------------- operator


def _error_page(request: Request, account: StaffAccount | None, status_code: int) -> HTMLResponse:
    key = "error.forbidden" if status_code == 403 else "error.not_found"
    return _render(
        request, "error.html", {"message_key": key}, account=account, status_code=status_code
    )


def _require_role(account: StaffAccount, *roles: str) -> None:
    if account.role not in roles:
        raise HTTPException(403, detail=f"this page needs the role {' or '.join(roles)}")


def _matters(city: City) -> list[dict[str, str]]:
    return [{"code": m.code, "name": m.name, "urgency": m.urgency} for m in city.catalog.matters]


@ui_router.get("/operator", response_class=HTMLResponse)
async def operator_console(request: Request) -> Response:
    """The hotline intake form: keyboard first, suggestions as the operator types."""
    account = await _require_account(request)
    if account.role not in ("operator", "dispatcher"):
        return _error_page(request, account, 403)
    return _operator_form(request, account, {}, [])


def _operator_form(
    request: Request,
    account: StaffAccount,
    values: Mapping[str, Any],
    errors: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    return _render(
        request,
        "operator.html",
        {
            "values": values,
            "errors": errors,
            "call_id": values.get("call_id") or uuid.uuid4().hex,
            "matters": _matters(_context(request).city),
        },
        account=account,
        status_code=status_code,
    )


@ui_router.post("/operator", response_class=HTMLResponse)
async def operator_submit(request: Request) -> Response:
    """Record the call (the hotline intake) and show the tracking number and token to read back.

    The form's call id is the idempotency key: submitting the same form twice (a double press,
    a reload) records one appeal.
    """
    account = await _require_account(request)
    _require_role(account, "operator", "dispatcher")
    form = await _form(request)
    await _check_session_csrf(request, form)
    context = _context(request)
    lang = _lang(request, account)

    def field(name: str) -> str | None:
        value = str(form.get(name, "")).strip()
        return value or None

    errors: list[str] = []
    if not field("text"):
        errors.append(text("op.need_text", lang))
    if not field("address"):
        errors.append(text("op.need_where", lang))
    submission: HotlineAppealCreate | None = None
    if not errors:
        contact: dict[str, Any] = {}
        if field("name"):
            contact["name"] = field("name")
        if field("caller_phone"):
            contact["phone"] = field("caller_phone")
        contact["language"] = "en" if form.get("caller_language") == "en" else "zh-CN"
        try:
            submission = HotlineAppealCreate(
                text=field("text") or "",
                address=field("address"),
                matter=field("matter"),
                contact=contact or None,
                call_id=field("call_id") or uuid.uuid4().hex,
                operator_id=account.username,
                caller_phone=field("caller_phone"),
            )
        except ValidationError as exc:
            errors += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if submission is None:
        return _operator_form(request, account, form, errors, status_code=422)
    try:
        doc, token, created = await submit_appeal(
            submission,
            store=context.store,
            city=context.city,
            channel="hotline",
            actor=account.as_staff().as_actor(),
            idempotency_key=f"call:{submission.call_id}",
            tracking_prefix=context.settings.tracking_prefix,
        )
    except UnknownMatter as exc:
        return _operator_form(request, account, form, [str(exc)], status_code=422)
    except PyMongoError as exc:
        log.error("operator intake: database unavailable: %s", exc)
        return _operator_form(request, account, form, [text("error.title", lang)], 503)
    if created:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.accepted.labels("hotline").inc()
        context.relay.wake()
    return _render(
        request,
        "operator_done.html",
        {
            "appeal_id": doc["_id"],
            "tracking_no": doc["tracking_no"],
            "token": token,
            "replayed": not created,
            "text": doc.get("text", ""),
            "address": doc.get("address"),
        },
        account=account,
        status_code=201 if created else 200,
    )


async def _routing_get(request: Request, path: str, params: dict[str, str]) -> Any | None:
    """GET from the routing service; None when it is away or slow (the UI degrades)."""
    settings = _context(request).settings
    client: httpx.AsyncClient | None = getattr(request.app.state, "ui_routing_client", None)
    if client is None:
        client = httpx.AsyncClient(
            base_url=settings.routing_url.rstrip("/"),
            timeout=settings.routing_timeout_seconds,
        )
        request.app.state.ui_routing_client = client
    try:
        response = await client.get(path, params=params)
    except httpx.HTTPError as exc:
        log.warning("routing suggestions unavailable: %s", exc)
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


@ui_router.get("/ui/suggest/matters")
async def suggest_matters(request: Request, text: str = "") -> JSONResponse:
    """Matter suggestions for the text typed so far (proxied from the routing service)."""
    account = await _require_account(request)
    _require_role(account, "operator", "dispatcher")
    text = text.strip()[:2000]
    if not text:
        return JSONResponse({"available": True, "items": []})
    found = await _routing_get(request, "/api/v1/suggest/matters", {"text": text})
    if not isinstance(found, list):
        return JSONResponse({"available": False, "items": []})
    city = _context(request).city
    items = [
        {
            "matter": str(i.get("matter")),
            "name": _matter_name(city, str(i.get("matter"))),
            "score": i.get("score"),
        }
        for i in found
        if isinstance(i, dict) and city.catalog.get(str(i.get("matter"))) is not None
    ]
    return JSONResponse({"available": True, "items": items})


@ui_router.get("/ui/suggest/addresses")
async def suggest_addresses(request: Request, q: str = "") -> JSONResponse:
    """Address completion for the prefix typed so far (proxied from the routing service)."""
    account = await _require_account(request)
    _require_role(account, "operator", "dispatcher")
    prefix = q.strip()[:100]
    if not prefix:
        return JSONResponse({"available": True, "items": []})
    found = await _routing_get(request, "/api/v1/suggest/addresses", {"q": prefix})
    if not isinstance(found, list):
        return JSONResponse({"available": False, "items": []})
    items = [
        {"label": str(i.get("label")), "street": i.get("street"), "community": i.get("community")}
        for i in found
        if isinstance(i, dict) and i.get("label")
    ]
    return JSONResponse({"available": True, "items": items})


def _normal_address(value: str | None) -> str:
    return "".join((value or "").split()).lower()


def _family(code: str) -> str:
    return code.split(".", 1)[0]


@ui_router.get("/ui/duplicates")
async def duplicates(request: Request, address: str = "", matter: str = "") -> JSONResponse:
    """Open appeals at the same address about a similar matter in the last N hours.

    "Similar" is the same matter family (the code's first part: ``road.*``); N is the
    duplicate window of the settings. One indexed query (``matter`` ``$in`` + ``received_at``
    range); the address is compared after normalising spaces and case.
    """
    account = await _require_account(request)
    _require_role(account, "operator", "dispatcher")
    context = _context(request)
    wanted = _normal_address(address[:200])
    matter = matter.strip()[:64]
    if not wanted or not matter or context.city.catalog.get(matter) is None:
        return JSONResponse({"items": []})
    family = [m.code for m in context.city.catalog.matters if _family(m.code) == _family(matter)]
    since = datetime.now(UTC) - timedelta(hours=context.settings.duplicate_window_hours)
    cursor = context.store.appeals.find(
        {"matter": {"$in": family}, "received_at": {"$gte": since}},
        {
            "tracking_no": 1,
            "address": 1,
            "matter": 1,
            "state": 1,
            "is_open": 1,
            "text": 1,
            "received_at": 1,
            "street": 1,
            "district": 1,
            "unit": 1,
            "co_handlers": 1,
        },
        limit=500,
    )
    staff = account.as_staff()
    items = [
        {
            "id": doc["_id"],
            "tracking_no": doc.get("tracking_no"),
            "matter": _matter_name(context.city, doc.get("matter")),
            "state": text(f"state.{doc.get('state')}", _lang(request, account)),
            "text": q.mask_text(str(doc.get("text") or ""))[:80],
            "received_at": _local(doc.get("received_at")),
        }
        async for doc in cursor
        if doc.get("is_open")
        and _normal_address(doc.get("address")) == wanted
        and can_read(staff, doc)
    ]
    return JSONResponse({"items": items[:10]})


# ---------------------------------------------------------------------------- desks


@dataclass(frozen=True)
class DeskSpec:
    """One kind of work desk: a unit's queues, a street's view or a district's."""

    kind: Literal["unit", "street", "district"]
    path: str
    sections: tuple[str, ...]
    title: str
    label_prefix: str


DESKS: dict[str, DeskSpec] = {
    "unit": DeskSpec("unit", "/queue", q.UNIT_QUEUES, "queue.title", "queue."),
    "street": DeskSpec("street", "/coordinator", q.STREET_SECTIONS, "street.title", "street."),
    "district": DeskSpec("district", "/triage", q.DISTRICT_SECTIONS, "district.title", "district."),
}


def _desk_code(spec: DeskSpec, staff: lc.Staff, requested: str | None) -> str | None:
    if requested:
        return requested
    if spec.kind == "unit":
        return staff.unit
    if spec.kind == "street":
        return staff.street
    return staff.district


def _desk_choices(spec: DeskSpec, staff: lc.Staff, city: City) -> list[tuple[str, str]]:
    """Codes of this kind of desk within the caller's scope, for the desk picker."""
    scope = read_scope(staff)
    if spec.kind == "district":
        districts = list(city.districts.values())
        return [
            (d.code, d.name)
            for d in districts
            if scope.level == "city" or (scope.level == "district" and d.code == scope.code)
        ]
    if spec.kind == "street":
        return [
            (code, street.name)
            for code, (district, street) in city.streets.items()
            if scope.level == "city"
            or (scope.level == "district" and district.code == scope.code)
            or (scope.level == "street" and code == scope.code)
        ]
    return [
        (code, unit.name)
        for code, (district, street, unit) in city.units.items()
        if scope.level == "city"
        or (scope.level == "district" and district.code == scope.code)
        or (scope.level == "street" and street is not None and street.code == scope.code)
        or (scope.level == "unit" and code == scope.code)
    ]


def _plan(
    spec: DeskSpec, section: str, code: str, staff: lc.Staff, context: AppealsContext
) -> q.QueuePlan:
    now = datetime.now(UTC)
    soon = context.settings.due_soon_minutes
    if spec.kind == "unit":
        return q.unit_plan(
            cast(q.UnitQueue, section), code, staff, context.city, now=now, due_soon_minutes=soon
        )
    if spec.kind == "street":
        return q.street_plan(
            cast(q.StreetSection, section),
            code,
            staff,
            context.city,
            now=now,
            due_soon_minutes=soon,
        )
    return q.district_plan(cast(q.DistrictSection, section), code, staff, context.city)


async def _desk_panel(
    request: Request, spec: DeskSpec, account: StaffAccount
) -> dict[str, Any] | None:
    """What the live part of a desk shows: section counts and the current section's rows."""
    context = _context(request)
    staff = account.as_staff()
    code = _desk_code(spec, staff, request.query_params.get("code"))
    section = request.query_params.get("tab") or spec.sections[0]
    if section not in spec.sections:
        raise HTTPException(404, detail=f"no section {section}")
    if not code:
        return None
    try:
        counts = {
            s: await context.queues.count(_plan(spec, s, code, staff, context))
            for s in spec.sections
        }
        plan = _plan(spec, section, code, staff, context)
    except q.QueueForbidden:
        raise HTTPException(403, detail="outside your scope") from None
    found = await context.queues.page(
        plan, sort="due", order="asc", page=1, size=LIST_SIZE, with_events=section == "triage"
    )
    now = datetime.now(UTC)
    rows = []
    for doc in q.readable(staff, found.docs):
        item = q.queue_item(doc, context.city, now)
        rows.append({"item": item, "actions": _actions_for(doc, staff, context)})
    return {
        "spec": spec,
        "code": code,
        "section": section,
        "counts": counts,
        "rows": rows,
        "total": found.total,
        "units": _units_for(staff, context.city, code if spec.kind == "street" else None),
        "matters": _matters(context.city) if spec.kind != "unit" else [],
        "panel_url": f"{spec.path}/panel?" + urlencode({"code": code, "tab": section}),
        "here": f"{spec.path}?" + urlencode({"code": code, "tab": section}),
    }


def _units_for(staff: lc.Staff, city: City, street: str | None) -> list[tuple[str, str]]:
    """Units the caller may hand work to: its street's (coordinator) or its district's."""
    if staff.role == "coordinator" or street is not None:
        code = staff.street if staff.role == "coordinator" else street
        if code in city.streets:
            return [(u.code, u.name) for u in city.streets[code][1].units]
        return []
    if staff.district and staff.district in city.districts:
        district = city.districts[staff.district]
        units = [(d.code, d.name) for d in district.departments]
        for street_ in district.streets:
            units += [(u.code, u.name) for u in street_.units]
        return units
    return []


def _desk_route(kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    spec = DESKS[kind]

    async def page(request: Request) -> Response:
        account = await _require_account(request)
        staff = account.as_staff()
        try:
            panel = await _desk_panel(request, spec, account)
        except HTTPException as exc:
            return _error_page(request, account, exc.status_code)
        return _render(
            request,
            "desk.html",
            {
                "spec": spec,
                "panel": panel,
                "choices": _desk_choices(spec, staff, _context(request).city),
                "current": panel["code"] if panel else None,
            },
            account=account,
        )

    async def fragment(request: Request) -> Response:
        account = await _require_account(request)
        panel = await _desk_panel(request, spec, account)
        return _render(request, "_panel.html", {"panel": panel}, account=account)

    page.__name__ = f"{kind}_desk"
    page.__doc__ = f"The {kind} desk ({spec.path})."
    fragment.__name__ = f"{kind}_desk_panel"
    fragment.__doc__ = f"The live part of the {kind} desk, for the page's refresh."
    return page, fragment


for _kind, _spec in DESKS.items():
    _page, _fragment = _desk_route(_kind)
    ui_router.add_api_route(_spec.path, _page, methods=["GET"], response_class=HTMLResponse)
    ui_router.add_api_route(
        f"{_spec.path}/panel", _fragment, methods=["GET"], response_class=HTMLResponse
    )


# ---------------------------------------------------------------------------- appeal page


def _event_details(event: Mapping[str, Any], city: City) -> list[tuple[str, Any]]:
    """The event's data worth showing, as (label, value) pairs."""
    data = event.get("data") or {}
    shown: list[tuple[str, Any]] = []
    for key in (
        "text",
        "address",
        "matter",
        "lead_unit",
        "co_handlers",
        "by",
        "to",
        "dispatch_center",
        "reason",
        "returned_by",
        "workdays",
        "message",
        "result",
        "solved",
        "satisfaction",
        "comment",
        "level",
        "note",
        "deadline",
        "master_id",
        "internal",
        "confidence",
        "reasons",
    ):
        value = data.get(key)
        if value in (None, "", [], {}):
            continue
        if key == "text" and event.get("type") == "appeal.received":
            continue  # the appeal's text is at the top of the page
        if key in ("lead_unit", "returned_by", "dispatch_center"):
            value = city.unit_name(str(value)) or value
        elif key == "matter":
            value = _matter_name(city, str(value))
        elif key == "co_handlers":
            value = "、".join(city.unit_name(str(u)) or str(u) for u in value)
        elif key == "reasons":
            value = "；".join(str(r) for r in value)
        # Booleans stay booleans: the template says yes/no in the page's language.
        shown.append((key, value if isinstance(value, bool) else str(value)))
    return shown


def _map_view(doc: Mapping[str, Any], city: City) -> dict[str, Any] | None:
    """An inline SVG of the community's boundary with the appeal's point (no map tiles)."""
    location = doc.get("location") or None
    point = (float(location["lon"]), float(location["lat"])) if location else None
    community = city.communities.get(str(doc.get("community"))) if doc.get("community") else None
    ring = list(community[2].boundary) if community else []
    if not ring and point is None:
        return None
    xs = [p[0] for p in ring] + ([point[0]] if point else [])
    ys = [p[1] for p in ring] + ([point[1]] if point else [])
    width, height, pad = 320.0, 220.0, 16.0
    span_x = max(max(xs) - min(xs), 1e-4)
    span_y = max(max(ys) - min(ys), 1e-4)
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)

    def project(lon: float, lat: float) -> tuple[float, float]:
        # North up: latitude grows upwards, SVG y downwards.
        return (
            round(pad + (lon - min(xs)) * scale, 1),
            round(height - pad - (lat - min(ys)) * scale, 1),
        )

    return {
        "width": int(width),
        "height": int(height),
        "polygon": " ".join(f"{x},{y}" for x, y in (project(*p) for p in ring)),
        "point": project(*point) if point else None,
        "coords": f"{point[0]:.5f}, {point[1]:.5f}" if point else None,
        "community": community[2].name if community else None,
    }


@ui_router.get("/appeals/{appeal_id}", response_class=HTMLResponse)
async def appeal_page(appeal_id: str, request: Request) -> Response:
    """One appeal: details, deadlines, map, the full history, notes and the actions open now."""
    account = await _require_account(request)
    context = _context(request)
    staff = account.as_staff()
    doc = await context.store.get(appeal_id[:64])
    if doc is None or not can_read(staff, doc):
        return _error_page(request, account, 404)
    city = context.city
    history = [
        {
            "type": e.get("type"),
            "at": e.get("occurred_at"),
            "actor": e.get("actor") or {},
            "unit": e.get("unit"),
            "details": _event_details(e, city),
        }
        for e in doc.get("events") or []
    ]
    routing = doc.get("routing_suggestion") if doc.get("state") == "returned" else None
    triage = q.queue_item(doc, city, datetime.now(UTC)).get("triage")
    return _render(
        request,
        "appeal.html",
        {
            "doc": doc,
            "history": history,
            "notes": doc.get("notes") or [],
            "map": _map_view(doc, city),
            "actions": _actions_for(doc, staff, context),
            "units": _units_for(staff, city, None),
            "matters": _matters(city),
            "suggestion": routing,
            "triage": triage,
            "community_name": city.communities[doc["community"]][2].name
            if doc.get("community") in city.communities
            else None,
            "street_name": city.streets[doc["street"]][1].name
            if doc.get("street") in city.streets
            else None,
            "here": f"/appeals/{doc['_id']}",
            # Only the deadline the appeal must meet next counts down; earlier ones are met.
            "stage_deadline": q.STAGE_DEADLINE.get(str(doc.get("state")), "").partition(".")[2],
        },
        account=account,
    )


_DONE_KEYS = {path: f"act.{path.replace('-', '_')}" for path in ACTION_ORDER}
_DONE_KEYS["notes"] = "act.note"


@ui_router.post("/appeals/{appeal_id}/do/{command}")
async def appeal_command(appeal_id: str, command: str, request: Request) -> Response:
    """Run one lifecycle command from a form, then go back to ``next`` with a message."""
    account = await _require_account(request)
    form = await _form(request)
    await _check_session_csrf(request, form)
    context = _context(request)
    lang = _lang(request, account)
    back = _safe_next(form.pop("next", None), f"/appeals/{appeal_id}")
    if command not in COMMANDS:
        raise HTTPException(404, detail=f"no command {command}")
    version_text = str(form.pop("version", "")).strip()
    expected = int(version_text) if version_text.isdigit() else None
    form.pop("csrf", None)
    body_model, build = COMMANDS[command]
    fields = {k: v for k, v in form.items() if k in body_model.model_fields}
    if "co_handlers" in fields:
        fields["co_handlers"] = [c.strip() for c in fields["co_handlers"] if c.strip()]
    for optional in ("matter", "community", "workdays"):
        if fields.get(optional) == "":
            fields.pop(optional)
    response = RedirectResponse(back, status_code=303)
    try:
        body = body_model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _flash(response, "error", text("act.refused", lang) + problems)
        return response
    staff = account.as_staff()
    try:
        if command == "merge":
            result = await merge_into_master(
                appeal_id,
                str(fields.get("master_id", "")),
                staff,
                store=context.store,
                city=context.city,
                calendar=context.calendar,
                expected_version=expected,
            )
        else:
            result = await execute(
                appeal_id,
                build(body),
                staff,
                store=context.store,
                city=context.city,
                calendar=context.calendar,
                expected_version=expected,
            )
    except (AppealNotFound, MasterNotFound):
        _flash(response, "error", text("error.not_found", lang))
        return response
    except StaleVersion:
        _flash(response, "error", text("act.stale", lang))
        return response
    except lc.CommandRefused as exc:
        _flash(response, "error", text("act.refused", lang) + exc.reason)
        return response
    if result.events:
        context.relay.wake()
    label = text(_DONE_KEYS.get(command, command), lang)
    _flash(response, "ok", f"{text('act.done', lang)}{label} · {result.appeal.tracking_no}")
    return response


# ---------------------------------------------------------------------------- resident


def _status_page(
    request: Request,
    values: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    response = _render(
        request, "status.html", {"form_csrf": csrf, **values}, status_code=status_code
    )
    _set_pre_csrf(response, csrf, request)
    return response


@ui_router.get("/status", response_class=HTMLResponse)
async def status_form(request: Request) -> Response:
    """The resident's look-up form (tracking number + the password given at intake)."""
    return _status_page(
        request,
        {"view": None, "error": None, "tracking_no": request.query_params.get("tracking_no", "")},
    )


async def _lookup(
    request: Request, tracking_no: str, token: str
) -> tuple[resident_api.StatusView | None, str | None, int]:
    lang = _lang(request)
    try:
        view = await resident_api.appeal_status(tracking_no, request, token=token)
    except HTTPException as exc:
        key = "status.rate_limited" if exc.status_code == 429 else "status.not_found"
        return None, text(key, lang), exc.status_code
    return view, None, 200


@ui_router.post("/status", response_class=HTMLResponse)
async def status_lookup(request: Request) -> Response:
    """Show the appeal's public record (the token is posted, never put in a URL)."""
    form = await _form(request)
    tracking_no = str(form.get("tracking_no", "")).strip()[:40]
    token = str(form.get("token", "")).strip()[:200]
    if not _check_pre_csrf(request, form):
        return _status_page(
            request,
            {
                "view": None,
                "error": text("csrf.invalid", _lang(request)),
                "tracking_no": tracking_no,
            },
            status_code=403,
        )
    view, error, status_code = await _lookup(request, tracking_no, token)
    return _status_page(
        request,
        {
            "view": view,
            "error": error,
            "tracking_no": tracking_no,
            "token": token,
            "reviewed": False,
        },
        status_code=status_code,
    )


@ui_router.post("/status/review", response_class=HTMLResponse)
async def status_review(request: Request) -> Response:
    """The satisfaction callback (回访) from the resident's own status page."""
    form = await _form(request)
    tracking_no = str(form.get("tracking_no", "")).strip()[:40]
    token = str(form.get("token", "")).strip()[:200]
    lang = _lang(request)
    if not _check_pre_csrf(request, form):
        return _status_page(
            request,
            {"view": None, "error": text("csrf.invalid", lang), "tracking_no": tracking_no},
            status_code=403,
        )
    error: str | None = None
    try:
        body = resident_api.ReviewBody(
            satisfaction=form.get("satisfaction"),
            solved=form.get("solved") == "true",
            comment=str(form.get("comment", ""))[:2000],
        )
        await resident_api.review(tracking_no, body, request, token=token)
    except ValidationError:
        error = text("status.review_title", lang)
    except HTTPException as exc:
        error = str(exc.detail) if exc.status_code == 409 else text("status.not_found", lang)
    view, lookup_error, status_code = await _lookup(request, tracking_no, token)
    return _status_page(
        request,
        {
            "view": view,
            "error": error or lookup_error,
            "tracking_no": tracking_no,
            "token": token,
            "reviewed": error is None and view is not None,
        },
        status_code=status_code if error is None else 409,
    )


# ---------------------------------------------------------------------------- live feed

# What a listener needs to decide whether an appeal concerns them; the rest it re-fetches.
_FEED_FIELDS = (
    "_id",
    "tracking_no",
    "version",
    "state",
    "holder",
    "unit",
    "co_handlers",
    "handlers",
    "street",
    "district",
    "deadlines",
    "paused_since",
    "routing_suggestion.unit",
)
# Every lifecycle write bumps ``version``; the router's suggestion on a returned appeal and
# the duplicate flag are written beside it. The relay's own bookkeeping (outbox) is left out.
_FEED_PIPELINE: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": "insert"},
                {"updateDescription.updatedFields.version": {"$exists": True}},
                {"updateDescription.updatedFields.routing_suggestion": {"$exists": True}},
                {"updateDescription.updatedFields.suspected_duplicate_of": {"$exists": True}},
            ]
        }
    },
    {
        "$project": {
            **{f"fullDocument.{name}": 1 for name in _FEED_FIELDS},
            # "$events.type" over sub-documents is missing on SecantusDB; $map is not.
            "last_event": {
                "$arrayElemAt": [
                    {"$map": {"input": "$fullDocument.events", "in": "$$this.type"}},
                    -1,
                ]
            },
        }
    },
]


class AppealFeed:
    """Changed appeals, from one change stream per process, to every open ``/ui/events``.

    The stream starts with the first listener and stops with the last; it resumes after a
    database hiccup from its resume token (backing off up to 5 s). A listener whose queue is
    full loses its oldest items, never blocks the others: the browser refreshes its panel on
    every item anyway.
    """

    def __init__(self, appeals: AsyncCollection[dict[str, Any]], queue_size: int = 200) -> None:
        self.appeals = appeals
        self.queue_size = queue_size
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._token: Mapping[str, Any] | None = None
        self.started = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A new listener's queue (starts the stream if it is not running)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self.listeners.add(queue)
        if self._task is None or self._task.done():
            self.started.clear()
            self._task = asyncio.create_task(self._run(), name="ui-appeal-feed")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Drop a listener; the last one out stops the stream."""
        self.listeners.discard(queue)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None
            self._token = None

    def publish(self, change: dict[str, Any]) -> None:
        """Hand one changed appeal to every listener."""
        for queue in list(self.listeners):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(change)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                async with await self.appeals.watch(
                    _FEED_PIPELINE, full_document="updateLookup", resume_after=self._token
                ) as stream:
                    self.started.set()
                    backoff = 0.2
                    async for change in stream:
                        self._token = stream.resume_token
                        doc = change.get("fullDocument")
                        if doc:
                            self.publish({**doc, "last_event": change.get("last_event")})
            except asyncio.CancelledError:
                raise
            except PyMongoError as exc:
                log.warning("ui feed: change stream interrupted (%s); resuming", exc)
                self.started.set()  # listeners must not wait for a stream that is away
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def _feed(request: Request) -> AppealFeed:
    feed: AppealFeed | None = getattr(request.app.state, "ui_feed", None)
    if feed is None:
        feed = AppealFeed(_context(request).store.appeals)
        request.app.state.ui_feed = feed
    return feed


_NEW_WORK_EVENTS = {"appeal.dispatched", "appeal.triaged", "appeal.returned", "appeal.reopened"}
_WARNING_EVENTS = {"appeal.overdue", "appeal.supervised"}


def feed_message(change: Mapping[str, Any], staff: lc.Staff) -> dict[str, Any]:
    """What one listener is told about a changed appeal (``kind``: new_work, deadline, changed)."""
    last = change.get("last_event")
    holder = change.get("holder")
    if last in _NEW_WORK_EVENTS and holder is not None and holder == staff.unit:
        kind = "new_work"
    elif last in _WARNING_EVENTS:
        kind = "deadline"
    else:
        kind = "changed"
    return {
        "kind": kind,
        "id": change.get("_id"),
        "tracking_no": change.get("tracking_no"),
        "state": change.get("state"),
        "version": change.get("version"),
        "event": last,
    }


# A session may end (logout, expiry) while its stream is open: look again this often.
_SESSION_RECHECK_SECONDS = 60.0


@ui_router.get("/ui/events")
async def ui_events(request: Request) -> Response:
    """Server-sent events: ``appeal`` for every change to an appeal the caller may read."""
    account = await _account(request)
    if account is None:
        raise HTTPException(401, detail="log in first")
    staff = account.as_staff()
    feed = _feed(request)
    accounts = _context(request).accounts
    token = request.cookies.get(SESSION_COOKIE, "")

    async def events() -> AsyncIterator[dict[str, str]]:
        queue = feed.subscribe()
        try:
            # Wait (bounded) until the change stream is open, so nothing written after the
            # "ready" event can be missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.started.wait(), timeout=5)
            yield {"event": "ready", "data": json.dumps({"scope": read_scope(staff).level})}
            checked = asyncio.get_running_loop().time()
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), timeout=5)
                except TimeoutError:
                    change = None
                now = asyncio.get_running_loop().time()
                if now - checked > _SESSION_RECHECK_SECONDS:
                    checked = now
                    if await accounts.account_for_token(token) is None:
                        yield {"event": "logout", "data": "{}"}
                        return
                if change is not None and can_read(staff, change):
                    message = feed_message(change, staff)
                    yield {"event": "appeal", "data": json.dumps(message, ensure_ascii=False)}
        finally:
            feed.unsubscribe(queue)

    return EventSourceResponse(events(), ping=15, headers={"Cache-Control": "no-store"})
