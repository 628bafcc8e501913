"""Where the shared development corpus is, and its labels.

The corpus sits beside the clone (``../shared/corpus``), as CI lays it out;
tests that need it skip with a reason when it is absent.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_dir() -> Path:
    """The corpus folder, or skip the test."""
    if not (CORPUS / "labels.json").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return CORPUS


@cache
def labels() -> dict[str, dict[str, Any]]:
    """``{"d001.eml": {"role": …, "group": …, "kind": …, "topic": …, "urgent": …}}``."""
    data: dict[str, dict[str, Any]] = json.loads((corpus_dir() / "labels.json").read_text())
    return data


def corpus_names() -> list[str]:
    """File names for parametrising; empty (tests then skip) without the corpus."""
    if not (CORPUS / "labels.json").is_file():
        return []
    return sorted(json.loads((CORPUS / "labels.json").read_text()))
