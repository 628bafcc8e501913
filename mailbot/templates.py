"""The one Jinja2 environment for outgoing mail: loaded once, strict, Vietnamese dates.

``StrictUndefined`` makes a misspelt variable an error in the tests instead of
a blank in a parent's inbox; HTML templates are autoescaped, so text echoed
from an incoming mail can never become markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

__all__ = ["Templates", "default_templates_dir", "load_templates"]

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def default_templates_dir() -> Path:
    """The project's ``templates/`` folder."""
    return Path(__file__).resolve().parent.parent / "templates"


def vn_date(value: date | datetime) -> str:
    """``19/01/2026``: the date as Vietnamese readers write it (local time)."""
    if isinstance(value, datetime):
        value = value.astimezone(VN)
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def vn_datetime(value: datetime) -> str:
    """``08:15 ngày 19/01/2026`` in Vietnam's time."""
    local = value.astimezone(VN)
    return f"{local:%H:%M} ngày {vn_date(local)}"


class Templates:
    """Renders ``mail/<name>.txt.j2`` and ``mail/<name>.html.j2``."""

    def __init__(self, directory: Path) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=jinja2.select_autoescape(["html", "html.j2"], default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["vndate"] = vn_date
        self.env.filters["vndatetime"] = vn_datetime

    def render(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """The plain-text and HTML bodies of mail template ``name``."""
        text = self.env.get_template(f"mail/{name}.txt.j2").render(context)
        html = self.env.get_template(f"mail/{name}.html.j2").render(context)
        return text, html


def load_templates(directory: Path | None = None) -> Templates:
    """Load the templates folder (default: the project's ``templates/``)."""
    return Templates(directory or default_templates_dir())
