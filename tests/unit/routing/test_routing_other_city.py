"""Pointing the router at another city's files just works: nothing of XX市 is built in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from services.routing.domain.router import Router, RouteRequest
from shared.city import City, load_city

JURISDICTION = {
    "city": {"code": "YY", "name": "YY市"},
    "districts": [
        {
            "code": "HD",
            "name": "海淀区",
            "dispatch_center": "HD-DC",
            "departments": [{"code": "HD-ENV", "name": "海淀区生态环境局", "kind": "environment"}],
            "streets": [
                {
                    "code": "HD-ZGC",
                    "name": "中关村街道",
                    "units": [
                        {"code": "HD-ZGC-OPS", "name": "中关村城运中心", "kind": "city_ops"},
                        {"code": "HD-ZGC-ROAD", "name": "中关村道路所", "kind": "road_maintenance"},
                        {"code": "HD-ZGC-LAW", "name": "中关村城管", "kind": "urban_enforcement"},
                    ],
                    "communities": [
                        {
                            "code": "HD-ZGC-1",
                            "name": "科学院社区",
                            "addresses": [
                                {"road": "科学院南路", "from": 1, "to": 99},
                                {"estate": "科源小区"},
                            ],
                            "boundary": [
                                [116.30, 39.97],
                                [116.31, 39.97],
                                [116.31, 39.98],
                                [116.30, 39.98],
                            ],
                        },
                        {
                            "code": "HD-ZGC-2",
                            "name": "黄庄社区",
                            "addresses": [{"road": "科学院南路", "from": 100, "to": 300}],
                        },
                    ],
                }
            ],
        }
    ],
}
MATTERS = {
    "urgency": {
        "urgent": {"sign_minutes": 30, "respond_hours": 2, "resolve_workdays": 1},
        "normal": {"sign_minutes": 120, "respond_hours": 24, "resolve_workdays": 5},
        "advice": {"sign_minutes": 240, "respond_hours": 48, "resolve_workdays": 15},
    },
    "matters": [
        {
            "code": "road.lights",
            "name": "路灯不亮",
            "urgency": "normal",
            "owner": "road_maintenance",
            "keywords": ["路灯", "灯不亮"],
            "examples": ["路灯坏了好几天"],
        },
        {
            "code": "env.fumes",
            "name": "油烟扰民",
            "urgency": "normal",
            "owner": "city_ops",
            "co_handlers": ["urban_enforcement"],
            "comprehensive": True,
            "keywords": ["油烟", "排烟"],
            "examples": ["饭店油烟直排"],
        },
        {
            "code": "env.air",
            "name": "工厂废气",
            "urgency": "normal",
            "owner": "environment",
            "scope": "district",
            "keywords": ["废气", "刺鼻"],
            "examples": ["工厂排放刺鼻废气"],
        },
        {
            "code": "oos.fire",
            "name": "火灾（转119）",
            "urgency": "urgent",
            "owner": None,
            "out_of_scope": True,
            "keywords": ["着火"],
            "examples": ["着火了"],
        },
    ],
}


@pytest.fixture(scope="module")
def other_city(tmp_path_factory: pytest.TempPathFactory) -> City:
    root = tmp_path_factory.mktemp("yy")
    (root / "jurisdiction.yaml").write_text(yaml.safe_dump(JURISDICTION, allow_unicode=True))
    (root / "matters.yaml").write_text(yaml.safe_dump(MATTERS, allow_unicode=True))
    return load_city(root / "jurisdiction.yaml", root / "matters.yaml")


@pytest.fixture(scope="module")
def other_router(other_city: City) -> Router:
    return Router.from_city(other_city, threshold=0.5)


def test_other_city_routes_by_its_own_files(other_router: Router) -> None:
    lights = other_router.route(RouteRequest("路灯坏了好几天了", "科学院南路一百五十号"))
    assert (lights.community, lights.unit) == ("HD-ZGC-2", "HD-ZGC-ROAD")
    fumes = other_router.route(RouteRequest("楼下饭店油烟直排", "科源小区"))
    assert (fumes.unit, fumes.co_handlers) == ("HD-ZGC-OPS", ("HD-ZGC-LAW",))
    air = other_router.route(RouteRequest("工厂排放刺鼻废气", location=(116.305, 39.975)))
    assert air.unit == "HD-ENV"
    fire = other_router.route(RouteRequest("着火了，火很大", "科源小区"))
    assert fire.transfer == "119" and fire.matter == "oos.fire"
    unknown = other_router.route(RouteRequest("路灯坏了", "华山路120号"))
    assert unknown.triage and unknown.dispatch_center == "HD-DC"


def test_fast_scoring_equals_scikit_learn(router: Router, dev_texts: list[str]) -> None:
    classifier = router.classifier
    for text in dev_texts:
        fast = classifier._fast.log_proba(classifier._prepare(text))
        assert np.allclose(fast, classifier.model_log_proba(text), atol=1e-9)


@pytest.fixture(scope="module")
def dev_texts(city_dir: Path) -> list[str]:
    import json

    lines = (city_dir / "dev-appeals.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()][:60]
