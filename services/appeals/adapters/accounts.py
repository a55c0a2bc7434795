"""Staff accounts and login sessions in MongoDB.

Collections::

    staff     _id = username; argon2id hash (argon2-cffi), role, unit/street/district (derived
              from one city code by ``access.post_for``), display name, language, active,
              failed-login counter and lockout
    sessions  _id = sha256(token); staff id, created_at, expires_at (TTL index: the database
              deletes expired sessions; reads check expires_at too, the sweep lags a minute)

A session token is 32 random bytes, URL-safe, given to the client once and stored only as its
SHA-256: a copy of the database does not let anyone log in. Looking a session up by the hash
also keeps the token out of any comparison whose timing could leak it.

Exceptions::

    AccountError            base
    ├── InvalidAccount      the account cannot be created as asked (message says why)
    ├── AccountExists       the username is taken
    ├── InvalidCredentials  unknown user, wrong password or inactive account (deliberately
    │                       one error: the caller must not learn which)
    └── AccountLocked       too many failed logins; ``retry_after`` seconds until it opens
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.appeals.domain.access import (
    InvalidPost,
    password_problems,
    post_for,
    valid_username,
)
from services.appeals.domain.lifecycle import Role, Staff
from shared.city import City

__all__ = [
    "AccountError",
    "AccountExists",
    "AccountLocked",
    "InvalidAccount",
    "InvalidCredentials",
    "Session",
    "StaffAccount",
    "StaffAccounts",
    "hash_token",
]

Doc = dict[str, Any]
LANGUAGES = ("zh-CN", "en")


class AccountError(Exception):
    """Base of the account errors."""


class InvalidAccount(AccountError):
    """An account that cannot be created or changed as asked."""


class AccountExists(AccountError):
    """The username is taken."""


class InvalidCredentials(AccountError):
    """Unknown user, wrong password or inactive account: one error, so callers cannot tell."""


class AccountLocked(AccountError):
    """Too many failed logins in a row; the account opens again after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


class StaffAccount(BaseModel):
    """A staff account as the rest of the service sees it (no hash, no counters)."""

    username: str
    role: Role
    unit: str | None = None
    street: str | None = None
    district: str | None = None
    name: str
    language: str = "zh-CN"
    active: bool = True

    def as_staff(self) -> Staff:
        """The ``lifecycle.Staff`` this account acts as."""
        return Staff(
            id=self.username,
            role=self.role,
            unit=self.unit,
            street=self.street,
            district=self.district,
        )


class Session(BaseModel):
    """A freshly opened session: the token (shown once) and when it expires."""

    token: str
    expires_at: datetime
    account: StaffAccount


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _account(doc: Doc) -> StaffAccount:
    return StaffAccount(
        username=doc["_id"],
        role=doc["role"],
        unit=doc.get("unit"),
        street=doc.get("street"),
        district=doc.get("district"),
        name=doc.get("name") or doc["_id"],
        language=doc.get("language") or "zh-CN",
        active=bool(doc.get("active", True)),
    )


