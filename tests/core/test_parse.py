# ruff: noqa: E501 - the corpus table keeps one message per line
"""parse_message against the labelled corpus and small hand-written fixtures.

The corpus lives beside the repository (``../shared/corpus``); its tests are
skipped when it is absent. The fixtures in ``tests/data/eml`` each show one
trap from RELIABILITY.md (cases 11, 17-23).
"""

from __future__ import annotations

import base64
import io
import re
import time
import unicodedata
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from mailbot.core.model import Address, Mail, Unparseable
from mailbot.core.parse import Limits, parse_message

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "eml"
TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")

# (file, sender address, subject): every corpus message, decoded and NFC.
CORPUS_TABLE = [
    ("d001.eml", "sogddt@dienbien.edu.vn", "V/v triển khai Kế hoạch số 67/KH-SGDĐT về thông tin, tuyên truyền về giáo dục và đào tạo năm 2026"),
    ("d002.eml", "lan.do.van@gmail.com", "Fwd: Ý kiến về chỗ ở bán trú"),
    ("d003.eml", "maivt@thcspomlot.edu.vn", "GỬI BÀI TIN THÁNG 1 - TỔ VĂN PHÒNG"),
    ("d004.eml", "bantin@lophocxanh.vn", "📚 Bản tin tháng 1/2026: 5 cách dùng AI để soạn bài nhanh hơn"),
    ("d005.eml", "hoant@thcspomlot.edu.vn", "Tổ KHTN gửi bài tin tháng 1 - Chuyên đề STEM"),
    ("d006.eml", "hungcv@thcspomlot.edu.vn", "Ảnh HKPĐ cấp trường 2026"),
    ("d007.eml", "hungnv.ph@gmail.com", "Hỏi về tài khoản xem sổ liên lạc điện tử và học bạ số của con"),
    ("d008.eml", "hieutruong@thcspomlot.edu.vn", "Re: Tổ KHTN gửi bài tin tháng 1 - Chuyên đề STEM"),
    ("d009.eml", "xuanlt1985@gmail.com", "Hỏi về các khoản tiền lớp 6A thu"),
    ("d010.eml", "namhv@thcspomlot.edu.vn", "Gửi bài tin Công đoàn tháng 01/2026"),
    ("d011.eml", "mailer-daemon@mx.thcspomlot.edu.vn", "Undelivered Mail Returned to Sender"),
    ("d012.eml", "hoant@thcspomlot.edu.vn", "Tin bài: Tập huấn kiến thức an toàn thực phẩm cho nhân viên bếp ăn bán trú"),
    ("d013.eml", "phongqv1962@gmail.com", "Phản ánh việc học sinh đi xe máy không đội mũ bảo hiểm"),
    ("d014.eml", "thanglv@thcspomlot.edu.vn", "Tin: Trường THCS Pom Lót quán triệt Nghị quyết 71-NQ/TW về đột phá phát triển GDĐT"),
    ("d015.eml", "lan.do.van@gmail.com", "Bài viết: Bữa cơm bán trú ấm áp nơi vùng cao"),
    ("d016.eml", "duyenhoang.dbp@yahoo.com", "Xin hỏi về quy định dạy thêm, học thêm"),
    ("d017.eml", "thult@thcspomlot.edu.vn", "Gửi tin bài tổ KHXH tháng 2: Chuyên đề tăng cường tiếng Việt cho HS dân tộc thiểu số"),
    ("d018.eml", "namhv@thcspomlot.edu.vn", "Góp ý của Công đoàn trường về chế độ, chính sách đối với nhà giáo"),
    ("d019.eml", "hoant@thcspomlot.edu.vn", "Tổng hợp ý kiến PH lớp 9A về kỳ thi tuyển sinh vào lớp 10 năm 2026"),
    ("d020.eml", "huongqt.9a@hs.thcspomlot.edu.vn", "Bài viết CLB Phóng viên nhỏ - Xuân yêu thương"),
    ("d021.eml", "namhv@thcspomlot.edu.vn", "Đã đọc: Nhắc các tổ nộp tin bài tháng 02/2026"),
    ("d022.eml", "thanglv@thcspomlot.edu.vn", "Nhờ em việc gấp"),
    ("d023.eml", "xuanlt1985@gmail.com", "Ảnh các cháu 6A gói bánh chưng"),
    ("d024.eml", "ngocbt@thcspomlot.edu.vn", "GẤP: Trang Facebook giả mạo trường đăng thông báo cho HS nghỉ học, đang lan truyền mạnh"),
    ("d025.eml", "maivt@thcspomlot.edu.vn", "Tin bài tổ Văn phòng tháng 2: Công khai thực hiện chính sách miễn học phí, hỗ trợ học sinh"),
    ("d026.eml", "giangasu88@gmail.com", "phan anh viec con toi bi danh o truong"),
    ("d027.eml", "phuonglt.eng96@gmail.com", "Gửi bài tin CLB Tiếng Anh"),
    ("d028.eml", "minhqv@thcspomlot.edu.vn", "[Tin bài] Tập huấn kỹ năng truyền thông và ứng xử trên mạng xã hội cho CBGV"),
    ("d029.eml", "tuanlv.8a@hs.thcspomlot.edu.vn", "ảnh chào cờ tuyên truyền bầu cử"),
    ("d030.eml", "thult@thcspomlot.edu.vn", "Re: [Truyền thông] Đề nghị các tổ gửi ảnh Hội khỏe Phù Đổng cấp trường"),
    ("d031.eml", "vuthidua.pl@gmail.com", "Thư cảm ơn cô giáo Đỗ Thị Lan lớp 6A"),
    ("d032.eml", "sogddt@dienbien.edu.vn", "Thông báo kết quả thống kê tin bài tháng 02/2026"),
    ("d033.eml", "dungpv.toan@gmail.com", "Tin bài tổ KHTN tháng 3"),
    ("d034.eml", "hanhlo.dbp@outlook.com", "Phản ánh: nhiều học sinh bị đau bụng, nôn sau bữa trưa bán trú"),
    ("d035.eml", "ngocbt@thcspomlot.edu.vn", "Tin bài Chi đoàn tháng 3: tuyên truyền bầu cử ĐBQH khóa XVI và HĐND các cấp"),
    ("d036.eml", "hieutruong@thcspomlot.edu.vn", "Re: Tin bài Chi đoàn tháng 3: tuyên truyền bầu cử ĐBQH khóa XVI và HĐND các cấp"),
    ("d037.eml", "dungpv.toan@gmail.com", "KHẨN: HỌC SINH LỚP 8B BỊ TAI NẠN GIAO THÔNG TRÊN ĐƯỜNG ĐẾN TRƯỜNG"),
    ("d038.eml", "thanglv@thcspomlot.edu.vn", "Ảnh nghiệm thu nhà lớp học 2 tầng"),
    ("d039.eml", "qlcl.sogddt@dienbien.edu.vn", "V/V TĂNG CƯỜNG CÔNG TÁC BẢO ĐẢM AN TOÀN THỰC PHẨM, PHÒNG CHỐNG NGỘ ĐỘC THỰC PHẨM TẠI CÁC CƠ SỞ GIÁO DỤC CÓ TỔ CHỨC BÁN TRÚ"),
    ("d040.eml", "ngocbt@thcspomlot.edu.vn", "Bài tin: Ngoại khóa phòng chống bạo lực học đường, ma túy và thuốc lá điện tử"),
    ("d041.eml", "thanglv@thcspomlot.edu.vn", "RE: Bài tin: Ngoại khóa phòng chống bạo lực học đường, ma túy và thuốc lá điện tử"),
    ("d042.eml", "lusa.7c@hs.thcspomlot.edu.vn", "em can giup do"),
    ("d043.eml", "hieutruong@thcspomlot.edu.vn", "Duyệt đăng bài - khẩn"),
    ("d044.eml", "thult@thcspomlot.edu.vn", "Gửi bài tin Hội thi GVDG cấp trường"),
    ("d045.eml", "postmaster@thcspomlot.edu.vn", "[Cảnh báo] Hộp thư truyenthong@thcspomlot.edu.vn đã dùng 92% dung lượng"),
    ("d046.eml", "hungcv@thcspomlot.edu.vn", "Tin bài Liên đội: Ngoại khóa kỹ năng phòng, chống đuối nước"),
    ("d047.eml", "thult@thcspomlot.edu.vn", "Trả lời tự động: Nhắc các tổ nộp tin bài tháng 3/2026"),
    ("d048.eml", "cavanhung.tpt@gmail.com", "Video dân vũ chào mừng 26/3"),
]  # fmt: skip


