"""HTML to plain text with the standard library's ``html.parser``, never keeping markup.

For HTML-only mail (Zimbra tables, Outlook for Android): script, style and
head are dropped, block elements and table rows end lines, table cells are
separated by spaces, character references are unescaped, quoted blocks
(``<blockquote>``) come out as ``>`` lines so the quote stripper sees them,
and a link's http(s) target is kept in parentheses after its text. The
result is text for matching only; raw HTML is never rendered (RELIABILITY
case 23).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["MAX_HTML_CHARS", "html_to_text"]

MAX_HTML_CHARS = 5_000_000
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "iframe"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table",
        "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_WHITE = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(" {2,}")


class _Collector(HTMLParser):
    """Collects text pieces; ``\\n`` pieces mark line ends."""

    def __init__(self) -> None:
        """Start with no text, outside skipped elements, quotes and links."""
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.skip = 0
        self.quote = 0
        self.links: list[str | None] = []

    def newline(self) -> None:
        """End the current line (once: nested blocks do not stack blank lines)."""
        mark = "\n" + "> " * self.quote
        if self.pieces and self.pieces[-1].startswith("\n"):
            self.pieces[-1] = mark
        else:
            self.pieces.append(mark)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a skipped element, a line, a cell, a quote or a link."""
        if tag == "body":
            self.skip = 0
        elif tag in _SKIP:
            self.skip += 1
        elif tag == "br" or tag in _BLOCK:
            if tag == "blockquote":
                self.quote += 1
            self.newline()
        elif tag in _CELLS:
            self.pieces.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href if href.lower().startswith(("http://", "https://")) else None)

    def handle_endtag(self, tag: str) -> None:
        """Close what handle_starttag opened; a link shows its http(s) target."""
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            self.newline()
        elif tag in _CELLS:
            self.pieces.append(" ")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not self.skip:
                self.pieces.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        """Keep visible text, with HTML white-space runs collapsed to one space."""
        if not self.skip:
            self.pieces.append(_WHITE.sub(" ", data))


def _tidy(text: str) -> str:
    """Collapse runs of spaces, trim every line, keep at most one blank line."""
    joined = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", joined).strip()


def html_to_text(markup: str) -> str:
    """The readable text of an HTML document (at most MAX_HTML_CHARS of input)."""
    collector = _Collector()
    collector.feed(markup[:MAX_HTML_CHARS])
    collector.close()
    return _tidy("".join(collector.pieces))
