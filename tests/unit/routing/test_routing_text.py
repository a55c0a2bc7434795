"""Chinese numerals, normalisation and clause splitting."""

from __future__ import annotations

import pytest

from services.routing.domain.text import chinese_number, clauses, normalise, numbers_to_digits


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("九百", 900),
        ("一百二十", 120),
        ("两百", 200),
        ("一千零二十五", 1025),
        ("一百零五", 105),
        ("二百五十", 250),
        ("十二", 12),
        ("一千一百", 1100),
        ("一百五", 150),
        ("一二零", 120),
        ("三万", 30000),
    ],
)
def test_chinese_numbers(word: str, value: int) -> None:
    assert chinese_number(word) == value


@pytest.mark.parametrize("word", ["", "百货", "号", "abc"])
def test_not_a_number(word: str) -> None:
    assert chinese_number(word) is None


def test_house_numbers_become_digits_but_other_numerals_stay() -> None:
    assert numbers_to_digits("延安西路九百号三楼") == "延安西路900号三楼"
    assert numbers_to_digits("康定路一百五十弄") == "康定路150弄"


def test_normalise_full_width_and_case() -> None:
    assert normalise("  ＡＢＣ１２３　号 ") == "abc123 号"


def test_clauses_split_on_chinese_and_western_punctuation() -> None:
    assert clauses("井盖没了，很危险！快来. ok") == ["井盖没了", "很危险", "快来", "ok"]