def corpus(name: str) -> Mail:
    result = parse_message((CORPUS / name).read_bytes())
    assert isinstance(result, Mail), result
    return result


def fixture(name: str, limits: Limits | None = None) -> Mail:
    raw = (FIXTURES / name).read_bytes()
    result = parse_message(raw) if limits is None else parse_message(raw, limits)
    assert isinstance(result, Mail), result
    return result


def is_nfc_clean(text: str) -> bool:
    return unicodedata.is_normalized("NFC", text) and "\r" not in text


# --- the corpus ----------------------------------------------------------------


@needs_corpus
def test_corpus_table_covers_every_file() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == [row[0] for row in CORPUS_TABLE]


@needs_corpus
@pytest.mark.parametrize(("name", "addr", "subject"), CORPUS_TABLE)
def test_corpus_message_parses(name: str, addr: str, subject: str) -> None:
    mail = corpus(name)
    assert mail.sender is not None, mail.sender_problem
    assert mail.sender.addr == addr
    assert mail.subject == subject
    assert mail.sha256 and mail.size == (CORPUS / name).stat().st_size
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    assert isinstance(mail.date, datetime) and mail.date.tzinfo is not None
    assert mail.text.strip() and mail.body.strip()
    assert is_nfc_clean(mail.text) and is_nfc_clean(mail.body) and is_nfc_clean(mail.subject)
    assert all(name == name.lower() for name, _ in mail.headers)


