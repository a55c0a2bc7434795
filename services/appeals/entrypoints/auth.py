"""Staff login over HTTP, and the dependencies every staff endpoint uses to know who calls.

Endpoints (under ``/api/v1/auth``)::

    POST /login   {username, password} -> {token, expires_at, staff}; also sets the HttpOnly,
                  SameSite=Lax cookie ``appeals_session`` for the web UI
    POST /logout  ends the caller's session and clears the cookie
    GET  /me      the caller's account

Dependencies for other routers::

    CurrentAccount   the caller's ``StaffAccount`` (401 with WWW-Authenticate if none)
    CurrentStaff     the same as a ``lifecycle.Staff``, ready for ``decide`` and ``visible_filter``
    require_roles(*roles)   a dependency returning ``Staff``; 403 naming the roles needed

A client presents the token as ``Authorization: Bearer <token>`` or through the cookie; the
header wins when both are there. SameSite=Lax keeps the cookie off cross-site POSTs, which is
what stands between the cookie and cross-site request forgery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.appeals.adapters.accounts import (
    AccountLocked,
    InvalidCredentials,
    StaffAccount,
    StaffAccounts,
)
from services.appeals.domain.access import MAX_PASSWORD_LENGTH
from services.appeals.domain.lifecycle import Role, Staff

__all__ = [
    "SESSION_COOKIE",
    "CurrentAccount",
    "CurrentStaff",
    "LoginRequest",
    "LoginResponse",
    "StaffPublic",
    "auth_router",
    "require_roles",
]

SESSION_COOKIE = "appeals_session"
_INVALID = "invalid username or password"

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    """Credentials; the bounds keep oversized input away from the password hasher."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class StaffPublic(BaseModel):
    """A staff member as the API shows them."""

    username: str
    role: Role
    name: str
    unit: str | None = None
    street: str | None = None
    district: str | None = None
    language: str

    @classmethod
    def of(cls, account: StaffAccount) -> StaffPublic:
        """From an account."""
        return cls(
            username=account.username,
            role=account.role,
            name=account.name,
            unit=account.unit,
            street=account.street,
            district=account.district,
            language=account.language,
        )


class LoginResponse(BaseModel):
    """A new session: the bearer token (shown once), its expiry and who logged in."""

    token: str
    token_type: str = "bearer"
    expires_at: datetime
    staff: StaffPublic


def _accounts(request: Request) -> StaffAccounts:
    accounts: StaffAccounts = request.app.state.context.accounts
    return accounts


AccountsDep = Annotated[StaffAccounts, Depends(_accounts)]


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="appeals"'
    if error:
        challenge += f', error="{error}"'
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": challenge})


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise _unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
    return request.cookies.get(SESSION_COOKIE) or None


async def _current_account(request: Request, accounts: AccountsDep) -> StaffAccount:
    token = _presented_token(request)
    if token is None:
        raise _unauthorized("log in first: no session token was presented")
    account = await accounts.account_for_token(token)
    if account is None:
        raise _unauthorized("the session is invalid or has expired; log in again", "invalid_token")
    return account


CurrentAccount = Annotated[StaffAccount, Depends(_current_account)]


async def _current_staff(account: CurrentAccount) -> Staff:
    return account.as_staff()


CurrentStaff = Annotated[Staff, Depends(_current_staff)]


def require_roles(*roles: Role) -> Callable[[Staff], Awaitable[Staff]]:
    """A dependency that lets only ``roles`` through and returns the caller as ``Staff``.

    Use as ``staff: Annotated[Staff, Depends(require_roles("dispatcher"))]`` or in a route's
    ``dependencies=[Depends(require_roles(...))]``.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    allowed = frozenset(roles)
    needed = " or ".join(roles)

    async def dependency(staff: CurrentStaff) -> Staff:
        if staff.role not in allowed:
            raise HTTPException(403, detail=f"this needs the role {needed}; you are {staff.role}")
        return staff

    return dependency


@auth_router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"description": _INVALID}, 429: {"description": "too many failed logins"}},
)
async def login(credentials: LoginRequest, request: Request, accounts: AccountsDep) -> Response:
    """Log in with a username and password; answers a bearer token and sets the session cookie."""
    try:
        account = await accounts.authenticate(credentials.username, credentials.password)
    except InvalidCredentials:
        raise _unauthorized(_INVALID) from None
    except AccountLocked as exc:
        return JSONResponse(
            {"detail": "too many failed logins; try again later"},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    session = await accounts.open_session(account)
    body = LoginResponse(
        token=session.token, expires_at=session.expires_at, staff=StaffPublic.of(account)
    )
    response = JSONResponse(body.model_dump(mode="json"))
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(accounts.session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        # Behind TLS the cookie must never travel in clear; plain http is local development.
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@auth_router.post("/logout", status_code=204)
async def logout(request: Request, _: CurrentAccount, accounts: AccountsDep) -> Response:
    """End the caller's session (the token presented) and clear the cookie."""
    token = _presented_token(request)
    if token:
        await accounts.close_session(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@auth_router.get("/me", response_model=StaffPublic)
async def me(account: CurrentAccount) -> StaffPublic:
    """The caller's account."""
    return StaffPublic.of(account)
