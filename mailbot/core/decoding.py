"""Bytes and header text to ``str``: charsets, RFC 2047 encoded words, one-line values.

Everything here is total: a wrong, unknown or hostile charset label never
raises, it only costs replacement characters. The order of attempts is the
declared charset, then UTF-8, then windows-1258 (the Vietnamese Windows code
page, which Outlook still writes) and finally the declared charset (or UTF-8)
with ``errors="replace"``.
"""

from __future__ import annotations

import binascii
import codecs
import re
import unicodedata

from mailbot.core.text import nfc

__all__ = [
    "decode_bytes",
    "decode_words",
    "header_text",
    "multiline_text",
    "one_line",
    "quick_nfc",
    "unfold",
    "unsurrogate",
]

# Labels that every byte sequence "decodes" in, so a mislabel goes unnoticed:
# when such a part is valid UTF-8 with non-ASCII bytes, UTF-8 is what it is.
_PERMISSIVE = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15", "cp1258"})
_FALLBACKS = ("utf-8", "cp1258")
_SURROGATE = re.compile("[\udc80-\udcff]")
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")
# RFC 2047 section 2: =?charset[*language]?B|Q?encoded-text?=
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
# RFC 5322 section 2.2.3: unfolding removes CRLF that precedes white space.
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# Characters that end a line somewhere (str.splitlines, terminals, mail
# generators) or hide text: never allowed in a one-line value.
_LINE_BREAKS = re.compile("[\r\n\t\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_INVISIBLE = re.compile("[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r" {2,}")
# What nfc() would change besides normalisation: eth letters and C0 controls.
_NFC_SENSITIVE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00d0\u00f0]")


def _codec(charset: str | None) -> str | None:
    """The Python codec name of a MIME charset label, or None when unknown."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is well-formed UTF-8 (RFC 3629)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` labelled ``charset``; never raises, never returns surrogates.

    A permissive single-byte label on valid non-ASCII UTF-8 is read as UTF-8
    (the common mislabel); a label Python does not know (``x-unknown``) falls
    back to UTF-8 and then windows-1258.
    """
    codec = _codec(charset)
    if data.isascii() and codec in (None, "utf-8", *_PERMISSIVE):
        return data.decode("ascii")
    attempts: list[str] = []
    if codec is not None and not (codec in _PERMISSIVE and _is_utf8(data)):
        attempts.append(codec)
    attempts.extend(_FALLBACKS)
    for name in attempts:
        try:
            return _no_surrogates(data.decode(name))
        except (UnicodeError, LookupError):
            continue
    return data.decode("utf-8", "replace")


def _no_surrogates(text: str) -> str:
    """Replace lone surrogates (some codecs, e.g. utf-7, can produce them)."""
    if _ANY_SURROGATE.search(text):
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def unsurrogate(value: str) -> str:
    """Turn raw 8-bit header bytes (kept by ``email`` as surrogate escapes) into text.

    RFC 6532 allows UTF-8 in header fields; older clients send their code page.
    """
    if not _SURROGATE.search(value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return decode_bytes(raw, "utf-8")


def unfold(value: str) -> str:
    """RFC 5322 section 2.2.3 unfolding: drop the CRLF before continuation white space."""
    return _FOLD.sub("", value)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The octets of one encoded word (RFC 2047 section 4), or None when malformed."""
    try:
        raw = text.encode("ascii")
        if encoding in "qQ":
            return binascii.a2b_qp(raw, header=True)
        return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except (UnicodeError, ValueError, binascii.Error):
        return None


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value.

    Adjacent words in one charset are joined before decoding, since senders
    split multi-byte characters across words; white space between encoded
    words is dropped (RFC 2047 section 6.2). A malformed word stays literal.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        octets = _word_bytes(match.group(2), match.group(3))
        pos = match.end()
        if octets is None:
            octets, charset = match.group(0).encode("utf-8"), "utf-8"
        else:
            charset = match.group(1)
        if gap and not (pending_charset is not None and gap.isspace()):
            _flush(out, pending, pending_charset)
            pending_charset = None
            out.append(gap)
        if charset.lower() != (pending_charset or "").lower():
            _flush(out, pending, pending_charset)
            pending_charset = charset
        pending += octets
    _flush(out, pending, pending_charset)
    out.append(value[pos:])
    return "".join(out)


def _flush(out: list[str], pending: bytearray, charset: str | None) -> None:
    """Decode the octets gathered from adjacent encoded words and append them."""
    if pending:
        out.append(decode_bytes(bytes(pending), charset))
        pending.clear()


def one_line(text: str) -> str:
    """NFC text safe to echo into a header: no line breaks, controls or bidi overrides.

    CR/LF inside a decoded Subject would become a new header when echoed
    (CVE-2024-6923, RELIABILITY case 19), so every line break turns into a space.
    """
    flat = _LINE_BREAKS.sub(" ", text)
    return _SPACES.sub(" ", _INVISIBLE.sub("", nfc(flat))).strip()


def header_text(raw: str) -> str:
    """A raw header value as display text: 8-bit fixed, unfolded, decoded, one line.

    Plain ASCII without encoded words (most trace headers) takes a fast path
    with the same result: controls become spaces, nothing needs NFC.
    """
    if raw.isascii() and "=?" not in raw:
        flat = " ".join(raw.split())
        if flat.isprintable():
            return flat
    return one_line(decode_words(unfold(unsurrogate(raw))))


def multiline_text(text: str) -> str:
    """Body text: line ends as ``\\n`` and NFC, keeping tabs and line breaks."""
    return quick_nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


def quick_nfc(text: str) -> str:
    """``nfc(text)``, skipping the work when it would change nothing.

    Text that is already NFC, has no eth (Ð/ð) and no C0 control character
    other than tab and line breaks is returned as is; anything else goes
    through :func:`mailbot.core.text.nfc`. A property test keeps the two equal.
    """
    if _NFC_SENSITIVE.search(text) is None and unicodedata.is_normalized("NFC", text):
        return text
    return nfc(text)
