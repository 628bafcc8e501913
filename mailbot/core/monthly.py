"""The monthly communications report: facts in, a counted and worded model out.

The school's plan (Kế hoạch thông tin, tuyên truyền năm 2026, part IV "Chế độ
báo cáo") asks for a report to the leadership before the 20th of each month;
the job runs on the 19th and covers the 20th of the previous month to the 19th
of this one (:func:`period_for`). Part III.3 sets the quota this report checks:
each subject group and union owes at least one article (tin, bài) a month.

Everything here is pure: the caller reads the facts from the store, this module
counts them and words every sentence in Vietnamese (administrative register),
and ``shell/docx_writer.py`` only lays the result out. Nothing is counted in the
writer and nothing is laid out here, so the wording is tested without Word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, TypeVar

from mailbot.core.model import TOPICS

__all__ = [
    "ArticleFact",
    "BarChart",
    "Block",
    "FeedbackFact",
    "GroupInfo",
    "MediaFact",
    "MonthlyInput",
    "Paragraph",
    "ParagraphKind",
    "ReportModel",
    "SchoolInfo",
    "Section",
    "Table",
    "build_report",
    "date_line",
    "month_text",
    "period_for",
    "short_date",
]

Approval = Literal["approved", "rejected", "pending"]
FeedbackState = Literal["open", "handled"]
ParagraphKind = Literal["body", "caption", "fill"]
_F = TypeVar("_F", "ArticleFact", "MediaFact", "FeedbackFact")

QUOTA = 1
COUNTRY = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
DOC_KIND = "BÁO CÁO"
ARCHIVE_LINE = "Lưu: VT."
NONE_MARK = "—"
DEFAULT_RECIPIENTS = (
    "Sở GDĐT Điện Biên (b/c)",
    "UBND xã Pom Lót (b/c)",
    "BGH, các tổ chuyên môn, đoàn thể",
    ARCHIVE_LINE,
)
_APPROVAL_TEXT: Mapping[str, str] = {
    "approved": "Đã duyệt",
    "rejected": "Không duyệt",
    "pending": "Chờ duyệt",
}
_STATE_TEXT: Mapping[str, str] = {"handled": "Đã xử lý", "open": "Đang xử lý"}
_ROLE_TEXT: Mapping[str, str] = {
    "parent": "Phụ huynh",
    "teacher": "Giáo viên",
    "student": "Học sinh",
    "staff": "Nhân viên",
    "leadership": "Ban Giám hiệu",
    "it": "Bộ phận CNTT",
    "department": "Sở GDĐT",
}


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class SchoolInfo:
    """Who issues the report: the head, the signer and the recipients.

    ``name_in_text`` is the name as written inside sentences (the head prints
    ``school_name`` in capitals, Decree 30/2020/NĐ-CP appendix I). ``recipients``
    are the "Nơi nhận" entries without the leading dash; an archive line
    ("Lưu: …") is added when missing, as the decree requires one last.
    """

    governing_body: str = "UBND XÃ POM LÓT"
    school_name: str = "TRƯỜNG THCS POM LÓT"
    name_in_text: str = "Trường THCS Pom Lót"
    symbol: str = "THCSPL"
    place: str = "Pom Lót"
    signer_title: str = "HIỆU TRƯỞNG"
    signer_name: str = "Trần Thị Bích Nga"
    recipients: tuple[str, ...] = DEFAULT_RECIPIENTS


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A subject group or union; ``owes_article`` when the quota applies to it."""

    code: str
    name: str
    owes_article: bool


@dataclass(frozen=True, slots=True)
class ArticleFact:
    """One article (tin, bài) received in the period, with its approval state."""

    ref: str
    date: date
    title: str
    author: str
    group_code: str | None
    topic: str | None
    approval: Approval
    forwarded: bool
    attachments_left_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaFact:
    """One message of photos or videos (tư liệu) and how many files it brought."""

    ref: str
    date: date
    title: str
    author: str
    group_code: str | None
    topic: str | None
    count_files: int


