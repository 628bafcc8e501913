"""The monthly report model: counting, quota, sections I–XII, dates and proposals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from mailbot.core.model import TOPICS
from mailbot.core.monthly import (
    ArticleFact,
    BarChart,
    FeedbackFact,
    GroupInfo,
    MediaFact,
    MonthlyInput,
    Paragraph,
    ReportModel,
    SchoolInfo,
    Section,
    Table,
    build_report,
    date_line,
    month_text,
    period_for,
    short_date,
)

GROUPS = (
    GroupInfo("BGH", "Ban Giám hiệu", owes_article=False),
    GroupInfo("CNTT", "Truyền thông - CNTT", owes_article=False),
    GroupInfo("KHTN", "Tổ Khoa học Tự nhiên", owes_article=True),
    GroupInfo("KHXH", "Tổ Khoa học Xã hội", owes_article=True),
    GroupInfo("VP", "Tổ Văn phòng", owes_article=True),
    GroupInfo("DOI", "Liên đội TNTP Hồ Chí Minh", owes_article=True),
    GroupInfo("DOAN", "Chi đoàn Thanh niên", owes_article=True),
    GroupInfo("CD", "Công đoàn", owes_article=True),
)
TITLES = {t: f"Nội dung mục {t}" for t in TOPICS}
START, END = date(2025, 12, 20), date(2026, 1, 19)


def article(
    ref: str,
    day: date,
    group: str | None,
    topic: str | None = "VII",
    approval: str = "approved",
    *,
    forwarded: bool = False,
    left_out: tuple[str, ...] = (),
) -> ArticleFact:
    return ArticleFact(
        ref=ref,
        date=day,
        title=f"Tin bài {ref}",
        author="Nguyễn Thị Hoa",
        group_code=group,
        topic=topic,
        approval=approval,  # type: ignore[arg-type]
        forwarded=forwarded,
        attachments_left_out=left_out,
    )


def feedback(
    ref: str, topic: str | None, state: str, *, urgent: bool = False, handling: str | None = None
) -> FeedbackFact:
    return FeedbackFact(
        ref=ref,
        date=date(2026, 1, 5),
        title=f"Phản ánh {ref}",
        role="parent",
        topic=topic,
        urgent=urgent,
        state=state,  # type: ignore[arg-type]
        handling=handling,
    )


def make_input(**changes: object) -> MonthlyInput:
    base = MonthlyInput(
        period_start=START,
        period_end=END,
        report_date=date(2026, 1, 19),
        month=1,
        year=2026,
        school=SchoolInfo(),
        groups=GROUPS,
        topic_titles=TITLES,
        articles=(
            article("A1", date(2026, 1, 2), "KHTN", "VII", forwarded=True),
            article("A2", date(2026, 1, 3), "KHTN", "IX"),
            article("A3", date(2025, 12, 22), "KHXH", "III", "pending"),
            article("A4", date(2026, 1, 10), "DOI", "VII", "rejected"),
            article("A5", date(2026, 1, 11), "DOAN", "X", left_out=("video.mp4",)),
            article("A6", date(2026, 1, 12), None, "XII"),
            article("OLD", date(2025, 12, 19), "VP", "II"),
        ),
        media=(
            MediaFact("M1", date(2026, 1, 8), "Ảnh hội khỏe", "Cà Văn Hùng", "DOI", "VII", 12),
            MediaFact("M2", date(2026, 1, 9), "Ảnh chào cờ", "Bùi Thị Ngọc", "DOAN", "I", 3),
        ),
        feedback=(
            feedback(
                "F1", "VII", "handled", urgent=True, handling="Đã mời hai gia đình lên làm việc."
            ),
            feedback("F2", "VII", "open"),
            feedback("F3", None, "handled", handling="Đã trả lời phụ huynh qua điện thoại."),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def report() -> ReportModel:
    return build_report(make_input())


def section(report: ReportModel, numeral: str) -> Section:
    return next(s for s in report.sections if s.heading.startswith(f"{numeral}. "))


def tables(sec: Section) -> list[Table]:
    return [b for b in sec.blocks if isinstance(b, Table)]


def texts(sec: Section) -> str:
    return "\n".join(f"{b.lead} {b.text}" for b in sec.blocks if isinstance(b, Paragraph))


def row_for(table: Table, name_part: str) -> tuple[str, ...]:
    return next(r for r in table.rows if any(name_part in cell for cell in r))


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("month", "year", "expected"),
    [
        (1, 2026, (date(2025, 12, 20), date(2026, 1, 19))),
        (3, 2026, (date(2026, 2, 20), date(2026, 3, 19))),
        (12, 2026, (date(2026, 11, 20), date(2026, 12, 19))),
    ],
)
def test_period_for_runs_from_the_20th_to_the_19th(
    month: int, year: int, expected: tuple[date, date]
) -> None:
    """The default period is the 20th of the previous month to the 19th, across new year."""
    assert period_for(month, year) == expected


def test_period_for_takes_another_start_day() -> None:
    """A school that reports before the 25th starts its period on the 25th."""
    assert period_for(3, 2026, start_day=25) == (date(2026, 2, 25), date(2026, 3, 24))


@pytest.mark.parametrize(
    ("month", "text"), [(1, "01"), (2, "02"), (3, "3"), (6, "6"), (10, "10"), (11, "11")]
)
def test_month_text_pads_only_january_and_february(month: int, text: str) -> None:
    """Decree 30: "tháng 01", "tháng 02", but "tháng 6" and "tháng 11"."""
    assert month_text(month) == text


@pytest.mark.parametrize(
    ("day", "line"),
    [
        (date(2026, 1, 19), "Pom Lót, ngày 19 tháng 01 năm 2026"),
        (date(2026, 2, 5), "Pom Lót, ngày 05 tháng 02 năm 2026"),
        (date(2026, 6, 5), "Pom Lót, ngày 05 tháng 6 năm 2026"),
        (date(2026, 11, 19), "Pom Lót, ngày 19 tháng 11 năm 2026"),
    ],
)
def test_date_line_pads_days_below_ten(day: date, line: str) -> None:
    """Days below 10 take a leading zero; months follow ``month_text``."""
    assert date_line("Pom Lót", day) == line


def test_short_date() -> None:
    """Dates inside sentences are dd/mm/yyyy."""
    assert short_date(date(2026, 1, 5)) == "05/01/2026"


@pytest.mark.parametrize(
    ("month", "summary"),
    [
        (1, "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 01 năm 2026"),
        (2, "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 02 năm 2026"),
        (6, "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 6 năm 2026"),
        (11, "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 11 năm 2026"),
    ],
)
def test_summary_line(month: int, summary: str) -> None:
    """The summary under "BÁO CÁO" names the month with the decree's padding rule."""
    start, end = period_for(month, 2026)
    model = build_report(make_input(month=month, period_start=start, period_end=end))
    assert model.summary == summary