@needs_corpus
def test_windows_1258_subject_sender_and_body() -> None:
    mail = corpus("d014.eml")
    assert "Nghị quyết 71-NQ/TW" in mail.subject
    assert mail.sender is not None and mail.sender.name == "Lò Văn Thắng"
    assert "NGHỊ QUYẾT SỐ 71-NQ/TW" in mail.body and "Nghị quyết" in mail.text
    assert "Đ/c Minh" in mail.text


@needs_corpus
def test_windows_1258_reply_is_decoded_and_stripped() -> None:
    mail = corpus("d041.eml")
    assert mail.text.startswith("Không duyệt bài này.")
    assert "Thư gốc" not in mail.text and "Đã gửi" not in mail.text
    assert "ma túy" not in mail.text and "ma túy" in mail.body


@needs_corpus
@pytest.mark.parametrize("name", ["d017.eml", "d030.eml", "d044.eml"])
def test_nfd_input_comes_out_nfc(name: str) -> None:
    mail = corpus(name)
    assert mail.sender is not None
    for text in (mail.subject, mail.sender.name, mail.body, mail.text):
        assert is_nfc_clean(text)
    assert all(is_nfc_clean(a.name) and is_nfc_clean(a.text) for a in mail.attachments)


@needs_corpus
def test_nfd_display_name_d017() -> None:
    mail = corpus("d017.eml")
    assert mail.sender is not None and mail.sender.name == "Lường Thị Thu"
    assert "tiếng Việt" in mail.subject


@needs_corpus
@pytest.mark.parametrize("name", ["d032.eml", "d034.eml", "d043.eml"])
def test_html_only_becomes_text_without_tags(name: str) -> None:
    mail = corpus(name)
    assert mail.content_type == "text/html"
    assert not TAG.search(mail.body) and not TAG.search(mail.text)
    assert "&nbsp;" not in mail.body and "&amp;" not in mail.body
    assert len(mail.text.split()) > 30


@needs_corpus
def test_html_table_cells_stay_apart() -> None:
    body = corpus("d032.eml").body
    assert "1 THCS Pom Lót 4 1 Đạt" in body
    assert "PTDTBT THCS Mường Phăng 2 0 Chưa đạt (thiếu tư liệu)" in body


@needs_corpus
def test_html_signature_line_is_stripped_d034() -> None:
    mail = corpus("d034.eml")
    assert "ngộ độc" not in mail.text  # the parent never says it; the facts are there
    assert "nôn" in mail.text and "Outlook" not in mail.text and "Outlook" in mail.body


@needs_corpus
def test_reply_d008_keeps_only_the_approval() -> None:
    mail = corpus("d008.eml")
    assert mail.text.startswith("Duyệt. Đồng ý đăng website")
    assert "đã viết" not in mail.text and "Kính gửi BGH" not in mail.text
    assert "Kính gửi BGH" in mail.body