@dataclass(frozen=True, slots=True)
class FeedbackFact:
    """One opinion or complaint (phản ánh, góp ý) and how it was handled."""

    ref: str
    date: date
    title: str
    role: str
    topic: str | None
    urgent: bool
    state: FeedbackState
    handling: str | None = None


@dataclass(frozen=True, slots=True)
class MonthlyInput:
    """Everything one report needs; facts outside the period are ignored.

    ``month``/``year`` name the report ("tháng 01 năm 2026"); the period is
    given separately so that a caller may report any span (e.g. a whole year).
    ``topic_titles`` maps the appendix sections ``I`` … ``XII`` to their titles.
    """

    period_start: date
    period_end: date
    report_date: date
    month: int
    year: int
    school: SchoolInfo
    groups: tuple[GroupInfo, ...]
    topic_titles: Mapping[str, str]
    articles: tuple[ArticleFact, ...] = ()
    media: tuple[MediaFact, ...] = ()
    feedback: tuple[FeedbackFact, ...] = ()
    number: str = "…"


# ---------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph of the body; ``lead`` is printed in bold before ``text``.

    ``kind``: ``body`` (justified, first-line indent), ``caption`` (centred,
    under or over a table or chart), ``fill`` (followed by a dotted leader to
    the right margin, a line left for handwriting).
    """

    text: str
    lead: str = ""
    kind: ParagraphKind = "body"


@dataclass(frozen=True, slots=True)
class Table:
    """A bordered data table: caption, header, rows and relative column widths.

    ``total`` is an optional last row printed in bold. ``weights`` are
    relative widths, one per column (the writer scales them to the text width).
    """

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    weights: tuple[int, ...]
    total: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class BarChart:
    """Bars with ASCII labels (group codes), a quota line and the bars below it.

    Labels are ASCII so any font can draw them; the Vietnamese caption is
    printed by the writer as text under the image.
    """

    caption: str
    labels: tuple[str, ...]
    values: tuple[int, ...]
    quota: int
    below_quota: tuple[bool, ...]


Block = Paragraph | Table | BarChart


@dataclass(frozen=True, slots=True)
class Section:
    """A numbered part of the report ("I. …") and its blocks, in order."""

    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class ReportModel:
    """The whole report, counted and worded; the writer only lays it out.

    Field names follow the parts of an administrative document in Decree
    30/2020/NĐ-CP appendix I: head (governing body, issuer, number, national
    title and motto, place and date), kind and summary, body, recipients and
    signature.
    """

    governing_body: str
    school_name: str
    number_line: str
    country: str
    motto: str
    place_date: str
    doc_kind: str
    summary: str
    intro: tuple[Paragraph, ...]
    sections: tuple[Section, ...]
    closing: Paragraph
    recipients_heading: str
    recipients: tuple[str, ...]
    signer_title: str
    signer_name: str
    counts: Mapping[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- dates


def period_for(month: int, year: int, start_day: int = 20) -> tuple[date, date]:
    """The report period: ``start_day`` of the previous month to the day before in ``month``.

    The plan asks for the report before the 20th, so by default the period runs
    from the 20th of the previous month to the 19th of this one.
    """
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    return date(prev_year, prev_month, start_day), date(year, month, start_day - 1)


def month_text(month: int) -> str:
    """The month as written after "tháng": a leading zero for January and February only.

    Decree 30/2020/NĐ-CP appendix I writes "tháng 01", "tháng 02" (so that
    they cannot be altered into 10, 11, 12) but "tháng 6", "tháng 11".
    """
    return f"{month:02d}" if month < 3 else str(month)


def date_line(place: str, day: date) -> str:
    """The place-and-date line of the head, e.g. "Pom Lót, ngày 05 tháng 02 năm 2026".

    Decree 30/2020/NĐ-CP appendix I: days below 10 take a leading zero, months
    as in :func:`month_text`.
    """
    return f"{place}, ngày {day.day:02d} tháng {month_text(day.month)} năm {day.year}"


def short_date(day: date) -> str:
    """A date inside a sentence or a table, e.g. "05/01/2026"."""
    return day.strftime("%d/%m/%Y")


def _month_year(month: int, year: int) -> str:
    return f"tháng {month_text(month)} năm {year}"


def _next_month(month: int, year: int) -> tuple[int, int]:
    return (1, year + 1) if month == 12 else (month + 1, year)


# ---------------------------------------------------------------- facts


def _in_period(facts: Iterable[_F], inp: MonthlyInput) -> tuple[_F, ...]:
    """The facts dated inside the period, sorted by date then reference."""
    kept = (f for f in facts if inp.period_start <= f.date <= inp.period_end)
    return tuple(sorted(kept, key=lambda f: (f.date, f.ref)))


@dataclass(frozen=True, slots=True)
class _Facts:
    """The input's facts restricted to the period, and derived lookups."""

    inp: MonthlyInput
    articles: tuple[ArticleFact, ...]
    media: tuple[MediaFact, ...]
    feedback: tuple[FeedbackFact, ...]

    @property
    def counted(self) -> tuple[ArticleFact, ...]:
        """Articles that count towards the quota and the sections: all but rejected ones."""
        return tuple(a for a in self.articles if a.approval != "rejected")

    @property
    def month_label(self) -> str:
        """ "tháng 01 năm 2026": the month the report is for."""
        return _month_year(self.inp.month, self.inp.year)

    def topic_title(self, topic: str | None) -> str:
        return self.inp.topic_titles.get(topic or "", "")