# ------------------------------------------------------------------ head and end


def test_head_fields(report: ReportModel) -> None:
    """The head carries the issuer, the number, the national title and the date line."""
    assert report.governing_body == "UBND XÃ POM LÓT"
    assert report.school_name == "TRƯỜNG THCS POM LÓT"
    assert report.number_line == "Số: …/BC-THCSPL"
    assert report.country == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert report.motto == "Độc lập - Tự do - Hạnh phúc"
    assert report.place_date == "Pom Lót, ngày 19 tháng 01 năm 2026"
    assert report.doc_kind == "BÁO CÁO"


def test_number_is_configurable() -> None:
    """Văn thư fills the register number in; "…" leaves it blank."""
    assert build_report(make_input(number="12")).number_line == "Số: 12/BC-THCSPL"


def test_recipients_end_with_the_archive_line(report: ReportModel) -> None:
    """Each line starts with "- " and ends with ";", the last is "- Lưu: VT."."""
    assert report.recipients_heading == "Nơi nhận:"
    assert report.recipients == (
        "- Sở GDĐT Điện Biên (b/c);",
        "- UBND xã Pom Lót (b/c);",
        "- BGH, các tổ chuyên môn, đoàn thể;",
        "- Lưu: VT.",
    )
    assert (report.signer_title, report.signer_name) == ("HIỆU TRƯỞNG", "Trần Thị Bích Nga")


def test_archive_line_is_added_when_missing() -> None:
    """A configuration without "Lưu: VT." still ends with it (Decree 30 asks for it)."""
    school = SchoolInfo(recipients=("Sở GDĐT Điện Biên (b/c)",))
    model = build_report(make_input(school=school))
    assert model.recipients == ("- Sở GDĐT Điện Biên (b/c);", "- Lưu: VT.")


