"""Text handling for routing: normalisation, Chinese numerals, clauses and tokens.

Appeals arrive as typed or spoken Chinese (sometimes English, sometimes both): full-width
digits, house numbers written in words (九百号, 一百二十号, 两百号), asides and corrections.
This module turns such text into the pieces the gazetteer and the matter classifier work on.
jieba is initialised here once, quietly, and taught the catalog's and gazetteer's own words.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

import jieba

__all__ = [
    "add_words",
    "chinese_number",
    "clauses",
    "normalise",
    "numbers_to_digits",
    "tokens",
]

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9, "幺": 1}  # fmt: skip
_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS)
_NUMERAL_RUN = re.compile(f"[{NUMERAL_CHARS}]+")
_FULL_WIDTH = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "}
)

_jieba_lock = threading.Lock()
_jieba_ready = False


def normalise(text: str) -> str:
    """Full-width to half-width, collapse whitespace, lower-case Latin letters."""
    return re.sub(r"\s+", " ", text.translate(_FULL_WIDTH)).strip().lower()


def chinese_number(word: str) -> int | None:
    """The value of a Chinese numeral (一百二十 -> 120, 一千零二十五 -> 1025, 两百 -> 200).

    Also reads digit-by-digit forms (一二零 -> 120) and the spoken shortening 一百五 -> 150.
    Returns None when ``word`` is not a numeral.
    """
    if not word or any(ch not in _DIGITS and ch not in _UNITS for ch in word):
        return None
    if all(ch in _DIGITS for ch in word):
        return int("".join(str(_DIGITS[ch]) for ch in word))
    total = 0
    section = 0
    digit: int | None = None
    last_unit = 10**9
    for ch in word:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
            continue
        unit = _UNITS[ch]
        if unit == 10000:
            section = (section + (digit or 0)) * unit
            total += section
            section = 0
        else:
            # 十 alone means 10 (十二 = 12), so a missing digit before a unit counts as one.
            section += (1 if digit is None else digit) * unit
        last_unit = unit
        digit = None
    if digit is not None:
        # 一百五 = 150: a trailing digit after a unit without 零 counts in the next lower unit.
        section += digit * (last_unit // 10 if last_unit >= 100 and word[-2] != "零" else 1)
    return total + section


def numbers_to_digits(text: str) -> str:
    """Rewrite Chinese numerals written before 号/弄/支弄 (house and lane numbers) as digits."""

    def repl(match: re.Match[str]) -> str:
        value = chinese_number(match.group(1))
        return (str(value) if value is not None else match.group(1)) + match.group(2)

    return re.sub(f"([{NUMERAL_CHARS}]+)(号|弄|支弄)", repl, text)


# Clause boundaries: sentence and clause punctuation, Chinese and Western.
_CLAUSE_SPLIT = re.compile(r"[，,。.!！?？;；:：、\n…~～]+")


def clauses(text: str) -> list[str]:
    """Split a text into clauses at punctuation; empty pieces are dropped."""
    return [c.strip() for c in _CLAUSE_SPLIT.split(text) if c.strip()]


def _ensure_jieba() -> None:
    global _jieba_ready
    if _jieba_ready:
        return
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            logging.getLogger("jieba").setLevel(logging.WARNING)
            jieba.initialize()
            _jieba_ready = True


def add_words(words: Iterable[str]) -> None:
    """Teach jieba domain words (catalog keywords, road and estate names) so they stay whole."""
    _ensure_jieba()
    for word in words:
        word = word.strip()
        if len(word) >= 2 and not word.isascii():
            jieba.add_word(word, freq=2000)


_LATIN_WORD = re.compile(r"[a-z][a-z']+")
_STOP_LATIN = frozenset(
    "a an the is are was were be been to of in on at by for and or but it its this that there "
    "here i my me we our you your they their he she his her have has had do does did not no so "
    "very please can could would will with from as about".split()
)


def tokens(text: str) -> list[str]:
    """Word tokens of a normalised text: jieba words for Chinese, lower-case words for Latin."""
    _ensure_jieba()
    out: list[str] = []
    for word in jieba.lcut(text):
        word = word.strip()
        if not word or _CLAUSE_SPLIT.fullmatch(word):
            continue
        if word.isascii():
            out.extend(w for w in _LATIN_WORD.findall(word) if w not in _STOP_LATIN)
        else:
            out.append(word)
    return out
