"""Lay a :class:`~mailbot.core.monthly.ReportModel` out as a Word file.

Layout only: every figure and sentence comes counted and worded from
``core/monthly.py``. The layout follows Decree 30/2020/NĐ-CP on clerical work,
appendix I (format of administrative documents):

* A4 paper; margins top and bottom 20–25 mm, left 30–35 mm, right 15–20 mm;
* Times New Roman (a Unicode font, TCVN 6909:2001) in every font slot, so that
  Word does not fall back to a theme font for Vietnamese text;
* the two-column head: governing body and issuer on the left, the national
  title, motto and the place and date on the right;
* the document kind and its summary centred in bold; the body 13–14 pt,
  justified, first-line indent 1–1.27 cm, at least 6 pt between paragraphs;
* recipients ("Nơi nhận") on the left and the signature on the right at the end;
* page numbers centred at the top from page 2 on.

The chart of articles per group is drawn with Pillow as a PNG. The file is
written to a temporary name in the target folder and renamed into place, so a
crash never leaves half a report where the mail job would pick it up.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt
from PIL import Image, ImageDraw, ImageFont

from mailbot.core.monthly import BarChart, Block, Paragraph, ReportModel, Section, Table

__all__ = ["FONT", "write_report"]

FONT = "Times New Roman"
LANGUAGE = "vi-VN"
FILE_MODE = 0o640

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = Mm(20), Mm(20), Mm(30), Mm(15)
TEXT_WIDTH_MM = 210 - 30 - 15
HEAD_LEFT_MM, HEAD_RIGHT_MM = 72, TEXT_WIDTH_MM - 72
FIRST_LINE_INDENT = Mm(12.7)
BODY_SIZE, TABLE_SIZE = Pt(14), Pt(12)
PARAGRAPH_GAP = Pt(6)
CHART_WIDTH = Mm(140)
TABLE_CELL_MARGIN_MM = 1.0
SHORT_CELL = 12

_Doc = Any  # python-docx ships no type hints (mypy: ignore_missing_imports)
_Para = Any
_Cell = Any


def write_report(model: ReportModel, path: Path) -> Path:
    """Write ``model`` as a .docx at ``path`` (atomically) and return ``path``."""
    doc = _new_document(model)
    _head(doc, model)
    _title(doc, model)
    for paragraph in model.intro:
        _paragraph(doc, paragraph)
    for section in model.sections:
        _section(doc, section)
    _paragraph(doc, model.closing)
    _signature(doc, model)
    _save_atomic(doc, path)
    return path


# ---------------------------------------------------------------- page and styles


def _new_document(model: ReportModel) -> _Doc:
    """An empty A4 document with the decree's margins, fonts and page-number header."""
    doc = Document()
    _page(doc.sections[0])
    _styles(doc)
    doc.core_properties.title = f"{model.doc_kind} {model.summary}"
    doc.core_properties.author = model.school_name
    doc.core_properties.language = LANGUAGE
    return doc


def _page(section: Any) -> None:
    """A4 portrait, Decree 30 margins, page numbers from page 2 on.

    python-docx starts from US Letter, so the size is always set.
    """
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.left_margin, section.right_margin = MARGIN_LEFT, MARGIN_RIGHT
    section.header_distance, section.footer_distance = Mm(10), Mm(10)
    section.different_first_page_header_footer = True
    section.first_page_header.is_linked_to_previous = False
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_field(header)


def _page_field(paragraph: _Para) -> None:
    """Append a PAGE field (begin, instruction, separator, placeholder, end)."""
    for kind, text in (("begin", ""), ("", " PAGE "), ("separate", ""), ("", "2"), ("end", "")):
        run = paragraph.add_run()
        run.font.size = BODY_SIZE
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        elif text.strip() == "PAGE":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        else:
            run.text = text


