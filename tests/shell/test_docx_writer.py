"""The Word report: Decree 30/2020/NĐ-CP layout, reopened with python-docx, and a PDF."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from mailbot.core.monthly import (
    ArticleFact,
    BarChart,
    FeedbackFact,
    GroupInfo,
    MediaFact,
    MonthlyInput,
    ReportModel,
    SchoolInfo,
    build_report,
    period_for,
)
from mailbot.rules_file import default_rules_dir, load_rules
from mailbot.shell.docx_writer import chart_png, write_report

ARTICLES = (
    ("2025-12-22", "Tổ KHTN tổ chức chuyên đề dạy học STEM", "Nguyễn Thị Hoa", "KHTN", "III"),
    ("2025-12-26", "Học sinh lớp 8B tham gia hội thi Toán tuổi thơ", "Phạm Văn Dũng", "KHTN", "X"),
    ("2026-01-05", "Ngoại khóa Ngữ văn: Em yêu tiếng Việt", "Đỗ Thị Lan", "KHXH", "III"),
    ("2026-01-06", "Tuyên truyền phòng chống đuối nước mùa đông", "Lường Thị Thu", "KHXH", "VII"),
    ("2026-01-07", "Liên đội phát động phong trào Kế hoạch nhỏ", "Cà Văn Hùng", "DOI", "VII"),
    ("2026-01-09", "Hội khỏe Phù Đổng cấp trường", "Cà Văn Hùng", "DOI", "VII"),
    ("2026-01-10", "Chi đoàn ra quân tình nguyện mùa đông", "Bùi Thị Ngọc", "DOAN", "XII"),
    ("2026-01-12", "Ứng dụng học bạ số trong nhà trường", "Quàng Văn Minh", "CNTT", "IX"),
    ("2026-01-13", "Tuyên truyền bầu cử đại biểu Quốc hội khóa XVI", "Lò Văn Thắng", "BGH", "I"),
    (
        "2026-01-14",
        "Công đoàn thăm hỏi giáo viên có hoàn cảnh khó khăn",
        "Hoàng Văn Nam",
        "CD",
        "V",
    ),
    ("2026-01-15", "Bài viết chưa rõ nội dung", "Nguyễn Văn Hưng", None, None),
    ("2026-01-16", "Sơ kết học kỳ I năm học 2025 - 2026", "Nguyễn Thị Hoa", "KHTN", "XI"),
)
APPROVALS = ("approved",) * 7 + ("rejected", "approved", "pending", "rejected", "approved")


def _day(text: str) -> date:
    return date.fromisoformat(text)


def realistic_input() -> MonthlyInput:
    """A January 2026 like the demo school's: a dozen articles, media and feedback."""
    rules = load_rules(default_rules_dir())
    articles = tuple(
        ArticleFact(
            ref=f"TB-{i:03d}",
            date=_day(day),
            title=title,
            author=author,
            group_code=group,
            topic=topic,
            approval=approval,  # type: ignore[arg-type]
            forwarded=approval == "approved" and i % 3 != 0,
            attachments_left_out=("clip-hoi-khoe.mp4",) if i == 6 else (),
        )
        for i, ((day, title, author, group, topic), approval) in enumerate(
            zip(ARTICLES, APPROVALS, strict=True), start=1
        )
    )
    media = (
        MediaFact(
            "TL-001", _day("2026-01-09"), "Ảnh Hội khỏe Phù Đổng", "Cà Văn Hùng", "DOI", "VII", 24
        ),
        MediaFact(
            "TL-002", _day("2026-01-10"), "Ảnh tình nguyện", "Bùi Thị Ngọc", "DOAN", "XII", 8
        ),
        MediaFact(
            "TL-003", _day("2026-01-17"), "Video lễ chào cờ", "Học sinh lớp 9A", None, None, 1
        ),
    )
    feedback = (
        FeedbackFact(
            "PA-001",
            _day("2026-01-08"),
            "Học sinh lớp 7A bị bạn đánh trên đường về nhà",
            "parent",
            "VII",
            urgent=True,
            state="handled",
            handling=(
                "Ngày 08/01/2026 Ban Giám hiệu mời hai gia đình làm việc, GVCN theo dõi, "
                "tư vấn tâm lý cho học sinh; phối hợp công an xã."
            ),
        ),
        FeedbackFact(
            "PA-002", _day("2026-01-11"), "Đề nghị tăng giờ học bơi", "parent", "VII", False, "open"
        ),
        FeedbackFact(
            "PA-003",
            _day("2026-01-13"),
            "Hỏi về chế độ hỗ trợ bữa ăn trưa",
            "parent",
            "IV",
            False,
            "handled",
            "Đã trả lời phụ huynh theo Nghị định của Chính phủ.",
        ),
        FeedbackFact(
            "PA-004", _day("2026-01-15"), "Góp ý giờ đón học sinh", "teacher", None, False, "open"
        ),
    )
    start, end = period_for(1, 2026)
    return MonthlyInput(
        period_start=start,
        period_end=end,
        report_date=date(2026, 1, 19),
        month=1,
        year=2026,
        school=SchoolInfo(),
        groups=tuple(GroupInfo(g.code, g.name, g.owes_article) for g in rules.groups.values()),
        topic_titles={t.numeral: t.title for t in rules.topics},
        articles=articles,
        media=media,
        feedback=feedback,
    )


