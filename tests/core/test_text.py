"""Vietnamese normalisation and matching keys (mailbot.core.text)."""

from __future__ import annotations

import unicodedata

import pytest

from mailbot.core.text import analyse, fold, has_diacritics, nfc, syllable_key


@pytest.mark.parametrize(
    ("old", "new"),
    [("hoà", "hòa"), ("tuý", "túy"), ("khoẻ", "khỏe"), ("thuỷ", "thủy"), ("Hoà", "HÒA")],
)
def test_tone_placement_and_case_do_not_matter(old: str, new: str) -> None:
    """The old and new tone placements give one key; NFC alone keeps them apart."""
    assert unicodedata.normalize("NFC", old.lower()) != unicodedata.normalize("NFC", new.lower())
    assert syllable_key(old) == syllable_key(new)


@pytest.mark.parametrize(
    ("a", "b"), [("ma", "mà"), ("túy", "tùy"), ("đuối", "dưới"), ("tử", "từ"), ("ma", "mạ")]
)
def test_keys_keep_words_that_folding_merges(a: str, b: str) -> None:
    """Accented words that differ keep different keys, though they fold alike."""
    assert syllable_key(a) != syllable_key(b)


def test_fold_strips_every_mark_and_d_bar() -> None:
    """Folding is the form of text typed without diacritics."""
    assert fold("Đuối") == "duoi"
    assert fold("nước") == "nuoc"


def test_nfc_reads_eth_as_d_bar_and_composes() -> None:
    """Ð/ð typed for Đ/đ, and NFD from a Mac, both become the NFC letter."""
    nfd = unicodedata.normalize("NFD", "bài viết")
    assert nfc(nfd) == "bài viết"
    assert nfc("Ðoàn ðội") == "Đoàn đội"


def test_nfc_drops_control_characters() -> None:
    """C0 controls other than tab and newline never survive."""
    assert nfc("a\x00b\x07c\td\n") == "abc\td\n"


def test_plain_lines_are_marked_plain_and_accented_ones_not() -> None:
    """A line typed without any mark is compared folded; an accented line by key."""
    toks = analyse("con toi bi ban bat nat o truong\nTrân trọng cảm ơn")
    assert all(t.plain for t in toks[:8])
    assert not any(t.plain for t in toks[8:])


def test_short_line_takes_the_documents_mode() -> None:
    """A short unaccented line inside accented text is not folded (a heading, a name)."""
    toks = analyse("Bài viết về hoạt động của trường\nSTEM\nnhiều học sinh tham gia")
    stem = [t for t in toks if t.key == "stem"]
    assert stem and not stem[0].plain


def test_has_diacritics() -> None:
    assert has_diacritics("con tôi")
    assert not has_diacritics("con toi bi danh")


def test_long_runs_of_letters_are_not_memoised() -> None:
    """Words are memoised (classifying meets them again and again), but not a long run of
    letters: thousands of distinct ones must not stay in memory, yet read the same."""
    from mailbot.core import text as text_mod  # noqa: PLC0415 - its private caches

    caches = (text_mod._forms, syllable_key, fold)
    before = [f.cache_info().currsize for f in caches]  # type: ignore[attr-defined]
    runs = [f"X{i:05d}" + "a" * 60 for i in range(300)]
    tokens = analyse(" ".join(runs))
    assert [t.key for t in tokens] == [run.lower() for run in runs]
    assert [f.cache_info().currsize for f in caches] == before  # type: ignore[attr-defined]
    analyse("kiểmtrabộnhớtạm")  # short, and met nowhere else
    assert text_mod._forms.cache_info().currsize > before[0]  # type: ignore[attr-defined]
