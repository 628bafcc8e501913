"""Vietnamese text normalisation and matching keys: the only copy.

Three layers, each used for one purpose:

* :func:`nfc` — what is stored and shown: Unicode NFC (UAX #15), with the
  Icelandic eth (``Ð``/``ð``, U+00D0/U+00F0) that some keyboards type for
  ``Đ``/``đ`` read as the Vietnamese letter.
* :func:`syllable_key` — what accented text is compared by: case-folded, the
  five tone marks lifted off the vowel they sit on and written after the
  syllable, so that the old and new tone placements are equal
  (``hoà`` = ``hòa``, ``tuý`` = ``túy``, ``khoẻ`` = ``khỏe``), which NFC alone
  does not do. Vowel-quality marks (ă â ê ô ơ ư) and đ stay: ``ma túy`` and
  ``mà tùy`` keep different keys.
* :func:`fold` — what text typed without diacritics is compared by: every
  mark removed and đ → d. Folding makes different words collide
  (``đuối nước``/``dưới nước``), so it is used only for text that has no
  diacritics to begin with (see :func:`analyse`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple, TypeVar

__all__ = [
    "PLAIN_MARK",
    "Token",
    "analyse",
    "fold",
    "has_diacritics",
    "nfc",
    "search_form",
    "syllable_key",
    "tokens",
]

_ETH = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})
_TONES = {"\u0300": "2", "\u0301": "1", "\u0303": "4", "\u0309": "3", "\u0323": "5"}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PLAIN_LINE_MIN_TOKENS = 4
_PLAIN_DOC_RATIO = 0.05
_MEMO_WORDS = 65536
_MEMO_CHARS = 32  # a Vietnamese syllable has at most 7 letters
_T = TypeVar("_T")


def nfc(text: str) -> str:
    """NFC-normalise ``text``, read Ð/ð as Đ/đ and drop C0 control characters.

    ``str.translate`` with a table looks up every character (about 80 ns
    each); the eth letters are rare, so they are looked for first.
    """
    normal = unicodedata.normalize("NFC", text)
    if "\u00d0" in normal or "\u00f0" in normal:
        normal = normal.translate(_ETH)
    return _CONTROL.sub("", normal)


def _memoised_when_short(fn: Callable[[str], _T]) -> Callable[[str], _T]:
    """``fn`` memoised for words of up to ``_MEMO_CHARS`` characters.

    Classifying meets the same words again and again, but a long run of
    letters (a hash, a base64 line, an attacker's filler) must not stay in
    memory: 65,536 of them could hold gigabytes.
    """
    cached = lru_cache(maxsize=_MEMO_WORDS)(fn)

    @functools.wraps(fn)
    def call(word: str) -> _T:
        return cached(word) if len(word) <= _MEMO_CHARS else fn(word)

    call.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return call


@_memoised_when_short
def syllable_key(word: str) -> str:
    """The tone-placement-independent, case-free key of one syllable."""
    decomposed = unicodedata.normalize("NFD", word.translate(_ETH).casefold())
    tone = ""
    base = []
    for char in decomposed:
        mark = _TONES.get(char)
        if mark is None:
            base.append(char)
        else:
            tone = mark
    return unicodedata.normalize("NFC", "".join(base)) + tone


@_memoised_when_short
def fold(word: str) -> str:
    """Strip every diacritic and case: the form of text typed without marks."""
    decomposed = unicodedata.normalize("NFD", word.translate(_ETH).casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("\u0111", "d")


def has_diacritics(text: str) -> bool:
    """True when any word of ``text`` carries a Vietnamese mark or đ."""
    return any(_forms(w).marked for w in tokens(text))


def tokens(text: str) -> list[str]:
    """The words (syllables) of ``text``: runs of letters and digits."""
    return _WORD.findall(text)


def search_form(text: str) -> str:
    """NFC and case-folded: the form regular-expression rules run against."""
    return nfc(text).casefold()


class Token(NamedTuple):
    """One syllable ready for matching.

    ``plain`` marks a syllable from text typed without diacritics; such a
    token is compared by ``folded``, any other by ``key``. ``look`` is the
    one of the two it is compared by, a plain one behind a NUL: one string
    to look a token up by, in an index holding both forms of each phrase.
    """

    key: str
    folded: str
    plain: bool
    look: str


#: What a plain token's ``look`` starts with (no word contains it).
PLAIN_MARK = "\x00"


class _Forms(NamedTuple):
    """What matching needs of one word, computed once per word: both of its tokens."""

    marked: bool
    as_plain: Token
    as_marked: Token


@_memoised_when_short
def _forms(word: str) -> _Forms:
    """A word's forms, once per word (classifying meets the same words again and again)."""
    key, folded = syllable_key(word), fold(word)
    marked = folded != word.casefold()
    plain, accented = Token(key, folded, True, PLAIN_MARK + folded), Token(key, folded, False, key)
    return _Forms(marked, plain, accented)


_MARKED, _AS_PLAIN, _AS_MARKED = itemgetter(0), itemgetter(1), itemgetter(2)


def analyse(text: str) -> tuple[Token, ...]:
    """Split ``text`` into matchable syllables, deciding per line whether it was typed plain.

    A line of four words or more with no diacritic at all is plain. A shorter
    line (a signature, a heading such as "STEM") takes the whole text's mode:
    plain when fewer than 5% of its words carry a mark.
    """
    lines = [[_forms(w) for w in tokens(line)] for line in text.splitlines()]
    total = sum(len(line) for line in lines)
    if not total:
        return ()
    marked_words = sum(sum(map(_MARKED, line)) for line in lines)
    doc_plain = marked_words < _PLAIN_DOC_RATIO * total
    out: list[Token] = []
    for line in lines:
        if not line:
            continue
        plain = not any(map(_MARKED, line)) and (len(line) >= _PLAIN_LINE_MIN_TOKENS or doc_plain)
        out.extend(map(_AS_PLAIN if plain else _AS_MARKED, line))
    return tuple(out)