def test_intro_names_the_period_and_closing_ends_with_the_mark(report: ReportModel) -> None:
    """The intro gives the period; the closing ends with "./." as administrative texts do."""
    assert "(từ ngày 20/12/2025 đến ngày 19/01/2026)" in report.intro[0].text
    assert report.closing.text.endswith("tháng 01 năm 2026 của Trường THCS Pom Lót./.")


# ------------------------------------------------------------------ I: quota


def test_counts_ignore_facts_outside_the_period(report: ReportModel) -> None:
    """The article of 19/12 belongs to the previous report; rejected ones do not count."""
    assert report.counts["articles"] == 6
    assert report.counts["counted"] == 5
    assert report.counts["media"] == 2
    assert report.counts["feedback"] == 3
    assert report.counts["urgent"] == 1


def test_quota_table_marks_groups_met_and_not_met(report: ReportModel) -> None:
    """KHTN (2 approved) and KHXH (1 pending) meet the quota; DOI's only article was rejected."""
    quota = tables(section(report, "I"))[0]
    assert quota.header == (
        "STT",
        "Tổ, đoàn thể",
        "Nhận được",
        "Đã duyệt",
        "Tính chỉ tiêu",
        "Chỉ tiêu",
        "Đánh giá",
    )
    assert row_for(quota, "(KHTN)")[2:] == ("2", "2", "2", "1", "Đạt")
    assert row_for(quota, "(KHXH)")[2:] == ("1", "0", "1", "1", "Đạt")
    assert row_for(quota, "(DOI)")[2:] == ("1", "0", "0", "1", "Chưa đạt")
    assert row_for(quota, "(VP)")[2:] == ("0", "0", "0", "1", "Chưa đạt")
    assert row_for(quota, "(CD)")[-1] == "Chưa đạt"
    assert row_for(quota, "Chưa xác định tổ")[2:] == ("1", "1", "1", "—", "—")
    assert quota.total == ("", "Cộng", "6", "4", "5", "", "")


def test_groups_without_quota_are_shown_only_when_they_wrote() -> None:
    """BGH owes nothing: absent with no article, present with "—" when it sent one."""
    quiet = tables(section(build_report(make_input()), "I"))[0]
    assert not any("(BGH)" in r[1] for r in quiet.rows)
    extra = article("B1", date(2026, 1, 4), "BGH")
    loud = tables(section(build_report(make_input(articles=(extra,))), "I"))[0]
    assert row_for(loud, "(BGH)")[2:] == ("1", "1", "1", "—", "—")


def test_quota_text_names_the_groups_missing(report: ReportModel) -> None:
    """The paragraph gives met/owing and names who has not met the quota."""
    text = texts(section(report, "I"))
    assert "Có 3/6 tổ, đoàn thể đạt chỉ tiêu" in text
    assert "chưa đạt chỉ tiêu: Tổ Văn phòng, Liên đội TNTP Hồ Chí Minh và Công đoàn." in text


def test_chart_has_one_bar_per_known_group(report: ReportModel) -> None:
    """The chart uses ASCII group codes, received counts, and flags bars below the quota."""
    chart = next(b for b in section(report, "I").blocks if isinstance(b, BarChart))
    assert chart.labels == ("KHTN", "KHXH", "VP", "DOI", "DOAN", "CD")
    assert chart.values == (2, 1, 0, 1, 1, 0)
    assert chart.below_quota == (False, False, True, True, False, True)
    assert chart.quota == 1
    assert all(label.isascii() for label in chart.labels)


def test_all_groups_met() -> None:
    """With an article from every group that owes one, the text says so."""
    arts = tuple(article(g.code, date(2026, 1, 2), g.code) for g in GROUPS if g.owes_article)
    text = texts(section(build_report(make_input(articles=arts)), "I"))
    assert "Có 6/6 tổ, đoàn thể" in text
    assert "Tất cả các tổ, đoàn thể đều đạt chỉ tiêu." in text


# ------------------------------------------------------------------ II, III