@needs_corpus
def test_reply_d030_is_about_elections_not_the_quoted_sports_request() -> None:
    mail = corpus("d030.eml")
    assert "bầu cử" in mail.text
    assert "Hội khỏe Phù Đổng" not in mail.text
    assert "bóng đá" not in mail.text and "kéo co" not in mail.text
    assert "Hội khỏe Phù Đổng" in mail.body


@needs_corpus
def test_reply_d036_drops_iphone_signature_and_quoted_article() -> None:
    mail = corpus("d036.eml")
    assert mail.text == (
        "Duyet. Dang web va fanpage truoc 17h hom nay nhe Minh. Nho kem anh bang ron o cong truong."
    )


@needs_corpus
def test_forward_d002_keeps_the_parents_text() -> None:
    mail = corpus("d002.eml")
    assert mail.forwarded
    assert "Em chuyển ý kiến của PH lớp 6A" in mail.text
    assert "cửa sổ bị vỡ kính" in mail.text and "Cảm ơn cô." in mail.text
    assert "Forwarded message" not in mail.text and "Subject:" not in mail.text


@needs_corpus
def test_attached_message_d019_text_in_but_its_auth_results_out() -> None:
    mail = corpus("d019.eml")
    assert [a.authserv_id for a in mail.auth] == ["mx.thcspomlot.edu.vn"]
    assert mail.auth[0].header_from == "thcspomlot.edu.vn"
    assert mail.sender == Address("Nguyễn Thị Hoa", "hoant@thcspomlot.edu.vn")
    assert "Lò Văn Sơn" in mail.text and "Lò Văn Sơn" in mail.body
    assert "Phổ thông Dân tộc nội trú" in mail.text
    rfc822 = [a for a in mail.attachments if a.content_type == "message/rfc822"]
    assert rfc822 and rfc822[0].name == "Ý kiến của PH lớp 9A về ôn thi vào lớp 10.eml"
    assert b"sonlv.pomlot@gmail.com" in rfc822[0].payload


@needs_corpus
def test_auth_results_verdicts() -> None:
    spoof = corpus("d022.eml").auth
    assert spoof[0].dmarc == "fail" and spoof[0].spf == "pass"
    assert corpus("d043.eml").auth[0].dkim == "none"
    assert corpus("d001.eml").auth[0].dmarc == "none"
    assert corpus("d045.eml").auth == ()


@needs_corpus
@pytest.mark.parametrize("name", ["d005.eml", "d010.eml", "d027.eml", "d033.eml", "d044.eml"])
def test_docx_article_text(name: str) -> None:
    docs = [a for a in corpus(name).attachments if a.name.endswith(".docx")]
    assert len(docs) == 1
    assert 150 <= len(docs[0].text.split()) <= 400
    assert docs[0].payload.startswith(b"PK") and docs[0].size == len(docs[0].payload)


@needs_corpus
@pytest.mark.parametrize(
    ("name", "attachment"),
    [
        ("d001.eml", "67-KH-SGDĐT Kế hoạch TTTT năm 2026.pdf"),  # RFC 2231 continuation
        ("d005.eml", "Tin bài Tổ KHTN tháng 1 - Chuyên đề STEM.docx"),  # RFC 2231
        ("d020.eml", "Xuân yêu thương 2026.jpg"),  # RFC 2047 inside quotes (Gmail)
        ("d023.eml", "Ảnh lớp 6A gói bánh chưng (1).jpg"),
        ("d027.eml", "Tin CLB Tiếng Anh tháng 2.docx"),
        ("d044.eml", "Tin Hội thi GVDG cấp trường 2025-2026.docx"),  # NFD, RFC 2231
    ],
)
def test_encoded_attachment_names(name: str, attachment: str) -> None:
    assert attachment in [a.name for a in corpus(name).attachments]


@needs_corpus
def test_inline_images_d038() -> None:
    images = corpus("d038.eml").attachments
    assert [a.inline for a in images] == [True, True]
    assert all(a.is_image and a.payload.startswith(b"\xff\xd8") for a in images)


@needs_corpus
def test_reports_are_multipart_report() -> None:
    bounce = corpus("d011.eml")
    assert bounce.content_type == "multipart/report"
    assert 'report-type="delivery-status"' in (bounce.header("content-type") or "")
    assert "could not" in bounce.text and "be delivered" in bounce.text
    mdn = corpus("d021.eml")
    assert mdn.content_type == "multipart/report"
    assert "disposition-notification" in (mdn.header("content-type") or "")


