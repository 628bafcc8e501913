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


def word_file(text: str) -> Attachment:
    """An attached .docx whose text was read."""
    return Attachment("bai.docx", f"application/{_DOCX}", 20_000, text=text)


_DOCX = "vnd.openxmlformats-officedocument.wordprocessingml.document"


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


def test_leadership_sending_an_article_is_not_approving(rules: RuleSet) -> None:
    """A new message with a Word file that names who will approve it is the article itself."""
    doc = word_file("Chi bộ tổ chức học tập, quán triệt nghị quyết Đại hội XIV của Đảng. " * 20)
    text = "Gửi Minh bài tin (file đính kèm), em biên tập rồi trình cô Nga duyệt nhé."
    c = classify(
        mail(
            sender="thanglv@thcspomlot.edu.vn", subject="Tin chi bộ", text=text, attachments=(doc,)
        ),
        rules,
    )
    assert c.kind == "submission", c.reasons
    short_note = classify(mail(sender="thanglv@thcspomlot.edu.vn", text="Duyệt, cho đăng."), rules)
    assert short_note.kind == "approval"


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


@pytest.mark.parametrize(
    ("size", "inline", "media"),
    [
        (5_000, False, True),  # a small photo, attached as a file: still a photo
        (5_000, True, False),  # a small picture shown in the text: a logo or an icon
        (200_000, True, True),  # a phone's photo shown in the text (Apple Mail)
    ],
)
def test_which_pictures_make_media(rules: RuleSet, size: int, inline: bool, media: bool) -> None:
    pics = tuple(Attachment(f"a{i}.jpg", "image/jpeg", size, inline=inline) for i in range(3))
    text = "Gửi thầy Minh mấy tấm hôm hội trại của lớp 7A."
    c = classify(mail(sender="hoant@thcspomlot.edu.vn", text=text, attachments=pics), rules)
    assert (c.kind == "media") is media, c.reasons


def test_a_caption_of_some_length_still_makes_photos_media(rules: RuleSet) -> None:
    """Photos with a hundred words about them are media; that much about photos only
    mentioned, with no file and no link, is a message of its own kind."""
    words = " ".join(["các em tham gia rất vui"] * 16)  # 96 words
    photos = tuple(Attachment(f"a{i}.jpg", "image/jpeg", 200_000) for i in range(2))
    subject = "Lớp học bơi"
    with_photos = classify(
        mail(subject=subject, text=f"Tôi gửi ảnh buổi học bơi: {words}", attachments=photos),
        rules,
    )
    assert with_photos.kind == "media", with_photos.reasons
    mentioned = classify(
        mail(subject=subject, text=f"Ảnh tôi gửi qua Zalo. Xin hỏi {words}?"), rules
    )
    assert mentioned.kind == "feedback", mentioned.reasons


@pytest.mark.parametrize(
    ("sender", "subject", "text", "kind"),
    [
        (
            "inan.dbp@gmail.com",
            "Báo giá in băng rôn, giấy khen",
            "Cơ sở in gửi bảng báo giá, chiết khấu 10% cho trường. Cảm ơn quý thầy cô.",
            "other",
        ),
        (
            "minhqv@thcspomlot.edu.vn",
            "Hộp thư sắp đầy",
            "Dung lượng hộp thư đã dùng 95%, các thầy cô gửi ảnh qua link Drive giúp em.",
            "other",
        ),
        (
            "banbientap@tapchi-giaoduc.vn",
            "Đề nghị hợp tác truyền thông",
            "Tạp chí xin giới thiệu gói đăng bài giới thiệu nhà trường, phí 5.000.000 đồng "
            "đã bao gồm VAT.",
            "other",
        ),
        (
            "vanhoa.xa@dienbien.gov.vn",
            "Giấy mời",
            "UBND xã trân trọng kính mời đại diện nhà trường dự lễ khánh thành nhà văn hóa.",
            "other",
        ),
        (
            "vanphong.sogddt@gmail.com",
            "Xác thực hộp thư công vụ",
            "Hộp thư chưa xác thực sẽ bị tạm khóa. Đề nghị đăng nhập bằng mật khẩu hiện tại "
            "tại đường dẫn sau để hoàn tất xác thực. Việc này khẩn.",
            "other",
        ),
        (  # a parent quoting a price is heard, not set aside
            "hungnv.ph@gmail.com",
            "Báo giá đồng phục",
            "Tôi thấy báo giá đồng phục năm nay cao quá, mong nhà trường xem xét.",
            "feedback",
        ),
    ],
)
def test_offers_and_notices_are_other(
    rules: RuleSet, sender: str, subject: str, text: str, kind: str
) -> None:
    c = classify(mail(sender=sender, subject=subject, text=text), rules)
    assert c.kind == kind, c.reasons
    if kind == "other":
        assert c.topics == ()


def test_word_file_makes_a_submission(rules: RuleSet) -> None:
    doc = word_file("Ngày bầu cử đại biểu Quốc hội khóa XVI " * 20)
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
        ("Báo gấp", "Em Khiêm lớp 8B đi tắm suối bị nước cuốn, đến giờ chưa tìm thấy.", True),
        (
            "Clip trên TikTok",
            "Kênh TikTok đăng clip gắn tên trường, đã hơn 300 nghìn lượt xem, phụ huynh "
            "rất hoang mang. Đề nghị nhà trường báo cơ quan chức năng gỡ clip.",
            True,
        ),
        (
            "Tin bài",
            "Liên đội tổ chức tiết học kỹ năng: không tắm suối, tắm sông một mình.",
            False,
        ),
        ("Cảm ơn", "Clip văn nghệ của lớp 9A trên fanpage được nhiều lượt xem.", False),
        ("BÁO CÁO NHANH", "Hai em lớp 6A lội qua ngầm, nước lũ cuốn đi, dân bản cứu được.", True),
        (  # a landslide on the road is why a parent writes instead of coming, not the news
            "Hỏi về bữa ăn",
            "Đường vào bản đang sạt lở nên tôi không xuống trường được, mong nhà trường "
            "cho các cháu ăn thêm cơm.",
            False,
        ),
    ],
)
def test_urgency(rules: RuleSet, subject: str, text: str, urgent: bool) -> None:
    """An incident is urgent; a lesson, contest or warning about one is not."""
    c = classify(mail(subject=subject, text=text), rules)
    assert c.urgent is urgent, c.reasons


