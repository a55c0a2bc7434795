"""Passing mentions, the broader phrase table and the added emergency phrases (pure, no I/O)."""

from __future__ import annotations

import pytest

from services.routing.domain.emergency import detect_emergency
from services.routing.domain.lexicon import drop_passing_mentions, expand


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("我住在电梯房十二楼，楼下烧烤店的烟全飘进我家了", "电梯"),
        ("问了物业说是外面水管坏了，但也没个准话", "物业"),
        ("小区垃圾房旁边那块空地上，有人搭了个棚子住人", "垃圾"),
        ("老人晚上回来只能摸黑走，路灯好几天不亮", "老人"),
    ],
)
def test_a_generic_word_mentioned_in_passing_is_dropped(text: str, gone: str) -> None:
    assert gone not in drop_passing_mentions(text)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("我们单元的电梯这周停了三回", "电梯"),
        ("有人被困在电梯里了", "电梯"),
        ("物业公司把公共绿地租出去，收益也不公开", "物业"),
        ("物业费年年涨，服务越来越差", "物业"),
        ("垃圾箱房三天没人清运", "垃圾"),
        # The predicate may stand in the next clause.
        ("楼下的垃圾，已经三天没人来收了", "垃圾"),
        ("家里老人想申请上门助餐", "老人"),
    ],
)
def test_a_generic_word_that_is_the_complaint_is_kept(text: str, kept: str) -> None:
    assert kept in drop_passing_mentions(text)


def test_dropping_keeps_the_rest_of_the_text() -> None:
    text = "我住在电梯房十二楼，楼下烧烤店的烟全飘进我家了"
    assert drop_passing_mentions(text).replace(" ", "") == text.replace("电梯", "")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("都十二点了水泥泵车还在轰", "施工"),
        ("地铁口堆了几百辆小黄车", "共享单车"),
        ("邻居家的金毛在楼道里不拴绳", "宠物扰民"),
        ("包工头一分钱没给就跑了", "拖欠工资"),
        ("七十一路车二十分钟才来一班", "公交"),
        ("厨房下水管一直往上冒脏水", "下水道堵了"),
        ("小区内有住户在绿地上私自搭了棚屋", "小区违建"),
        ("Someone dumped an old mattress by the gate", "垃圾"),
    ],
)
def test_everyday_wording_gains_the_catalog_term(text: str, term: str) -> None:
    assert term in expand(text.lower())


@pytest.mark.parametrize(
    "text",
    [
        "新华路上的梧桐树很美，建议设置一些文化宣传牌",  # a tree named, nothing wrong with it
        "学校门口放学的时候很多家长",  # 门口 + 放学 is not a shop's loudspeaker
        "公园厕所的水龙头坏了",  # a broken tap is not a water cut
    ],
)
def test_loose_phrases_do_not_fire(text: str) -> None:
    expanded = expand(text)
    assert "修剪 大树" not in expanded
    assert "店门口放音乐" not in expanded
    assert "停水 没水 自来水" not in expanded


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("我奶奶吃饭的时候突然说不出话，半边身子不能动了", "120"),
        ("隔壁楼的阳台上有火，烧得很旺，快来人", "119"),
        ("现在有两个人拿工具在弄楼下邻居家的门锁", "110"),
    ],
)
def test_more_emergencies_are_seen(text: str, number: str) -> None:
    signal = detect_emergency(text)
    assert signal is not None and signal.transfer == number and signal.strong


@pytest.mark.parametrize(
    "text",
    ["这几天水压特别小，洗澡的时候热水器都打不着火", "楼下新开了一家火锅店，油烟很大"],
)
def test_lighting_a_heater_is_no_fire(text: str) -> None:
    assert detect_emergency(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "楼上新房东在重新弄房子，电钻从早上七点不到就开始响",
        "隔壁那户装修，天天冲击钻，礼拜天也不停",
        "my upstairs neighbour is renovating and drilling from 7 am",
    ],
)
def test_power_tools_in_a_neighbours_flat_are_renovation(text: str) -> None:
    # A neighbour's renovation is a dispute between neighbours (装修噪音), not a building site.
    added = expand(text).split("|")[-1]
    assert "装修噪音" in added
    assert "工地" not in added


@pytest.mark.parametrize(
    "text",
    [
        "对面工地半夜十二点还在打桩，电钻声不断",
        "楼下工地电锯声吵死了",  # a neighbour's word, but no renovation: the site stays a site
        "商场装修队的电钻声",  # renovation, but no neighbour's home
    ],
)
def test_power_tools_elsewhere_are_a_building_site(text: str) -> None:
    added = expand(text).split("|")[-1]
    assert "工地" in added
    assert "装修噪音" not in added


def test_dancing_is_read_in_every_form() -> None:
    for text in ("they dance every night", "dancers with a speaker", "she dances at 6 am"):
        assert "广场舞" in expand(text)
    assert "广场舞" not in expand("an abundance of rats")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        # Session 11, read from blind probes 17 and 18 after their measurement.
        ("丽园路120号前面马路中间陷下去一块，下过雨变成一个水塘", "路面破损"),
        ("早上起来米袋子被咬了个洞，灶台上一粒一粒黑色的屎", "老鼠"),
        ("地铁口那一堆小黄小蓝小绿，横七竖八倒一地", "共享单车"),
        ("一楼住户把楼前公共绿地用铁栅栏圈占，建了一间阳光房", "小区违建"),
    ],
)
def test_things_told_by_what_is_seen_gain_the_catalog_term(text: str, term: str) -> None:
    assert term in expand(text).split("|")[-1]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("狗咬了我家孩子", "老鼠"),  # a bite is not a rat's sign
        ("路边的绿地没人修剪", "小区违建"),
        ("马路上车太多了", "路面破损"),
    ],
)
def test_near_misses_do_not_gain_the_term(text: str, term: str) -> None:
    assert term not in expand(text)
