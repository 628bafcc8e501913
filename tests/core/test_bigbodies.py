"""Large bodies read from the raw bytes give the same Mail as the stdlib parser's way."""

from __future__ import annotations

import base64
import os
import tracemalloc

import pytest
from hypothesis import given, settings

from mailbot.core import bigbodies
from mailbot.core.model import Mail
from mailbot.core.parse import parse_message
from tests.core.test_parse_fuzz import mutated

PAYLOAD = os.urandom(600 * 1024)


def _b64(data: bytes, eol: bytes = b"\r\n") -> bytes:
    return base64.encodebytes(data).replace(b"\n", eol)


def _message(
    body_parts: list[bytes], eol: bytes = b"\r\n", boundary: bytes = b"BB", gap: bytes = b""
) -> bytes:
    head = (
        b"From: Co Lan <lan@thcspomlot.edu.vn>\r\nTo: truong@thcspomlot.edu.vn\r\n"
        b"Subject: Anh hoat dong\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
    ).replace(b"\r\n", eol)
    parts = b"".join(b"--" + boundary + eol + part + gap for part in body_parts)
    return head + parts + b"--" + boundary + b"--" + eol


def _attachment(data: bytes, eol: bytes = b"\r\n", name: bytes = b"anh.jpg") -> bytes:
    return (
        b"Content-Type: image/jpeg" + eol
        + b"Content-Transfer-Encoding: base64" + eol
        + b'Content-Disposition: attachment; filename="' + name + b'"' + eol + eol
        + _b64(data, eol)
    )  # fmt: skip


TEXT = (
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nK\xc3\xadnh g\xe1\xbb\xadi th\xe1\xba\xa7y\r\n"
)


def _uncut(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> Mail:
    with monkeypatch.context() as m:
        m.setattr(bigbodies, "MIN_MESSAGE_BYTES", 10**12)
        mail = parse_message(raw)
    assert isinstance(mail, Mail)
    return mail


@pytest.mark.parametrize("gap", [False, True], ids=["tight", "blank-line-before-boundary"])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_big_attachment_is_decoded_from_the_raw_bytes(
    eol: bytes, gap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _message(
        [
            TEXT.replace(b"\r\n", eol),
            _attachment(PAYLOAD, eol),
            _attachment(PAYLOAD, eol),
            _attachment(PAYLOAD[:99], eol),
        ],
        eol,
        gap=eol if gap else b"",
    )
    _pieces, runs = bigbodies.cut(raw, "n")
    assert len(runs) == 2  # both big runs cut out; the small one stays
    mail = parse_message(raw)
    assert isinstance(mail, Mail)
    assert [a.payload for a in mail.attachments] == [PAYLOAD, PAYLOAD, PAYLOAD[:99]]
    assert mail == _uncut(raw, monkeypatch)
    assert "Kính gửi thầy" in mail.body


def test_body_of_alphabet_lines_not_in_base64_is_left_to_the_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a part whose header says base64 is cut: text that merely looks like it is not."""
    lines = b"".join(b"Dong%07d\r\n" % i for i in range(40_000))
    text = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + lines
    raw = _message([text, _attachment(PAYLOAD)])
    assert len(bigbodies.cut(raw, "n")[1]) == 1
    mail = parse_message(raw)
    assert mail == _uncut(raw, monkeypatch)
    assert isinstance(mail, Mail) and "Dong0039999" in mail.body


def test_run_not_ending_at_a_boundary_is_left_to_the_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tail = _attachment(PAYLOAD) + b"\r\nnot a boundary, text after the run\r\n"
    raw = _message([TEXT, tail])
    assert bigbodies.cut(raw, "n")[1] == []
    assert parse_message(raw) == _uncut(raw, monkeypatch)


def test_forwarded_message_keeps_its_big_attachment(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = _message([TEXT, _attachment(PAYLOAD), _attachment(PAYLOAD)], boundary=b"CC")
    outer = _message([TEXT, b"Content-Type: message/rfc822\r\n\r\n" + inner])
    assert len(bigbodies.cut(outer, "n")[1]) == 2
    mail = parse_message(outer)
    assert isinstance(mail, Mail)
    forwarded = next(a for a in mail.attachments if a.content_type == "message/rfc822")
    inner_mail = parse_message(forwarded.payload)
    assert isinstance(inner_mail, Mail)
    assert [a.payload for a in inner_mail.attachments] == [PAYLOAD, PAYLOAD]
    assert mail == _uncut(outer, monkeypatch)


def test_a_crafted_marker_is_only_text() -> None:
    """The marker carries the message's own hash: a sender cannot forge one."""
    fake = b"Content-Type: application/octet-stream\r\n\r\nmailbot-body-0000-0\r\n"
    raw = _message([TEXT, _attachment(PAYLOAD), fake])
    mail = parse_message(raw)
    assert isinstance(mail, Mail)
    assert mail.attachments[-1].payload == b"mailbot-body-0000-0"


def test_parsing_a_big_attachment_costs_little_beyond_its_bytes() -> None:
    """Allocations while parsing stay near the decoded attachment (not 4x the message)."""
    data = os.urandom(8 * 1024 * 1024)
    raw = _message([TEXT, _attachment(data)])
    tracemalloc.start()
    try:
        mail = parse_message(raw)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(mail, Mail) and mail.attachments[0].payload == data
    assert peak < len(data) + 2 * 1024 * 1024, peak


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_cutting_never_changes_the_result(raw: bytes) -> None:
    """Whatever the bytes (mutated real messages), reading bodies from the raw bytes
    gives exactly the Mail the stdlib parser's way gives."""
    cut = parse_message(raw)
    saved = bigbodies.MIN_MESSAGE_BYTES
    bigbodies.MIN_MESSAGE_BYTES = 10**12
    try:
        uncut = parse_message(raw)
    finally:
        bigbodies.MIN_MESSAGE_BYTES = saved
    assert cut == uncut
