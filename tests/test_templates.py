"""The outgoing mail templates, rendered with realistic contexts, and the composed messages.

The text bodies are compared with reviewed snapshots in ``tests/data/snapshots``;
set ``UPDATE_SNAPSHOTS=1`` to (re)write them, then read the diff before committing.
A missing snapshot fails the test unless that variable is set.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from mailbot.core.compose import Identity, Outgoing, compose, reply_subject
from mailbot.core.digest import Item, build_digest
from mailbot.core.forward import ForwardItem, forward_mail
from mailbot.core.model import Address, Mail
from mailbot.core.monthly import FeedbackFact
from mailbot.core.rules import Group
from mailbot.templates import Templates, default_templates_dir, load_templates

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SNAPSHOTS = Path(__file__).resolve().parent / "data" / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

SCHOOL = "Trường THCS Pom Lót"
MAILBOX = "truyenthong@thcspomlot.edu.vn"
NOW = datetime(2026, 3, 19, 8, 30, tzinfo=VN)
RECEIVED = datetime(2026, 3, 18, 21, 47, tzinfo=VN)
COMMON: dict[str, Any] = {"school": SCHOOL, "mailbox": MAILBOX, "now": NOW}
IDENTITY = Identity(MAILBOX, f"Truyền thông {SCHOOL}")

STEM = "Tổ KHTN gửi bài tin tháng 3: Ngày hội STEM cấp trường"
TEACHER = {"greeting": "Kính gửi thầy/cô", "you": "thầy/cô"}  # decide._you for staff roles
PARENT = {"greeting": "Kính gửi Quý phụ huynh", "you": "quý phụ huynh"}
STUDENT = {"greeting": "Chào em", "you": "em"}
UNKNOWN = {"greeting": "Kính gửi Quý vị", "you": "quý vị"}
DEPARTMENT = {"greeting": "Kính gửi Quý Sở", "you": "quý Sở"}

GROUPS = (
    Group("BGH", "Ban Giám hiệu", False),
    Group("CNTT", "Truyền thông - CNTT", False),
    Group("KHTN", "Tổ Khoa học Tự nhiên", True),
    Group("KHXH", "Tổ Khoa học Xã hội", True),
    Group("VP", "Tổ Văn phòng", True),
    Group("DOI", "Liên đội TNTP Hồ Chí Minh", True),
    Group("DOAN", "Chi đoàn Thanh niên", True),
    Group("CD", "Công đoàn", True),
)


# --- contexts, with the keys decide.py, jobs.py, digest.py and forward.py build ---------


def _ack(**over: Any) -> dict[str, Any]:
    """decide._ack (+ _outgoing's common keys)."""
    return {
        **COMMON,
        **TEACHER,
        "subject": STEM,
        "ref": "TB-2026-03-001",
        "received": RECEIVED,
        "kind_label": "bài viết",
        "skipped": [],
        "forward_day": 19,
        "handler": "Ban Giám hiệu nhà trường",
        "days": 5,
        "urgent": False,
        **over,
    }


def _alert(**over: Any) -> dict[str, Any]:
    """decide._alerts."""
    return {
        **COMMON,
        "ref": "PH-2026-03-002",
        "kind_label": "ý kiến",
        "sender": "Giàng A Sử <giangasu88@gmail.com>",
        "role_label": "phụ huynh",
        "received": RECEIVED,
        "subject": "con toi bi danh o truong",
        "signals": "urgent: 8 (signals bị đánh, đánh×2, đánh)",
        "excerpt": (
            "Kinh gui nha truong,\n"
            "chieu nay con toi hoc lop 7A bi mot nhom ban danh o cong truong, "
            "co video tren zalo.\nDe nghi nha truong xu ly gap."
        ),
        **over,
    }


APPROVAL_LINES = [
    {"ok": True, "text": f"Đã duyệt TB-2026-03-001 “{STEM}”; đã báo tác giả."},
    {"ok": False, "text": "Không tìm thấy số TB-2026-03-009; xin kiểm tra lại số tham chiếu."},
    {
        "ok": True,
        "text": "Đã ghi nhận xử lý PH-2026-03-001 “Hỏi về khoản tiền quỹ lớp 7A”: "
        "đã mời phụ huynh lên trao đổi sáng 20/3.",
    },
]


def _notice(**over: Any) -> dict[str, Any]:
    """decide._notice (no ``now``: it builds its Outgoing itself)."""
    return {
        "school": SCHOOL,
        "mailbox": MAILBOX,
        **TEACHER,
        "approved": True,
        "ref": "TB-2026-03-001",
        "subject": STEM,
        "note": "",
        "kind_label": "bài viết",
        "forward_day": 19,
        **over,
    }


def _item(ref: str, kind: str, title: str, sender: str, **over: Any) -> Item:
    base = Item(
        ref=ref,
        kind=kind,
        title=title,
        sender=sender,
        group=None,
        topic=None,
        status="pending",
        urgent=False,
        received=datetime(2026, 3, 17, 15, 20, tzinfo=VN),
    )
    return replace(base, **over)


DIGEST_ITEMS = (
    _item(
        "TB-2026-03-001",
        "submission",
        "Ngày hội STEM cấp trường",
        "Nguyễn Thị Hoa",
        group="KHTN",
        topic="III",
        attachments=("bai-tin-STEM.docx", "anh-hoat-dong-1.jpg"),
    ),
    _item(
        "TB-2026-03-002",
        "media",
        "ảnh giải bóng đá khối 8",
        "Lò Văn Tú",
        topic="VII",
        received=datetime(2026, 3, 18, 17, 5, tzinfo=VN),
    ),
    _item(
        "TB-2026-03-003",
        "submission",
        "Công đoàn tổ chức hoạt động chào mừng ngày 8/3",
        "Lường Thị Thu",
        group="CD",
        topic="V",
        status="approved",
        received=datetime(2026, 3, 9, 10, 0, tzinfo=VN),
    ),
    _item(
        "PH-2026-03-001",
        "feedback",
        "Hỏi về khoản tiền quỹ lớp 7A",
        "Lò Thị Mai",
        topic="VI",
        status="open",
        received=datetime(2026, 3, 16, 20, 12, tzinfo=VN),
    ),
    _item(
        "PH-2026-03-002",
        "feedback",
        "con toi bi danh o truong",
        "Giàng A Sử",
        topic="VII",
        status="open",
        urgent=True,
        received=RECEIVED,
    ),
)


def _digest(items: tuple[Item, ...], failures: int) -> dict[str, Any]:
    """jobs.Jobs.digest: the common keys and build_digest's context."""
    built = build_digest(
        items,
        GROUPS,
        now=datetime(2026, 3, 19, 7, 0, tzinfo=VN),
        month_start=datetime(2026, 3, 1, tzinfo=VN),
        last_digest=datetime(2026, 3, 18, 7, 0, tzinfo=VN),
        failures=failures,
    )
    return {**COMMON, **built.context}


def _reminder() -> dict[str, Any]:
    """jobs.Jobs._reminder."""
    return {
        **COMMON,
        "now": datetime(2026, 3, 10, 8, 0, tzinfo=VN),
        "group_name": "Tổ Văn phòng",
        "year": 2026,
        "month": 3,
        "month_label": "tháng 3/2026",
        "today": datetime(2026, 3, 10, 8, 0, tzinfo=VN),
        "deadline_day": 19,
    }


ARTICLE_TEXT = (
    "Sáng ngày 14/3/2026, Trường THCS Pom Lót tổ chức Ngày hội STEM cấp trường "
    "với sự tham gia của 240 học sinh khối 6 đến khối 9.\n\n"
    "Các đội thi đã trình bày 18 sản phẩm, trong đó có mô hình tưới nước tự động "
    "cho vườn rau của nhà trường."
)


def _forward(**over: Any) -> dict[str, Any]:
    """forward.forward_mail's context, built by forward_mail itself."""
    author = Address("Nguyễn Thị Hoa", "hoant@thcspomlot.edu.vn")
    mail = Mail(
        sha256="0" * 64,
        message_id="<stem-2026@thcspomlot.edu.vn>",
        sender=author,
        subject=f"Bài viết: {STEM}",
        text=ARTICLE_TEXT,
    )
    item = ForwardItem("TB-2026-03-001", "submission", "III", author.name, author.addr)
    out = forward_mail(
        item,
        mail,
        school=SCHOOL,
        mailbox="truyenthong@thcspomlot.edu.vn",
        department="Sở Giáo dục và Đào tạo tỉnh Điện Biên",
        to="dept@example.org",
        cc=(),
        limit=10**7,
    )
    return {**out.context, **over}


MONTHLY_COUNTS = {
    "articles": 4,
    "approved": 3,
    "forwarded": 3,
    "media": 2,
    "feedback": 3,
    "handled": 2,
    "urgent": 1,
    "missing": ["Tổ Văn phòng", "Chi đoàn Thanh niên"],
}


def _monthly() -> dict[str, Any]:
    """jobs.Jobs._report_mail."""
    return {
        **COMMON,
        "month_text": "tháng 3 năm 2026",
        "start": date(2026, 2, 20),
        "end": date(2026, 3, 19),
        "filename": "bao-cao-2026-03.docx",
        "counts": MONTHLY_COUNTS,
        "missing": MONTHLY_COUNTS["missing"],
    }


OPINIONS = [
    FeedbackFact(
        "PH-2026-03-001",
        date(2026, 3, 16),
        "Hỏi về khoản tiền quỹ lớp 7A",
        "parent",
        "VI",
        False,
        "handled",
        "Đã mời phụ huynh lên trao đổi, giáo viên chủ nhiệm công khai các khoản thu, chi.",
    ),
    FeedbackFact(
        "PH-2026-03-002",
        date(2026, 3, 18),
        "con toi bi danh o truong",
        "parent",
        "VII",
        True,
        "handled",
        "Ban Giám hiệu đã làm việc với học sinh và gia đình các em liên quan.",
    ),
    FeedbackFact(
        "PH-2026-03-003",
        date(2026, 3, 19),
        "Góp ý về giờ đón học sinh",
        "unknown",
        None,
        False,
        "open",
    ),
]


def _opinion() -> dict[str, Any]:
    """jobs.Jobs._opinion_mail."""
    return {
        **COMMON,
        "month_text": "tháng 3 năm 2026",
        "department": "Sở Giáo dục và Đào tạo tỉnh Điện Biên",
        "start": date(2026, 2, 20),
        "end": date(2026, 3, 19),
        "feedback": OPINIONS,
        "handled": sum(f.state == "handled" for f in OPINIONS),
    }


#: snapshot name -> (template, context)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ack_submission": ("ack_submission", _ack()),
    "ack_submission-media-student-skipped": (
        "ack_submission",
        _ack(
            **STUDENT,
            subject="ảnh giải bóng đá khối 8",
            ref="TB-2026-03-002",
            kind_label="tư liệu ảnh, video",
            skipped=["video-chung-ket.mp4", "anh-goc.heic"],
        ),
    ),
    "ack_feedback": (
        "ack_feedback",
        _ack(
            **PARENT,
            subject="con toi bi danh o truong",
            ref="PH-2026-03-002",
            kind_label="ý kiến",
            urgent=True,
        ),
    ),
    "ack_feedback-not-urgent": (
        "ack_feedback",
        _ack(
            **UNKNOWN,
            subject="Hỏi về lịch tuyển sinh lớp 6 năm học 2026–2027",
            ref="PH-2026-03-003",
            kind_label="ý kiến",
        ),
    ),
    "alert": ("alert", _alert()),
    "approval_result": ("approval_result", {**COMMON, **TEACHER, "results": APPROVAL_LINES}),
    "approval_result-empty": ("approval_result", {**COMMON, **TEACHER, "results": []}),
    "author_notice": ("author_notice", _notice()),
    "author_notice-rejected": (
        "author_notice",
        _notice(approved=False, note="Đề nghị bổ sung ảnh hoạt động và ghi rõ tác giả ảnh."),
    ),
    "digest": ("digest", _digest(DIGEST_ITEMS, failures=2)),
    "digest-empty": ("digest", _digest((), failures=0)),
    "reminder": ("reminder", _reminder()),
    "forward": ("forward", _forward()),
    "forward-left-out": (
        "forward",
        _forward(text="", left_out=["video-ngay-hoi-STEM.mp4", "anh-goc.zip"]),
    ),
    "monthly_report": ("monthly_report", _monthly()),
    "opinion_summary": ("opinion_summary", _opinion()),
    "liveness": (
        "liveness",
        {
            **COMMON,
            "down": True,
            "since": datetime(2026, 3, 18, 21, 0, tzinfo=VN),
            "error": "login failed: [AUTHENTICATIONFAILED] Authentication failed.",
        },
    ),
    "liveness-recovered": (
        "liveness",
        {**COMMON, "down": False, "since": datetime(2026, 3, 18, 21, 0, tzinfo=VN), "error": ""},
    ),
}
TEMPLATE_NAMES = sorted(
    p.name.removesuffix(".txt.j2") for p in (default_templates_dir() / "mail").glob("*.txt.j2")
)


