"""Placing an appeal: from an address or coordinates to community (社区) and street (街道).

The gazetteer is built from the jurisdiction file only: roads with house-number ranges (one
road runs through several communities, even several streets), named estates (小区), community
names and their aliases (居委). Coordinates are placed with the community boundary polygons.
Every placement says how it was made (``method``), which rule matched (``rule``) and how sure
it is (``confidence``); an address that names a road but no number on a road shared by several
communities is *not* placed, because a guess would send the appeal to the wrong street.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from shapely import prepared
from shapely.geometry import Point, Polygon

from shared.city import Jurisdiction

from .romanise import RomanisedNames
from .text import NUMERAL_CHARS, chinese_number, normalise

__all__ = ["Gazetteer", "Placement"]


@dataclass(frozen=True)
class Placement:
    """Where an appeal is: community and street, or why it could not be placed."""

    street: str | None
    community: str | None
    district: str | None
    method: str  # road_number | intersection | estate | alias | community | polygon | none
    confidence: float
    rule: str  # the matched gazetteer rule or polygon, human-readable
    notes: tuple[str, ...] = ()

    @property
    def placed(self) -> bool:
        """True when a street (and community) was found."""
        return self.street is not None


NOT_PLACED = Placement(None, None, None, "none", 0.0, "no address and no coordinates")


@dataclass(frozen=True)
class _Community:
    code: str
    name: str
    street: str
    district: str


@dataclass
class _Road:
    name: str
    # (from, to, community); from/to None means the whole road within that community.
    ranges: list[tuple[int | None, int | None, _Community]] = field(default_factory=list)

    def communities(self) -> set[str]:
        return {c.code for _, _, c in self.ranges}


_NUMBER_AFTER_ROAD = re.compile(rf"^\s*(?:no\.?\s*)?([0-9]+|[{NUMERAL_CHARS}]+)\s*(号|弄|支弄|#)?")
_JUNCTION = re.compile(r"路口|交叉口|交界|交汇|junction|intersection|corner")


class Gazetteer:
    """Resolves addresses and coordinates against one jurisdiction."""

    def __init__(self, jurisdiction: Jurisdiction) -> None:
        self._communities: dict[str, _Community] = {}
        self._roads: dict[str, _Road] = {}
        self._names: dict[str, tuple[str, _Community]] = {}  # estate/alias/name -> (kind, c)
        self._polygons: list[tuple[prepared.PreparedGeometry, Polygon, _Community]] = []
        for district, street, community in jurisdiction.communities():
            c = _Community(community.code, community.name, street.code, district.code)
            self._communities[c.code] = c
            for rule in community.addresses:
                if rule.road is not None:
                    road = self._roads.setdefault(rule.road, _Road(rule.road))
                    road.ranges.append((rule.from_, rule.to, c))
                elif rule.estate is not None:
                    self._names.setdefault(rule.estate, ("estate", c))
            for alias in community.aliases:
                self._names.setdefault(alias, ("alias", c))
            self._names.setdefault(community.name, ("community", c))
            if community.boundary:
                poly = Polygon(community.boundary)
                if poly.is_valid and poly.area > 0:
                    self._polygons.append((prepared.prep(poly), poly, c))
        # Longest names first, so 延安西路 wins over 安西路 and 新福康里居委 over 新福康里.
        self._road_names = sorted(self._roads, key=len, reverse=True)
        self._place_names = sorted(self._names, key=len, reverse=True)
        self._all_labels = self._labels()
        self._romanised = RomanisedNames([*self._roads, *self._names])

    # ------------------------------------------------------------------ vocabulary

    def words(self) -> list[str]:
        """Every road, estate, alias and community name (for the tokenizer's dictionary)."""
        return [*self._roads, *self._names]

    # ------------------------------------------------------------------ addresses

    def resolve(self, address: str) -> Placement:
        """Place a free-text address (road + house number, estate, alias, community name)."""
        text = normalise(address)
        if not text:
            return Placement(None, None, None, "none", 0.0, "empty address")
        placement = self._resolve_exact(text)
        if placement.placed or placement.method != "none":
            return placement
        romanised = self._resolve_romanised(address, text)
        if romanised is not None:
            return romanised
        fuzzy = self._resolve_fuzzy(text)
        return fuzzy or placement

    def _resolve_romanised(self, address: str, text: str) -> Placement | None:
        """An address in English or pinyin (No. 30 Nanyang Road), read back into Chinese;
        ``text`` is the address normalised (full-width letters and digits made half-width)."""
        chinese = self._romanised.to_chinese(text)
        if chinese is None:
            return None
        placement = self._resolve_exact(normalise(chinese))
        if placement.method == "none":
            return None
        read = f"read {address.strip()!r} as {chinese}"
        if not placement.placed:
            # Found the road but not the community (no number, or one outside every range):
            # say so with the Chinese name the resident meant.
            return replace(placement, rule=f"{placement.rule} ({read})")
        # A spelling is a little less sure than the characters: two names may sound alike.
        return replace(
            placement,
            method=f"{placement.method}~romanised",
            confidence=round(placement.confidence * 0.95, 3),
            rule=f"{placement.rule} ({read})",
        )

    def _resolve_exact(self, text: str) -> Placement:
        roads = _find_all(text, self._road_names)
        outside: Placement | None = None
        # A road with a house number is the most precise rule: try it first.
        for road_name, end in roads:
            number = _number_at(text[end:])
            if number is None:
                continue
            road = self._roads[road_name]
            hits = [c for lo, hi, c in road.ranges if _in_range(number, lo, hi)]
            if len(hits) == 1:
                c = hits[0]
                lo, hi = next((lo, hi) for lo, hi, cc in road.ranges if cc is c)
                return self._placed(
                    c, "road_number", 0.98, f"{road_name} {_span(lo, hi)} -> {c.name}"
                )
            if not hits and outside is None:
                outside = Placement(
                    None, None, None, "road_number_unknown", 0.0,
                    f"{road_name}{number}号 is outside every range of {road_name} in the gazetteer",
                )  # fmt: skip
        names = _find_all(text, self._place_names)
        if names:
            name, _ = names[0]
            kind, c = self._names[name]
            others = {self._names[n][1].code for n, _ in names} - {c.code}
            confidence = 0.95 if not others else 0.6
            notes = (f"the address also names {sorted(others)}",) if others else ()
            return self._placed(c, kind, confidence, f"{kind} {name} -> {c.name}", notes)
        if len(roads) >= 2 and (_JUNCTION.search(text) or len(roads) == 2):
            shared = set.intersection(*(self._roads[r].communities() for r, _ in roads))
            if len(shared) == 1:
                c = self._communities[shared.pop()]
                joined = " x ".join(r for r, _ in roads)
                return self._placed(c, "intersection", 0.9, f"junction {joined} -> {c.name}")
        if outside is not None:
            return outside
        if roads:
            road = self._roads[roads[0][0]]
            communities = sorted(road.communities())
            return Placement(
                None, None, None, "road_only", 0.0,
                f"{road.name} without a house number runs through {len(communities)} "
                f"communit{'y' if len(communities) == 1 else 'ies'} {communities}",
            )  # fmt: skip
        return Placement(None, None, None, "none", 0.0, "no road, estate or community recognised")

    def _resolve_fuzzy(self, text: str) -> Placement | None:
        """One-character typos in a road or estate name (愚圆路 for 愚园路)."""
        best: tuple[str, str] | None = None
        present = set(text)
        for name in [*self._road_names, *self._place_names]:
            # A name within one edit of a piece of the text shares all but one character.
            if len(name) < 3 or sum(ch in present for ch in name) < len(name) - 1:
                continue
            # Three-character names only tolerate a wrong character, longer ones a missing or
            # extra one too: a deletion in 华山路 would match any 华山 in the text.
            sizes = (len(name),) if len(name) == 3 else (len(name) - 1, len(name), len(name) + 1)
            for size in sizes:
                for start in range(0, max(0, len(text) - size) + 1):
                    piece = text[start : start + size]
                    if piece and _edit_distance_at_most_one(piece, name):
                        best = best or (name, piece)
                        break
                if best:
                    break
            if best:
                break
        if best is None:
            return None
        name, piece = best
        corrected = normalise(text.replace(piece, name, 1))
        placement = self._resolve_exact(corrected)
        if not placement.placed:
            return None
        return Placement(
            placement.street, placement.community, placement.district,
            f"{placement.method}~fuzzy", round(placement.confidence * 0.85, 3),
            f"{placement.rule} (read {piece!r} as {name!r})", placement.notes,
        )  # fmt: skip

    def _placed(
        self, c: _Community, method: str, confidence: float, rule: str, notes: tuple[str, ...] = ()
    ) -> Placement:
        return Placement(c.street, c.code, c.district, method, confidence, rule, notes)

    # ------------------------------------------------------------------ coordinates

    def locate(self, lon: float, lat: float) -> Placement:
        """Place a (lon, lat) point in the community polygon that covers it."""
        if not (_finite(lon) and _finite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return Placement(None, None, None, "none", 0.0, f"coordinates ({lon}, {lat}) invalid")
        point = Point(lon, lat)
        hits = [c for prep, _, c in self._polygons if prep.covers(point)]
        if len(hits) == 1:
            c = hits[0]
            return self._placed(c, "polygon", 0.97, f"point ({lon:.6f}, {lat:.6f}) in {c.name}")
        if len(hits) > 1:
            # On a shared edge: the point is between communities; take the first, less sure.
            c = hits[0]
            names = "/".join(h.name for h in hits)
            return self._placed(c, "polygon_edge", 0.6, f"point on the border of {names}")
        return Placement(
            None, None, None, "none", 0.0,
            f"point ({lon}, {lat}) lies in no community of this city",
        )  # fmt: skip

    # ------------------------------------------------------------------ completion

    def _labels(self) -> list[dict[str, str]]:
        labels: list[dict[str, str]] = []
        for road in self._roads.values():
            for lo, hi, c in road.ranges:
                labels.append(
                    {"label": f"{road.name}{_span(lo, hi)}号", "key": road.name,
                     "street": c.street, "community": c.code}
                )  # fmt: skip
        for name, (_, c) in self._names.items():
            labels.append({"label": name, "key": name, "street": c.street, "community": c.code})
        return sorted(labels, key=lambda item: item["label"])

    def suggest(self, prefix: str, k: int = 10) -> list[dict[str, str]]:
        """Address completion: gazetteer entries whose name starts with (or holds) ``prefix``.

        A typed house number keeps only the ranges where a number starting with those digits
        can lie (华山路1 -> 华山路1-199号, not 华山路400-799号).
        """
        text = normalise(prefix)
        if not text or k <= 0:
            return []
        road_part = re.match(r"^(\D+?)(\d+)", numbers_to_digits_loose(text))
        digits = road_part.group(2) if road_part else None
        key = road_part.group(1) if road_part else text
        starts = [item for item in self._all_labels if item["key"].startswith(key)]
        holds = [item for item in self._all_labels if key in item["key"] and item not in starts]
        chosen = [*starts, *holds]
        if digits is not None:
            chosen = [item for item in chosen if self._label_may_hold(item, digits)]
        return [{k_: v for k_, v in item.items() if k_ != "key"} for item in chosen[:k]]

    def _label_may_hold(self, item: dict[str, str], digits: str) -> bool:
        road = self._roads.get(item["key"])
        if road is None:
            return False
        for lo, hi, c in road.ranges:
            if c.code != item["community"]:
                continue
            for extra in range(0, 5):
                first = int(digits) * 10**extra
                last = first + 10**extra - 1
                if (hi is None or first <= hi) and (lo is None or last >= lo):
                    return True
        return False


def numbers_to_digits_loose(text: str) -> str:
    """Chinese numerals anywhere in a short prefix to digits (for completion)."""
    return re.sub(
        f"[{NUMERAL_CHARS}]+", lambda m: str(chinese_number(m.group(0)) or m.group(0)), text
    )


def _find_all(text: str, names: list[str]) -> list[tuple[str, int]]:
    """Non-overlapping occurrences of names (longest first), as (name, end index), by position."""
    taken = [False] * len(text)
    found: list[tuple[int, str, int]] = []
    for name in names:
        start = text.find(name)
        while start != -1:
            end = start + len(name)
            if not any(taken[start:end]):
                for i in range(start, end):
                    taken[i] = True
                found.append((start, name, end))
            start = text.find(name, end)
    found.sort()
    return [(name, end) for _, name, end in found]


def _number_at(rest: str) -> int | None:
    match = _NUMBER_AFTER_ROAD.match(rest)
    if not match:
        return None
    raw, suffix = match.group(1), match.group(2)
    if raw.isdigit():
        return int(raw)
    if suffix is None:
        return None  # 华山路一带 / 华山路上: Chinese numerals only count before 号 or 弄
    return chinese_number(raw)


def _in_range(number: int, lo: int | None, hi: int | None) -> bool:
    return (lo is None or number >= lo) and (hi is None or number <= hi)


def _span(lo: int | None, hi: int | None) -> str:
    if lo is None and hi is None:
        return ""
    return f"{lo if lo is not None else ''}-{hi if hi is not None else ''}"


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    for i in range(len(long_)):
        if long_[:i] + long_[i + 1 :] == short:
            return True
    return False
