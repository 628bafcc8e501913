"""Property tests: parse_message never raises, whatever the bytes (RELIABILITY rule 9)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.model import Mail, Unparseable
from mailbot.core.parse import Limits, parse_message

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "eml"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))] + [
    p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))[:12]
]
SMALL = Limits(max_parts=50, max_depth=5, max_attachment_bytes=10_000)
# Bytes that matter to the MIME and header grammars, to make mutations bite.
TOKENS = [
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b":",
    b"=?utf-8?b?",
    b"?=",
    b"<",
    b">",
    b'"',
    b"(",
    b"\x00",
    b"\xff",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"From: ",
    b"charset=utf-7",
]


def check(result: Mail | Unparseable) -> None:
    assert isinstance(result, Mail | Unparseable)
    if isinstance(result, Mail):
        assert "\n" not in result.subject and "\r" not in result.subject
        assert result.message_id and result.sha256
        assert all("/" not in a.name for a in result.attachments)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    check(parse_message(raw))
    check(parse_message(raw, SMALL))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed message with a few random cuts, insertions and overwrites."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "overwrite", "truncate"]))
        piece = draw(st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8)))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif action == "overwrite":
            data[at : at + len(piece)] = piece
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_mutated_messages_never_raise(raw: bytes) -> None:
    check(parse_message(raw))
    check(parse_message(raw, SMALL))