def test_article_rows(report: ReportModel) -> None:
    """Each article: date, reference, title, author (group), section, approval, forwarded."""
    table = tables(section(report, "II"))[0]
    assert len(table.rows) == 6
    assert table.rows[0] == (
        "1",
        "22/12",
        "A3",
        "Tin bài A3",
        "Nguyễn Thị Hoa (KHXH)",
        "III",
        "Chờ duyệt",
        "Chưa gửi",
    )
    assert row_for(table, "A1")[-2:] == ("Đã duyệt", "Đã gửi")
    assert row_for(table, "A4")[-2:] == ("Không duyệt", "—")
    assert row_for(table, "A6")[4] == "Nguyễn Thị Hoa"


def test_article_summary_and_left_out_attachments(report: ReportModel) -> None:
    """The summary counts states; attachments that were not kept are listed."""
    text = texts(section(report, "II"))
    assert "Tổng số 6 tin, bài: đã duyệt 4, không duyệt 1, đang chờ duyệt 1" in text
    assert "đã gửi về Sở GDĐT 1 tin, bài" in text
    assert "- “Tin bài A5” (Nguyễn Thị Hoa): video.mp4." in text


def test_no_articles() -> None:
    """An empty month says so instead of an empty table."""
    model = build_report(make_input(articles=()))
    assert tables(section(model, "II")) == []
    assert "không nhận được tin, bài nào" in texts(section(model, "II"))


def test_media(report: ReportModel) -> None:
    """Media: one row per message and the file total."""
    sec = section(report, "III")
    table = tables(sec)[0]
    assert [r[2] for r in table.rows] == ["Ảnh hội khỏe", "Ảnh chào cờ"]
    assert table.total is not None and table.total[-1] == "15"
    assert "2 lượt gửi tư liệu với tổng số 15 tệp ảnh, video; đạt yêu cầu" in texts(sec)


def test_no_media_is_reported_as_not_met() -> None:
    """The plan asks for at least one photo or video a month."""
    text = texts(section(build_report(make_input(media=())), "III"))
    assert "chưa nhận được tư liệu ảnh, video; chưa đạt yêu cầu" in text


# ------------------------------------------------------------------ IV


def test_feedback_by_topic_and_state(report: ReportModel) -> None:
    """Counts per section of the appendix and state; feedback with no section on its own row."""
    by_topic = tables(section(report, "IV"))[0]
    assert by_topic.rows == (
        ("VII", "Nội dung mục VII", "1", "1", "2"),
        ("—", "Chưa xác định mục", "1", "0", "1"),
    )
    assert by_topic.total == ("", "Cộng", "2", "1", "3")


def test_feedback_text_and_urgent_cases(report: ReportModel) -> None:
    """The urgent case is told with its handling; the summary counts by sender and state."""
    text = texts(section(report, "IV"))
    assert "tiếp nhận 3 ý kiến phản ánh, góp ý (phụ huynh 3); đã xử lý 2, đang xử lý 1" in text
    assert "có 1 vụ việc khẩn cấp" in text
    assert (
        "- Ngày 05/01/2026, phụ huynh phản ánh “Phản ánh F1” (mục VII): đã xử lý. "
        "Kết quả xử lý: Đã mời hai gia đình lên làm việc."
    ) in text


def test_feedback_handling_table(report: ReportModel) -> None:
    """Every feedback with its level, state and handling text."""
    handling = tables(section(report, "IV"))[1]
    assert [r[4:] for r in handling.rows] == [
        ("Khẩn cấp", "Đã xử lý", "Đã mời hai gia đình lên làm việc."),
        ("Thông thường", "Đang xử lý", "Đang theo dõi, xử lý"),
        ("Thông thường", "Đã xử lý", "Đã trả lời phụ huynh qua điện thoại."),
    ]


def test_open_urgent_case() -> None:
    """An urgent case still open is reported as being followed up."""
    open_case = feedback("F9", "VII", "open", urgent=True, handling="Đã báo công an xã.")
    text = texts(section(build_report(make_input(feedback=(open_case,))), "IV"))
    assert (
        "đang xử lý, nhà trường tiếp tục theo dõi. Biện pháp đã áp dụng: Đã báo công an xã." in text
    )


def test_no_feedback() -> None:
    """A quiet month has one sentence and no tables."""
    model = build_report(make_input(feedback=()))
    assert tables(section(model, "IV")) == []
    assert "không nhận được ý kiến phản ánh, góp ý nào" in texts(section(model, "IV"))


