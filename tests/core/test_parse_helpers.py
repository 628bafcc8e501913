"""Unit tests for the parser's helpers: quotes, HTML, names, charsets, addresses, RFC 8601."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.addresses import addr_problem, parse_sender
from mailbot.core.authres import parse_auth_results
from mailbot.core.decoding import decode_bytes, decode_words, header_text, one_line, quick_nfc
from mailbot.core.filenames import safe_filename
from mailbot.core.html_text import html_to_text
from mailbot.core.quotes import Extract, is_forward_subject, is_reply_subject, new_text
from mailbot.core.text import nfc

# --- quotes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Ok.\n\nOn Mon, Jan 12, 2026 at 8:15 AM Hoa <h@x.vn> wrote:\n> old", "Ok."),
        ("Ok.\n\nVào lúc 08:15 ngày 12/01/2026, Hoa <h@x.vn> đã viết:\n> cũ", "Ok."),
        ("Ok.\n\nVào 9 thg 3, 2026, lúc 14:05, Ngọc <n@x.vn> đã viết:\n\n> cũ", "Ok."),
        ("Ok.\n-----Original Message-----\nFrom: a\nSent: b\n\nold", "Ok."),
        ("Ok.\n\n-----Thư gốc-----\nTừ: a\n\ncũ", "Ok."),
        ("Ok.\n\nFrom: Hoa <h@x.vn>\nSent: Monday\nTo: t\nSubject: s\n\nold", "Ok."),
        ("Ok.\n\nTừ: Hoa <h@x.vn>\nĐã gửi: Thứ Hai\nĐến: t\n\ncũ", "Ok."),
        ("Ok.\n\nSent from my iPhone\n\n> old", "Ok."),
        ("Ok.\n\nGửi từ điện thoại Samsung Galaxy của tôi", "Ok."),
        ("Ok.\n-- \nHoa\nTổ KHTN", "Ok."),
        ("Answer one.\n> question one\nAnswer two.\n> question two", "Answer one.\nAnswer two."),
        (
            "Vào sáng ngày 10/3, trường tổ chức ngoại khóa.",
            "Vào sáng ngày 10/3, trường tổ chức ngoại khóa.",
        ),
        ("Từ ngày 1/3 đến ngày 5/3 học sinh nghỉ.", "Từ ngày 1/3 đến ngày 5/3 học sinh nghỉ."),
    ],
)
def test_new_text(body: str, expected: str) -> None:
    result = new_text(body)
    assert result.text == expected and not result.forwarded


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "---------- Thư đã chuyển tiếp ----------",
        "-------- Forwarded Message --------",
        "Begin forwarded message:",
    ],
)
def test_forward_markers(marker: str) -> None:
    body = (
        f"Xem giúp.\n\n{marker}\nFrom: a <a@x.vn>\nDate: hôm qua\nSubject: s\n\nNội dung.\n\n> cũ"
    )
    result = new_text(body)
    assert result.forwarded
    assert result.text == "Xem giúp.\n\nNội dung."


@pytest.mark.parametrize(
    ("subject", "forward", "reply"),
    [("FW: Bài viết", True, False), ("Fwd: ảnh", True, False), ("CT: Bài viết", True, False),
     ("RE: FW: Bài", False, True), ("Re: Bài viết", False, True), ("TL: Bài", False, True),
     ("FW: Re: Bài", True, False), ("Bài FW: mới", False, False),
     ("Review bài viết", False, False), ("Rèn luyện", False, False)],
)  # fmt: skip
def test_forward_and_reply_subjects(subject: str, forward: bool, reply: bool) -> None:
    """The outermost prefix decides: what follows it names the earlier message."""
    assert is_forward_subject(subject) is forward
    assert is_reply_subject(subject) is reply


_OUTLOOK = (
    "Tổ chuyển bài của cộng tác viên.\n\n"
    "From: Tâm <tam@gmail.com>\nSent: Monday, May 4, 2026 4:18 PM\nTo: Thu <thult@x.vn>\n"
    "Subject: Bản thảo\n\nNỘI DUNG BÀI VIẾT\n\nMột đoạn."
)


def test_an_outlook_forward_keeps_what_it_forwards() -> None:
    """Outlook says "forward" only in the subject; its body has a reply's From/Sent block."""
    result = new_text(_OUTLOOK, forward=True)
    assert result.forwarded
    assert result.text == "Tổ chuyển bài của cộng tác viên.\n\nNỘI DUNG BÀI VIẾT\n\nMột đoạn."
    assert new_text(_OUTLOOK) == Extract("Tổ chuyển bài của cộng tác viên.")


