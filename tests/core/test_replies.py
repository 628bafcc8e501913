"""The RFC 3834 reply verdict: each check, in order (mailbot.core.replies)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailbot.core.model import Address, Classification, Mail
from mailbot.core.replies import ReplyFacts, ReplyPolicy, reply_verdict

POLICY = ReplyPolicy(
    own_addresses=frozenset({"truyenthong@thcspomlot.edu.vn"}),
    own_domain="thcspomlot.edu.vn",
    per_sender_per_hour=3,
    global_per_day=10,
    since=datetime(2026, 1, 1, tzinfo=UTC),
)
MAIL = Mail(
    sha256="0" * 64,
    message_id="<a@gmail.com>",
    sender=Address("Lò Thị Xuân", "xuanlt1985@gmail.com"),
    subject="Hỏi",
    date=datetime(2026, 2, 1, tzinfo=UTC),
)
FEEDBACK = Classification("parent", None, "feedback", ("VI",), False)
NONE = ReplyFacts()


def _reason(mail: Mail = MAIL, cls: Classification = FEEDBACK, facts: ReplyFacts = NONE) -> str:
    verdict = reply_verdict(mail, cls, POLICY, facts)
    assert verdict.allowed == (verdict.reason == "ok")
    return verdict.reason.split(":")[0]


def test_normal_feedback_is_answered() -> None:
    assert _reason() == "ok"


@pytest.mark.parametrize(
    ("mail", "cls", "facts", "check"),
    [
        (MAIL, replace(FEEDBACK, automatic=True), ReplyFacts(), "automatic"),
        (MAIL, replace(FEEDBACK, verified=False), ReplyFacts(), "unverified"),
        (MAIL, replace(FEEDBACK, kind="directive"), ReplyFacts(), "kind"),
        (MAIL, replace(FEEDBACK, kind="other"), ReplyFacts(), "kind"),
        (MAIL, replace(FEEDBACK, kind="auto"), ReplyFacts(), "kind"),
        (
            replace(MAIL, sender=Address("", "truyenthong@thcspomlot.edu.vn")),
            FEEDBACK,
            ReplyFacts(),
            "own-address",
        ),
        (
            replace(MAIL, headers=(("x-mailbot-loop", "truyenthong@thcspomlot.edu.vn"),)),
            FEEDBACK,
            ReplyFacts(),
            "loop",
        ),
        (
            replace(MAIL, message_id="<mailbot.ack.1@thcspomlot.edu.vn>"),
            FEEDBACK,
            ReplyFacts(),
            "loop",
        ),
        (
            replace(MAIL, date=datetime(2025, 12, 31, tzinfo=UTC)),
            FEEDBACK,
            ReplyFacts(),
            "before-since",
        ),
        (MAIL, FEEDBACK, ReplyFacts(sender_last_hour=3), "sender-cap"),
        (MAIL, FEEDBACK, ReplyFacts(mailbox_today=10), "mailbox-cap"),
    ],
)
def test_each_check_refuses(mail: Mail, cls: Classification, facts: ReplyFacts, check: str) -> None:
    """RELIABILITY cases 1-5: automatic, unverified, silent kinds, ourselves, loops, caps."""
    assert _reason(mail, cls, facts) == check


def test_colleagues_on_the_school_domain_are_not_loops() -> None:
    """Webmail on the school's own domain writes Message-IDs there too."""
    assert _reason(mail=replace(MAIL, message_id="<abc123@thcspomlot.edu.vn>")) == "ok"


def test_three_receipts_an_hour_then_silence() -> None:
    """A teacher sending three articles gets three receipts; a fourth in the hour none."""
    answers = [_reason(facts=ReplyFacts(sender_last_hour=n)) for n in range(5)]
    assert answers == ["ok", "ok", "ok", "sender-cap", "sender-cap"]
