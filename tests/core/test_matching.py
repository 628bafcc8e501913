"""Whole-syllable phrase matching (mailbot.core.matching)."""

from __future__ import annotations

import re

import pytest

from mailbot.core.matching import compile_phrases

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