def test_unknown_role_is_worded_in_vietnamese() -> None:
    """No English role name leaks into the document."""
    odd = replace(feedback("F1", "VII", "open"), role="unknown")
    model = build_report(make_input(feedback=(odd,)))
    assert tables(section(model, "IV"))[1].rows[0][3] == "Khác"
    assert "unknown" not in texts(section(model, "IV"))


# ------------------------------------------------------------------ V, VI


def test_sections_with_and_without_content(report: ReportModel) -> None:
    """Counted articles and media give a section content; a rejected article does not."""
    table = tables(section(report, "V"))[0]
    verdicts = {r[0]: r[-1] for r in table.rows}
    with_content = {t for t, v in verdicts.items() if v == "Có nội dung"}
    assert with_content == {"I", "III", "VII", "IX", "X", "XII"}
    assert [r[0] for r in table.rows] == list(TOPICS)
    assert row_for(table, "Nội dung mục VII")[2:4] == ("1", "1")
    text = texts(section(report, "V"))
    assert "6/12 mục" in text
    assert "chưa có nội dung ở các mục II, IV, V, VI, VIII, XI." in text


def test_next_month_proposals(report: ReportModel) -> None:
    """Missing groups, empty sections, pending work, and room for the principal."""
    sec = section(report, "VI")
    assert sec.heading == "VI. Phương hướng tháng tới"
    text = texts(sec)
    assert (
        "1. Đề nghị Tổ Văn phòng, Liên đội TNTP Hồ Chí Minh và Công đoàn chủ động xây dựng, "
        "gửi ít nhất 01 tin, bài trong tháng 02 năm 2026"
    ) in text
    assert "2. Tăng cường thông tin, tuyên truyền các mục chưa có nội dung trong kỳ:" in text
    assert "- Mục II: Nội dung mục II;" in text
    assert "- Mục XI: Nội dung mục XI." in text
    assert "3. Ban Giám hiệu hoàn thành việc duyệt 1 tin, bài đang chờ duyệt." in text
    assert "4. Gửi 3 tin, bài đã duyệt nhưng chưa gửi về Sở GDĐT." in text
    assert "5. Tiếp tục theo dõi, xử lý dứt điểm 1 ý kiến phản ánh đang xử lý." in text
    fills = [b for b in sec.blocks if isinstance(b, Paragraph) and b.kind == "fill"]
    assert fills[0].lead == "Ý kiến chỉ đạo của Hiệu trưởng:"
    assert len(fills) == 3


def test_proposals_in_december_point_to_january() -> None:
    """The month after December is "tháng 01" of the next year."""
    start, end = period_for(12, 2026)
    model = build_report(make_input(month=12, year=2026, period_start=start, period_end=end))
    assert "trong tháng 01 năm 2027" in texts(section(model, "VI"))


def test_proposals_when_everything_is_done() -> None:
    """Every group wrote, every section has content, nothing pending: keep it up."""
    arts = tuple(
        article(f"T{t}", date(2026, 1, 2), g.code, t, forwarded=True)
        for t, g in zip(TOPICS, [g for g in GROUPS if g.owes_article] * 2, strict=True)
    )
    model = build_report(make_input(articles=arts, feedback=()))
    text = texts(section(model, "VI"))
    assert "1. Các tổ, đoàn thể tiếp tục duy trì ít nhất 01 tin, bài/tháng" in text
    assert "2. Tiếp tục tuyên truyền đều các mục của Phụ lục Kế hoạch." in text
    assert "3. " not in text
    assert "tất cả các mục đều có nội dung" in texts(section(model, "V"))


def test_sections_are_numbered_i_to_vi(report: ReportModel) -> None:
    """Six parts, in order."""
    assert [s.heading.split(".")[0] for s in report.sections] == ["I", "II", "III", "IV", "V", "VI"]


def test_build_is_deterministic() -> None:
    """Same input, same model (no clock, no randomness)."""
    assert build_report(make_input()) == build_report(make_input())


def test_no_english_words_in_the_text(report: ReportModel) -> None:
    """Approval and state words are all Vietnamese."""
    words = {"approved", "rejected", "pending", "open", "handled", "parent", "None"}
    blob = repr(report.sections)
    assert not any(f"'{w}'" in blob or f" {w} " in blob for w in words)
