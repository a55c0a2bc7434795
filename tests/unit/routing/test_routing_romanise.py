"""Gazetteer names spelt in English and pinyin, read back into Chinese (pure logic)."""

from __future__ import annotations

import pytest

from services.routing.domain.romanise import RomanisedNames, spellings

NAMES = [
    "南京西路",
    "延安西路",
    "安西路",
    "长宁路",
    "石门一路",
    "武夷花园",
    "武夷路",
    "吕家新村",
    "华山路",
]


def test_a_name_is_spelt_in_pinyin_and_english() -> None:
    spelt = spellings("南京西路")
    assert {"nanjingxilu", "nanjingwestroad", "nanjingwestrd", "nanjingwrd"} <= spelt
    assert "changningroad" in spellings("长宁路")  # a second reading of 长
    assert {"shimen1stroad", "shimenyilu"} <= spellings("石门一路")
    assert {"wuyigarden", "wuyihuayuan"} <= spellings("武夷花园")
    assert {"westnanjingroad", "westnanjingrd"} <= spellings("南京西路")  # direction first
    assert "xinanjinglu" not in spellings("南京西路")  # in pinyin the direction stays after
    assert {"lvjiaxincun", "lujianewvillage", "lyujiaxincun"} <= spellings("吕家新村")


@pytest.fixture(scope="module")
def names() -> RomanisedNames:
    return RomanisedNames(NAMES)


@pytest.mark.parametrize(
    ("address", "chinese"),
    [
        ("No. 1200 Nanjing West Road", "南京西路1200号"),
        ("Nanjing Xi Lu #1200", "南京西路1200号"),
        ("CHANGNING RD. NO. 620, ROOM 5", "长宁路620号"),
        ("Chang Ning Road 620", "长宁路620号"),  # syllables spelt apart
        ("1400 Yan'an West Road", "延安西路1400号"),  # not 安西路
        ("Anxi Road 10", "安西路10号"),
        ("Wuyi Garden, Wuyi Road", "武夷花园，武夷路"),
        ("Shimen 1st Road 100", "石门一路100号"),
        ("南京西路 No. 1200", None),  # the characters are the gazetteer's own business
    ],
)
def test_addresses_are_read_back_into_chinese(
    names: RomanisedNames, address: str, chinese: str | None
) -> None:
    if chinese is None:
        assert names.to_chinese(address) is None
    else:
        assert names.to_chinese(address) == chinese


@pytest.mark.parametrize(
    "address",
    [
        "near the old market",
        "I live west of the road",  # "west" and "road" alone name nothing
        "Jingxi Road 3",  # inside no name at a word boundary
        "12345",
        "",
    ],
)
def test_other_text_names_nothing(names: RomanisedNames, address: str) -> None:
    assert names.to_chinese(address) is None


def test_a_spelling_two_names_share_is_not_used() -> None:
    # 华山路 and 花山路 are both "Huashan Road": a guess would place the appeal wrongly.
    names = RomanisedNames(["华山路", "花山路", "南阳路"])
    assert names.to_chinese("No. 5 Huashan Road") is None
    assert names.to_chinese("No. 5 Nanyang Road") == "南阳路5号"