@pytest.fixture(scope="module")
def model() -> ReportModel:
    return build_report(realistic_input())


@pytest.fixture(scope="module")
def docx_path(model: ReportModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "bao-cao-2026-01.docx"
    assert write_report(model, out) == out
    return out


@pytest.fixture(scope="module")
def doc(docx_path: Path) -> Any:
    return Document(str(docx_path))


def all_paragraphs(doc: Any) -> list[Any]:
    """Body paragraphs and those inside tables, in document order."""
    out = list(doc.paragraphs)
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                out.extend(cell.paragraphs)
    return out


def find(doc: Any, text: str) -> Any:
    return next(p for p in all_paragraphs(doc) if p.text == text)


# ------------------------------------------------------------------ page


def test_page_is_a4_with_decree_margins(doc: Any) -> None:
    """A4 (not python-docx's US Letter); margins top/bottom 20-25, left 30-35, right 15-20 mm."""
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert 20 <= round(section.top_margin.mm) <= 25
    assert 20 <= round(section.bottom_margin.mm) <= 25
    assert 30 <= round(section.left_margin.mm) <= 35
    assert 15 <= round(section.right_margin.mm) <= 20


def _fonts(rpr: Any) -> dict[str, str | None]:
    fonts = rpr.find(qn("w:rFonts"))
    return {slot: fonts.get(qn(f"w:{slot}")) for slot in ("ascii", "hAnsi", "eastAsia", "cs")}


def test_times_new_roman_in_every_font_slot(doc: Any) -> None:
    """Normal, Header, Table Grid and the document defaults set all four slots, no theme font."""
    tnr = dict.fromkeys(("ascii", "hAnsi", "eastAsia", "cs"), "Times New Roman")
    defaults = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    assert _fonts(defaults.find(qn("w:rPr"))) == tnr
    for name in ("Normal", "Header", "Table Grid"):
        rpr = doc.styles[name].element.find(qn("w:rPr"))
        assert _fonts(rpr) == tnr, name
        assert rpr.find(qn("w:rFonts")).get(qn("w:eastAsiaTheme")) is None
    xml = doc.styles.element.xml
    assert 'w:asciiTheme="minorHAnsi"' not in xml.split("</w:docDefaults>")[0]


def test_no_run_sets_another_font(doc: Any) -> None:
    """Runs inherit the font; none names a different one."""
    names = {r.font.name for p in all_paragraphs(doc) for r in p.runs}
    assert names <= {None, "Times New Roman"}


# ------------------------------------------------------------------ head


def test_head_table_is_borderless_with_fixed_widths(doc: Any) -> None:
    """Every cell has a width; fixed layout; all borders nil; right column about 93 mm."""
    head = doc.tables[0]
    tbl_pr = head._tbl.tblPr
    assert tbl_pr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
    borders = tbl_pr.find(qn("w:tblBorders"))
    assert {b.get(qn("w:val")) for b in borders} == {"nil"}
    assert head.style is None or "Grid" not in head.style.name
    for row in head.rows:
        for cell in row.cells:
            assert cell.width is not None
    left, right = head.rows[0].cells
    assert 65 <= left.width.mm <= 75
    assert 90 <= right.width.mm <= 96


def test_head_texts_and_their_sizes(doc: Any) -> None:
    """Issuer on the left, national title, motto and date on the right, as Decree 30 sizes them."""
    left, right = doc.tables[0].rows[0].cells
    assert [p.text for p in left.paragraphs if p.text] == [
        "UBND XÃ POM LÓT",
        "TRƯỜNG THCS POM LÓT",
        "Số: …/BC-THCSPL",
    ]
    school = left.paragraphs[1].runs[0]
    assert school.bold and school.font.size == Pt(13)
    rule = left.paragraphs[2]
    assert rule._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom")).get(qn("w:val")) == "single"
    country, motto, place = (p for p in right.paragraphs if p.text)
    assert country.text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert country.runs[0].bold and country.runs[0].font.size == Pt(12)
    assert motto.text == "Độc lập - Tự do - Hạnh phúc"
    assert motto.runs[0].underline and motto.runs[0].bold
    assert place.text == "Pom Lót, ngày 19 tháng 01 năm 2026"
    assert place.runs[0].italic


def test_kind_and_summary_centred_bold(doc: Any) -> None:
    """ "BÁO CÁO" and the summary line: 14 pt bold, centred."""
    for text in (
        "BÁO CÁO",
        "Kết quả thông tin, tuyên truyền về giáo dục và đào tạo tháng 01 năm 2026",
    ):
        p = find(doc, text)
        assert p.alignment == WD_ALIGN_PARAGRAPH.CENTER
        assert p.runs[0].bold and p.runs[0].font.size == Pt(14)


# ------------------------------------------------------------------ body


def test_body_paragraphs_justified_indented_spaced(doc: Any, model: ReportModel) -> None:
    """Body: justified, first-line indent 1-1.27 cm, at least 6 pt after, 13-14 pt."""
    body = [find(doc, model.intro[0].text), find(doc, model.closing.text)]
    body += [p for p in doc.paragraphs if p.text.startswith(("Trong kỳ", "Tổng số"))]
    assert len(body) >= 5
    for p in body:
        fmt = p.paragraph_format
        assert p.alignment == WD_ALIGN_PARAGRAPH.JUSTIFY
        assert Mm(10) <= fmt.first_line_indent <= Mm(12.7)
        assert fmt.space_after >= Pt(6)
        assert all(Pt(13) <= r.font.size <= Pt(14) for r in p.runs)


def test_section_headings_present(doc: Any) -> None:
    """The six parts are there, bold."""
    headings = [
        p
        for p in doc.paragraphs
        if p.runs and p.runs[0].bold and p.text[:3] in {"I. ", "II.", "III", "IV.", "V. ", "VI."}
    ]
    assert [h.text.split(".")[0] for h in headings] == ["I", "II", "III", "IV", "V", "VI"]
    assert headings[-1].text == "VI. Phương hướng tháng tới"


def test_data_tables_have_borders_and_widths(doc: Any) -> None:
    """Six data tables (quota, articles, media, two of feedback, sections) with borders."""
    data = doc.tables[1:-1]
    assert len(data) == 6
    for table in data:
        borders = table._tbl.tblPr.find(qn("w:tblBorders"))
        assert {b.get(qn("w:val")) for b in borders} == {"single"}
        assert all(cell.width is not None for row in table.rows for cell in row.cells)
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    articles = data[1]
    assert len(articles.rows) == 1 + 12
    assert articles.rows[1].cells[3].text == "Tổ KHTN tổ chức chuyên đề dạy học STEM"


def test_chart_is_an_inline_png(doc: Any, docx_path: Path) -> None:
    """One inline picture, a PNG, about 14 cm wide."""
    shapes = doc.inline_shapes
    assert len(shapes) == 1
    assert 130 <= shapes[0].width.mm <= 150
    blip = shapes[0]._inline.graphic.graphicData.pic.blipFill.blip
    part = doc.part.related_parts[blip.embed]
    assert part.blob.startswith(b"\x89PNG\r\n\x1a\n")


def test_chart_png_draws_any_labels() -> None:
    """chart_png works on its own and returns a PNG, also with no bars at all."""
    assert chart_png(BarChart("x", (), (), 1, ())).startswith(b"\x89PNG")
    chart = BarChart("x", ("KHTN", "VP"), (3, 0), 1, (False, True))
    assert chart_png(chart).startswith(b"\x89PNG")


def test_principal_line_with_dotted_leader(doc: Any) -> None:
    """Room for the principal's own proposals: a bold lead and a dotted tab to the margin."""
    p = next(p for p in doc.paragraphs if p.text.startswith("Ý kiến chỉ đạo của Hiệu trưởng:"))
    assert p.runs[0].bold
    stop = p.paragraph_format.tab_stops[0]
    assert stop.leader is not None and "DOT" in str(stop.leader)


# ------------------------------------------------------------------ end and header


def test_recipients_and_signature(doc: Any) -> None:
    """Last table: borderless; "Nơi nhận:" 12 pt bold italic, lines 11 pt, signer bold."""
    end = doc.tables[-1]
    borders = end._tbl.tblPr.find(qn("w:tblBorders"))
    assert {b.get(qn("w:val")) for b in borders} == {"nil"}
    assert all(cell.width is not None for row in end.rows for cell in row.cells)
    left, right = end.rows[0].cells
    head = left.paragraphs[0].runs[0]
    assert left.paragraphs[0].text == "Nơi nhận:"
    assert head.bold and head.italic and head.font.size == Pt(12)
    lines = [p.text for p in left.paragraphs[1:]]
    assert lines[-1] == "- Lưu: VT."
    assert all(line.startswith("- ") for line in lines)
    assert all(p.runs[0].font.size == Pt(11) for p in left.paragraphs[1:])
    texts = [p for p in right.paragraphs if p.text]
    assert [p.text for p in texts] == ["HIỆU TRƯỞNG", "Trần Thị Bích Nga"]
    assert all(p.runs[0].bold for p in texts)
    assert all(p.alignment == WD_ALIGN_PARAGRAPH.CENTER for p in texts)


def test_page_number_header_from_page_two(doc: Any) -> None:
    """Different first page, its header empty; the other header holds a centred PAGE field."""
    section = doc.sections[0]
    assert section.different_first_page_header_footer
    assert section._sectPr.find(qn("w:titlePg")) is not None
    assert all(not p.text for p in section.first_page_header.paragraphs)
    header = section.header.paragraphs[0]
    assert header.alignment == WD_ALIGN_PARAGRAPH.CENTER
    instr = [e.text for e in header._p.iter(qn("w:instrText"))]
    assert [i.strip() for i in instr] == ["PAGE"]


def test_write_is_atomic_and_leaves_no_temp_file(model: ReportModel, tmp_path: Path) -> None:
    """A second write replaces the file; only the report is left in the folder."""
    out = tmp_path / "r.docx"
    write_report(model, out)
    write_report(model, out)
    assert [p.name for p in tmp_path.iterdir()] == ["r.docx"]


def test_failed_write_leaves_nothing(model: ReportModel, tmp_path: Path) -> None:
    """If saving fails the temporary file is removed and the target is untouched."""
    out = tmp_path / "r.docx"
    out.write_bytes(b"old")
    broken = model.__class__(**{**_fields(model), "summary": "\x00"})
    with pytest.raises(ValueError):
        write_report(broken, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.docx"]


def _fields(model: ReportModel) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model.__dataclass_fields__}


# ------------------------------------------------------------------ PDF


@pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed"
)
def test_converts_to_pdf_with_libreoffice(docx_path: Path, tmp_path: Path) -> None:
    """LibreOffice opens the file and renders it: a PDF of a few pages."""
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(docx_path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / (docx_path.stem + ".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
        pages = int(
            next(line for line in info.stdout.splitlines() if line.startswith("Pages:")).split()[1]
        )
        assert 3 <= pages <= 12
        assert "(A4)" in info.stdout


# ECMA-376 part 1 sequences (CT_PPr, CT_TblPr, CT_TrPr): Word rejects files out of order.
SCHEMA_ORDER = {
    "pPr": [
        "pStyle",
        "keepNext",
        "keepLines",
        "pageBreakBefore",
        "framePr",
        "widowControl",
        "numPr",
        "suppressLineNumbers",
        "pBdr",
        "shd",
        "tabs",
        "suppressAutoHyphens",
        "kinsoku",
        "wordWrap",
        "overflowPunct",
        "topLinePunct",
        "autoSpaceDE",
        "autoSpaceDN",
        "bidi",
        "adjustRightInd",
        "snapToGrid",
        "spacing",
        "ind",
        "contextualSpacing",
        "mirrorIndents",
        "suppressOverlap",
        "jc",
        "textDirection",
        "textAlignment",
        "textboxTightWrap",
        "outlineLvl",
        "divId",
        "cnfStyle",
        "rPr",
        "sectPr",
        "pPrChange",
    ],
    "tblPr": [
        "tblStyle",
        "tblpPr",
        "tblOverlap",
        "bidiVisual",
        "tblStyleRowBandSize",
        "tblStyleColBandSize",
        "tblW",
        "jc",
        "tblCellSpacing",
        "tblInd",
        "tblBorders",
        "shd",
        "tblLayout",
        "tblCellMar",
        "tblLook",
        "tblCaption",
        "tblDescription",
    ],
    "trPr": [
        "cnfStyle",
        "divId",
        "gridBefore",
        "gridAfter",
        "wBefore",
        "wAfter",
        "cantSplit",
        "trHeight",
        "tblHeader",
        "tblCellSpacing",
        "jc",
        "hidden",
    ],
}


def test_property_elements_in_schema_order(docx_path: Path) -> None:
    """Paragraph, table and row properties list their children in the schema's order."""
    doc = Document(str(docx_path))
    parts = [doc.element, *(s.header._element for s in doc.sections)]
    for tag, order in SCHEMA_ORDER.items():
        for part in parts:
            for props in part.iter(qn(f"w:{tag}")):
                names = [child.tag.rpartition("}")[2] for child in props]
                ranks = [order.index(name) for name in names]
                assert ranks == sorted(ranks), (tag, names)