@pytest.fixture(scope="module")
def templates() -> Templates:
    """The project's templates, loaded once."""
    return load_templates()


def test_every_template_has_a_case() -> None:
    """Each ``mail/*.txt.j2`` has a snapshot case and an HTML twin (no template goes untested)."""
    assert sorted({template for template, _ in CASES.values()}) == TEMPLATE_NAMES
    for name in TEMPLATE_NAMES:
        assert (default_templates_dir() / "mail" / f"{name}.html.j2").is_file()


# --- text snapshots -----------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_matches_snapshot(templates: Templates, case: str) -> None:
    """The text body is exactly the reviewed snapshot ``tests/data/snapshots/<case>.txt``."""
    template, context = CASES[case]
    text, _ = templates.render(template, context)
    path = SNAPSHOTS / f"{case}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.is_file():
        pytest.fail(f"no snapshot {path}; run with UPDATE_SNAPSHOTS=1, then review it")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_text_has_no_template_glitches(templates: Templates, case: str) -> None:
    """No trailing spaces, no double blank lines, one final newline, no Jinja or None leftovers."""
    template, context = CASES[case]
    text, html = templates.render(template, context)
    lines = text.split("\n")
    assert [n for n, line in enumerate(lines, 1) if line != line.rstrip()] == []
    assert "\n\n\n" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert not text.startswith(("\n", " "))
    for body in (text, html):
        assert not re.search(r"\{\{|\{%|\bNone\b|\bTrue\b|\bFalse\b", body)


