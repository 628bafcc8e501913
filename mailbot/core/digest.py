"""The principal's daily digest and the monthly reminders, as plain data.

Both are built from :class:`Item` views of filed records, which the shell
reads from the store; nothing here touches the database or the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.core.rules import Group

__all__ = ["Digest", "Item", "build_digest", "groups_to_remind", "month_label"]


@dataclass(frozen=True, slots=True)
class Item:
    """One filed record as the digest and the reminders see it."""

    ref: str
    kind: str
    title: str
    sender: str
    group: str | None
    topic: str | None
    status: str | None
    urgent: bool
    received: datetime
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Digest:
    """The template context, and whether anything new happened since the last one."""

    context: dict[str, Any]
    has_news: bool


def month_label(month: int, year: int) -> str:
    """``tháng 3/2026``."""
    return f"tháng {month}/{year}"


def _age(item: Item, now: datetime) -> int:
    return max((now - item.received).days, 0)


def build_digest(
    items: Iterable[Item],
    groups: Iterable[Group],
    *,
    now: datetime,
    month_start: datetime,
    last_digest: datetime,
    failures: int,
) -> Digest:
    """What the leadership should see today: pending articles, open feedback, quotas."""
    items = list(items)
    pending = [i for i in items if i.kind in ("submission", "media") and i.status == "pending"]
    open_feedback = [i for i in items if i.kind == "feedback" and i.status == "open"]
    groups = list(groups)
    names = {g.code: g.name for g in groups}
    rows = [_row(i, now, names) for i in pending]
    feedback = [_row(i, now, names) for i in open_feedback]
    quota = _quota(items, groups, month_start)
    news = any(i.received >= last_digest for i in items) or any(i.urgent for i in open_feedback)
    context = {
        "today": now,
        "pending": rows,
        "feedback": feedback,
        "urgent": [f for f in feedback if f["urgent"]],
        "groups": quota,
        "quota": 1,
        "month_label": month_label(month_start.month, month_start.year),
        "failures": failures,
    }
    return Digest(context, news or bool(failures))


def _row(item: Item, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    return {
        "ref": item.ref,
        "title": item.title,
        "group": names.get(item.group or "", "ngoài các tổ"),
        "author": item.sender,
        "sender": item.sender,
        "topic": item.topic or "chưa rõ",
        "attachments": list(item.attachments),
        "age": _age(item, now),
        "urgent": item.urgent,
    }


def _quota(
    items: list[Item], groups: Iterable[Group], month_start: datetime
) -> list[dict[str, Any]]:
    counts = _submissions_by_group(items, month_start)
    return [
        {"name": g.name, "count": counts.get(g.code, 0), "met": counts.get(g.code, 0) >= 1}
        for g in groups
        if g.owes_article
    ]


def _submissions_by_group(items: Iterable[Item], since: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counted = item.kind == "submission" and item.status != "rejected"
        if counted and item.group and item.received >= since:
            counts[item.group] = counts.get(item.group, 0) + 1
    return counts


def groups_to_remind(
    items: Iterable[Item], groups: Iterable[Group], month_start: datetime
) -> list[Group]:
    """Groups that owe a monthly article and have sent none since ``month_start``."""
    counts = _submissions_by_group(items, month_start)
    return [g for g in groups if g.owes_article and counts.get(g.code, 0) == 0]
