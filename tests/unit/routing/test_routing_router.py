"""The router's decisions on the reference city: matrix, returns, triage, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.routing.domain.router import (
    LabelledAppeal,
    RouteOutcome,
    Router,
    RouteRequest,
    RouterModelError,
)
from shared.city import City, MatterCatalog


def test_plain_matter_goes_to_the_owner_unit_of_the_street(router: Router) -> None:
    outcome = router.route(
        RouteRequest("华山路二百五十号对面人行道上有个井盖翘起来了", "华山路250号")
    )
    assert outcome.dispatched
    assert (outcome.street, outcome.community) == ("JA-JAS", "JA-JAS-C02")
    assert (outcome.matter, outcome.unit, outcome.urgency) == (
        "road.manhole_cover", "JA-JAS-RM", "urgent",
    )  # fmt: skip
    assert outcome.dispatch_center is None
    assert any(r.startswith("place: road_number") for r in outcome.reasons)
    assert any("road_maintenance" in r for r in outcome.reasons)
    assert outcome.candidates[0]["matter"] == "road.manhole_cover"
    assert outcome.candidates[0]["unit"] == "JA-JAS-RM"


def test_comprehensive_matter_is_led_by_city_ops_with_co_handlers(router: Router) -> None:
    outcome = router.route(
        RouteRequest("一套两室的房子住了十几个人，上下铺，二房东隔成好几间出租", "延安中路1520弄")
    )
    assert outcome.matter == "housing.group_rental"
    assert outcome.unit == "JA-JAS-OPS"
    assert outcome.co_handlers == ("JA-JAS-HO", "JA-JAS-PCS", "JA-JAS-UE")
    assert any(r.startswith("rule: comprehensive") for r in outcome.reasons)


def test_district_scope_goes_to_the_district_department(router: Router) -> None:
    outcome = router.route(
        RouteRequest("公司拖欠两个月工资，老板一直拖着不发，包工头也找不到", "大田路120号")
    )
    assert outcome.matter == "labor.wage_arrears"
    assert (outcome.street, outcome.unit) == ("JA-SME", "JA-HR")


@pytest.mark.parametrize(
    ("text", "address", "number", "matter"),
    [
        (
            "快点！华山路一百号那边有人在抢包，往南边跑了",
            "华山路100号",
            "110",
            "oos.crime_in_progress",
        ),
        ("垃圾箱房着火了，火很大", "华山公寓", "119", "oos.fire"),
        ("我爸胸口痛得厉害，喘不上气", None, "120", "oos.medical_emergency"),
    ],
)
def test_emergencies_are_transferred_not_dispatched(
    router: Router, text: str, address: str | None, number: str, matter: str
) -> None:
    outcome = router.route(RouteRequest(text, address))
    assert outcome.transfer == number
    assert outcome.matter == matter
    assert outcome.unit is None and not outcome.triage and not outcome.dispatched
    assert outcome.urgency == "urgent"


def test_an_emergency_wins_over_an_operator_hint(router: Router) -> None:
    outcome = router.route(
        RouteRequest("厨房起火了，烟好大", "鲁班新村", matter_hint="housing.property_mgmt")
    )
    assert outcome.transfer == "119"


def test_returned_appeal_is_rerouted_without_the_returning_unit(router: Router) -> None:
    request = RouteRequest("小区门口的共享单车堆成山，轮椅推不过去", "嘉园公寓")
    first = router.route(request)
    assert first.unit == "JA-JAS-UE"
    again = router.route(
        RouteRequest(request.text, request.address, excluded_units=("JA-JAS-UE",), return_count=1)
    )
    assert again.unit != "JA-JAS-UE"
    assert any("excluded" in r and "JA-JAS-UE" in r for r in again.reasons)
    assert all(c["unit"] != "JA-JAS-UE" or c["score"] == 0 for c in again.candidates[:1])


def test_second_return_goes_to_the_district_dispatch_centre(router: Router) -> None:
    outcome = router.route(
        RouteRequest(
            "小区门口的共享单车堆成山，轮椅推不过去",
            "嘉园公寓",
            excluded_units=("JA-JAS-UE",),
            return_count=2,
        )
    )
    assert outcome.triage and outcome.unit is None
    assert outcome.dispatch_center == "JA-DC"
    assert any("returned 2 times" in r for r in outcome.reasons)


def test_unknown_place_is_triaged_with_the_matter_guessed(router: Router) -> None:
    outcome = router.route(RouteRequest("新华路上有个工地半夜施工，吵得不行", "新华路"))
    assert outcome.triage and outcome.unit is None
    assert outcome.matter == "noise.construction_night"
    assert outcome.street is None
    assert any("place is unknown" in r for r in outcome.reasons)


def test_absurd_coordinates_are_triaged(router: Router) -> None:
    outcome = router.route(RouteRequest("路灯不亮", location=(0.0, 0.0)))
    assert outcome.triage and outcome.unit is None
    assert outcome.dispatch_center == router.default_dispatch_center


def test_coordinates_place_the_appeal(router: Router) -> None:
    outcome = router.route(RouteRequest("这一段路灯全不亮", location=(121.455521, 31.23236)))
    assert (outcome.community, outcome.unit) == ("JA-NJX-C03", "JA-NJX-RM")


def test_low_confidence_is_triaged_at_the_district_of_the_place(city: City) -> None:
    strict = Router.from_city(city, threshold=0.999)
    outcome = strict.route(RouteRequest("这里的情况很不好，希望有人管一管", "华阳路150号"))
    assert outcome.triage and outcome.unit is None
    assert outcome.dispatch_center == "CN-DC"
    assert any("below threshold" in r for r in outcome.reasons)
    assert outcome.confidence < 0.999


def test_valid_matter_hint_is_trusted(router: Router) -> None:
    outcome = router.route(
        RouteRequest("请处理一下", "华山路120号", matter_hint="road.street_light")
    )
    assert (outcome.matter, outcome.unit) == ("road.street_light", "JA-JAS-RM")
    assert outcome.dispatched


def test_invalid_matter_hint_is_ignored_with_a_reason(router: Router) -> None:
    outcome = router.route(RouteRequest("路灯坏了一个多礼拜", "华山路120号", matter_hint="no.such"))
    assert outcome.matter == "road.street_light"
    assert any("not in the catalog" in r for r in outcome.reasons)


def test_danger_raises_urgency(router: Router) -> None:
    outcome = router.route(
        RouteRequest("茂名公寓三号楼电梯卡在七楼和八楼中间了，里面关着一个老太太", "茂名公寓")
    )
    assert outcome.matter == "housing.elevator_failure"
    assert outcome.urgency == "urgent"


def test_passing_mentions_do_not_decide_the_matter(router: Router) -> None:
    text = (
        "华山路三百号那边修井盖的施工队，连着三个晚上都是半夜十二点以后开切割机，"
        "声音刺耳得很。我不是说井盖不能修啊，能不能白天修"
    )
    assert router.route(RouteRequest(text, "华山路300号")).matter == "noise.construction_night"


def test_a_denied_topic_counts_against_its_matter(city: City) -> None:
    from services.routing.domain.classifier import ClassifierSettings

    text = "不是狗的问题，隔壁那家宠物美容店天天把剪下来的毛扫到人行道上"
    lenient = Router.from_city(city, settings=ClassifierSettings(denial_penalty=0.0))
    penalised = Router.from_city(city)
    dog = "animal.pet_nuisance"
    assert (
        dict(penalised.suggest_matters(text, 45))[dog]
        < dict(lenient.suggest_matters(text, 45))[dog]
    )


def test_confidence_falls_with_a_close_runner_up(router: Router) -> None:
    outcome = router.route(RouteRequest("路灯坏了一个多礼拜，晚上黑咕隆咚", "华山路120号"))
    line = next(r for r in outcome.reasons if r.startswith("confidence "))
    unit, runner_up, place = (float(x.split()[-1]) for x in line.split(": ")[1].split(", "))
    # The geometric mean of the unit's probability and its lead, times the placement's confidence.
    expected = (unit * (unit - runner_up)) ** 0.5 * place
    assert outcome.confidence == pytest.approx(expected, abs=0.01)
    assert outcome.confidence <= unit * place + 0.01  # the reason shows 2 decimals


def test_english_text_is_classified(router: Router) -> None:
    outcome = router.route(
        RouteRequest("The street lights have been off for a week, pitch dark.", "武夷路120号")
    )
    assert (outcome.matter, outcome.unit) == ("road.street_light", "CN-HYL-RM")


BAD_REQUESTS: list[Any] = [
    RouteRequest(""),
    RouteRequest("   "),
    RouteRequest(None),  # type: ignore[arg-type]
    RouteRequest(123),  # type: ignore[arg-type]
    RouteRequest("路灯坏了", address=42),  # type: ignore[arg-type]
    RouteRequest("路灯坏了", location=(float("inf"), 31.2)),
    RouteRequest("路灯坏了", location=("a", "b")),  # type: ignore[arg-type]
    RouteRequest("路灯坏了", location=(1.0,)),  # type: ignore[arg-type]
    RouteRequest("路灯坏了", excluded_units="JA-JAS-RM"),  # type: ignore[arg-type]
    RouteRequest("路灯坏了", return_count=-1),
    RouteRequest("路灯坏了", matter_hint=5),  # type: ignore[arg-type]
    RouteRequest("\x00\ufffd" * 3000, address="\x00" * 500),
    RouteRequest("路灯坏了" * 10000, address="华山路120号"),
    "not a request",
    None,
]


@pytest.mark.parametrize("request_", BAD_REQUESTS)
def test_bad_input_never_raises(router: Router, request_: Any) -> None:
    outcome = router.route(request_)
    assert isinstance(outcome, RouteOutcome)
    assert not outcome.dispatched or outcome.unit is not None
    assert outcome.reasons
    if outcome.triage:
        assert outcome.dispatch_center is not None


def test_explicit_bad_input_is_triaged_with_a_clear_reason(router: Router) -> None:
    outcome = router.route(RouteRequest("路灯坏了", return_count=-1))
    assert outcome.triage
    assert outcome.reasons[0].startswith("bad input: return_count")


def test_outcome_maps_onto_the_routing_decision_message(router: Router) -> None:
    from datetime import UTC, datetime

    from shared.events import RoutingDecision

    outcome = router.route(RouteRequest("井盖没了，一个大洞", "华山路120号"))
    data = outcome.to_dict()
    decision = RoutingDecision(
        decision_id="d1",
        appeal_id="a1",
        based_on_event_id="e1",
        decided_at=datetime.now(UTC),
        **data,
    )
    assert decision.unit == "JA-JAS-RM" and decision.candidates


def test_suggestions_for_the_operator_console(router: Router) -> None:
    matters = router.suggest_matters("楼下烧烤店油烟直接往楼上排", k=3)
    assert len(matters) == 3 and matters[0][0] == "env.cooking_fumes"
    assert matters[0][1] >= matters[1][1] >= matters[2][1]
    assert router.suggest_matters("") == []
    addresses = router.suggest_addresses("愚园路", k=10)
    assert {a["community"] for a in addresses} == {"JA-JAS-C03", "CN-HYL-C04", "CN-HYL-C05"}
    assert set(addresses[0]) == {"label", "street", "community"}


def test_training_on_labelled_appeals_changes_the_model(city: City) -> None:
    text = "小区里的健身步道上铺的塑胶开裂翻起来了"
    plain = dict(Router.from_city(city).suggest_matters(text, k=45))
    trained = Router.from_city(
        city, training=[LabelledAppeal("健身步道塑胶开裂翻起来", "road.damaged")] * 3
    )
    assert dict(trained.suggest_matters(text, k=45))["road.damaged"] > plain["road.damaged"]


def test_training_with_an_unknown_matter_is_refused(city: City) -> None:
    with pytest.raises(ValueError, match="not in the catalog"):
        Router.from_city(city, training=[LabelledAppeal("text", "no.such_matter")])


def test_threshold_out_of_range_is_refused(city: City) -> None:
    with pytest.raises(ValueError, match="threshold"):
        Router.from_city(city, threshold=1.5)


def test_model_round_trip(router: Router, city: City, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    router.save(path)
    loaded = Router.load(path, city)
    text = "楼上天天半夜拖椅子跑来跑去"
    assert loaded.suggest_matters(text) == router.suggest_matters(text)


def test_model_of_another_catalog_is_refused(router: Router, city: City, tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    router.save(path)
    changed = MatterCatalog(urgency=city.catalog.urgency, matters=city.catalog.matters[:-1])
    other = City.build(city.jurisdiction, changed)
    with pytest.raises(RouterModelError, match="another matter catalog"):
        Router.load(path, other)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(RouterModelError):
        Router.load(tmp_path / "junk.pkl", city)


def test_loading_a_model_teaches_jieba_its_words_again(
    router: Router, city: City, tmp_path: Path
) -> None:
    import jieba

    path = tmp_path / "model.pkl"
    router.save(path)
    jieba.del_word("下水道盖子")  # as in a fresh process that never trained
    assert jieba.dt.FREQ.get("下水道盖子") == 0
    Router.load(path, city)
    assert jieba.dt.FREQ["下水道盖子"] > 0
