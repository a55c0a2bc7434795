"""Addresses written in English or pinyin (No. 30 Nanyang Road, Wuyi Garden, Nanjing Xi Lu).

The gazetteer's names are Chinese; a resident who writes in English, or an Open311 client,
gives the same place as "No. 1200 Nanjing West Road" or "Changning Road No.620". Each name is
spelt every way such an address may spell it: the pinyin of its proper part (with the other
readings of a character that has several: 长 in 长宁 is chang, not zhang), then its direction
(西: xi, west, w), ordinal (一: yi, 1st, no1) and kind (路: lu, road, rd; 花园: huayuan,
garden, gardens ...). An address is read as letters and numbers without spaces or punctuation,
the longest spelling found first, at word boundaries only (so 安西路's "anxilu" is not found
inside "yananxilu"), and rewritten in Chinese with its house number: "南京西路1200号". The
gazetteer then places that as it places any Chinese address, ranges and all.

A spelling shared by two names (two roads that sound alike) is not used: a guess would place
the appeal in the wrong community.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin, pinyin

__all__ = ["RomanisedNames"]

# Kinds of road and place, longest first, with the ways English and pinyin spell them.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("居委会", ("juweihui", "neighbourhoodcommittee", "neighborhoodcommittee",
             "residentscommittee", "residentcommittee")),
    ("居委", ("juwei", "neighbourhoodcommittee", "neighborhoodcommittee",
            "residentscommittee", "residentcommittee")),
    ("社区", ("shequ", "community", "neighbourhood", "neighborhood")),
    ("新村", ("xincun", "newvillage", "village", "estate")),
    ("新苑", ("xinyuan", "newgarden", "newgardens", "garden", "gardens")),
    ("花园", ("huayuan", "garden", "gardens")),
    ("公寓", ("gongyu", "apartments", "apartment", "mansions", "mansion")),
    ("别墅", ("bieshu", "villas", "villa")),
    ("大楼", ("dalou", "building", "mansion", "tower")),
    ("大厦", ("dasha", "building", "mansion", "tower")),
    ("华庭", ("huating", "court")),
    ("家园", ("jiayuan", "homeland", "garden", "gardens")),
    ("广场", ("guangchang", "plaza", "square")),
    ("小区", ("xiaoqu", "estate", "compound", "residentialarea")),
    ("大道", ("dadao", "avenue", "ave", "boulevard", "blvd")),
    ("大街", ("dajie", "street", "st", "avenue", "ave")),
    ("公路", ("gonglu", "highway", "road", "rd")),
    ("路", ("lu", "road", "rd")),
    ("街", ("jie", "street", "st")),
    ("巷", ("xiang", "lane", "alley")),
    ("弄", ("nong", "lane", "alley")),
    ("邨", ("cun", "village")),
    ("里", ("li", "lane")),
    ("坊", ("fang",)),
    ("苑", ("yuan", "garden", "gardens", "court")),
    ("园", ("yuan", "garden", "gardens", "park")),
)  # fmt: skip
_DIRECTIONS = {
    "东": ("dong", "east", "e"),
    "西": ("xi", "west", "w"),
    "南": ("nan", "south", "s"),
    "北": ("bei", "north", "n"),
    "中": ("zhong", "middle", "central", "mid"),
}
_ORDINALS = {
    "一": ("yi", "1st", "first", "no1", "1"),
    "二": ("er", "2nd", "second", "no2", "2"),
    "三": ("san", "3rd", "third", "no3", "3"),
    "四": ("si", "4th", "fourth", "no4", "4"),
}
# Fewer letters than this would be found by accident in ordinary English words.
_SHORTEST = 5
_TOKEN = re.compile(r"[a-z]+|[0-9]+")
_NUMBER_WORDS = frozenset({"no", "number", "num", "nr", "hao"})


class RomanisedNames:
    """English and pinyin spellings of a gazetteer's names, back to the Chinese names."""

    def __init__(self, names: Iterable[str]) -> None:
        owners: dict[str, set[str]] = {}
        for name in names:
            for spelling in spellings(name):
                if len(spelling) >= _SHORTEST:
                    owners.setdefault(spelling, set()).add(name)
        self._names = {s: next(iter(n)) for s, n in owners.items() if len(n) == 1}
        self._longest_first = sorted(self._names, key=len, reverse=True)

    def to_chinese(self, address: str) -> str | None:
        """The address with its romanised names in Chinese ("南阳路30号"), or None when it
        names none (or has no Latin letters at all)."""
        tokens = _TOKEN.findall(address.lower())
        if not any(t.isalpha() for t in tokens):
            return None
        joined = "".join(tokens)
        starts, ends, owner = set(), set(), []
        position = 0
        for i, token in enumerate(tokens):
            starts.add(position)
            owner.extend([i] * len(token))
            position += len(token)
            ends.add(position)
        taken = [False] * len(joined)
        found: list[tuple[int, int, str]] = []  # (first token, last token, Chinese name)
        for spelling in self._longest_first:
            start = joined.find(spelling)
            while start != -1:
                end = start + len(spelling)
                if start in starts and end in ends and not any(taken[start:end]):
                    taken[start:end] = [True] * (end - start)
                    found.append((owner[start], owner[end - 1], self._names[spelling]))
                start = joined.find(spelling, start + 1)
        if not found:
            return None
        found.sort()
        used: set[int] = set()
        pieces = []
        for first, last, name in found:
            number = _house_number(tokens, first, last, used)
            pieces.append(f"{name}{number}号" if number is not None else name)
        return "，".join(pieces)


