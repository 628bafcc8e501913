"""Logging set-up: one line per event, to stderr or a file; no secrets, no bodies.

Message outcomes are logged by ledger id, kind, role, topic and folder only;
bodies and addresses of parents appear at DEBUG level at most.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

__all__ = ["JsonFormatter", "setup_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (for log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", file: Path | None = None, fmt: str = "text") -> None:
    """Route mailbot's loggers to ``file`` (or stderr) at ``level``, as text or JSON lines."""
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    root = logging.getLogger("mailbot")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
