"""Placing addresses and points with the reference city's gazetteer and polygons."""

from __future__ import annotations

import pytest

from services.routing.domain.gazetteer import Gazetteer
from shared.city import City


@pytest.fixture(scope="module")
def gazetteer(city: City) -> Gazetteer:
    return Gazetteer(city.jurisdiction)


@pytest.mark.parametrize(
    ("address", "community"),
    [
        # 华山路 runs through two communities of JA-JAS and one of CN-HYL.
        ("华山路120号", "JA-JAS-C01"),
        ("华山路250号", "JA-JAS-C02"),
        ("华山路600号", "CN-HYL-C03"),
        ("愚园路168弄", "JA-JAS-C03"),
        ("愚园路1250弄", "CN-HYL-C04"),
        # Chinese numerals in house numbers.
        ("延安西路九百号", "CN-HYL-C02"),
        ("华山路一百二十号", "JA-JAS-C01"),
        ("南京西路一千零二十五号（梅龙镇广场附近）", "JA-NJX-C03"),
        ("鲁班路两百号", "HP-WLQ-C01"),
        ("康定路一百五十弄", "JA-SME-C01"),
        # 延安西路 must not be read as 安西路.
        ("延安西路1500号", "CN-XHL-C01"),
        ("安西路100号", "CN-HYL-C04"),
        # Estates, aliases and community names.
        ("茂名公寓3号楼", "JA-NJX-C02"),
        ("张园旁边弄堂", "JA-NJX-C02"),
        ("张家宅居委", "JA-SME-C03"),
        ("新福康里居委", "JA-SME-C01"),
        ("愚谷社区", "JA-JAS-C03"),
        # A junction of two roads that share one community.
        ("平武路番禺路路口", "CN-XHL-C04"),
        ("陕西北路威海路路口", "JA-NJX-C01"),
        # Full-width digits.
        ("华山路１２０号", "JA-JAS-C01"),
    ],
)
def test_addresses_are_placed(gazetteer: Gazetteer, address: str, community: str) -> None:
    placement = gazetteer.resolve(address)
    assert placement.community == community, placement
    assert placement.street == community.rsplit("-", 1)[0]
    assert placement.confidence >= 0.85
    assert placement.rule


@pytest.mark.parametrize(
    ("address", "community", "fixed"),
    [("愚圆路168弄", "JA-JAS-C03", "愚园路"), ("乌鲁木齐路88号", "JA-JAS-C01", "乌鲁木齐北路")],
)
def test_typos_within_reason(
    gazetteer: Gazetteer, address: str, community: str, fixed: str
) -> None:
    placement = gazetteer.resolve(address)
    assert placement.community == community
    assert placement.method.endswith("fuzzy")
    assert fixed in placement.rule
    assert placement.confidence < 0.9  # a corrected address is less sure than an exact one


@pytest.mark.parametrize(
    ("address", "method"),
    [
        ("新华路", "road_only"),  # a road without a number runs through several communities
        ("南京西路", "road_only"),
        ("华山路900号", "road_number_unknown"),  # outside every range
        ("我们小区楼下", "none"),
        ("near Jing'an Temple", "none"),
        ("", "none"),
    ],
)
def test_unplaceable_addresses(gazetteer: Gazetteer, address: str, method: str) -> None:
    placement = gazetteer.resolve(address)
    assert not placement.placed
    assert placement.method == method
    assert placement.rule


@pytest.mark.parametrize(
    ("address", "community", "chinese"),
    [
        # As residents who write in English, and Open311 clients, give addresses.
        ("No. 30 Nanyang Road", "JA-JAS-C04", "南阳路30号"),
        ("No. 1200 Nanjing West Road", "JA-NJX-C03", "南京西路1200号"),
        ("Changning Road No.620", "CN-HYL-C05", "长宁路620号"),  # 长 read chang, not zhang
        ("Nanjing Xi Lu 1200", "JA-NJX-C03", "南京西路1200号"),
        ("250 Fangbang Middle Rd.", "HP-YY-C02", "方浜中路250号"),
        ("Zhongshan South 1st Road 200", "HP-WLQ-C03", "中山南一路200号"),
        ("Wuyi Garden, Wuyi Road", "CN-HYL-C05", "武夷花园"),
        ("Huashan Apartments, Building 3", "JA-JAS-C01", "华山公寓"),
        (
            "Ｎｏ．３０ Ｎａｎｙａｎｇ Ｒｏａｄ",
            "JA-JAS-C04",
            "南阳路30号",
        ),  # full-width, as some IMEs type
        # 延安西路, not 安西路, as with the characters.
        ("1400 Yan'an West Road", "CN-XHL-C01", "延安西路1400号"),
        # The direction first, as English often has it.
        ("1450 West Nanjing Road", "JA-JAS-C04", "南京西路1450号"),
        ("1700 Middle Yan'an Road", "JA-JAS-C01", "延安中路1700号"),
    ],
)
def test_english_and_pinyin_addresses_are_placed(
    gazetteer: Gazetteer, address: str, community: str, chinese: str
) -> None:
    placement = gazetteer.resolve(address)
    assert placement.community == community, placement
    assert placement.method.endswith("~romanised")
    assert chinese in placement.rule  # the rule says how the address was read
    # Less sure than the characters (names may sound alike), still above any threshold.
    assert 0.85 <= placement.confidence < gazetteer.resolve(chinese).confidence


@pytest.mark.parametrize(
    ("address", "method"),
    [
        ("Yan'an West Road", "road_only"),  # runs through three communities
        ("No. 9000 Nanyang Road", "road_number_unknown"),
        ("the lane behind the market", "none"),
    ],
)
def test_english_addresses_not_placed_say_why(
    gazetteer: Gazetteer, address: str, method: str
) -> None:
    placement = gazetteer.resolve(address)
    assert not placement.placed
    assert placement.method == method


def test_points_are_placed_in_polygons(gazetteer: Gazetteer) -> None:
    placement = gazetteer.locate(121.474682, 31.193337)
    assert (placement.street, placement.community) == ("HP-WLQ", "HP-WLQ-C03")
    assert placement.method == "polygon"


def test_point_on_a_shared_edge_is_less_sure(gazetteer: Gazetteer) -> None:
    placement = gazetteer.locate(121.444, 31.219)  # the border of 华山社区 and 景华社区
    assert placement.community in {"JA-JAS-C01", "JA-JAS-C02"}
    assert placement.confidence < 0.9


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(0.0, 0.0), (500.0, 31.2), (121.4, -95.0), (31.22, 121.44), (float("nan"), 31.2)],
)
def test_absurd_coordinates_are_not_placed(gazetteer: Gazetteer, lon: float, lat: float) -> None:
    assert not gazetteer.locate(lon, lat).placed


def test_address_completion(gazetteer: Gazetteer) -> None:
    labels = [s["label"] for s in gazetteer.suggest("华山路1")]
    assert labels == ["华山路1-199号"]
    all_huashan = gazetteer.suggest("华山")
    assert {s["community"] for s in all_huashan} >= {"JA-JAS-C01", "JA-JAS-C02", "CN-HYL-C03"}
    assert len(gazetteer.suggest("华山", k=2)) == 2
    assert gazetteer.suggest("") == []
