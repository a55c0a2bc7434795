"""Who may see what: role permissions, staff posts, read scopes and the password policy.

Pure: no I/O. Three questions, each answered in one place:

- ``ROLE_PERMISSIONS`` — what a role may do at all (read appeals, record hotline calls, act on
  appeals, read reports, manage staff). *Which* commands a role may issue on *which* appeal is
  the lifecycle's table (``lifecycle.TRANSITIONS``); this module only says whether the role
  acts at all, so a viewer is read-only everywhere.
- ``post_for`` — where a staff account sits (unit / street / district), derived from one code
  of the city and checked against the role (a coordinator sits in a street's 城市运行管理中心,
  a dispatcher in a district's 12345 dispatch centre ...).
- ``visible_filter`` / ``can_read`` — the appeals a person may read, once as a MongoDB filter
  for queries and once as a predicate for a single document. Both come from ``read_scope`` so
  they cannot drift apart; the tests check that they agree on the real database.

Read scopes::

    operator         the whole city (the 12345 hotline takes calls and does callbacks city-wide;
                     the lifecycle lets operators review, reopen, close and merge any appeal)
    unit_staff       appeals its unit leads or co-handles
    coordinator      appeals of its street (综合管理权 covers every unit in the street)
    dispatcher       appeals of its district (its triage queue is part of it)
    district_admin   appeals of its district
    viewer           read-only, at the level of its post: a unit, a street, a district or the
                     whole city (a post-less viewer)
    system           the whole city (internal components; never a login)
    resident         nothing through staff queries (residents look up their own appeal by
                     tracking number and token)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.city import City

from .lifecycle import ROLES, Role, Staff

__all__ = [
    "APPEAL_FIELDS",
    "LOGIN_ROLES",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ROLE_PERMISSIONS",
    "USERNAME_PATTERN",
    "AppealFields",
    "InvalidPost",
    "Permission",
    "Post",
    "ReadScope",
    "can_read",
    "has_permission",
    "password_problems",
    "post_for",
    "read_scope",
    "scoped",
    "valid_username",
    "visible_filter",
]


class Permission(enum.Enum):
    """What a role may do at all; the lifecycle decides the rest per command and appeal."""

    READ_APPEALS = "read appeals"
    RECORD_CALLS = "record hotline calls"
    ACT_ON_APPEALS = "act on appeals"
    READ_REPORTS = "read reports"
    MANAGE_STAFF = "manage staff accounts"


_P = Permission
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    "operator": frozenset({_P.READ_APPEALS, _P.RECORD_CALLS, _P.ACT_ON_APPEALS}),
    "unit_staff": frozenset({_P.READ_APPEALS, _P.ACT_ON_APPEALS, _P.READ_REPORTS}),
    "coordinator": frozenset({_P.READ_APPEALS, _P.ACT_ON_APPEALS, _P.READ_REPORTS}),
    "dispatcher": frozenset({_P.READ_APPEALS, _P.ACT_ON_APPEALS, _P.READ_REPORTS}),
    "district_admin": frozenset(
        {_P.READ_APPEALS, _P.ACT_ON_APPEALS, _P.READ_REPORTS, _P.MANAGE_STAFF}
    ),
    "viewer": frozenset({_P.READ_APPEALS, _P.READ_REPORTS}),
    "system": frozenset({_P.READ_APPEALS, _P.ACT_ON_APPEALS}),
    "resident": frozenset(),
}

# Roles a person can log in with. ``system`` is for the service's own components and
# ``resident`` for the public (tracking number + token), neither has a password account.
LOGIN_ROLES: tuple[Role, ...] = tuple(r for r in ROLES if r not in ("system", "resident"))


def has_permission(role: Role, permission: Permission) -> bool:
    """Whether ``role`` has ``permission``."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


# ---------------------------------------------------------------------------- posts


class InvalidPost(ValueError):
    """A role and a city code that do not make a staff post (the message says why)."""


