"""Catalog-owner tools: the 职责下沉准入 rule and what-if replay of a changed catalog."""

from __future__ import annotations

import pytest

from services.routing.domain.catalog_change import check_catalog_change
from services.routing.domain.replay import compare_catalogs, destination
from services.routing.domain.router import Router, RouteRequest
from shared.city import City, Matter, MatterCatalog


def _with(catalog: MatterCatalog, *matters: Matter, drop: str | None = None) -> MatterCatalog:
    kept = tuple(
        m for m in catalog.matters if m.code != drop and m.code not in {x.code for x in matters}
    )
    return MatterCatalog(urgency=catalog.urgency, matters=(*kept, *matters))


NEW_DUTY = Matter(
    code="city.billboards",
    name="违规户外广告",
    urgency="normal",
    owner="urban_enforcement",
    keywords=("广告牌", "横幅"),
)


def test_unchanged_catalog_has_no_errors(city: City) -> None:
    assert check_catalog_change(city.catalog, city.catalog) == []


def test_new_street_matter_needs_approval(city: City) -> None:
    errors = check_catalog_change(city.catalog, _with(city.catalog, NEW_DUTY))
    assert len(errors) == 1 and "city.billboards" in errors[0] and "approval" in errors[0]
    approved = NEW_DUTY.model_copy(update={"approval": "JA-2026-017"})
    assert check_catalog_change(city.catalog, _with(city.catalog, approved)) == []


def test_new_district_matter_needs_no_approval(city: City) -> None:
    district = NEW_DUTY.model_copy(update={"scope": "district", "owner": "environment"})
    assert check_catalog_change(city.catalog, _with(city.catalog, district)) == []


def test_owner_moved_to_a_street_unit_needs_approval(city: City) -> None:
    old = city.catalog.get("env.factory_air")
    assert old is not None and old.scope == "district"
    moved = old.model_copy(update={"scope": "street", "owner": "urban_enforcement"})
    errors = check_catalog_change(city.catalog, _with(city.catalog, moved))
    assert len(errors) == 1 and "env.factory_air" in errors[0]
    street = city.catalog.get("sanitation.pests")
    assert street is not None
    reassigned = street.model_copy(update={"owner": "greening_sanitation"})
    errors = check_catalog_change(city.catalog, _with(city.catalog, reassigned))
    assert (
        len(errors) == 1 and "community_mgmt to street unit kind greening_sanitation" in errors[0]
    )


def test_blank_approval_does_not_count(city: City) -> None:
    blank = NEW_DUTY.model_copy(update={"approval": "  "})
    assert len(check_catalog_change(city.catalog, _with(city.catalog, blank))) == 1


def test_replay_reports_what_moves_where(city: City, router: Router) -> None:
    pests = city.catalog.get("sanitation.pests")
    assert pests is not None
    moved = pests.model_copy(update={"owner": "greening_sanitation", "approval": "JA-2026-018"})
    new_city = City.build(city.jurisdiction, _with(city.catalog, moved))
    new_router = Router.from_city(new_city)
    requests = [
        ("a1", RouteRequest("小区花坛里老鼠成群，晚上到处乱窜", "华山公寓")),
        ("a2", RouteRequest("路灯坏了一个多礼拜，晚上黑漆漆的", "华山路120号")),
    ]
    report = compare_catalogs(router, new_router, requests)
    assert (report.total, report.changed) == (2, 1)
    assert report.moves == (
        {"from": "JA-JAS-CM", "to": "JA-JAS-GS", "count": 1, "examples": ["a1"]},
    )
    assert report.to_dict()["items"][0]["id"] == "a1"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"transfer": "110"}, "transfer:110"),
        ({"triage": True, "dispatch_center": "JA-DC"}, "triage:JA-DC"),
        ({"unit": "JA-JAS-RM"}, "JA-JAS-RM"),
    ],
)
def test_destination_labels(router: Router, fields: dict[str, object], expected: str) -> None:
    from dataclasses import replace

    base = router.route(RouteRequest("路灯坏了", "华山路120号"))
    assert destination(replace(base, **fields)) == expected  # type: ignore[arg-type]
