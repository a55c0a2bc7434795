"""Access rules without I/O: role permissions, staff posts, read scopes, password policy.

The database half of the scoping check (``visible_filter`` run on a real MongoDB-protocol
server agrees with ``can_read``) is in tests/integration/test_auth.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from services.appeals.domain.access import (
    LOGIN_ROLES,
    InvalidPost,
    Permission,
    Post,
    ReadScope,
    can_read,
    has_permission,
    password_problems,
    post_for,
    read_scope,
    scoped,
    valid_username,
    visible_filter,
)
from services.appeals.domain.lifecycle import ROLES, Role, Staff
from shared.city import City, load_city
from tests.integration.conftest import reference_city

STREETS = ("JA-JAS", "JA-NJX", "CN-XHL", "CN-HYL")


@pytest.fixture(scope="module")
def city() -> City:
    path = reference_city()
    return load_city(path / "jurisdiction.yaml", path / "matters.yaml")


def appeal_docs(city: City) -> list[dict[str, Any]]:
    """Appeals over two streets of each of two districts, led and co-handled in every way."""
    docs: list[dict[str, Any]] = []
    for street in STREETS:
        district = city.streets[street][0]
        other = next(s for s in STREETS if s != street and s[:2] != street[:2])
        leads: list[str | None] = [f"{street}-OPS", f"{street}-UE", f"{street}-PCS"]
        leads += [
            f"{district.code}-UE",
            district.dispatch_center,
            None,
        ]  # in triage; transferred (no unit)
        co_variants: list[list[str]] = [
            [],
            [f"{street}-GS"],
            [f"{other}-UE"],
            [f"{district.code}-MS"],
        ]
        for lead, co in itertools.product(leads, co_variants):
            docs.append(
                {
                    "_id": f"{street}|{lead}|{'+'.join(co)}",
                    "district": district.code,
                    "street": street,
                    "unit": lead,
                    "co_handlers": co,
                    "handlers": [u for u in (lead, *co) if u],
                    "state": "dispatched" if lead else "transferred",
                }
            )
    # Not placed yet: the router has not decided.
    for n in range(3):
        docs.append(
            {"_id": f"unplaced|{n}", "state": "received", "co_handlers": [], "handlers": []}
        )
    return docs


def staff(city: City, role: Role, code: str | None) -> Staff:
    post = post_for(role, code, city)
    return Staff(
        id=f"{role}@{code}", role=role, unit=post.unit, street=post.street, district=post.district
    )


def readable(person: Staff, docs: list[dict[str, Any]]) -> set[str]:
    return {d["_id"] for d in docs if can_read(person, d)}


# ---------------------------------------------------------------------------- permissions


def test_every_role_has_a_permission_entry_and_only_staff_roles_log_in() -> None:
    for role in ROLES:
        has_permission(role, Permission.READ_APPEALS)  # no KeyError for any role
    assert set(LOGIN_ROLES) == set(ROLES) - {"system", "resident"}


def test_viewer_reads_but_never_acts_and_only_district_admin_manages_staff() -> None:
    assert has_permission("viewer", Permission.READ_APPEALS)
    assert not has_permission("viewer", Permission.ACT_ON_APPEALS)
    assert [r for r in ROLES if has_permission(r, Permission.MANAGE_STAFF)] == ["district_admin"]
    assert [r for r in ROLES if has_permission(r, Permission.RECORD_CALLS)] == ["operator"]
    assert not any(has_permission("resident", p) for p in Permission)


# ---------------------------------------------------------------------------- posts


def test_posts_are_derived_from_one_code(city: City) -> None:
    assert post_for("unit_staff", "JA-JAS-UE", city) == Post("JA-JAS-UE", "JA-JAS", "JA")
    assert post_for("unit_staff", "JA-UE", city) == Post("JA-UE", None, "JA")
    assert post_for("coordinator", "CN-XHL-OPS", city) == Post("CN-XHL-OPS", "CN-XHL", "CN")
    assert post_for("dispatcher", "CN-DC", city) == Post("CN-DC", None, "CN")
    assert post_for("district_admin", "JA", city) == Post("JA-DC", None, "JA")
    assert post_for("district_admin", "JA-DC", city) == Post("JA-DC", None, "JA")
    assert post_for("operator", None, city) == Post(None, None, None)
    assert post_for("viewer", "JA-NJX", city) == Post(None, "JA-NJX", "JA")
    assert post_for("viewer", "CN", city) == Post(None, None, "CN")
    assert post_for("viewer", "XX", city) == Post(None, None, None)


@pytest.mark.parametrize(
    ("role", "code", "why"),
    [
        ("unit_staff", "JA-JAS-NOPE", "does not exist"),
        ("unit_staff", None, "needs a unit"),
        ("coordinator", "JA-JAS-UE", "city_ops"),
        ("coordinator", "JA-UE", "city_ops"),
        ("coordinator", "JA-JAS", "city_ops"),
        ("dispatcher", "JA", "dispatch centre"),
        ("dispatcher", "JA-JAS-OPS", "dispatch centre"),
        ("district_admin", "JA-JAS", "district"),
        ("operator", "JA-JAS-UE", "whole city"),
        ("viewer", "ZZ-9", "no unit, street, district"),
        ("system", None, "no staff login"),
        ("resident", None, "no staff login"),
    ],
)
def test_posts_that_do_not_fit_the_role_are_refused(
    city: City, role: Role, code: str | None, why: str
) -> None:
    with pytest.raises(InvalidPost, match=why):
        post_for(role, code, city)


# ---------------------------------------------------------------------------- read scopes


def test_each_role_reads_exactly_its_scope(city: City) -> None:
    docs = appeal_docs(city)
    ids = {d["_id"] for d in docs}
    by = {d["_id"]: d for d in docs}

    def where(**want: Any) -> set[str]:
        return {i for i, d in by.items() if all(d.get(k) == v for k, v in want.items())}

    def handled_by(unit: str) -> set[str]:
        return {i for i, d in by.items() if d.get("unit") == unit or unit in d["co_handlers"]}

    assert readable(staff(city, "operator", None), docs) == ids
    assert readable(staff(city, "coordinator", "JA-JAS-OPS"), docs) == where(street="JA-JAS")
    assert readable(staff(city, "coordinator", "CN-HYL-OPS"), docs) == where(street="CN-HYL")
    assert readable(staff(city, "dispatcher", "JA-DC"), docs) == where(district="JA")
    assert readable(staff(city, "dispatcher", "CN-DC"), docs) == where(district="CN")
    assert readable(staff(city, "district_admin", "CN"), docs) == where(district="CN")
    for unit in ("JA-JAS-UE", "JA-UE", "CN-XHL-OPS", "JA-JAS-GS", "CN-MS"):
        got = readable(staff(city, "unit_staff", unit), docs)
        assert got == handled_by(unit), unit
        assert got, f"{unit} should lead or co-handle something in the set"
    assert readable(staff(city, "unit_staff", "HP-WLQ-UE"), docs) == set()
    assert readable(staff(city, "viewer", "JA-JAS-PCS"), docs) == handled_by("JA-JAS-PCS")
    assert readable(staff(city, "viewer", "JA-NJX"), docs) == where(street="JA-NJX")
    assert readable(staff(city, "viewer", "CN"), docs) == where(district="CN")
    assert readable(staff(city, "viewer", None), docs) == ids
    assert readable(Staff("router", "system"), docs) == ids
    assert readable(Staff("someone", "resident"), docs) == set()


def test_the_scopes_nest_street_within_district(city: City) -> None:
    docs = appeal_docs(city)
    street = readable(staff(city, "coordinator", "JA-JAS-OPS"), docs)
    district = readable(staff(city, "dispatcher", "JA-DC"), docs)
    unit = readable(staff(city, "unit_staff", "JA-JAS-UE"), docs)
    assert street < district
    # A unit co-handles work of other streets (here CN-XHL's), so it is not inside its street.
    assert unit - street and unit & street


def test_a_post_missing_its_code_reads_nothing() -> None:
    # Fail closed: an account whose post was lost must not fall back to a wider scope.
    for person in (
        Staff("a", "unit_staff"),
        Staff("b", "coordinator", unit="JA-JAS-OPS"),
        Staff("c", "dispatcher", unit="JA-DC"),
        Staff("d", "district_admin"),
    ):
        assert read_scope(person) == ReadScope("none")
        assert visible_filter(person) == {"_id": {"$in": []}}
        assert not can_read(person, {"_id": "x", "district": None, "street": None})


def test_visible_filter_shapes(city: City) -> None:
    assert visible_filter(staff(city, "operator", None)) == {}
    assert visible_filter(staff(city, "coordinator", "JA-JAS-OPS")) == {"street": "JA-JAS"}
    assert visible_filter(staff(city, "dispatcher", "JA-DC")) == {"district": "JA"}
    assert visible_filter(staff(city, "unit_staff", "JA-JAS-UE")) == {"handlers": "JA-JAS-UE"}


def test_scoped_merges_side_by_side_or_under_and(city: City) -> None:
    coordinator = staff(city, "coordinator", "JA-JAS-OPS")
    assert scoped(coordinator, {"state": "dispatched"}) == {
        "state": "dispatched",
        "street": "JA-JAS",
    }
    # A query on the same key must not be overwritten by the scope (or widen it).
    assert scoped(coordinator, {"street": "CN-XHL"}) == {
        "$and": [{"street": "CN-XHL"}, {"street": "JA-JAS"}]
    }
    assert scoped(staff(city, "operator", None), {"state": "triage"}) == {"state": "triage"}


# ---------------------------------------------------------------------------- passwords


def test_password_policy() -> None:
    assert password_problems("correct horse battery", username="wang.li") == []
    assert password_problems("Xk3#vB9!qL2z") == []
    assert any("at least 12" in p for p in password_problems("short1!"))
    assert any(
        "username" in p for p in password_problems("wang.li-2024-spring", username="wang.li")
    )
    assert any("too common" in p for p in password_problems("password1234"))
    assert any("different characters" in p for p in password_problems("abababababababab"))
    assert any("at most" in p for p in password_problems("x" * 300 + "abcdefg"))
    assert any("space" in p for p in password_problems(" leading-space-pass"))


def test_usernames() -> None:
    assert valid_username("wang.li")
    assert valid_username("demo-operator")
    assert not valid_username("Wang")  # stored lower-case; callers normalise first
    assert not valid_username("ab")
    assert not valid_username("-leading")
    assert not valid_username("名字")
