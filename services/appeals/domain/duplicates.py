"""Suspected duplicates (重复诉求): the same matter, near the same place, close in time.

Pure. A new appeal is a *suspected* duplicate of an open one when both concern the same
matter, the earlier one was received no more than ``window`` before it, and their points lie
within ``radius_m`` metres. An appeal's point is its own location (lon, lat) or, failing
that, the centroid of the community the router placed it in; without either it is never
matched (an address alone says too little to call two appeals one).

The suspicion is only a link for staff (``suspected_duplicate_of``); merging stays a staff
decision through ``lifecycle.Merge``. The master chosen is the earliest matching appeal, and
if that one is itself a suspected duplicate, the appeal it points to: a burst of calls about
one broken street light all point at the first call, not at each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from shapely.geometry import Polygon

from shared.city import City

__all__ = ["DuplicatePolicy", "Match", "distance_m", "find_master", "point_of"]

_EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class DuplicatePolicy:
    """How near in space and time two appeals of one matter must be to be suspected."""

    radius_m: float = 150.0
    window: timedelta = timedelta(hours=72)

    def __post_init__(self) -> None:
        if self.radius_m <= 0 or self.window <= timedelta(0):
            raise ValueError("a duplicate radius and window must be positive")


@dataclass(frozen=True)
class Match:
    """The suspected master and how far away it is."""

    master_id: str
    distance_m: float


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lon, lat) points (haversine)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))


@cache
def _centroid(city_id: int, ring: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    c = Polygon(ring).centroid
    return (c.x, c.y)


def point_of(doc: Mapping[str, Any], city: City) -> tuple[float, float] | None:
    """The appeal's (lon, lat): its own location, else its community's centroid."""
    location = doc.get("location")
    if location and "lon" in location and "lat" in location:
        return (float(location["lon"]), float(location["lat"]))
    community = doc.get("community")
    found = city.communities.get(community) if community else None
    if found is None or len(found[2].boundary) < 3:
        return None
    return _centroid(id(city), tuple(found[2].boundary))


def find_master(
    appeal: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    city: City,
    policy: DuplicatePolicy,
) -> Match | None:
    """The open appeal ``appeal`` most likely repeats, or None.

    ``candidates`` are open appeals of the same matter received in the window before it.
    """
    here = point_of(appeal, city)
    received: datetime = appeal["received_at"]
    if here is None:
        return None
    near: list[tuple[datetime, str, float, str | None]] = []
    for other in candidates:
        if other["_id"] == appeal["_id"] or not other.get("is_open", True):
            continue
        if not (received - policy.window <= other["received_at"] <= received):
            continue
        there = point_of(other, city)
        if there is None:
            continue
        gap = distance_m(here, there)
        if gap <= policy.radius_m:
            near.append(
                (other["received_at"], other["_id"], gap, other.get("suspected_duplicate_of"))
            )
    if not near:
        return None
    _, first_id, gap, points_to = min(near)
    open_ids = {c["_id"] for c in candidates if c.get("is_open", True)}
    if points_to is not None and points_to in open_ids:
        return Match(points_to, gap)
    return Match(first_id, gap)