def _facts(inp: MonthlyInput) -> _Facts:
    return _Facts(
        inp,
        _in_period(inp.articles, inp),
        _in_period(inp.media, inp),
        _in_period(inp.feedback, inp),
    )


def _join(names: Sequence[str]) -> str:
    """ "A, B và C": a Vietnamese enumeration."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} và {names[-1]}"


def _topic_label(topic: str | None) -> str:
    return topic or NONE_MARK


# ---------------------------------------------------------------- section I


@dataclass(frozen=True, slots=True)
class _GroupRow:
    """One row of section I: a group and its received, approved and counted articles."""

    group: GroupInfo
    received: int
    approved: int
    counted: int


def _group_rows(f: _Facts) -> tuple[_GroupRow, ...]:
    """Each group shown in section I, in roster order.

    Every group that owes an article is shown, even with nothing; the others
    only when they sent something. Articles from senders with no known group
    are gathered on a last row (code "").
    """
    known = {g.code for g in f.inp.groups}

    def key(a: ArticleFact) -> str:
        return a.group_code if a.group_code in known and a.group_code else ""

    received = Counter(key(a) for a in f.articles)
    approved = Counter(key(a) for a in f.articles if a.approval == "approved")
    counted = Counter(key(a) for a in f.counted)
    groups = [g for g in f.inp.groups if g.owes_article or received[g.code]]
    if received[""]:
        groups.append(GroupInfo("", "Chưa xác định tổ", owes_article=False))
    return tuple(_GroupRow(g, received[g.code], approved[g.code], counted[g.code]) for g in groups)


def _quota_cells(group: GroupInfo, counted: int) -> tuple[str, str]:
    if not group.owes_article:
        return NONE_MARK, NONE_MARK
    return str(QUOTA), "Đạt" if counted >= QUOTA else "Chưa đạt"


def _groups_missing(f: _Facts) -> tuple[GroupInfo, ...]:
    counted = Counter(a.group_code for a in f.counted)
    return tuple(g for g in f.inp.groups if g.owes_article and counted[g.code] < QUOTA)


def _quota_table(f: _Facts) -> Table:
    rows = []
    for i, r in enumerate(_group_rows(f), start=1):
        name = f"{r.group.name} ({r.group.code})" if r.group.code else r.group.name
        counts = (str(r.received), str(r.approved), str(r.counted))
        rows.append((str(i), name, *counts, *_quota_cells(r.group, r.counted)))
    total = ("", "Cộng", str(len(f.articles)), _n_approved(f), str(len(f.counted)), "", "")
    return Table(
        caption="Bảng 1. Tin, bài của các tổ, đoàn thể so với chỉ tiêu",
        header=(
            "STT",
            "Tổ, đoàn thể",
            "Nhận được",
            "Đã duyệt",
            "Tính chỉ tiêu",
            "Chỉ tiêu",
            "Đánh giá",
        ),
        rows=tuple(rows),
        weights=(7, 35, 11, 11, 12, 10, 14),
        total=total,
    )


def _n_approved(f: _Facts) -> str:
    return str(sum(a.approval == "approved" for a in f.articles))


def _quota_chart(f: _Facts) -> BarChart:
    rows = [r for r in _group_rows(f) if r.group.code]
    return BarChart(
        caption=f"Biểu đồ 1. Số tin, bài của các tổ, đoàn thể {f.month_label}",
        labels=tuple(r.group.code for r in rows),
        values=tuple(r.received for r in rows),
        quota=QUOTA,
        below_quota=tuple(r.group.owes_article and r.counted < QUOTA for r in rows),
    )


def _quota_text(f: _Facts) -> tuple[Paragraph, ...]:
    owing = [g for g in f.inp.groups if g.owes_article]
    missing = _groups_missing(f)
    met = len(owing) - len(missing)
    first = Paragraph(
        f"Trong kỳ, nhà trường nhận được {len(f.articles)} tin, bài; trong đó "
        f"{len(f.counted)} tin, bài được tính chỉ tiêu (gồm tin, bài đã duyệt và đang chờ "
        f"duyệt, không tính tin, bài không được duyệt). Có {met}/{len(owing)} tổ, đoàn thể "
        f"đạt chỉ tiêu ít nhất {QUOTA:02d} tin, bài/tháng theo Kế hoạch."
    )
    if not missing:
        return (first, Paragraph("Tất cả các tổ, đoàn thể đều đạt chỉ tiêu."))
    names = _join([g.name for g in missing])
    return (first, Paragraph(f"Các tổ, đoàn thể chưa đạt chỉ tiêu: {names}."))


def _section_quota(f: _Facts) -> Section:
    return Section(
        "I. Kết quả thực hiện chỉ tiêu tin, bài của các tổ, đoàn thể",
        (*_quota_text(f), _quota_table(f), _quota_chart(f)),
    )


# ---------------------------------------------------------------- section II


def _author_cell(author: str, group_code: str | None) -> str:
    return f"{author} ({group_code})" if group_code else author


def _forward_cell(article: ArticleFact) -> str:
    if article.forwarded:
        return "Đã gửi"
    return NONE_MARK if article.approval == "rejected" else "Chưa gửi"


def _article_row(f: _Facts, i: int, a: ArticleFact) -> tuple[str, ...]:
    return (
        str(i),
        a.date.strftime("%d/%m"),
        a.ref,
        a.title,
        _author_cell(a.author, a.group_code),
        _topic_label(a.topic),
        _APPROVAL_TEXT[a.approval],
        _forward_cell(a),
    )


def _articles_table(f: _Facts) -> Table:
    return Table(
        caption="Bảng 2. Danh sách tin, bài đã tiếp nhận",
        header=("STT", "Ngày", "Mã số", "Tên tin, bài", "Tác giả (tổ)", "Mục", "Duyệt", "Gửi Sở"),
        rows=tuple(_article_row(f, i, a) for i, a in enumerate(f.articles, start=1)),
        weights=(7, 9, 10, 29, 20, 7, 9, 9),
    )


def _articles_text(f: _Facts) -> Paragraph:
    states = Counter(a.approval for a in f.articles)
    forwarded = sum(a.forwarded for a in f.articles)
    return Paragraph(
        f"Tổng số {len(f.articles)} tin, bài: đã duyệt {states['approved']}, không duyệt "
        f"{states['rejected']}, đang chờ duyệt {states['pending']}; đã gửi về Sở GDĐT "
        f"{forwarded} tin, bài. Cột “Mục” ghi mục tương ứng trong Phụ lục Kế hoạch."
    )


def _left_out_text(f: _Facts) -> tuple[Paragraph, ...]:
    lines = [
        Paragraph(f"- “{a.title}” ({a.author}): {', '.join(a.attachments_left_out)}.")
        for a in f.articles
        if a.attachments_left_out
    ]
    if not lines:
        return ()
    head = Paragraph(
        "Các tệp đính kèm sau không được lưu cùng tin, bài (đề nghị tác giả gửi lại "
        "bằng hình thức khác nếu cần):"
    )
    return (head, *lines)


def _section_articles(f: _Facts) -> Section:
    heading = "II. Tin, bài đã tiếp nhận"
    if not f.articles:
        return Section(heading, (Paragraph("Trong kỳ, nhà trường không nhận được tin, bài nào."),))
    return Section(heading, (_articles_text(f), _articles_table(f), *_left_out_text(f)))


# ---------------------------------------------------------------- section III


def _media_table(f: _Facts) -> Table:
    rows = tuple(
        (
            str(i),
            m.date.strftime("%d/%m"),
            m.title,
            _author_cell(m.author, m.group_code),
            _topic_label(m.topic),
            str(m.count_files),
        )
        for i, m in enumerate(f.media, start=1)
    )
    total = ("", "", "Cộng", "", "", str(sum(m.count_files for m in f.media)))
    return Table(
        caption="Bảng 3. Tư liệu ảnh, video đã tiếp nhận",
        header=("STT", "Ngày", "Nội dung", "Người gửi (tổ)", "Mục", "Số tệp"),
        rows=rows,
        weights=(7, 9, 44, 22, 8, 10),
        total=total,
    )


def _section_media(f: _Facts) -> Section:
    heading = "III. Tư liệu ảnh, video"
    if not f.media:
        text = (
            "Trong kỳ, nhà trường chưa nhận được tư liệu ảnh, video; chưa đạt yêu cầu "
            "cung cấp ít nhất 01 ảnh/video các hoạt động nổi bật mỗi tháng theo Kế hoạch."
        )
        return Section(heading, (Paragraph(text),))
    files = sum(m.count_files for m in f.media)
    text = (
        f"Trong kỳ, nhà trường nhận được {len(f.media)} lượt gửi tư liệu với tổng số "
        f"{files} tệp ảnh, video; đạt yêu cầu cung cấp ít nhất 01 ảnh/video các hoạt "
        "động nổi bật mỗi tháng theo Kế hoạch."
    )
    return Section(heading, (Paragraph(text), _media_table(f)))


# ---------------------------------------------------------------- section IV


def _role_summary(feedback: Sequence[FeedbackFact]) -> str:
    roles = Counter(_ROLE_TEXT.get(x.role, "người gửi khác").lower() for x in feedback)
    return ", ".join(f"{role} {n}" for role, n in sorted(roles.items(), key=lambda kv: -kv[1]))


def _feedback_text(f: _Facts) -> Paragraph:
    states = Counter(x.state for x in f.feedback)
    urgent = sum(x.urgent for x in f.feedback)
    return Paragraph(
        f"Trong kỳ, nhà trường tiếp nhận {len(f.feedback)} ý kiến phản ánh, góp ý "
        f"({_role_summary(f.feedback)}); đã xử lý {states['handled']}, đang xử lý "
        f"{states['open']}; trong đó có {urgent} vụ việc khẩn cấp."
    )


def _by_topic_table(f: _Facts) -> Table:
    cells = Counter((x.topic, x.state) for x in f.feedback)
    topics = [t for t in TOPICS if any(x.topic == t for x in f.feedback)]
    if any(x.topic not in TOPICS for x in f.feedback):
        topics.append("")
    rows = tuple(
        (
            t or NONE_MARK,
            f.topic_title(t) or "Chưa xác định mục",
            str(cells[(t or None, "handled")]),
            str(cells[(t or None, "open")]),
            str(cells[(t or None, "handled")] + cells[(t or None, "open")]),
        )
        for t in topics
    )
    states = Counter(x.state for x in f.feedback)
    total = ("", "Cộng", str(states["handled"]), str(states["open"]), str(len(f.feedback)))
    return Table(
        caption="Bảng 4. Ý kiến phản ánh theo mục của Phụ lục Kế hoạch và tình trạng xử lý",
        header=("Mục", "Nội dung", "Đã xử lý", "Đang xử lý", "Cộng"),
        rows=rows,
        weights=(8, 56, 12, 12, 12),
        total=total,
    )


def _handling_cell(x: FeedbackFact) -> str:
    if x.handling:
        return x.handling
    return "Đang theo dõi, xử lý" if x.state == "open" else NONE_MARK


def _feedback_table(f: _Facts) -> Table:
    rows = tuple(
        (
            str(i),
            x.date.strftime("%d/%m"),
            x.title,
            _ROLE_TEXT.get(x.role, "Khác"),
            "Khẩn cấp" if x.urgent else "Thông thường",
            _STATE_TEXT[x.state],
            _handling_cell(x),
        )
        for i, x in enumerate(f.feedback, start=1)
    )
    return Table(
        caption="Bảng 5. Ý kiến phản ánh và kết quả xử lý",
        header=(
            "STT",
            "Ngày",
            "Nội dung",
            "Người phản ánh",
            "Mức độ",
            "Tình trạng",
            "Kết quả xử lý",
        ),
        rows=rows,
        weights=(7, 9, 24, 12, 11, 11, 26),
    )


def _urgent_line(x: FeedbackFact) -> Paragraph:
    who = _ROLE_TEXT.get(x.role, "Người gửi").lower()
    topic = f" (mục {x.topic})" if x.topic else ""
    head = f"- Ngày {short_date(x.date)}, {who} phản ánh “{x.title}”{topic}: "
    if x.state == "handled":
        result = (x.handling or "chưa ghi nhận").rstrip(". ")
        return Paragraph(head + f"đã xử lý. Kết quả xử lý: {result}.")
    detail = f" Biện pháp đã áp dụng: {x.handling.rstrip('. ')}." if x.handling else ""
    return Paragraph(head + f"đang xử lý, nhà trường tiếp tục theo dõi.{detail}")


def _urgent_text(f: _Facts) -> tuple[Paragraph, ...]:
    urgent = [x for x in f.feedback if x.urgent]
    if not urgent:
        return (Paragraph("Trong kỳ không có vụ việc khẩn cấp."),)
    head = Paragraph("Các vụ việc khẩn cấp và kết quả xử lý:")
    return (head, *(_urgent_line(x) for x in urgent))


def _section_feedback(f: _Facts) -> Section:
    heading = "IV. Tình hình dư luận, ý kiến phản ánh và kết quả xử lý"
    if not f.feedback:
        text = "Trong kỳ, nhà trường không nhận được ý kiến phản ánh, góp ý nào."
        return Section(heading, (Paragraph(text),))
    blocks: tuple[Block, ...] = (
        _feedback_text(f),
        _by_topic_table(f),
        *_urgent_text(f),
        _feedback_table(f),
    )
    return Section(heading, blocks)


# ---------------------------------------------------------------- section V


def _topics_with_content(f: _Facts) -> tuple[Counter[str | None], Counter[str | None]]:
    return Counter(a.topic for a in f.counted), Counter(m.topic for m in f.media)


def _topics_without_content(f: _Facts) -> tuple[str, ...]:
    articles, media = _topics_with_content(f)
    return tuple(t for t in TOPICS if not articles[t] and not media[t])


def _topics_table(f: _Facts) -> Table:
    articles, media = _topics_with_content(f)
    rows = tuple(
        (
            t,
            f.topic_title(t),
            str(articles[t]),
            str(media[t]),
            "Có nội dung" if articles[t] or media[t] else "Chưa có",
        )
        for t in TOPICS
    )
    return Table(
        caption="Bảng 6. Nội dung tuyên truyền theo các mục của Phụ lục Kế hoạch",
        header=("Mục", "Nội dung", "Tin, bài", "Tư liệu", "Đánh giá"),
        rows=rows,
        weights=(7, 53, 11, 11, 18),
    )


def _topics_text(f: _Facts) -> Paragraph:
    empty = _topics_without_content(f)
    done = [t for t in TOPICS if t not in empty]
    text = f"Trong kỳ có tin, bài hoặc tư liệu ở {len(done)}/{len(TOPICS)} mục của Phụ lục Kế hoạch"
    text += f" (mục {', '.join(done)})" if done else ""
    if empty:
        return Paragraph(f"{text}; chưa có nội dung ở các mục {', '.join(empty)}.")
    return Paragraph(f"{text}; tất cả các mục đều có nội dung.")


def _section_topics(f: _Facts) -> Section:
    return Section(
        "V. Nội dung tuyên truyền theo Phụ lục Kế hoạch",
        (_topics_text(f), _topics_table(f)),
    )


# ---------------------------------------------------------------- section VI


def _proposal_groups(f: _Facts, when: str) -> Paragraph:
    missing = _groups_missing(f)
    if not missing:
        return Paragraph(
            "Các tổ, đoàn thể tiếp tục duy trì ít nhất 01 tin, bài/tháng, nâng cao chất "
            f"lượng tin, bài trong {when}."
        )
    return Paragraph(
        f"Đề nghị {_join([g.name for g in missing])} chủ động xây dựng, gửi ít nhất 01 tin, "
        f"bài trong {when}; các tổ, đoàn thể khác tiếp tục duy trì, nâng cao chất lượng tin, bài."
    )


def _proposal_topics(f: _Facts) -> tuple[Paragraph, ...]:
    empty = _topics_without_content(f)
    if not empty:
        return (Paragraph("Tiếp tục tuyên truyền đều các mục của Phụ lục Kế hoạch."),)
    head = Paragraph("Tăng cường thông tin, tuyên truyền các mục chưa có nội dung trong kỳ:")
    lines = [Paragraph(f"- Mục {t}: {f.topic_title(t) or NONE_MARK};") for t in empty]
    last = lines[-1]
    lines[-1] = Paragraph(last.text[:-1] + ".")
    return (head, *lines)


def _proposal_follow_up(f: _Facts) -> tuple[Paragraph, ...]:
    pending = sum(a.approval == "pending" for a in f.articles)
    unsent = sum(a.approval == "approved" and not a.forwarded for a in f.articles)
    still_open = sum(x.state == "open" for x in f.feedback)
    out = []
    if pending:
        out.append(
            Paragraph(f"Ban Giám hiệu hoàn thành việc duyệt {pending} tin, bài đang chờ duyệt.")
        )
    if unsent:
        out.append(Paragraph(f"Gửi {unsent} tin, bài đã duyệt nhưng chưa gửi về Sở GDĐT."))
    if still_open:
        out.append(
            Paragraph(f"Tiếp tục theo dõi, xử lý dứt điểm {still_open} ý kiến phản ánh đang xử lý.")
        )
    return tuple(out)


def _numbered(paragraphs: Sequence[Paragraph]) -> tuple[Paragraph, ...]:
    """Number the paragraphs that are not dashed items: "1. …", "2. …"."""
    out, n = [], 0
    for p in paragraphs:
        if p.text.startswith("- "):
            out.append(p)
            continue
        n += 1
        out.append(Paragraph(f"{n}. {p.text}", p.lead, p.kind))
    return tuple(out)


def _section_next(f: _Facts) -> Section:
    when = _month_year(*_next_month(f.inp.month, f.inp.year))
    proposals = _numbered(
        (_proposal_groups(f, when), *_proposal_topics(f), *_proposal_follow_up(f))
    )
    principal = (
        Paragraph("", lead="Ý kiến chỉ đạo của Hiệu trưởng:", kind="fill"),
        Paragraph("", kind="fill"),
        Paragraph("", kind="fill"),
    )
    return Section("VI. Phương hướng tháng tới", (*proposals, *principal))


# ---------------------------------------------------------------- the report


def _recipients(school: SchoolInfo) -> tuple[str, ...]:
    """ "Nơi nhận" lines: "- X;" each, the archive line last and ending with a full stop."""
    names = [r.strip().rstrip(";.") for r in school.recipients if r.strip()]
    archive = [n for n in names if n.startswith("Lưu")] or [ARCHIVE_LINE.rstrip(".")]
    others = [n for n in names if not n.startswith("Lưu")]
    return (*(f"- {n};" for n in others), f"- {archive[-1]}.")


def _intro(f: _Facts) -> Paragraph:
    inp = f.inp
    return Paragraph(
        f"Thực hiện Kế hoạch thông tin, tuyên truyền về giáo dục và đào tạo năm {inp.year} "
        f"của nhà trường, {inp.school.name_in_text} báo cáo kết quả thông tin, tuyên truyền "
        f"về giáo dục và đào tạo {_month_year(inp.month, inp.year)} (từ ngày "
        f"{short_date(inp.period_start)} đến ngày {short_date(inp.period_end)}) như sau:"
    )


def _counts(f: _Facts) -> dict[str, int]:
    """Headline figures for the job's log line and the leadership's cover mail."""
    return {
        "articles": len(f.articles),
        "counted": len(f.counted),
        "groups_missing": len(_groups_missing(f)),
        "media": len(f.media),
        "feedback": len(f.feedback),
        "urgent": sum(x.urgent for x in f.feedback),
        "topics_without_content": len(_topics_without_content(f)),
    }


def build_report(inp: MonthlyInput) -> ReportModel:
    """Count the period's facts and word the monthly report (pure).

    Sections: I quota per group (table and chart), II articles, III media, IV
    public opinion and its handling, V sections I–XII of the plan's appendix
    with and without content, VI proposals for the next month.
    """
    f = _facts(inp)
    school = inp.school
    sections = (
        _section_quota(f),
        _section_articles(f),
        _section_media(f),
        _section_feedback(f),
        _section_topics(f),
        _section_next(f),
    )
    summary = (
        f"Kết quả thông tin, tuyên truyền về giáo dục và đào tạo {_month_year(inp.month, inp.year)}"
    )
    closing = Paragraph(
        f"Trên đây là báo cáo kết quả thông tin, tuyên truyền về giáo dục và đào tạo "
        f"{_month_year(inp.month, inp.year)} của {school.name_in_text}./."
    )
    return ReportModel(
        governing_body=school.governing_body.upper(),
        school_name=school.school_name.upper(),
        number_line=f"Số: {inp.number}/BC-{school.symbol}",
        country=COUNTRY,
        motto=MOTTO,
        place_date=date_line(school.place, inp.report_date),
        doc_kind=DOC_KIND,
        summary=summary,
        intro=(_intro(f),),
        sections=sections,
        closing=closing,
        recipients_heading="Nơi nhận:",
        recipients=_recipients(school),
        signer_title=school.signer_title.upper(),
        signer_name=school.signer_name,
        counts=_counts(f),
    )