class StaffAccounts:
    """Staff accounts, password checks with lockout, and sessions."""

    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        database: str,
        city: City,
        *,
        session_hours: int = 8,
        max_failures: int = 5,
        lockout_minutes: int = 15,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.city = city
        self.staff: AsyncCollection[Doc] = client[database]["staff"]
        self.sessions: AsyncCollection[Doc] = client[database]["sessions"]
        self.session_lifetime = timedelta(hours=session_hours)
        self.max_failures = max_failures
        self.lockout = timedelta(minutes=lockout_minutes)
        # argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
        self.hasher = hasher or PasswordHasher()
        # A hash to verify against when the user does not exist, so an unknown username costs
        # the same time as a wrong password and response times do not reveal who has an account.
        # Made on first need: hashing costs as much as a login, and the CLI never needs it.
        self._dummy_hash: str | None = None
        # Each verification takes tens of MiB for ~50 ms of CPU; a burst of logins waits here
        # instead of exhausting memory.
        self._hashing = asyncio.Semaphore(4)

    async def create_indexes(self) -> None:
        """The sessions' TTL index and the look-ups by post (idempotent)."""
        await self.sessions.create_indexes(
            [
                IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
                IndexModel([("staff_id", ASCENDING)]),
            ]
        )
        await self.staff.create_indexes([IndexModel([("unit", ASCENDING)])])

    # ------------------------------------------------------------------ accounts

    async def add(
        self,
        *,
        username: str,
        role: Role,
        unit: str | None,
        password: str,
        name: str | None = None,
        language: str = "zh-CN",
    ) -> StaffAccount:
        """Create an account; raises InvalidAccount (says why) or AccountExists."""
        username = username.strip().lower()
        if not valid_username(username):
            raise InvalidAccount(
                f"username {username!r}: 3-64 of a-z, 0-9, '.', '_', '-', starting alphanumeric"
            )
        try:
            post = post_for(role, unit, self.city)
        except InvalidPost as exc:
            raise InvalidAccount(str(exc)) from None
        problems = password_problems(password, username=username)
        if problems:
            raise InvalidAccount("; ".join(problems))
        if language not in LANGUAGES:
            raise InvalidAccount(f"language is one of {', '.join(LANGUAGES)}, not {language!r}")
        now = _now()
        doc: Doc = {
            "_id": username,
            "password_hash": await self._hash(password),
            "role": role,
            "unit": post.unit,
            "street": post.street,
            "district": post.district,
            "name": (name or "").strip() or username,
            "language": language,
            "active": True,
            "failed_logins": 0,
            "locked_until": None,
            "created_at": now,
            "updated_at": now,
            "password_changed_at": now,
            "last_login_at": None,
        }
        try:
            await self.staff.insert_one(doc)
        except DuplicateKeyError:
            raise AccountExists(f"username {username} is taken") from None
        return _account(doc)

    async def get(self, username: str) -> StaffAccount | None:
        """One account by username."""
        doc = await self.staff.find_one({"_id": username.strip().lower()})
        return _account(doc) if doc else None

    async def list_all(self) -> list[StaffAccount]:
        """Every account, by username."""
        return [_account(doc) async for doc in self.staff.find({}).sort("_id", ASCENDING)]

    async def set_password(self, username: str, password: str) -> None:
        """Replace a password (policy-checked) and end the account's sessions."""
        username = username.strip().lower()
        problems = password_problems(password, username=username)
        if problems:
            raise InvalidAccount("; ".join(problems))
        result = await self.staff.update_one(
            {"_id": username},
            {
                "$set": {
                    "password_hash": await self._hash(password),
                    "password_changed_at": _now(),
                    "updated_at": _now(),
                    "failed_logins": 0,
                    "locked_until": None,
                }
            },
        )
        if result.matched_count != 1:
            raise InvalidAccount(f"no account {username}")
        await self.sessions.delete_many({"staff_id": username})

    async def set_active(self, username: str, active: bool) -> None:
        """Enable or disable an account; disabling ends its sessions at once."""
        username = username.strip().lower()
        result = await self.staff.update_one(
            {"_id": username}, {"$set": {"active": active, "updated_at": _now()}}
        )
        if result.matched_count != 1:
            raise InvalidAccount(f"no account {username}")
        if not active:
            await self.sessions.delete_many({"staff_id": username})

    # ------------------------------------------------------------------ login

    async def authenticate(self, username: str, password: str) -> StaffAccount:
        """The account if the password is right; else InvalidCredentials or AccountLocked.

        Failures are counted on the account; ``max_failures`` in a row lock it for the
        lockout period, during which even the right password is refused.
        """
        username = username.strip().lower()
        doc = await self.staff.find_one({"_id": username}) if valid_username(username) else None
        if doc is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
            await self._verify(self._dummy_hash, password)
            raise InvalidCredentials()
        now = _now()
        locked_until: datetime | None = doc.get("locked_until")
        if locked_until is not None and locked_until > now:
            raise AccountLocked(max(1, int((locked_until - now).total_seconds()) + 1))
        if not await self._verify(doc["password_hash"], password) or not doc.get("active", True):
            await self._record_failure(doc, now)
            raise InvalidCredentials()
        changes: Doc = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if self.hasher.check_needs_rehash(doc["password_hash"]):
            # Parameters were raised since this hash was made: upgrade it while we hold the
            # plain password.
            changes["password_hash"] = await self._hash(password)
        await self.staff.update_one({"_id": username}, {"$set": changes})
        return _account(doc)

    async def _record_failure(self, doc: Doc, now: datetime) -> None:
        expired_lock = doc.get("locked_until") is not None
        if expired_lock:
            # The last lockout has run out: start counting again rather than locking at once.
            await self.staff.update_one(
                {"_id": doc["_id"]}, {"$set": {"failed_logins": 1, "locked_until": None}}
            )
            failures = 1
        else:
            await self.staff.update_one({"_id": doc["_id"]}, {"$inc": {"failed_logins": 1}})
            fresh = await self.staff.find_one({"_id": doc["_id"]}, {"failed_logins": 1})
            failures = int((fresh or {}).get("failed_logins", 0))
        if failures >= self.max_failures:
            await self.staff.update_one(
                {"_id": doc["_id"]}, {"$set": {"locked_until": now + self.lockout}}
            )

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored: str, password: str) -> bool:
        async with self._hashing:
            try:
                return await asyncio.to_thread(self.hasher.verify, stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    # ------------------------------------------------------------------ sessions

    async def open_session(self, account: StaffAccount) -> Session:
        """A new session for an authenticated account; the token is returned only here."""
        token = secrets.token_urlsafe(32)
        now = _now()
        expires_at = now + self.session_lifetime
        await self.sessions.insert_one(
            {
                "_id": hash_token(token),
                "staff_id": account.username,
                "created_at": now,
                "expires_at": expires_at,
            }
        )
        return Session(token=token, expires_at=expires_at, account=account)

    async def account_for_token(self, token: str) -> StaffAccount | None:
        """The active account a live session token belongs to, else None."""
        if not token or len(token) > 128:
            return None
        digest = hash_token(token)
        session = await self.sessions.find_one({"_id": digest})
        if session is None or not hmac.compare_digest(session["_id"], digest):
            return None
        if session["expires_at"] <= _now():
            return None
        doc = await self.staff.find_one({"_id": session["staff_id"]})
        if doc is None or not doc.get("active", True):
            return None
        return _account(doc)

    async def close_session(self, token: str) -> None:
        """End one session (logout); unknown tokens are ignored."""
        await self.sessions.delete_one({"_id": hash_token(token)})