def test_forward_without_header_block_keeps_everything_after_marker() -> None:
    result = new_text("---------- Forwarded message ---------\nNội dung chuyển tiếp.")
    assert result.forwarded and result.text == "Nội dung chuyển tiếp."


# --- HTML ------------------------------------------------------------------------------


def test_html_blockquote_becomes_quoted_lines() -> None:
    text = html_to_text("<div>Mới</div><blockquote><p>Cũ 1</p><p>Cũ 2</p></blockquote><p>Sau</p>")
    assert text.splitlines() == ["Mới", "> Cũ 1", "> Cũ 2", "Sau"]
    assert new_text(text).text == "Mới\nSau"


def test_html_links_and_entities() -> None:
    text = html_to_text('<p>Xem <a href="https://x.example/a?b=1&amp;c=2">đây</a> &lt;ok&gt;</p>')
    assert text == "Xem đây (https://x.example/a?b=1&c=2) <ok>"


def test_html_unclosed_head_does_not_swallow_body() -> None:
    assert html_to_text("<html><head><title>t<body><p>Nội dung</p>") == "Nội dung"


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ctype", "expected"),
    [
        ("../../etc/cron.d/x", "application/octet-stream", "x"),
        ("/etc/passwd", "text/plain", "passwd"),
        ("..\\..\\x.exe", "application/octet-stream", "x.exe"),
        ("C:\\Users\\a\\bài viết.docx", "application/octet-stream", "bài viết.docx"),
        ("con.txt", "text/plain", "_con.txt"),
        ("NUL", "text/plain", "_NUL"),
        ("lpt1.jpg", "image/jpeg", "_lpt1.jpg"),
        (".htaccess", "text/plain", "htaccess"),
        ("a\x00b\r\n.txt", "text/plain", "ab .txt"),
        ("bad\u202etxt.exe", "application/octet-stream", "badtxt.exe"),
        ('a<b>c:d"e|f?g*.pdf', "application/pdf", "a_b_c_d_e_f_g_.pdf"),
        ("", "image/jpeg", "attachment.jpg"),
        (None, "application/x-unknown", "attachment.bin"),
        ("../..", "application/pdf", "attachment.pdf"),
        ("Tie\u0302\u0301ng Vie\u0323\u0302t.docx", "application/octet-stream", "Tiếng Việt.docx"),
    ],
)
def test_safe_filename(raw: str | None, ctype: str, expected: str) -> None:
    assert safe_filename(raw, ctype) == expected


def test_safe_filename_bounds_length_keeping_extension() -> None:
    name = safe_filename("ả" * 300 + ".docx", "application/octet-stream")
    assert len(name) == 150 and name.endswith(".docx")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_safe_filename_is_always_a_plain_name(raw: str) -> None:
    name = safe_filename(raw, "application/octet-stream")
    assert name and len(name) <= 150 and name.isprintable()
    assert "/" not in name and "\\" not in name and not name.startswith(".")


# --- charsets and header words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        (b"Ngh\xc4\xa9a", "utf-8", "Nghĩa"),
        (b"Nghi\xf2 quy\xea\xect", "windows-1258", "Nghi\u0323 quyê\u0301t"),
        (b"Nghi\xf2", "utf-8", "Nghi\u0323"),  # mislabelled windows-1258
        (b"Ngh\xc4\xa9a", "iso-8859-1", "Nghĩa"),  # UTF-8 under a permissive label
        (b"Ngh\xc4\xa9a", "x-unknown", "Nghĩa"),
        (b"plain", "base64", "plain"),  # a bytes-to-bytes codec is no charset
        (b"+AGEAYgBj-", "utf-7", "abc"),
        (b"\x81\x8d\x8f", "utf-8", "\ufffd\ufffd\ufffd"),
    ],
)
def test_decode_bytes(data: bytes, charset: str, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(), st.sampled_from(["utf-8", "utf-7", "x-unknown", "cp1258", "utf-16", "idna"]))
def test_decode_bytes_never_raises_nor_returns_surrogates(data: bytes, charset: str) -> None:
    text = decode_bytes(data, charset)
    text.encode("utf-8")