def test_a_cry_for_help_is_feedback_and_urgent(rules: RuleSet) -> None:
    """No letter's words at all, only what happened: an incident report."""
    c = classify(
        mail(
            sender="lovanminh.8a@hs.thcspomlot.edu.vn",
            subject="thay co oi",
            text="ban Tu lop 8A bi xe may dam o cong truong, chay mau nhieu lam",
        ),
        rules,
    )
    assert (c.kind, c.urgent, c.topic) == ("feedback", True, "VII"), c.reasons


def test_an_urgent_message_is_filed_under_safety_or_communication(rules: RuleSet) -> None:
    """Where it happened (the boarding house) is not what it is about."""
    text = (
        "Báo cáo nhanh: tối qua em Chinh lớp 8C ở khu bán trú, phòng bán trú số 6, không có "
        "mặt lúc điểm danh. Thầy cô đã đi tìm, đã báo công an xã."
    )
    c = classify(mail(sender="hungcv@thcspomlot.edu.vn", subject="Bán trú", text=text), rules)
    assert c.urgent and c.topics[0] == "VII", c.reasons
    assert "IV" in c.topics


def test_an_article_about_prevention_is_not_urgent(rules: RuleSet) -> None:
    """However many incident words a prevention article holds, it tells of work done;
    the same words from a parent are heard as news."""
    text = (
        "Tin bài: Chi đoàn tổ chức ngoại khóa. Báo cáo viên kể các vụ học sinh bị đánh, "
        "bị bắt nạt, bị trấn lột, sử dụng ma túy và hướng dẫn các em cách xử lý. " * 2
    )
    article = classify(mail(sender="ngocbt@thcspomlot.edu.vn", subject="Tin bài", text=text), rules)
    assert article.kind == "submission" and not article.urgent, article.reasons
    note = "Con tôi bị đánh, bị bắt nạt, bị trấn lột ở trường, mong nhà trường xử lý."
    assert classify(mail(subject="Phản ánh", text=note), rules).urgent


def test_agreeing_to_edits_without_the_right_to_approve_is_other(rules: RuleSet) -> None:
    reply = {"in_reply_to": "<a@x>", "subject": "Re: Bài Công đoàn"}
    ok = classify(mail(sender="namhv@thcspomlot.edu.vn", text="ok em, đồng ý như bản em sửa.",
                       **reply), rules)  # fmt: skip
    assert ok.kind == "other", ok.reasons
    leader = classify(mail(sender="hieutruong@thcspomlot.edu.vn", text="Đồng ý đăng.", **reply),
                      rules)  # fmt: skip
    assert leader.kind == "approval", leader.reasons


def test_a_reply_subject_names_the_message_answered(rules: RuleSet) -> None:
    """A reply's subject ("Re: Bài viết …") says what was answered: the principal's
    questions about an article are not an article."""
    text = (
        "Chị đọc rồi. Số tiền trong bài khác biên bản của Chi đoàn, số nào đúng? "
        "Ảnh có rõ mặt các em không, đã hỏi ý kiến gia đình chưa?"
    )
    c = classify(
        mail(sender="hieutruong@thcspomlot.edu.vn", subject="Re: Bài viết tháng 10", text=text,
             in_reply_to="<a@x>"),
        rules,
    )  # fmt: skip
    assert c.kind == "feedback", c.reasons


def test_a_former_pupil_speaking_of_their_parents_is_not_a_parent(rules: RuleSet) -> None:
    """A pupil's "bố mẹ em" is their own parents: the parent phrase in it does not count."""
    former = "Em là cựu học sinh khóa 2010. Hồi đó thầy đến tận nhà thuyết phục bố mẹ em."
    assert classify(mail(sender="hanh.kr@gmail.com", text=former), rules).role == "unknown"
    parent = "Tôi là mẹ em Khang lớp 8B, muốn hỏi về học phí."
    assert classify(mail(sender="lan.kr@gmail.com", text=parent), rules).role == "parent"


def test_a_parent_speaking_of_homework_writes_feedback(rules: RuleSet) -> None:
    """A parent's mail speaking of "bài tập" (homework) is to be heard, not published."""
    text = (
        "Toi la bo chau Quan lop 8B. Co giao giao bai tap ve nha tren mang, nha toi khong co "
        "dien thoai nen chau khong nop duoc bai, bi ghi ten."
    )
    c = classify(mail(sender="tongvan76@gmail.com", subject="chuyen bai tap cua chau",
                      text=text), rules)  # fmt: skip
    assert (c.role, c.kind) == ("parent", "feedback"), c.reasons


def test_reasons_name_the_rules_that_fired(rules: RuleSet) -> None:
    c = classify(mail(subject="Hỏi về học phí"), rules)
    assert c.reasons[0] == "role: parent (known parent: hungnv.ph@gmail.com)"
    assert any(r.startswith("topic VI:") and "học phí" in r for r in c.reasons)