def _styles(doc: _Doc) -> None:
    """Times New Roman in every slot of the defaults and the styles used.

    ``font.name`` in python-docx sets only the ascii and hAnsi slots; Word
    picks the eastAsia or cs slot for some Vietnamese characters, and the
    defaults point at theme fonts, so all four are set and the theme removed.
    """
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    _set_fonts(defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")))
    for name in ("Normal", "Header", "Footer", "Table Grid"):
        style = doc.styles[name]
        _set_fonts(style.element.get_or_add_rPr())
    normal = doc.styles["Normal"]
    normal.font.size = BODY_SIZE
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after = Pt(0), Pt(0)
    fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE


def _set_fonts(rpr: Any) -> None:
    """Set w:rFonts ascii, hAnsi, eastAsia and cs to Times New Roman, and the language."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), LANGUAGE)


# ---------------------------------------------------------------- runs and paragraphs


def _line(
    container: Any,
    text: str,
    size: Length,
    *,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: Any = WD_ALIGN_PARAGRAPH.CENTER,
) -> _Para:
    """One single-run paragraph, e.g. a line of the head."""
    p = container.add_paragraph()
    p.alignment = align
    run = p.add_run(text)
    run.font.size, run.bold, run.italic, run.underline = size, bold, italic, underline
    return p


def _body_format(p: _Para, *, indent: bool = True) -> None:
    """Decree 30 body: justified, first-line indent 1.27 cm, 6 pt after, 1.15 lines."""
    fmt = p.paragraph_format
    p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    fmt.first_line_indent = FIRST_LINE_INDENT if indent else Mm(0)
    fmt.space_before, fmt.space_after = Pt(0), PARAGRAPH_GAP
    fmt.line_spacing = 1.15


def _paragraph(doc: _Doc, para: Paragraph) -> _Para:
    """A body, caption or fill paragraph of the model."""
    if para.kind == "caption":
        return _caption(doc, para.text)
    p = doc.add_paragraph()
    _body_format(p, indent=bool(para.lead or para.text))
    if para.lead:
        lead = p.add_run(para.lead + (" " if para.text else ""))
        lead.bold, lead.font.size = True, BODY_SIZE
    if para.text:
        p.add_run(para.text).font.size = BODY_SIZE
    if para.kind == "fill":
        _dotted_to_margin(p)
    return p


def _dotted_to_margin(p: _Para) -> None:
    """A right tab with a dotted leader at the margin: a line left to write on."""
    stops = p.paragraph_format.tab_stops
    stops.add_tab_stop(Mm(TEXT_WIDTH_MM), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)
    p.add_run("\t").font.size = BODY_SIZE


def _caption(doc: _Doc, text: str, *, keep_with_next: bool = False) -> _Para:
    """A centred italic caption over a table or under a chart."""
    p = _line(doc, text, Pt(13), italic=True, bold=keep_with_next)
    fmt = p.paragraph_format
    fmt.space_before, fmt.space_after = PARAGRAPH_GAP, PARAGRAPH_GAP
    fmt.keep_with_next = keep_with_next
    return p


def _heading(doc: _Doc, text: str) -> None:
    """A section heading ("I. …"): bold, indented like the body, kept with what follows."""
    p = doc.add_paragraph()
    _body_format(p)
    p.paragraph_format.space_before = PARAGRAPH_GAP
    p.paragraph_format.keep_with_next = True
    run = p.add_run(text)
    run.bold, run.font.size = True, BODY_SIZE


# ---------------------------------------------------------------- head and title


def _head(doc: _Doc, model: ReportModel) -> None:
    """The two-column head of Decree 30 appendix I, in a borderless fixed table.

    Left (issuer): governing body, 13 pt capitals; the school, 13 pt bold
    capitals, with a short centred line under it; "Số: …/BC-…", 13 pt.
    Right: the national title, 12 pt bold capitals (13 pt would wrap in 93 mm);
    the motto, 13 pt bold, underlined its own length; place and date, 14 pt italic.
    """
    left, right = _layout_table(doc, (HEAD_LEFT_MM, HEAD_RIGHT_MM))
    _line(left, model.governing_body, Pt(13))
    _line(left, model.school_name, Pt(13), bold=True)
    _short_rule(left)
    _line(left, model.number_line, Pt(13)).paragraph_format.space_before = PARAGRAPH_GAP
    _line(right, model.country, Pt(12), bold=True)
    _line(right, model.motto, Pt(13), bold=True, underline=True)
    date = _line(right, model.place_date, Pt(14), italic=True)
    date.paragraph_format.space_before = Pt(12)
    for cell in (left, right):
        _drop_first_empty(cell)


def _short_rule(cell: _Cell) -> None:
    """A short centred horizontal line: the bottom border of an empty, narrow paragraph.

    Decree 30 asks for a line 1/3 to 1/2 of the issuer's name under it; the
    paragraph is indented to about 26 mm wide and only 2 pt high.
    """
    p = cell.add_paragraph()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{key}"), value)
    border.append(bottom)
    p._p.get_or_add_pPr().append(border)  # first, so python-docx adds the rest after it
    side = Mm((HEAD_LEFT_MM - 26) / 2)
    fmt = p.paragraph_format
    fmt.left_indent, fmt.right_indent = side, side
    fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, Pt(2)


def _drop_first_empty(cell: _Cell) -> None:
    """Remove the empty paragraph a new table cell starts with."""
    first = cell.paragraphs[0]
    if not first.text and len(cell.paragraphs) > 1:
        first._p.getparent().remove(first._p)


def _title(doc: _Doc, model: ReportModel) -> None:
    """Document kind and summary: centred, 14 pt bold (Decree 30 appendix I)."""
    kind = _line(doc, model.doc_kind, Pt(14), bold=True)
    kind.paragraph_format.space_before = Pt(18)
    summary = _line(doc, model.summary, Pt(14), bold=True)
    summary.paragraph_format.space_after = Pt(12)


# ---------------------------------------------------------------- tables


def _layout_table(doc: _Doc, widths_mm: Sequence[float]) -> tuple[_Cell, ...]:
    """A one-row borderless table with fixed column widths, for the head and signature."""
    table = doc.add_table(rows=1, cols=len(widths_mm))
    _fix_widths(table, widths_mm)
    _borders(table, "nil")
    _cell_margins(table, 0)
    cells = tuple(table.rows[0].cells)
    for cell in cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    return cells


def _fix_widths(table: Any, widths_mm: Sequence[float]) -> None:
    """Fixed layout with the width set on the table, every grid column and every cell.

    Word honours the cell widths, LibreOffice the grid; python-docx sets neither
    by itself, so all are set.
    """
    table.autofit = False
    _table_width(table, sum(widths_mm))
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(width)


def _table_width(table: Any, width_mm: float) -> None:
    tbl_pr = table._tbl.tblPr
    tbl_w = tbl_pr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tbl_pr.append(tbl_w)
    tbl_w.set(qn("w:w"), str(Mm(width_mm).twips))
    tbl_w.set(qn("w:type"), "dxa")


def _borders(table: Any, value: str) -> None:
    """Set all six table borders to ``value`` ("nil" or "single")."""
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:val"), value)
        if value != "nil":
            edge.set(qn("w:sz"), "4")
            edge.set(qn("w:space"), "0")
            edge.set(qn("w:color"), "000000")
        borders.append(edge)
    _replace_child(table._tbl.tblPr, borders)


def _cell_margins(table: Any, left_right_mm: float) -> None:
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:w"), str(Mm(left_right_mm).twips))
        edge.set(qn("w:type"), "dxa")
        margins.append(edge)
    _replace_child(table._tbl.tblPr, margins)


# ECMA-376 CT_TblPr: children must appear in this order or Word reports a damaged file.
_TBL_PR_ORDER = (
    "tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
    "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders",
    "shd", "tblLayout", "tblCellMar", "tblLook", "tblCaption", "tblDescription",
)  # fmt: skip


def _replace_child(tbl_pr: Any, child: Any) -> None:
    """Put ``child`` into the table properties, replacing its namesake, in schema order."""
    old = tbl_pr.find(child.tag)
    if old is not None:
        tbl_pr.remove(old)
    rank = _TBL_PR_ORDER.index(child.tag.rpartition("}")[2])
    for sibling in tbl_pr:
        name = sibling.tag.rpartition("}")[2]
        if name in _TBL_PR_ORDER and _TBL_PR_ORDER.index(name) > rank:
            sibling.addprevious(child)
            return
    tbl_pr.append(child)


def _data_table(doc: _Doc, table_model: Table) -> None:
    """A bordered data table: caption, a repeated bold header row, body rows, total.

    The header and two model rows (plain and bold) are formatted through
    python-docx; body rows are copies of a model row with their texts replaced,
    which keeps a year's report (thousands of rows) within seconds.
    """
    _caption(doc, table_model.caption, keep_with_next=True)
    total = sum(table_model.weights)
    widths = [TEXT_WIDTH_MM * w / total for w in table_model.weights]
    table = doc.add_table(rows=3, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _borders(table, "single")
    _cell_margins(table, TABLE_CELL_MARGIN_MM)
    _fix_widths(table, widths)
    centred = _short_columns(table_model)
    header, plain, bold = table.rows
    placeholders = ["x"] * len(widths)
    _fill_row(header, table_model.header, centred, bold=True, header=True)
    _fill_row(plain, placeholders, centred, bold=False)
    _fill_row(bold, placeholders, centred, bold=True)
    tbl = table._tbl
    for model_row in (plain._tr, bold._tr):
        tbl.remove(model_row)
    for values in table_model.rows:
        tbl.append(_copy_row(plain._tr, values))
    if table_model.total:
        tbl.append(_copy_row(bold._tr, table_model.total))
    doc.add_paragraph().paragraph_format.space_after = Pt(0)


def _copy_row(model_row: Any, values: Sequence[str]) -> Any:
    """A copy of ``model_row`` (one run per cell) holding ``values``, on one line each."""
    row = copy.deepcopy(model_row)
    for node, text in zip(row.iter(qn("w:t")), values, strict=True):
        node.text = " ".join(text.split())
    return row


def _short_columns(table_model: Table) -> list[bool]:
    """Columns whose cells are all short (numbers, dates, codes, verdicts) are centred."""
    columns = zip(*table_model.rows, strict=True) if table_model.rows else ()
    short = [max(map(len, cells)) <= SHORT_CELL for cells in columns]
    return short or [True] * len(table_model.header)


def _fill_row(
    row: Any, values: Iterable[str], centred: Sequence[bool], *, bold: bool, header: bool = False
) -> None:
    """Write one row: 12 pt, narrow columns centred, the header repeated on each page."""
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    if header:
        tr_pr.append(OxmlElement("w:tblHeader"))
    for cell, text, centre in zip(row.cells, values, centred, strict=True):
        p = cell.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER if centre or header else WD_ALIGN_PARAGRAPH.LEFT
        run = p.add_run(text)
        run.font.size, run.bold = TABLE_SIZE, bold
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


# ---------------------------------------------------------------- sections


def _section(doc: _Doc, section: Section) -> None:
    _heading(doc, section.heading)
    for block in section.blocks:
        _block(doc, block)


def _block(doc: _Doc, block: Block) -> None:
    if isinstance(block, Paragraph):
        _paragraph(doc, block)
    elif isinstance(block, Table):
        _data_table(doc, block)
    else:
        _chart(doc, block)


def _chart(doc: _Doc, chart: BarChart) -> None:
    """The bar chart as a centred inline PNG with its caption under it."""
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.keep_with_next = True
    p.add_run().add_picture(io.BytesIO(chart_png(chart)), width=CHART_WIDTH)
    _caption(doc, chart.caption)


# ---------------------------------------------------------------- signature


def _signature(doc: _Doc, model: ReportModel) -> None:
    """Recipients on the left, signature block on the right (Decree 30 appendix I).

    "Nơi nhận:" 12 pt bold italic, its lines 11 pt; the signer's title 14 pt
    bold capitals, room to sign and stamp, the name 14 pt bold.
    """
    left, right = _layout_table(doc, (HEAD_LEFT_MM, HEAD_RIGHT_MM))
    _line(left, model.recipients_heading, Pt(12), bold=True, italic=True, align=None)
    for line in model.recipients:
        _line(left, line, Pt(11), align=WD_ALIGN_PARAGRAPH.LEFT)
    _line(right, model.signer_title, Pt(14), bold=True)
    for _ in range(4):
        _line(right, "", Pt(14))
    _line(right, model.signer_name, Pt(14), bold=True)
    for cell in (left, right):
        _drop_first_empty(cell)
    left.paragraphs[0].paragraph_format.space_before = PARAGRAPH_GAP
    right.paragraphs[0].paragraph_format.space_before = PARAGRAPH_GAP


# ---------------------------------------------------------------- chart image

_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 1600, 760, 110, 40, 50, 90
_BAR, _BAR_LOW, _QUOTA, _INK = (41, 98, 160), (200, 70, 50), (200, 70, 50), (30, 30, 30)


def _chart_font(size: int) -> Any:
    """A TrueType font for labels (group codes and numbers, ASCII); Pillow's own if none."""
    for path in _FONT_PATHS:
        with contextlib.suppress(OSError):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def chart_png(chart: BarChart) -> bytes:
    """Draw ``chart`` as a PNG: bars, their values, the codes and a dashed quota line.

    Bars below the quota are drawn in red. Only ASCII is drawn, so any font works.
    """
    img = Image.new("RGB", (_W, _H), "white")
    draw = ImageDraw.Draw(img)
    top = max((*chart.values, chart.quota, 1)) + 1
    scale = (_H - _PAD_T - _PAD_B) / top
    _axes(draw, top, scale)
    _bars(draw, chart, scale)
    _quota_line(draw, chart.quota, scale)
    out = io.BytesIO()
    img.save(out, format="PNG", dpi=(200, 200), optimize=True)
    return out.getvalue()


def _y(value: float, scale: float) -> float:
    return _H - _PAD_B - value * scale


def _axes(draw: ImageDraw.ImageDraw, top: int, scale: float) -> None:
    font = _chart_font(30)
    step = max(1, top // 8)
    for value in range(0, top + 1, step):
        y = _y(value, scale)
        draw.line((_PAD_L, y, _W - _PAD_R, y), fill=(225, 225, 225), width=2)
        draw.text((_PAD_L - 16, y), str(value), fill=_INK, font=font, anchor="rm")
    draw.line((_PAD_L, _PAD_T, _PAD_L, _H - _PAD_B), fill=_INK, width=3)
    draw.line((_PAD_L, _H - _PAD_B, _W - _PAD_R, _H - _PAD_B), fill=_INK, width=3)


def _bars(draw: ImageDraw.ImageDraw, chart: BarChart, scale: float) -> None:
    font = _chart_font(32)
    slot = (_W - _PAD_L - _PAD_R) / max(1, len(chart.values))
    for i, (label, value, low) in enumerate(
        zip(chart.labels, chart.values, chart.below_quota, strict=True)
    ):
        x0, x1 = _PAD_L + slot * (i + 0.2), _PAD_L + slot * (i + 0.8)
        if value:
            draw.rectangle((x0, _y(value, scale), x1, _y(0, scale)), fill=_BAR_LOW if low else _BAR)
        draw.text(
            ((x0 + x1) / 2, _y(value, scale) - 8), str(value), fill=_INK, font=font, anchor="mb"
        )
        draw.text(((x0 + x1) / 2, _H - _PAD_B + 16), label, fill=_INK, font=font, anchor="mt")


def _quota_line(draw: ImageDraw.ImageDraw, quota: int, scale: float) -> None:
    y = _y(quota, scale)
    for x in range(_PAD_L, _W - _PAD_R, 30):
        draw.line((x, y, min(x + 16, _W - _PAD_R), y), fill=_QUOTA, width=4)


# ---------------------------------------------------------------- saving


def _save_atomic(doc: _Doc, path: Path) -> None:
    """Save to a temporary file in ``path``'s folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            doc.save(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
