"""Strict parsing of the one ``From`` mailbox, and checking of recipient addresses.

Python 3.11.7's ``email.utils.getaddresses`` has no ``strict=True`` (that
arrived with the CVE-2023-27043 fix in 3.11.10/3.12.6), and
``email.headerregistry`` costs about 300 µs per header and decodes RFC 2047
words in odd places, so the sender is parsed here: RFC 5322 section 3.4
``mailbox`` only (``[display-name] <addr-spec>`` or a bare ``addr-spec``),
without the obsolete forms. Anything else is refused with a reason, because
the sender decides trust (approvals) and the address must be exactly what
the wire says: an encoded word never becomes an address (Mailsploit), an
``@`` in the display name never becomes the address, and a route portion
(``<@relay:user@host>``) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.core.decoding import decode_words, one_line, unfold, unsurrogate
from mailbot.core.model import Address

__all__ = ["SenderResult", "addr_problem", "parse_sender", "recipients"]

_MAX_FROM_CHARS = 2000
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u00c0-\u200a\u2010-\u2027\u2030-\ud7ff\ue000-\U0010ffff]"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_LOCAL = re.compile(rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*|{_QUOTED})")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TLD = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]|xn--[a-z0-9-]+")
# RFC 5322 section 3.2.3 specials that may not stand unquoted in a phrase
# (the period is tolerated: obs-phrase, and common in "Nguyen T. Hoa").
_PHRASE_SPECIALS = frozenset('@,;:<>[]\\"')
_CONTROL = re.compile("[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class SenderResult:
    """The sender, or why there is none; ``notes`` are non-fatal oddities."""

    address: Address | None
    problem: str | None = None
    notes: tuple[str, ...] = ()


def _refuse(problem: str) -> SenderResult:
    """No sender, and why."""
    return SenderResult(None, problem)


def _domain_problem(domain: str) -> str | None:
    """Why ``domain`` is not a valid host name (RFC 1035/5890), or None."""
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return "invalid internationalised domain"
    labels = ascii_domain.lower().split(".")
    if len(labels) < 2 or len(ascii_domain) > 253:
        return "domain is not a fully qualified host name"
    if not all(_LABEL.fullmatch(label) for label in labels):
        return "invalid domain"
    if not _TLD.fullmatch(labels[-1]):
        return "invalid top-level domain"
    return None


def addr_problem(spec: str) -> str | None:
    """Why ``spec`` is not a plain RFC 5322 addr-spec, or None when it is one."""
    local, at, domain = spec.rpartition("@")
    if not at or not local:
        return "address has no local part or no domain"
    if "=?" in local or "=?" in domain:
        return "encoded word in address"
    if _CONTROL.search(spec) or len(local) > 64 or len(spec) > 254:
        return "invalid local part"
    if not _LOCAL.fullmatch(local):
        return "invalid local part"
    return _domain_problem(domain)


def _mask(value: str) -> tuple[str, str] | None:
    """Blank out comments and mark quoted-string interiors, keeping positions.

    Returns (clean, mask): ``clean`` is ``value`` with comments turned to
    spaces; ``mask`` is ``clean`` with quoted text replaced by ``x`` so that
    structural characters can be found in it. None when quotes or comments
    do not close.
    """
    if '"' not in value and "(" not in value and ")" not in value and "\\" not in value:
        return value, value
    clean: list[str] = []
    mask: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        shown, masked = char, char
        if escaped:
            escaped, masked = False, "x"
            shown = " " if depth else char
        elif char == "\\" and (quoted or depth):
            escaped, masked = True, "x"
            shown = " " if depth else char
        elif quoted:
            quoted, masked = char != '"', "x" if char != '"' else '"'
        elif char == "(" or (depth and char == ")"):
            depth += 1 if char == "(" else -1
            shown = masked = " "
        elif depth:
            shown = masked = " "
        elif char == '"':
            quoted = True
        clean.append(shown)
        mask.append(masked)
    if depth or quoted or escaped:
        return None
    return "".join(clean), "".join(mask)


def _structure_problem(mask: str) -> str | None:
    """Why the masked value is not one mailbox: lists, groups, stray brackets."""
    if "," in mask:
        return "more than one mailbox"
    opens = mask.count("<")
    if opens != mask.count(">") or opens > 1:
        return "malformed angle brackets"
    if ";" in mask or (":" in mask and not opens):
        return "group syntax"
    return None


def _split_angle(clean: str, mask: str) -> tuple[str, str] | str:
    """Split ``display <addr-spec>`` into its two halves, or return the problem."""
    start, end = mask.index("<"), mask.index(">")
    if end < start or mask[end + 1 :].strip():
        return "malformed angle brackets"
    if ":" in mask[:start]:
        return "group syntax"
    spec = clean[start + 1 : end].strip()
    if spec.startswith("@") or ":" in mask[start:end]:
        return "route portion in address"
    if any(c in _PHRASE_SPECIALS for c in mask[:start].replace('"', "")):
        return "special character outside quotes in display name"
    return clean[:start].strip(), spec


def _split_mailbox(value: str) -> tuple[str, str] | str:
    """Split one mailbox into (display, addr-spec), or return the problem."""
    masked = _mask(value)
    if masked is None:
        return "unbalanced quotes or comments"
    clean, mask = masked
    problem = _structure_problem(mask)
    if problem is not None:
        return problem
    if "<" not in mask:
        return "", clean.strip()
    return _split_angle(clean, mask)


def _display_name(display: str) -> str:
    """Unquote (RFC 5322 section 3.2.4) and decode (RFC 2047) a display name, NFC."""
    if '"' in display:
        display = re.sub(r'\\(.)|"', lambda m: m.group(1) or "", display)
    return one_line(decode_words(display))


def _header_problem(values: list[str], ambiguous: bool) -> str | None:
    """Why the From fields themselves (not their content) cannot give one sender."""
    if ambiguous:
        return "ambiguous From header line"
    if not values:
        return "no From header"
    if len(values) > 1:
        return f"{len(values)} From headers"
    return None


def parse_sender(values: list[str], *, ambiguous: bool = False) -> SenderResult:
    """The one mailbox of the message's ``From`` header values (RFC 5322 section 3.6.2).

    ``ambiguous`` is set by the caller when the header block holds a
    ``From`` line the parser could not file as a header (``From :``).
    """
    problem = _header_problem(values, ambiguous)
    if problem is not None:
        return _refuse(problem)
    value = unfold(unsurrogate(values[0]))
    if len(value) > _MAX_FROM_CHARS or "\r" in value or "\n" in value or "\x00" in value:
        return _refuse("malformed From header")
    if not value.strip():
        return _refuse("empty From header")
    split = _split_mailbox(value)
    if isinstance(split, str):
        return _refuse(split)
    display, spec = split
    problem = addr_problem(spec) if spec else "empty address"
    if problem is not None:
        return _refuse(problem)
    name = _display_name(display)
    notes = ("from: '@' in display name",) if "@" in name else ()
    return SenderResult(Address(name, spec.lower()), None, notes)


def recipients(
    pairs: list[tuple[str, str]],
) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    """Addresses from ``[(name, addr), ...]`` pairs, invalid ones dropped.

    To and Cc only inform (who else was told); a malformed entry is noted in
    the defects rather than refused.
    """
    found: list[Address] = []
    dropped: list[str] = []
    for name, raw_spec in pairs:
        spec = raw_spec.strip()
        if not spec:
            continue
        if addr_problem(spec) is None:
            found.append(Address(one_line(name), spec.lower()))
        else:
            dropped.append(spec[:80])
    return tuple(found), tuple(dropped)
