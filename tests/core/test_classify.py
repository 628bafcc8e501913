"""The classifier's steps, one table each, on hand-made messages (no parsing)."""

from __future__ import annotations

from typing import Any

import pytest

from mailbot.core.classify import classify
from mailbot.core.model import Address, Attachment, AuthResult, Mail
from mailbot.core.rules import RuleSet

OWN = "mx.thcspomlot.edu.vn"
PASS = (AuthResult(OWN, dmarc="pass"),)


def mail(
    sender: str = "hungnv.ph@gmail.com",
    subject: str = "Hỏi về học phí",
    text: str = "Kính gửi nhà trường, tôi muốn hỏi về các khoản thu của lớp con tôi ạ?",
    **kw: Any,
) -> Mail:
    kw.setdefault("auth", PASS)
    return Mail(
        sha256="0" * 64,
        message_id="<t@example>",
        sender=Address("", sender),
        subject=subject,
        text=text,
        body=text,
        **kw,
    )


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ((("auto-submitted", "auto-replied"),), True),
        ((("auto-submitted", "Auto-Generated"),), True),
        ((("auto-submitted", "auto-notified; owner-email=x@y.example"),), True),
        ((("auto-submitted", "no"),), False),
        ((("list-id", "<news.lophocxanh.vn>"),), True),
        ((("list-unsubscribe", "<mailto:u@x.example>"),), True),
        ((("precedence", "list"),), True),
        ((("precedence", "bulk"),), True),
        ((("precedence", "junk"),), True),
        ((("x-auto-response-suppress", "DR, OOF, RN"),), True),
        ((("x-autoresponder", "yes"),), True),
        ((("return-path", "<>"),), True),
        ((("return-path", "<hungnv.ph@gmail.com>"),), False),
    ],
)
def test_automatic_headers(
    rules: RuleSet, headers: tuple[tuple[str, str], ...], auto: bool
) -> None:
    """RFC 3834 and list headers make a message automatic: role unknown, kind auto."""
    c = classify(mail(headers=headers), rules)
    assert (c.kind == "auto", c.automatic) == (auto, auto)
    if auto:
        assert c.role == "unknown"


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.thcspomlot.edu.vn",
        "postmaster@x.example",
        "noreply@x.example",
        "owner-list@x.example",
        "parents-request@x.example",
        "no-reply@zalo.me",
    ],
)
def test_system_senders_are_automatic(rules: RuleSet, sender: str) -> None:
    assert classify(mail(sender=sender), rules).kind == "auto"


@pytest.mark.parametrize(
    "subject",
    [
        "Trả lời tự động: Nhắc các tổ nộp tin bài",
        "Automatic reply: hello",
        "Out of Office: x",
        "Đã đọc: Nhắc các tổ",
        "Read: report",
        "Undelivered Mail Returned to Sender",
    ],
)
def test_automatic_subjects(rules: RuleSet, subject: str) -> None:
    assert classify(mail(subject=subject), rules).kind == "auto"


def test_delivery_report_structure(rules: RuleSet) -> None:
    assert classify(mail(content_type="multipart/report"), rules).kind == "auto"


def test_dmarc_fail_makes_the_sender_unknown(rules: RuleSet) -> None:
    """A forged principal's 'approval' is nobody's approval (RELIABILITY case 16)."""
    forged = mail(
        sender="hieutruong@thcspomlot.edu.vn",
        subject="Duyệt đăng bài",
        text="Duyệt đăng bài này gấp.",
        auth=(AuthResult(OWN, dmarc="fail"),),
    )
    c = classify(forged, rules)
    assert (c.role, c.group, c.kind, c.verified, c.urgent) == (
        "unknown",
        None,
        "other",
        False,
        False,
    )


def test_only_the_topmost_header_of_our_server_counts(rules: RuleSet) -> None:
    """A pass written lower down, or by another server, cannot undo our fail."""
    forged = mail(
        sender="hieutruong@thcspomlot.edu.vn",
        auth=(
            AuthResult("mx.google.com", dmarc="pass"),
            AuthResult(OWN, dmarc="fail"),
            AuthResult(OWN, dmarc="pass"),
        ),
    )
    assert classify(forged, rules).role == "unknown"


def test_no_sender_is_unknown(rules: RuleSet) -> None:
    m = Mail(sha256="0", message_id="<x>", sender=None, sender_problem="two From headers")
    c = classify(m, rules)
    assert (c.role, c.kind) == ("unknown", "other")
    assert "two From headers" in c.reasons[0]