#: Cases whose HTML shows a blank where a value belongs; strict, so a fix must remove them.
BLANK_IN_HTML: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=BLANK_IN_HTML[c]))
        if c in BLANK_IN_HTML
        else c
        for c in sorted(CASES)
    ],
)
def test_no_blank_where_a_value_belongs(templates: Templates, case: str) -> None:
    """No space before punctuation (an empty variable) in text or HTML, and no empty list."""
    template, context = CASES[case]
    text, html = templates.render(template, context)
    visible = re.sub(r"<[^>]+>", "", html)
    for body in (text, visible):
        assert re.findall(r".{0,20} [.,;:)]", body) == []
    assert not re.search(r"<(ul|ol)>\s*</\1>", html)


def test_vietnamese_dates_in_local_time(templates: Templates) -> None:
    """A UTC timestamp is shown in Vietnam's time, as ``HH:MM ngày DD/MM/YYYY``."""
    received = datetime(2026, 3, 18, 17, 5, tzinfo=UTC)  # 00:05 on the 19th in Hà Nội
    text, html = templates.render("ack_submission", _ack(received=received))
    assert "(nhận lúc 00:05 ngày 19/03/2026)." in text
    assert "Nhận lúc 00:05 ngày 19/03/2026" in html


def test_capitalised_pronoun_keeps_proper_nouns(templates: Templates) -> None:
    """A sentence starting with the pronoun capitalises only its first letter ("Quý Sở")."""
    text, _ = templates.render("ack_feedback", _ack(**DEPARTMENT, kind_label="ý kiến"))
    assert "Quý Sở sẽ nhận được phản hồi" in text


