"""The demo city (示范市, shared/demo_city) is complete and consistent.

These are the checks a city's own jurisdiction and matter files should pass too: they load, every
street can take every street matter, communities do not overlap, and the gazetteer is unambiguous.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from shapely.geometry import Polygon

from shared.city import City, load_city
from shared.settings import DEMO_CITY, CommonSettings

STREET_OFFICES = {
    "party_admin",
    "party_building",
    "community_mgmt",
    "community_service",
    "community_safety",
    "community_autonomy",
    "business_env",
    "city_ops",
}
DISPATCHED_AGENCIES = {
    "police",
    "market_supervision",
    "urban_enforcement",
    "housing",
    "greening_sanitation",
    "water",
    "road_maintenance",
}
DISTRICT_ONLY = {"environment", "transport", "human_resources"}


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(DEMO_CITY / "jurisdiction.yaml", DEMO_CITY / "matters.yaml")


def test_settings_default_to_the_demo_city_files() -> None:
    fields = CommonSettings.model_fields
    assert fields["jurisdiction_file"].default == DEMO_CITY / "jurisdiction.yaml"
    assert fields["matters_file"].default == DEMO_CITY / "matters.yaml"
    assert (DEMO_CITY / "jurisdiction.yaml").is_file()
    assert (DEMO_CITY / "matters.yaml").is_file()
    readme = (DEMO_CITY / "README.md").read_text(encoding="utf-8")
    assert "APPEALS_JURISDICTION_FILE" in readme and "APPEALS_MATTERS_FILE" in readme


def test_shape_of_the_city(city: City) -> None:
    j = city.jurisdiction
    assert (j.city.code, j.city.name) == ("DM", "示范市")
    assert len(j.districts) == 2
    for district in j.districts:
        assert 2 <= len(district.streets) <= 3, district.code
        for street in district.streets:
            assert 3 <= len(street.communities) <= 4, street.code
            for community in street.communities:
                assert community.code.startswith(street.code + "-"), community.code
                assert community.aliases, f"{community.code} has no aliases"
                assert any(rule.estate for rule in community.addresses), community.code
                assert any(rule.road for rule in community.addresses), community.code


def test_every_street_has_every_unit_kind_once(city: City) -> None:
    for district, street in city.jurisdiction.streets():
        kinds = [unit.kind for unit in street.units]
        assert sorted(kinds) == sorted(STREET_OFFICES | DISPATCHED_AGENCIES), street.code
        for unit in street.units:
            assert unit.code.startswith(street.code + "-"), unit.code
            if unit.kind in STREET_OFFICES:
                assert unit.dispatched_by is None, unit.code
                continue
            parent = district.department_of_kind(unit.kind)
            assert parent is not None, f"{district.code} has no {unit.kind} department"
            assert unit.dispatched_by == parent.code, unit.code


def test_every_district_has_its_departments_and_a_dispatch_centre(city: City) -> None:
    for district in city.jurisdiction.districts:
        kinds = [department.kind for department in district.departments]
        assert len(kinds) == len(set(kinds)), district.code
        assert set(kinds) == DISPATCHED_AGENCIES | DISTRICT_ONLY, district.code
        assert district.dispatch_center == f"{district.code}-DC"
        assert city.unit_name(district.dispatch_center)


def test_every_street_has_every_kind_the_catalog_needs(city: City) -> None:
    street_needs: set[str] = set()
    district_needs: set[str] = set()
    for matter in city.catalog.matters:
        if matter.out_of_scope:
            continue
        needs = district_needs if matter.scope == "district" else street_needs
        needs.update([matter.owner or "", *matter.co_handlers])
    assert street_needs and district_needs
    for _, street in city.jurisdiction.streets():
        missing = street_needs - {unit.kind for unit in street.units}
        assert not missing, f"{street.code} lacks {sorted(missing)}"
    for district in city.jurisdiction.districts:
        missing = district_needs - {d.kind for d in district.departments}
        assert not missing, f"{district.code} lacks {sorted(missing)}"


def test_community_boundaries_are_valid_rectangles_that_do_not_overlap(city: City) -> None:
    shapes: dict[str, Polygon] = {}
    for _, _, community in city.jurisdiction.communities():
        ring = community.boundary
        assert len(ring) == 4, f"{community.code}: not a rectangle"
        assert len({lon for lon, _ in ring}) == 2 and len({lat for _, lat in ring}) == 2
        polygon = Polygon(ring)
        assert polygon.is_valid and polygon.area > 0, community.code
        assert polygon.envelope.equals(polygon), f"{community.code}: not axis-aligned"
        shapes[community.code] = polygon
    assert len(shapes) == len(city.communities)
    for (a, pa), (b, pb) in itertools.combinations(shapes.items(), 2):
        assert pa.intersection(pb).area == pytest.approx(0.0, abs=1e-12), f"{a} overlaps {b}"


def test_gazetteer_road_ranges_are_sane_and_unambiguous(city: City) -> None:
    ranges: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    whole_roads: dict[str, list[str]] = defaultdict(list)
    for _, _, community in city.jurisdiction.communities():
        for rule in community.addresses:
            if rule.road is None:
                continue
            assert (rule.from_ is None) == (rule.to is None), f"{community.code} {rule.road}"
            if rule.from_ is None or rule.to is None:
                whole_roads[rule.road].append(community.code)
                continue
            assert 1 <= rule.from_ <= rule.to <= 9999, f"{community.code} {rule.road}"
            ranges[rule.road].append((rule.from_, rule.to, community.code))
    for road, owners in whole_roads.items():
        assert owners == [owners[0]], f"{road} without numbers belongs to {owners}"
        assert road not in ranges, f"{road} is both numbered and whole"
    for road, spans in ranges.items():
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            assert end < start, f"{road}: {first} and {second} share house numbers"
    crossing = [road for road, spans in ranges.items() if len({c for *_, c in spans}) >= 3]
    assert crossing, "no road crosses three or more communities"


def test_estates_and_aliases_name_one_community_each(city: City) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for _, _, community in city.jurisdiction.communities():
        for name in [community.name, *community.aliases]:
            owners[name].add(community.code)
        for rule in community.addresses:
            if rule.estate:
                owners[rule.estate].add(community.code)
    shared = {name: sorted(codes) for name, codes in owners.items() if len(codes) > 1}
    assert not shared


def test_catalog_is_a_realistic_12345_catalog(city: City) -> None:
    matters = city.catalog.matters
    assert 35 <= len(matters) <= 50
    for matter in matters:
        assert len(matter.examples) >= 2, matter.code
        assert len(matter.keywords) >= 5, matter.code
        assert len(set(matter.keywords)) == len(matter.keywords), matter.code
        if matter.comprehensive:
            assert matter.co_handlers, f"{matter.code}: comprehensive without co-handlers"
    assert {m.transfer_number for m in matters if m.out_of_scope} == {"110", "119", "120"}
    assert sum(m.comprehensive for m in matters) >= 4
    assert sum(m.scope == "district" for m in matters) >= 3
    assert {m.urgency for m in matters} == {"urgent", "normal", "advice"}
    families = {m.code.split(".")[0] for m in matters}
    for family in ["noise", "city", "sanitation", "road", "water", "housing", "traffic"]:
        assert family in families
    for family in ["market", "safety", "service", "oos"]:
        assert family in families


def test_no_keyword_points_at_two_matters(city: City) -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for matter in city.catalog.matters:
        for keyword in matter.keywords:
            owners[keyword].append(matter.code)
    ambiguous = {k: codes for k, codes in owners.items() if len(codes) > 1}
    assert not ambiguous