@needs_corpus
def test_headers_for_the_automatic_mail_tests() -> None:
    assert corpus("d004.eml").header("precedence") == "bulk"
    assert corpus("d004.eml").header("list-id") is not None
    assert corpus("d045.eml").header("auto-submitted") == "auto-generated"
    assert corpus("d047.eml").header("auto-submitted") == "auto-replied"
    assert corpus("d011.eml").header("return-path") == "<>"


@needs_corpus
def test_threading_headers_d008() -> None:
    mail = corpus("d008.eml")
    assert mail.in_reply_to is not None and mail.in_reply_to in mail.references
    assert all(ref.startswith("<") and ref.endswith(">") for ref in mail.references)


@needs_corpus
def test_mixed_case_address_is_lowered_d019() -> None:
    mail = corpus("d019.eml")
    assert "HoaNT@ThcsPomLot.edu.vn" in (mail.header("from") or "")
    assert mail.sender is not None and mail.sender.addr == "hoant@thcspomlot.edu.vn"


@needs_corpus
def test_to_and_cc() -> None:
    mail = corpus("d005.eml")
    assert [a.addr for a in mail.to] == ["truyenthong@thcspomlot.edu.vn"]
    assert mail.cc
    assert corpus("d014.eml").to[0].name == "Truyền thông THCS Pom Lót"


# --- the sender (RELIABILITY cases 17, 18) ------------------------------------


def test_mailsploit_never_yields_the_principal() -> None:
    mail = fixture("mailsploit_from.eml")
    assert mail.sender is None
    assert mail.sender_problem == "encoded word in address"


def test_two_from_headers_are_refused() -> None:
    mail = fixture("two_from_headers.eml")
    assert mail.sender is None and mail.sender_problem == "2 From headers"


def test_at_sign_in_display_name_never_makes_the_address() -> None:
    mail = fixture("display_name_with_at.eml")
    assert mail.sender is not None and mail.sender.addr == "x@evil.example"
    assert mail.sender.name == "hieutruong@thcspomlot.edu.vn"
    assert "from: '@' in display name" in mail.defects


def message_with_from(value: str) -> bytes:
    return (
        f"From: {value}\r\nTo: t@example.com\r\nSubject: s\r\nMessage-ID: <m@x.example>\r\n"
        "\r\nbody\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a@x.example, b@y.example", "more than one mailbox"),
        ("<@relay.example:user@x.example>", "route portion in address"),
        ("", "empty From header"),
        ("no-at-sign", "address has no local part or no domain"),
        ("user@-bad-.example", "invalid domain"),
        ("user@localhost", "domain is not a fully qualified host name"),
        ("user@bad_domain.example", "invalid domain"),
        ("Group: a@x.example;", "group syntax"),
        (
            "hieutruong@thcspomlot.edu.vn <x@evil.example>",
            "special character outside quotes in display name",
        ),
        ('"unclosed <a@x.example>', "unbalanced quotes or comments"),
        ("<a@x.example> <b@y.example>", "malformed angle brackets"),
        ("=?utf-8?q?hieutruong=40thcspomlot.edu.vn?=", "address has no local part or no domain"),
    ],
)
def test_bad_from_values_are_refused(value: str, problem: str) -> None:
    mail = parse_message(message_with_from(value))
    assert isinstance(mail, Mail)
    assert mail.sender is None and mail.sender_problem == problem


@pytest.mark.parametrize(
    ("header_lines", "problem"),
    [
        (b"Subject: s\r\n", "no From header"),
        (b"From: a@x.example\r\nFrom : b@y.example\r\n", "ambiguous From header line"),
        (b" From: a@x.example\r\n", "ambiguous From header line"),
        (b"From\t: a@x.example\r\n", "ambiguous From header line"),
    ],
)
def test_ambiguous_from_lines_are_refused(header_lines: bytes, problem: str) -> None:
    mail = parse_message(header_lines + b"To: t@example.com\r\n\r\nbody\r\n")
    assert isinstance(mail, Mail)
    assert mail.sender is None and mail.sender_problem == problem