def _house_number(tokens: list[str], first: int, last: int, used: set[int]) -> int | None:
    """The number written just after the name (Road No. 620) or just before it (No. 30 Road)."""
    for index in (*_after(tokens, last), *_before(tokens, first)):
        if index not in used:
            used.add(index)
            return int(tokens[index])
    return None


def _after(tokens: list[str], last: int) -> list[int]:
    i = last + 1
    while i < len(tokens) and tokens[i] in _NUMBER_WORDS:
        i += 1
    return [i] if i < len(tokens) and tokens[i].isdigit() else []


def _before(tokens: list[str], first: int) -> list[int]:
    i = first - 1
    return [i] if i >= 0 and tokens[i].isdigit() else []


def spellings(name: str) -> set[str]:
    """Every way an English or pinyin address may spell ``name`` (lower-case, no spaces)."""
    proper, direction, ordinal, kind = _split(name)
    if not proper:
        return set()
    readings = _readings(proper)
    after = [readings, *(part for part in (direction, ordinal, kind) if part)]
    out = {"".join(combo) for combo in itertools.product(*after)}
    if direction:
        # English puts the direction first as well: West Nanjing Road, North Urumqi Road.
        english = tuple(d for d in direction if len(d) > 2 and d not in _PINYIN_DIRECTIONS)
        before = [english, readings, *(part for part in (ordinal, kind) if part)]
        out |= {"".join(combo) for combo in itertools.product(*before)}
    return out


_PINYIN_DIRECTIONS = frozenset({"dong", "xi", "nan", "bei", "zhong"})
_Part = tuple[str, ...] | None


def _split(name: str) -> tuple[str, _Part, _Part, _Part]:
    """南京西路 -> ("南京", ("xi", "west", "w"), None, ("lu", "road", "rd"))."""
    rest = name
    kind: _Part = None
    for chinese, spelt in _KINDS:
        if rest.endswith(chinese) and len(rest) > len(chinese):
            rest, kind = rest[: -len(chinese)], spelt
            break
    ordinal: _Part = None
    direction: _Part = None
    # An ordinal, then a direction, before the kind: 中山南一路, 石门一路, 乌鲁木齐北路.
    if kind and len(rest) > 2 and rest[-1] in _ORDINALS:
        rest, ordinal = rest[:-1], _ORDINALS[rest[-1]]
    if kind and len(rest) > 2 and rest[-1] in _DIRECTIONS:
        rest, direction = rest[:-1], _DIRECTIONS[rest[-1]]
    return rest, direction, ordinal, kind


def _readings(text: str) -> tuple[str, ...]:
    """Pinyin of ``text`` as one word: the usual reading, and each with one character read
    another way (长宁: zhangning by the dictionary, changning as the city says it)."""
    usual = [_plain(s) for s in lazy_pinyin(text, style=Style.NORMAL)]
    every = pinyin(text, style=Style.NORMAL, heteronym=True)
    out = {"".join(usual)}
    if len(every) == len(usual):
        for i, alternatives in enumerate(every):
            for other in alternatives:
                out.add("".join([*usual[:i], _plain(other), *usual[i + 1 :]]))
    # ü is written v, u or yu (吕: lv, lu, lyu).
    return tuple(sorted({v for s in out for v in (s, s.replace("v", "u"), s.replace("v", "yu"))}))


def _plain(syllable: str) -> str:
    return re.sub(r"[^a-z]", "", syllable.lower())