@dataclass(frozen=True)
class Post:
    """Where a staff member sits; the fields of ``lifecycle.Staff`` besides id and role."""

    unit: str | None
    street: str | None
    district: str | None


def post_for(role: Role, code: str | None, city: City) -> Post:
    """The post of a ``role`` at city ``code`` (a unit, street, district or dispatch centre).

    unit_staff: any unit of a street or district department; coordinator: a street's city_ops
    unit; dispatcher: a district's dispatch centre; district_admin: a district or its dispatch
    centre; viewer: any of those codes or the city's (or none: city-wide); operator: none or
    the city's code (the hotline is city-wide).
    """
    if role not in LOGIN_ROLES:
        raise InvalidPost(f"role {role} has no staff login (roles: {', '.join(LOGIN_ROLES)})")
    city_code = city.jurisdiction.city.code
    if role == "operator":
        if code not in (None, "", city_code):
            raise InvalidPost(
                f"an operator works for the whole city's hotline; give no unit or {city_code}"
            )
        return Post(None, None, None)
    if not code:
        if role == "viewer":
            return Post(None, None, None)
        raise InvalidPost(f"a {role} needs a unit code")
    centers = {d.dispatch_center: d for d in city.jurisdiction.districts}
    found = city.units.get(code)
    if role == "unit_staff":
        if found is None:
            raise InvalidPost(f"unit {code} does not exist in {city_code}")
        district, street, _ = found
        return Post(code, street.code if street else None, district.code)
    if role == "coordinator":
        street = found[1] if found else None
        if (
            found is None
            or street is None
            or street.coordinator is None
            or (street.coordinator.code != code)
        ):
            raise InvalidPost(f"a coordinator's unit is a street's city_ops unit; {code} is not")
        return Post(code, street.code, found[0].code)
    if role == "dispatcher":
        if code not in centers:
            raise InvalidPost(f"a dispatcher's unit is a district's dispatch centre; {code} is not")
        return Post(code, None, centers[code].code)
    if role == "district_admin":
        if code in centers:
            return Post(code, None, centers[code].code)
        if code in city.districts:
            return Post(city.districts[code].dispatch_center, None, code)
        raise InvalidPost(
            f"a district_admin's code is a district or its dispatch centre; not {code}"
        )
    # viewer: read-only at the level of the code it is given.
    if code == city_code:
        return Post(None, None, None)
    if found is not None:
        district, street, _ = found
        return Post(code, street.code if street else None, district.code)
    if code in city.streets:
        district, street = city.streets[code]
        return Post(None, street.code, district.code)
    if code in city.districts:
        return Post(None, None, code)
    if code in centers:
        return Post(None, None, centers[code].code)
    raise InvalidPost(f"{code} is no unit, street, district or city of {city_code}")


# ---------------------------------------------------------------------------- read scope


@dataclass(frozen=True)
class AppealFields:
    """Names of the appeal document's placement fields (one place to change if the store does)."""

    district: str = "district"
    street: str = "street"
    lead_unit: str = "unit"
    co_handlers: str = "co_handlers"
    # lead unit + co-handlers in one multikey field, so the unit scope is one indexed equality
    handlers: str = "handlers"


APPEAL_FIELDS = AppealFields()

Level = Literal["city", "district", "street", "unit", "none"]


@dataclass(frozen=True)
class ReadScope:
    """The appeals one person may read: a level and, below city level, its code."""

    level: Level
    code: str | None = None