# --- HTML -----------------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> "quotes" & <b>đậm</b>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &#34;quotes&#34; &amp; &lt;b&gt;đậm&lt;/b&gt;"

#: Every field that carries text from an incoming message (or a person) into a template.
HOSTILE_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ack_submission": ("ack_submission", _ack(subject=HOSTILE, skipped=[HOSTILE])),
    "ack_feedback": ("ack_feedback", _ack(subject=HOSTILE, kind_label="ý kiến")),
    "alert": ("alert", _alert(subject=HOSTILE, excerpt=HOSTILE, sender=HOSTILE)),
    "approval_result": (
        "approval_result",
        {**COMMON, **TEACHER, "results": [{"ok": True, "text": HOSTILE}]},
    ),
    "author_notice": ("author_notice", _notice(approved=False, subject=HOSTILE, note=HOSTILE)),
    "digest": (
        "digest",
        _digest(tuple(replace(i, title=HOSTILE, sender=HOSTILE) for i in DIGEST_ITEMS), 0),
    ),
    "forward": ("forward", _forward(title=HOSTILE, text=HOSTILE, author=HOSTILE)),
    "opinion_summary": (
        "opinion_summary",
        {
            **_opinion(),
            "feedback": [replace(f, title=HOSTILE, handling=HOSTILE) for f in OPINIONS],
        },
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CASES))
def test_html_escapes_echoed_text(templates: Templates, case: str) -> None:
    """Markup in a subject, name or body is escaped in HTML and left as typed in the text part."""
    template, context = HOSTILE_CASES[case]
    text, html = templates.render(template, context)
    assert "<script>" not in html and "<b>đậm" not in html
    assert ESCAPED in html
    assert HOSTILE in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_html_is_a_phone_friendly_vietnamese_page(templates: Templates, case: str) -> None:
    """Every HTML body declares Vietnamese, UTF-8 and a viewport, and is one whole page."""
    template, context = CASES[case]
    _, html = templates.render(template, context)
    assert html.startswith('<!DOCTYPE html>\n<html lang="vi">\n')
    assert '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.rstrip().endswith("</html>")
    assert html.count("<body") == 1 and html.count("</body>") == 1