@pytest.mark.parametrize(
    ("sender", "role", "group"),
    [
        ("hoant@thcspomlot.edu.vn", "teacher", "KHTN"),
        ("hieutruong@thcspomlot.edu.vn", "leadership", "BGH"),
        ("maivt@thcspomlot.edu.vn", "staff", "VP"),
        ("minhqv@thcspomlot.edu.vn", "it", "CNTT"),
        ("giangasu88@gmail.com", "parent", None),
        ("lusa.7c@hs.thcspomlot.edu.vn", "student", None),
        ("qlcl.sogddt@dienbien.edu.vn", "department", None),
        ("stranger@gmail.com", "unknown", None),
    ],
)
def test_role_from_address(rules: RuleSet, sender: str, role: str, group: str | None) -> None:
    c = classify(mail(sender=sender, text="Xin chào nhà trường."), rules)
    assert (c.role, c.group) == (role, group)


@pytest.mark.parametrize(
    "text",
    [
        "Tôi là phụ huynh em Lò Văn A lớp 7A.",
        "toi la me cua em Lan lop 6A, con toi bi om",
        "PH em Minh lớp 8B xin hỏi",
    ],
)
def test_stranger_presenting_as_parent(rules: RuleSet, text: str) -> None:
    assert classify(mail(sender="someone@yahoo.com", text=text), rules).role == "parent"


def test_approval_only_from_leadership(rules: RuleSet) -> None:
    text = "Đồng ý, duyệt đăng bài này."
    lead = classify(mail(sender="thanglv@thcspomlot.edu.vn", text=text, in_reply_to="<a@b>"), rules)
    teacher = classify(
        mail(sender="hoant@thcspomlot.edu.vn", text=text, in_reply_to="<a@b>"), rules
    )
    assert lead.kind == "approval" and lead.topics == () and not lead.urgent
    assert teacher.kind != "approval"


def test_department_mail_is_a_directive(rules: RuleSet) -> None:
    c = classify(
        mail(sender="sogddt@dienbien.edu.vn", auth=(AuthResult(OWN, dmarc="none"),)), rules
    )
    assert (c.role, c.kind, c.topics) == ("department", "directive", ())


def test_photos_with_little_text_are_media(rules: RuleSet) -> None:
    photos = tuple(Attachment(f"a{i}.jpg", "image/jpeg", 200_000) for i in range(3))
    c = classify(
        mail(
            sender="hungcv@thcspomlot.edu.vn",
            subject="Ảnh hội khỏe Phù Đổng",
            text="Em gửi ảnh ạ",
            attachments=photos,
        ),
        rules,
    )
    assert (c.kind, c.topic) == ("media", "VII")


def test_word_file_makes_a_submission(rules: RuleSet) -> None:
    doc = Attachment(
        "bai.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        20_000,
        text="Ngày bầu cử đại biểu Quốc hội khóa XVI " * 20,
    )
    c = classify(
        mail(
            sender="ngocbt@thcspomlot.edu.vn",
            subject="Chi đoàn",
            text="Em gửi bài ạ",
            attachments=(doc,),
        ),
        rules,
    )
    assert (c.kind, c.topic) == ("submission", "I")


@pytest.mark.parametrize(
    ("subject", "text", "urgent"),
    [
        ("con toi bi danh", "con toi bi cac anh lop 9 danh hoi dong o truong, bi thuong", True),
        (
            "Phản ánh",
            "Chiều nay nhiều học sinh bị nôn, đau bụng sau bữa trưa, đang đi cấp cứu.",
            True,
        ),
        (
            "Tin bài",
            "Liên đội tổ chức ngoại khóa kỹ năng phòng chống đuối nước cho học sinh. "
            "Các em được hướng dẫn kỹ năng bơi an toàn và phòng tránh đuối nước.",
            False,
        ),
        ("Cuộc thi vẽ tranh", "Cuộc thi vẽ tranh, áp phích phòng chống bắt nạt học đường.", False),
        ("Góp ý", "Học sinh đi xe máy không đội mũ bảo hiểm, có nguy cơ tai nạn.", False),
    ],
)
def test_urgency(rules: RuleSet, subject: str, text: str, urgent: bool) -> None:
    """An incident is urgent; a lesson, contest or warning about one is not."""
    c = classify(mail(subject=subject, text=text), rules)
    assert c.urgent is urgent, c.reasons


def test_reasons_name_the_rules_that_fired(rules: RuleSet) -> None:
    c = classify(mail(subject="Hỏi về học phí"), rules)
    assert c.reasons[0] == "role: parent (known parent: hungnv.ph@gmail.com)"
    assert any(r.startswith("topic VI:") and "học phí" in r for r in c.reasons)
