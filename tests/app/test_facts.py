"""What a decision reads from the store: receipts are counted only when one could be sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.app.facts import gather_facts
from mailbot.core.model import Address, Classification, Mail
from mailbot.core.replies import ReplyPolicy
from mailbot.shell.store import Store

NOW = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
POLICY = ReplyPolicy(
    own_addresses=frozenset({"truyenthong@school.edu.vn"}), own_domain="school.edu.vn"
)
MAIL = Mail(
    sha256="a" * 64,
    message_id="<m1@school.edu.vn>",
    sender=Address("Cô Lan", "lan@school.edu.vn"),
    subject="Bài viết tháng 3",
    date=datetime(2026, 3, 5, 7, 30, tzinfo=UTC),
)
ARTICLE = Classification(
    role="teacher", group="Tổ Toán", kind="submission", topics=(), urgent=False
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path}/mailbot.sqlite3")
    s.upgrade()
    yield s
    s.close()


@pytest.fixture
def counted(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses whose receipts ``store.reply_counts`` was asked to count."""
    asked: list[str] = []
    real = store.reply_counts

    def spy(address: str, *args: object) -> tuple[int, int]:
        asked.append(address)
        return real(address, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "reply_counts", spy)
    return asked


def test_a_new_record_that_may_be_acknowledged_has_its_receipts_counted(
    store: Store, counted: list[str]
) -> None:
    facts = gather_facts(store, MAIL, ARTICLE, NOW, POLICY)
    assert facts.new_ref == "TB-2026-03-001"
    assert counted == ["lan@school.edu.vn"]


@pytest.mark.parametrize(
    "cls",
    [
        replace(ARTICLE, automatic=True),
        replace(ARTICLE, verified=False),
        replace(ARTICLE, kind="other"),
    ],
    ids=["automatic", "unverified", "no record"],
)
def test_mail_that_gets_no_receipt_anyway_is_not_counted_for(
    store: Store, counted: list[str], cls: Classification
) -> None:
    """Automatic or unverified mail, or mail that makes no record, never gets a receipt:
    counting its sender's receipts would change nothing."""
    facts = gather_facts(store, MAIL, cls, NOW, POLICY)
    assert counted == []
    assert (facts.reply.sender_last_hour, facts.reply.mailbox_today) == (0, 0)