# --- StrictUndefined --------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATE_NAMES)
def test_missing_key_raises(templates: Templates, template: str) -> None:
    """A context without a key the template uses is an error, never a blank in someone's inbox."""
    context = next(c for t, c in CASES.values() if t == template)
    broken = {k: v for k, v in context.items() if k != "school"}
    with pytest.raises(jinja2.UndefinedError, match="'school' is undefined"):
        templates.render(template, broken)


def test_missing_attribute_raises(templates: Templates) -> None:
    """A digest row without a field the template reads (``age``) is an error too."""
    context = _digest(DIGEST_ITEMS, failures=0)
    context["urgent"] = [{k: v for k, v in row.items() if k != "age"} for row in context["urgent"]]
    with pytest.raises(jinja2.UndefinedError, match="age"):
        templates.render("digest", context)


# --- compose ----------------------------------------------------------------------------


def _outgoing(**over: Any) -> Outgoing:
    base = Outgoing(
        purpose="ack",
        key="ack.4f1c2a9be03d77aa10c2d3e4",
        to=("hoant@thcspomlot.edu.vn",),
        subject=reply_subject(STEM, "TB-2026-03-001"),
        template="ack_submission",
        context=_ack(),
        in_reply_to="<CAF3x9k@mail.gmail.com>",
        references=("<root-1@thcspomlot.edu.vn>", "<CAF3x9k@mail.gmail.com>"),
    )
    return replace(base, **over)


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _header_section(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_compose_parses_back_with_both_parts(templates: Templates) -> None:
    """The message parses, has one Subject, and carries the rendered text and HTML parts."""
    out = _outgoing()
    composed = compose(out, IDENTITY, templates, NOW)
    msg = _parse(composed.raw)

    assert msg.get_all("Subject") == [f"Re: {STEM} [TB-2026-03-001]"]
    assert msg["From"] == f"Truyền thông {SCHOOL} <{MAILBOX}>"
    assert msg["To"] == "hoant@thcspomlot.edu.vn"
    assert msg.get_content_type() == "multipart/alternative"
    assert not msg.defects
    text, html = templates.render(out.template, out.context)
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text
    assert rich.get_content().replace("\r\n", "\n") == html
    assert composed.recipients == out.to and composed.purpose == "ack"


def test_compose_marks_automatic_and_threads(templates: Templates) -> None:
    """Auto-Submitted, X-Auto-Response-Suppress, the loop header, In-Reply-To and References."""
    msg = _parse(compose(_outgoing(), IDENTITY, templates, NOW).raw)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailbot-Loop"] == MAILBOX
    assert msg["In-Reply-To"] == "<CAF3x9k@mail.gmail.com>"
    assert msg["References"] == "<root-1@thcspomlot.edu.vn> <CAF3x9k@mail.gmail.com>"
    assert msg["Date"] == "Thu, 19 Mar 2026 08:30:00 +0700"


def test_compose_new_conversation(templates: Templates) -> None:
    """An auto-generated mail with nothing to reply to has no In-Reply-To or References."""
    out = _outgoing(in_reply_to=None, references=(), auto_submitted="auto-generated")
    msg = _parse(compose(out, IDENTITY, templates, NOW).raw)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_compose_message_id_is_deterministic(templates: Templates) -> None:
    """The same decision gives the same Message-ID, in our domain; another key another id."""
    first = compose(_outgoing(), IDENTITY, templates, NOW)
    again = compose(_outgoing(), IDENTITY, templates, datetime(2026, 3, 20, 9, 0, tzinfo=VN))
    other = compose(_outgoing(key="ack.ffffffffffffffffffffffff"), IDENTITY, templates, NOW)
    assert (
        first.message_id
        == again.message_id
        == "<mailbot.ack.4f1c2a9be03d77aa10c2d3e4@thcspomlot.edu.vn>"
    )
    assert _parse(first.raw)["Message-ID"] == first.message_id
    assert other.message_id != first.message_id


@pytest.mark.parametrize(
    "subject",
    [
        "Hi\r\nBcc: victim@x.example",
        "Hi\nBcc: victim@x.example\n",
        "Hi\rBcc: victim@x.example",
        "Hi\u2028Bcc: victim@x.example",
    ],
    ids=["crlf", "lf-trailing", "cr", "line-separator"],
)
def test_compose_subject_cannot_inject_headers(templates: Templates, subject: str) -> None:
    """A subject with line breaks (RELIABILITY case 19) gives one Subject and no Bcc header."""
    for out in (_outgoing(subject=subject), _outgoing(subject=reply_subject(subject, "PH-1"))):
        raw = compose(out, IDENTITY, templates, NOW).raw
        msg = _parse(raw)
        assert msg["Bcc"] is None
        assert len(msg.get_all("Subject") or []) == 1
        assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]
        assert "Bcc: victim@x.example" in msg["Subject"]
        assert not re.search(r"(?im)^bcc:", _header_section(raw))
        assert not msg.defects


