"""Logging set-up: one line per event, to stderr or a file; no secrets, no bodies.

Message outcomes are logged by ledger id, kind, role, topic and folder only;
bodies and addresses of parents appear at DEBUG level at most.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", file: Path | None = None) -> None:
    """Route mailbot's loggers to ``file`` (or stderr) at ``level``."""
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger("mailbot")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