@pytest.mark.parametrize(
    ("value", "name", "addr"),
    [
        ("Nguyen T. Hoa <HoaNT@ThcsPomLot.edu.vn>", "Nguyen T. Hoa", "hoant@thcspomlot.edu.vn"),
        ('"Trần, Thị" <a@x.example>', "Trần, Thị", "a@x.example"),
        ("a@x.example (Ban giám hiệu)", "", "a@x.example"),
        ("=?utf-8?b?VHLhuqduIFRo4buL?= <a@x.example>", "Trần Thị", "a@x.example"),
        ("<a@bücher.example>", "", "a@bücher.example"),
    ],
)
def test_good_from_values(value: str, name: str, addr: str) -> None:
    mail = parse_message(message_with_from(value))
    assert isinstance(mail, Mail)
    assert mail.sender is not None, mail.sender_problem
    assert (mail.sender.name, mail.sender.addr) == (name, addr)


# --- ids, subject, headers (cases 11, 19) ---------------------------------------


def test_missing_message_id_gets_a_synthetic_one() -> None:
    mail = fixture("no_message_id.eml")
    assert mail.message_id == f"<{mail.sha256}@mailbot.invalid>"


def test_encoded_crlf_in_subject_cannot_inject_a_header() -> None:
    mail = fixture("subject_crlf_injection.eml")
    assert mail.subject == "Hi Bcc: victim@x.example tail"
    assert not any(c in mail.subject for c in "\r\n\t\x0b\x0c\x85\u2028\u2029")
    assert all("\n" not in value and "\r" not in value for _, value in mail.headers)


def test_threading_fixture() -> None:
    mail = fixture("reply_gmail_vi.eml")
    assert mail.in_reply_to == "<orig1@thcspomlot.edu.vn>"
    assert mail.references == ("<root@thcspomlot.edu.vn>", "<orig1@thcspomlot.edu.vn>")


# --- quotes and forwards ---------------------------------------------------------


def test_gmail_vietnamese_attribution_wrapped_over_two_lines() -> None:
    mail = fixture("reply_gmail_vi.eml")
    assert mail.text == "Đồng ý đăng bài."
    assert "bóng đá" in mail.body


def test_outlook_vietnamese_header_block() -> None:
    mail = fixture("reply_outlook_vi.eml")
    assert mail.text == "Không duyệt, sửa lại phần ảnh."


def test_apple_forward_keeps_forwarded_text() -> None:
    mail = fixture("forward_apple.eml")
    assert mail.forwarded
    assert mail.text == "Chuyển BGH xem giúp.\n\nPhòng bán trú bị dột, thiếu chăn."


# --- charsets (case 22) ---------------------------------------------------------------


def test_unknown_charset_falls_back_to_utf8() -> None:
    assert fixture("charset_x_unknown.eml").text == "Nghị quyết số 71"


def test_utf7_never_raises() -> None:
    mail = fixture("charset_utf7.eml")
    assert mail.text and is_nfc_clean(mail.text)


def test_mislabelled_windows_1258_is_read_as_windows_1258() -> None:
    text = fixture("mislabelled_windows1258.eml").text
    assert text.startswith("Nghị quyết 71")
    assert "\x00" not in text


# --- HTML (case 23) ---------------------------------------------------------------------


def test_hostile_html_keeps_no_markup_script_or_handlers() -> None:
    mail = fixture("html_hostile.eml")
    assert mail.text.splitlines() == ["Xin chào & cảm ơn", "bấm", "Ô 1 Ô 2"]
    for bad in ("alert", "onerror", "javascript", "tracker", "<", "color:red"):
        assert bad not in mail.body


# --- attachments (case 20) -----------------------------------------------------------------


def test_path_traversal_and_hostile_names_are_sanitised() -> None:
    names = [a.name for a in fixture("path_traversal_names.eml").attachments]
    assert names[:5] == ["x", "passwd", "x.txt", "_con.txt", "ab .txt"]
    assert len(names[5]) == 150 and names[5].endswith(".pdf")
    assert names[6:] == ["x", "hidden", "attachment.bin"]
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert name.isprintable()


def test_rfc2231_and_rfc2047_names_in_fixture() -> None:
    attachments = fixture("encoded_attachment_names.eml").attachments
    assert [a.name for a in attachments] == ["Kế hoạch năm 2026.pdf", "Ảnh lớp 6A.jpg"]
    assert [a.payload for a in attachments] == [b"hello", b"hello"]


def test_oversize_attachment_is_skipped() -> None:
    mail = fixture("encoded_attachment_names.eml", Limits(max_attachment_bytes=4))
    first = mail.attachments[0]
    assert first.payload == b"" and first.size == 5
    assert first.skipped == "too large: 5 bytes > 4"


