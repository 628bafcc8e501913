"""Reading DUYỆT / KHÔNG DUYỆT / ĐÃ XỬ LÝ commands (mailbot.core.approvals)."""

from __future__ import annotations

import pytest

from mailbot.core.approvals import Command, parse_commands, thread_verdict


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DUYỆT TB-2026-01-007", [("approve", "TB-2026-01-007", "")]),
        ("duyệt tb-2026-01-007", [("approve", "TB-2026-01-007", "")]),
        ("DUYET TB-2026-01-007", [("approve", "TB-2026-01-007", "")]),
        (
            "KHÔNG DUYỆT TB-2026-01-008: ảnh chưa rõ, chụp lại",
            [("reject", "TB-2026-01-008", "ảnh chưa rõ, chụp lại")],
        ),
        (
            "khong duyet TB-2026-01-008 - sai chính tả",
            [("reject", "TB-2026-01-008", "sai chính tả")],
        ),
        (
            "ĐÃ XỬ LÝ PH-2026-01-012: đã mời phụ huynh lên trao đổi",
            [("handled", "PH-2026-01-012", "đã mời phụ huynh lên trao đổi")],
        ),
        (
            "Chào em,\nDUYỆT TB-2026-01-007\nDa xu ly PH-2026-01-012: xong\nCảm ơn",
            [("approve", "TB-2026-01-007", ""), ("handled", "PH-2026-01-012", "xong")],
        ),
        ("- Duyệt TB-2026-02-010", [("approve", "TB-2026-02-010", "")]),
    ],
)
def test_commands(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(c.action, c.ref, c.note) for c in parse_commands(text)] == expected


def test_malformed_number_is_reported_not_dropped() -> None:
    [command] = parse_commands("DUYỆT TB-2026-1-7")
    assert command == Command("approve", None, "", "DUYỆT TB-2026-1-7")


@pytest.mark.parametrize(
    "text",
    ["Duyệt, đồng ý cho đăng.", "> DUYỆT TB-2026-01-009", "Bài này duyệt TB-2026-01-007 nhé", ""],
)
def test_not_commands(text: str) -> None:
    """A bare verb, a quoted line, or a verb mid-sentence is not a command."""
    assert parse_commands(text) == []


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Duyệt, đồng ý cho đăng.", "approve"),
        ("Dong y dang bai nay", "approve"),
        ("Chưa duyệt, đề nghị sửa lại phần ảnh.", "reject"),
        ("Không đồng ý đăng bài này.", "reject"),
        ("khong dang duoc", "reject"),
    ],
)
def test_thread_verdict(text: str, action: str) -> None:
    assert thread_verdict(text) == action