def read_scope(staff: Staff) -> ReadScope:
    """The person's read scope (see the module docstring for the table)."""
    role = staff.role
    if role in ("operator", "system"):
        return ReadScope("city")
    if role == "unit_staff":
        return ReadScope("unit", staff.unit) if staff.unit else ReadScope("none")
    if role == "coordinator":
        return ReadScope("street", staff.street) if staff.street else ReadScope("none")
    if role in ("dispatcher", "district_admin"):
        return ReadScope("district", staff.district) if staff.district else ReadScope("none")
    if role == "viewer":
        # The narrowest post the viewer holds; a viewer with none reads the whole city.
        if staff.unit:
            return ReadScope("unit", staff.unit)
        if staff.street:
            return ReadScope("street", staff.street)
        if staff.district:
            return ReadScope("district", staff.district)
        return ReadScope("city")
    return ReadScope("none")


# Matches no document: ``_id`` is always present and never in an empty list.
_NOTHING: dict[str, Any] = {"_id": {"$in": []}}


def visible_filter(staff: Staff, fields: AppealFields = APPEAL_FIELDS) -> dict[str, Any]:
    """The MongoDB filter limiting an appeal query to what ``staff`` may read.

    Combine it with a query's own filter through ``scoped``. Every level is one indexed
    equality; the unit level uses the multikey ``handlers`` field (lead unit and co-handlers)
    because an ``$or`` over the two is a full scan on SecantusDB.
    """
    scope = read_scope(staff)
    if scope.level == "city":
        return {}
    if scope.level == "district":
        return {fields.district: scope.code}
    if scope.level == "street":
        return {fields.street: scope.code}
    if scope.level == "unit":
        return {fields.handlers: scope.code}
    return dict(_NOTHING)


def can_read(staff: Staff, appeal: Mapping[str, Any], fields: AppealFields = APPEAL_FIELDS) -> bool:
    """Whether ``staff`` may read this appeal document (the predicate of ``visible_filter``)."""
    scope = read_scope(staff)
    if scope.level == "city":
        return True
    if scope.level == "district":
        return appeal.get(fields.district) == scope.code
    if scope.level == "street":
        return appeal.get(fields.street) == scope.code
    if scope.level == "unit":
        co_handlers = appeal.get(fields.co_handlers) or ()
        return appeal.get(fields.lead_unit) == scope.code or scope.code in co_handlers
    return False


def scoped(staff: Staff, query: Mapping[str, Any]) -> dict[str, Any]:
    """``query`` narrowed to what ``staff`` may read.

    Keys are merged side by side when they do not collide (keeps the filter index-friendly);
    otherwise both go under ``$and``, which is always right.
    """
    visible = visible_filter(staff)
    if not visible:
        return dict(query)
    if visible.keys().isdisjoint(query.keys()):
        return {**query, **visible}
    return {"$and": [dict(query), visible]}


# ---------------------------------------------------------------------------- passwords

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
MIN_PASSWORD_LENGTH = 12
# Argon2 hashes whatever it is given; a bound keeps a megabyte "password" from costing CPU.
MAX_PASSWORD_LENGTH = 256

# The few passwords people pick first; longer lists belong to a breach-corpus check.
_COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "changeme1234",
        "administrator",
        "letmein12345",
        "iloveyou1234",
        "welcome12345",
        "a1b2c3d4e5f6",
        "1q2w3e4r5t6y",
        "12345678abcd",
        "abcd12345678",
        "aaaaaaaaaaaa",
        "000000000000",
        "111111111111",
    }
)


def password_problems(password: str, *, username: str = "") -> list[str]:
    """What is wrong with a new password (empty: acceptable).

    Length over composition rules (NIST SP 800-63B): at least 12 characters, not the username,
    not a well-known password, not one or two characters repeated.
    """
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if username and username.lower() in lowered:
        problems.append("a password must not contain the username")
    if lowered in _COMMON:
        problems.append("this password is too common")
    if password and len(set(password)) < 5:
        problems.append("a password needs at least 5 different characters")
    if password != password.strip():
        problems.append("a password must not start or end with a space")
    return problems


def valid_username(username: str) -> bool:
    """Lower-case letters, digits, '.', '_' and '-', 3 to 64 characters."""
    return re.fullmatch(USERNAME_PATTERN, username) is not None
