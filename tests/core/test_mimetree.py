"""The tree built in bulk is the feed parser's tree, wherever it is built at all."""

from __future__ import annotations

from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest
from hypothesis import given, settings

from mailbot.core import mimetree
from mailbot.core.bigbodies import BlobPart
from tests.core.test_parse_fuzz import CORPUS, FIXTURES, mutated

DEMO = Path(__file__).resolve().parents[2] / "mailbot" / "demo"
SAMPLES = sorted([*FIXTURES.glob("*.eml"), *DEMO.glob("*.eml"), *CORPUS.glob("*.eml")])

Shape = tuple[object, ...]


def shape(node: Message) -> Shape:
    """Everything the parser stores in a node, children included."""
    payload = node._payload  # type: ignore[attr-defined]
    content = [shape(sub) for sub in payload] if isinstance(payload, list) else payload
    return (
        type(node),
        node._headers,  # type: ignore[attr-defined]
        node.get_unixfrom(),
        content,
        node.preamble,
        node.epilogue,
        [type(d).__name__ for d in node.defects],
        node.get_default_type(),
    )


def fed(text: str) -> Message:
    parser = BytesFeedParser(_factory=BlobPart, policy=compat32)
    parser.feed(text.encode("ascii", "surrogateescape"))
    return parser.close()


def check(raw: bytes) -> bool:
    """Assert the two trees are equal where one is built; say whether it was."""
    text = raw.decode("ascii", "surrogateescape")
    built = mimetree.build(text)
    if built is not None:
        assert shape(built) == shape(fed(text))
    return built is not None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_real_messages_give_the_feed_parsers_tree(path: Path) -> None:
    """Every sample message is checked; the regular ones are built in bulk."""
    check(path.read_bytes())


def test_most_real_messages_are_built_in_bulk() -> None:
    """The bulk path is the common one: all but odd cases (bounces, digests) take it."""
    built = [check(path.read_bytes()) for path in SAMPLES]
    assert sum(built) >= 0.8 * len(built), (sum(built), len(built))


MIXED = (
    'From: a@x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\r\n"
    "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nplain\r\n"
    "--c\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--c--\r\nepi-c\r\n"
    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n"
    "--b--  \r\nepilogue\r\n"
)


@pytest.mark.parametrize(
    ("text", "bulk"),
    [
        (MIXED, True),
        (MIXED.replace("\r\n", "\n"), True),
        (MIXED.replace("--b--  \r\nepilogue\r\n", "--b--"), True),
        ("Subject: only headers\r\nX-A: 1\r\n continued", True),
        ("\r\nbody without headers", True),
        ("", True),
        (MIXED.replace("--b--", "--b-- x"), False),  # never closed
        (MIXED.replace("preamble\r\n--b", "preamble\r\n--b\r\n--b"), False),  # doubled
        (MIXED.replace("boundary=c", "boundary=b2"), False),  # one begins the other
        (MIXED.replace("hello", "he\rllo"), False),  # a lone CR
        ("From a@x Mon\r\nSubject: x\r\n\r\nbody", False),  # an mbox envelope line
        ("Subject: x\r\nnot a header\r\n\r\nbody", False),
        (" folded first\r\nSubject: x\r\n\r\nbody", False),
        (MIXED.replace("multipart/mixed", "multipart/digest"), False),
    ],
)
def test_regular_shapes_are_built_and_odd_ones_left_to_the_feed_parser(
    text: str, bulk: bool
) -> None:
    """Each case either gives the feed parser's tree or is handed back to it."""
    assert check(text.encode("ascii", "surrogateescape")) is bulk


def test_a_long_text_is_left_to_the_feed_parser() -> None:
    """Past MAX_CHARS the feed parser's chunked reading bounds the memory."""
    text = "Subject: x\r\n\r\n" + "y" * mimetree.MAX_CHARS
    assert mimetree.build(text) is None


@settings(max_examples=600, deadline=None)
@given(mutated())
def test_mutated_messages_give_the_feed_parsers_tree(raw: bytes) -> None:
    """Whatever the mutation, a tree built in bulk equals the feed parser's."""
    check(raw)
