"""Whole-syllable phrase matching (mailbot.core.matching)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.matching import (
    Match,
    PhraseSet,
    _required_literal,
    build_index,
    compile_phrases,
)
from mailbot.core.text import analyse

PHRASES = compile_phrases(
    [
        ("ma túy", 3.0, "drugs"),
        ("ma", 1.0, "ghost"),
        ("đuối nước", 3.0, "drowning"),
        ("hòa", 1.0, "peace"),
    ]
)


def _labels(text: str) -> dict[str, int]:
    return {m.phrase.text: m.count for m in PHRASES.search(text)}


def test_whole_syllables_only() -> None:
    """'ma' never matches inside 'mang' or 'mai'."""
    assert _labels("mang theo mai") == {}


def test_phrase_and_count() -> None:
    assert _labels("Phòng chống MA TÚY, ma tuý và ma túy") == {"ma túy": 3, "ma": 3}


def test_accented_text_keeps_homographs_apart() -> None:
    """'mà tùy' is not 'ma túy' when the writer typed the marks."""
    assert "ma túy" not in _labels("Việc này mà tùy các em quyết định nhé")


def test_plain_text_matches_folded() -> None:
    """Text typed without diacritics matches by folding."""
    assert _labels("hoc sinh bi du do su dung ma tuy o gan truong") == {"ma túy": 1, "ma": 1}


def test_folding_is_not_used_for_accented_text() -> None:
    """'dưới nước' (under water) is not 'đuối nước' (drowning) when typed with marks."""
    assert _labels("Các em chơi dưới nước rất vui vẻ hôm nay") == {}
    assert _labels("hai em hoc sinh bi duoi nuoc chieu qua") == {"đuối nước": 1}


def test_ambiguous_plain_syllables_need_their_marks() -> None:
    """Typed plain, "anh" is mostly "anh" (brother, you), not "ảnh" (photo): a one-word
    phrase with marks listed as ambiguous matches only accented text; longer ones still
    match plain text."""
    sets = {"media": compile_phrases([("ảnh", 1.0, "media"), ("gửi ảnh", 1.0, "media")])}
    index = build_index(sets, frozenset({"anh"}))

    def found(text: str) -> dict[str, int]:
        return {m.phrase.text: m.count for m in index.find(analyse(text), text).get("media", [])}

    assert found("anh Minh oi, em hoi anh chut viec nay nhe") == {}
    assert found("em gui anh buoi sinh hoat lop hom qua") == {"gửi ảnh": 1}
    assert found("Em gửi ảnh buổi sinh hoạt") == {"ảnh": 1, "gửi ảnh": 1}
    plain_index = build_index(sets)
    assert plain_index.find(analyse("anh Minh oi em hoi"), "").get("media")


def test_tone_placement() -> None:
    assert _labels("Hoà bình") == {"hòa": 1}


@pytest.mark.parametrize("text", ["", "   ", "!!!", "\n\n"])
def test_empty_text(text: str) -> None:
    assert _labels(text) == {}


def test_regex_runs_on_lower_case_text() -> None:
    """Regexes see NFC, case-folded text."""
    phrases = compile_phrases([], [(re.compile(r"71-nq/tw"), 2.0, "II")])
    found = phrases.search("Nghị quyết 71-NQ/TW của Bộ Chính trị")
    assert [(m.phrase.label, m.count) for m in found] == [("II", 1)]


# -- the index of many sets: a trie of syllables ------------------------------

WORDS = ["học", "hoc", "sinh", "ma", "túy", "tuy", "mà", "tùy", "đuối", "duoi", "nước", "nuoc",
         "an", "toàn", "toan", "giao", "thông", "thong"]  # fmt: skip
SET_PHRASES = {
    "a": ["học sinh", "ma túy", "an toàn giao thông", "học"],
    "b": ["đuối nước", "an toàn", "học sinh học", "giao thông an toàn giao"],
    "c": ["mà tùy", "ma"],
}


def _sets() -> dict[str, PhraseSet]:
    return {
        name: compile_phrases([(p, 1.0, name) for p in phrases])
        for name, phrases in SET_PHRASES.items()
    }


def _counts(found: list[Match]) -> set[tuple[str, int]]:
    return {(m.phrase.text, m.count) for m in found}


PIECES = WORDS + [p for phrases in SET_PHRASES.values() for p in phrases] + [
    "an toan giao thong", "hoc sinh hoc", "giao thong an toan giao"
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=8), max_size=6))
def test_index_finds_what_each_set_finds(lines: list[list[str]]) -> None:
    """Across lines typed plain and with marks, the index's one scan finds, set by set,
    exactly the phrases and counts of a plain scan of that set alone."""
    text = "\n".join(" ".join(line) for line in lines)
    sets = _sets()
    found = build_index(sets).find(analyse(text), text)
    for name, phrases in sets.items():
        assert _counts(found.get(name, [])) == _counts(phrases.search(text))


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"\bph (em|cháu)\b", "ph "),
        (r"^\s*\[?tin", ""),
        (r"https?://", "http"),
        ("ab?c", "a"),
        ("abc+", "ab"),
        ("a|b", ""),
        ("(?i)abc", ""),
        (r"x{2}y", ""),
        (r"71[-\s]?nq/tw", "71"),
    ],
)
def test_a_regex_is_tried_only_on_text_holding_its_leading_literal(
    pattern: str, literal: str
) -> None:
    """The literal every match starts with (after anchors), or "" when there is none."""
    assert _required_literal(re.compile(pattern)) == literal