LONG_SUBJECTS = [
    "Re: Tổ Khoa học Tự nhiên gửi bài tin tháng 3/2026: Ngày hội STEM cấp trường "
    "năm học 2025–2026 với 18 sản phẩm của học sinh [TB-2026-03-001]",
    "[KHẨN] PH-2026-03-002 – Phụ huynh phản ánh học sinh lớp 7A bị đánh ở cổng trường, "
    "có video lan truyền trên Zalo và Facebook",
    "Báo cáo kết quả thông tin, tuyên truyền tháng 3 năm 2026 của Trường THCS Pom Lót "
    "gửi Ban Giám hiệu (kèm tệp bao-cao-2026-03.docx)",
    "Nhắc gửi tin, bài tháng 3/2026 – Liên đội TNTP Hồ Chí Minh – hạn chót ngày 19/3, "
    "xin các đồng chí lưu ý ASCII words in between",
    "Re: Đề nghị hỗ trợ (khẩn) – lớp 7A, 7B: học sinh bị ngộ độc thực phẩm sau bữa trưa "
    "ngày 18/3/2026 tại bếp ăn bán trú",
]


@pytest.mark.parametrize("subject", LONG_SUBJECTS, ids=["ack", "alert", "report", "mixed", "fold"])
def test_compose_long_vietnamese_subject_round_trips(templates: Templates, subject: str) -> None:
    """A Vietnamese subject over 78 characters decodes to exactly the input, spaces included.

    Python 3.11's folder at 78 columns drops the space between two encoded
    words ("thựcphẩm"); compose avoids it by folding at 998 (see the report).
    """
    assert len(subject) > 78
    raw = compose(_outgoing(subject=subject), IDENTITY, templates, NOW).raw
    assert _parse(raw)["Subject"] == subject
    assert max(len(line) for line in _header_section(raw).split("\r\n")) <= 998


def test_compose_overlong_subject_is_cut_not_broken(templates: Templates) -> None:
    """A subject far over the limit is cut to 250 characters and still fits one 998-byte line."""
    subject = "Phản ánh về bếp ăn bán trú và an toàn thực phẩm, " * 12
    raw = compose(_outgoing(subject=subject), IDENTITY, templates, NOW).raw
    assert _parse(raw)["Subject"] == " ".join(subject.split())[:250]
    assert max(len(line) for line in _header_section(raw).split("\r\n")) <= 998


def test_compose_declares_vietnamese(templates: Templates) -> None:
    """The message says its language is Vietnamese (``Content-Language: vi``)."""
    msg = _parse(compose(_outgoing(), IDENTITY, templates, NOW).raw)
    assert msg["Content-Language"] == "vi"


def test_compose_attachment(templates: Templates) -> None:
    """The monthly report's .docx travels as an attachment beside the two bodies."""
    docx = b"PK\x03\x04 not really a docx"
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    out = Outgoing(
        purpose="report",
        key="report.2026-03",
        to=("hieutruong@thcspomlot.edu.vn",),
        subject="Báo cáo kết quả thông tin, tuyên truyền tháng 3 năm 2026",
        template="monthly_report",
        context=_monthly(),
        auto_submitted="auto-generated",
        attachments=(("bao-cao-2026-03.docx", mime, docx),),
    )
    msg = _parse(compose(out, IDENTITY, templates, NOW).raw)
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "bao-cao-2026-03.docx"
    assert attachment.get_content() == docx
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