def test_decode_words_joins_a_character_split_across_words() -> None:
    # "ệ" is E1 BB 87 in UTF-8, split over two encoded words.
    assert decode_words("=?utf-8?q?Vi=E1=BB?= =?utf-8?q?=87t?=") == "Việt"


def test_decode_words_keeps_plain_text_and_bad_words() -> None:
    assert decode_words("Re: =?utf-8?b?VMOqbg==?= ok") == "Re: Tên ok"
    assert decode_words("=?utf-8?b?!!!?=") == "=?utf-8?b?!!!?="
    assert decode_words("=?windows-1258?Q?Lo=CC?=") == "Lo\u0300"


def test_header_text_is_one_line_nfc() -> None:
    assert header_text("=?utf-8?q?a=0D=0Ab=E2=80=A8c?=\r\n d") == "a b c d"
    assert header_text("x\x00y") == "xy"
    assert one_line("a\u202eb\x85c") == "ab c"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_quick_nfc_equals_nfc(text: str) -> None:
    assert quick_nfc(text) == nfc(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_header_text_never_breaks_a_line(raw: str) -> None:
    value = header_text(raw)
    assert value == value.strip() and len(value.splitlines()) <= 1


# --- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("a@x.example", None),
        ("a.b+c@sub.x.example", None),
        ('"a b"@x.example', None),
        ("a@xn--bcher-kva.example", None),
        ("a..b@x.example", "invalid local part"),
        ("a@x", "domain is not a fully qualified host name"),
        ("a@x.123", "invalid top-level domain"),
        ("a@[127.0.0.1]", "invalid domain"),
        ("=?utf-8?b?YQ==?=@x.example", "encoded word in address"),
        ("a\x00@x.example", "invalid local part"),
        ("@x.example", "address has no local part or no domain"),
    ],
)
def test_addr_problem(spec: str, problem: str | None) -> None:
    assert addr_problem(spec) == problem


def test_parse_sender_notes_and_unfolding() -> None:
    result = parse_sender(['"a@b.example"\r\n <C@D.Example>'])
    assert result.address is not None and result.address.addr == "c@d.example"
    assert result.notes == ("from: '@' in display name",)
    assert parse_sender(["a@x.example\x00"]).problem == "malformed From header"
    assert parse_sender(["a@x.example"], ambiguous=True).problem == "ambiguous From header line"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_sender_never_raises_and_yields_valid_addresses(value: str) -> None:
    result = parse_sender([value])
    assert (result.address is None) != (result.problem is None)
    if result.address is not None:
        assert addr_problem(result.address.addr) is None
        assert result.address.addr == result.address.addr.lower()


# --- Authentication-Results (RFC 8601) ---------------------------------------------------------


def test_auth_results_with_comments_and_versions() -> None:
    result = parse_auth_results(
        "MX.Example.COM 1; (comment; with = signs)\r\n\tspf=PASS (x (nested)) smtp.mailfrom=a@b;"
        " dkim/1=fail header.d=b; dmarc=Pass (p=none) header.from=B.example"
    )
    assert result.authserv_id == "mx.example.com"
    assert (result.spf, result.dkim, result.dmarc) == ("pass", "fail", "pass")
    assert result.header_from == "b.example"


def test_auth_results_none() -> None:
    result = parse_auth_results("mx.example.com; none")
    assert result.authserv_id == "mx.example.com" and result.dmarc is None


def test_only_short_recipient_lists_are_memoised() -> None:
    """The school's address comes back in every message; a list of thousands does not stay."""
    from mailbot.core import parse  # noqa: PLC0415 - its private memo

    parse._memo_recipients.cache_clear()
    short = ("Trường THCS <truyenthong@thcspomlot.edu.vn>",)
    long = (", ".join(f"a{i}@example.com" for i in range(200)),)
    assert parse._recipients(short) == parse._recipients(short)
    assert len(parse._recipients(long)[0]) == 200
    assert parse._memo_recipients.cache_info().currsize == 1
