"""Suspected duplicates: same matter, within the radius and the time window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.appeals.domain.duplicates import DuplicatePolicy, distance_m, find_master, point_of
from shared.city import City, load_city

DEMO = Path(__file__).resolve().parents[3] / "shared" / "demo_city"
T0 = datetime(2025, 11, 3, 2, 0, tzinfo=UTC)
POLICY = DuplicatePolicy(radius_m=150, window=timedelta(hours=72))


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO / "jurisdiction.yaml", DEMO / "matters.yaml")


def appeal(
    appeal_id: str,
    *,
    lon: float | None = 117.2040,
    lat: float | None = 31.8035,
    hours: float = 0,
    community: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "_id": appeal_id,
        "location": {"lon": lon, "lat": lat} if lon is not None else None,
        "community": community,
        "received_at": T0 + timedelta(hours=hours),
        "is_open": True,
        **extra,
    }


def test_distance_is_metres_on_the_ground() -> None:
    # 0.001 degree of latitude is about 111 m everywhere
    assert distance_m((117.2, 31.8), (117.2, 31.801)) == pytest.approx(111.2, abs=0.5)
    # 0.001 degree of longitude at 31.8 N is about 94.5 m
    assert distance_m((117.2, 31.8), (117.201, 31.8)) == pytest.approx(94.5, abs=0.5)


def test_a_near_recent_open_appeal_is_the_master(city: City) -> None:
    new = appeal("new", lat=31.8035 + 0.001, hours=5)
    match = find_master(new, [appeal("old")], city, POLICY)
    assert match is not None and match.master_id == "old"
    assert match.distance_m == pytest.approx(111.2, abs=0.5)


@pytest.mark.parametrize(
    "other",
    [
        appeal("far", lat=31.8035 + 0.002),  # 222 m away
        appeal("stale", hours=-73),  # before the window
        appeal("later", hours=6),  # after the new one: it is the duplicate, not the master
        appeal("closed", is_open=False),
        appeal("nowhere", lon=None),
    ],
    ids=lambda o: o["_id"],
)
def test_no_match_outside_radius_window_or_when_closed(city: City, other: dict[str, Any]) -> None:
    assert find_master(appeal("new", hours=5), [other], city, POLICY) is None


def test_the_earliest_wins_and_a_chain_points_at_its_root(city: City) -> None:
    first = appeal("first", hours=0)
    second = appeal("second", hours=1, suspected_duplicate_of="first")
    new = appeal("new", hours=2)
    match = find_master(new, [second, first], city, POLICY)
    assert match is not None and match.master_id == "first"
    # the root fell out of the window: the second stays the best master
    second_only = find_master(new, [second], city, POLICY)
    assert second_only is not None and second_only.master_id == "second"


def test_without_a_location_the_community_centroid_is_the_point(city: City) -> None:
    code, (_, _, community) = next(iter(city.communities.items()))
    centre = point_of({"community": code}, city)
    assert centre is not None
    xs = [p[0] for p in community.boundary]
    ys = [p[1] for p in community.boundary]
    assert min(xs) < centre[0] < max(xs) and min(ys) < centre[1] < max(ys)
    new = appeal("new", lon=None, community=code, hours=1)
    near_centre = appeal("old", lon=centre[0], lat=centre[1] + 0.0005)
    match = find_master(new, [near_centre], city, POLICY)
    assert match is not None and match.master_id == "old"
    assert point_of({"community": None, "location": None}, city) is None


def test_policy_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DuplicatePolicy(radius_m=0)
    with pytest.raises(ValueError):
        DuplicatePolicy(window=timedelta(0))