def docx_bytes(text: str, *, padding: int = 0) -> bytes:
    body = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>ô</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
        "</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", body)
        if padding:
            archive.writestr("pad.bin", b"\0" * padding)
    return buffer.getvalue()


def message_with_docx(payload: bytes) -> bytes:
    encoded = base64.encodebytes(payload)
    return (
        b"From: a@x.example\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nbai\r\n--B\r\n"
        b"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n"
        b'Content-Disposition: attachment; filename="bai.docx"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--B--\r\n"
    )


def test_docx_text_from_paragraphs_and_tables() -> None:
    mail = parse_message(message_with_docx(docx_bytes("Bài viết")))
    assert isinstance(mail, Mail)
    assert mail.attachments[0].text == "Bài viết\nô"


def test_docx_zip_bomb_yields_no_text() -> None:
    mail = parse_message(message_with_docx(docx_bytes("x", padding=51 * 1024 * 1024)))
    assert isinstance(mail, Mail)
    assert mail.attachments[0].text == "" and mail.attachments[0].name == "bai.docx"


def test_docx_text_is_truncated() -> None:
    raw = message_with_docx(docx_bytes("a" * 500))
    mail = parse_message(raw, Limits(max_docx_text_chars=100))
    assert isinstance(mail, Mail) and len(mail.attachments[0].text) == 100


def test_broken_docx_yields_no_text() -> None:
    mail = parse_message(message_with_docx(b"PK\x03\x04 not a zip"))
    assert isinstance(mail, Mail) and mail.attachments[0].text == ""


# --- limits (case 21) -------------------------------------------------------------------------


def deep_multipart(depth: int) -> bytes:
    opening = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
        for i in range(depth)
    )
    closing = b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return b"From: a@x.example\r\n" + opening + b"Content-Type: text/plain\r\n\r\nhi\r\n" + closing


def deep_rfc822(depth: int) -> bytes:
    layer = b"From: a@x.example\r\nContent-Type: message/rfc822\r\n\r\n"
    return layer * depth + b"From: b@y.example\r\n\r\ninnermost\r\n"


def many_parts(count: int) -> bytes:
    part = b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    head = b"From: a@x.example\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    return head + part * count + b"--B--\r\n"


@pytest.mark.parametrize(
    ("raw", "defect"),
    [
        (deep_multipart(10_000), "too many parts (> 500): body not parsed"),
        (deep_rfc822(10_000), "nesting too deep: body not parsed"),
        (deep_multipart(60), "too deep: parts below depth 20 skipped"),
        (deep_rfc822(60), "too deep: parts below depth 20 skipped"),
        (many_parts(100_000), "too many parts (> 500): body not parsed"),
        (many_parts(1_000), "too many parts: stopped after 500"),
    ],
    ids=["multipart-10000", "rfc822-10000", "multipart-60", "rfc822-60", "100k-parts", "1k-parts"],
)
def test_hostile_structure_is_bounded(raw: bytes, defect: str) -> None:
    started = time.perf_counter()
    mail = parse_message(raw)
    assert time.perf_counter() - started < 10
    assert isinstance(mail, Mail)
    assert mail.sender is not None and mail.sender.addr == "a@x.example"
    assert defect in mail.defects


def test_oversize_message_is_unparseable() -> None:
    result = parse_message(b"From: a@x.example\r\n\r\n" + b"x" * 200, Limits(max_message_bytes=100))
    assert isinstance(result, Unparseable)
    assert result.reason == "too large: 221 bytes > 100"


def test_huge_header_block_is_unparseable() -> None:
    raw = b"To: " + b"a@b.c, " * 200_000 + b"\r\n\r\nbody"
    result = parse_message(raw)
    assert isinstance(result, Unparseable) and result.reason.startswith("header block larger")


def test_header_named_like_a_field_is_just_a_header() -> None:
    mail = parse_message(b"headers: x\r\ndefects: y\r\nFrom: a@x.example\r\n\r\nbody\r\n")
    assert isinstance(mail, Mail)
    assert mail.header("headers") == "x" and mail.defects == ()


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", b"\xff\xfe\x00\x01", b"From: \xff\r\n\r\n\xff"])
def test_degenerate_input_never_raises(raw: bytes) -> None:
    result = parse_message(raw)
    assert isinstance(result, Mail | Unparseable)
    if isinstance(result, Mail):
        assert result.message_id.endswith("@mailbot.invalid>")
