"""Plans for replies, follow-ups and commands (mailbot.core.decide), without servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from mailbot.core.classify import classify
from mailbot.core.compose import Identity
from mailbot.core.decide import Facts, Link, Plan, ReplyContext, decide
from mailbot.core.model import Address, AuthResult, Mail
from mailbot.core.replies import ReplyFacts, ReplyPolicy
from mailbot.core.rules import RuleSet
from mailbot.core.trust import TrustPolicy

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
OWN = "mx.thcspomlot.edu.vn"
CTX = ReplyContext(
    identity=Identity("truyenthong@thcspomlot.edu.vn", "Truyền thông THCS Pom Lót"),
    policy=ReplyPolicy(frozenset({"truyenthong@thcspomlot.edu.vn"}), "thcspomlot.edu.vn"),
    trust=TrustPolicy(OWN, trust_unauthenticated=False),
    alert_to=("hieutruong@thcspomlot.edu.vn", "thanglv@thcspomlot.edu.vn"),
)
ARTICLE = Link(
    7,
    "TB-2026-03-007",
    "submission",
    "hoant@thcspomlot.edu.vn",
    "Nguyễn Thị Hoa",
    "Ngày hội STEM",
    "<a1@thcspomlot.edu.vn>",
    "pending",
    "teacher",
)
OPINION = Link(
    9,
    "PH-2026-03-002",
    "feedback",
    "giangasu88@gmail.com",
    "Giàng A Sử",
    "con toi bi danh",
    "<p1@gmail.com>",
    "open",
    "parent",
)


def mail(sender: str, subject: str, text: str, dmarc: str = "pass", **kw: Any) -> Mail:
    return Mail(
        sha256="ab" * 32,
        message_id="<m1@gmail.com>",
        sender=Address("", sender),
        subject=subject,
        text=text,
        body=text,
        date=NOW,
        auth=(AuthResult(OWN, dmarc=dmarc),),
        **kw,
    )


def plan_for(rules: RuleSet, m: Mail, **facts: Any) -> Plan:
    return decide(m, classify(m, rules, CTX.trust), rules, Facts(now=NOW, **facts), CTX)


def test_new_article_gets_a_reference_and_one_threaded_receipt(rules: RuleSet) -> None:
    m = mail(
        "ngocbt@thcspomlot.edu.vn",
        "Tin bài Chi đoàn tháng 3",
        "Chi đoàn gửi bài tin về hoạt động tuyên truyền bầu cử đại biểu Quốc hội.",
    )
    plan = plan_for(rules, m, new_ref="TB-2026-03-008")
    assert (plan.ref, plan.status, plan.folder) == (
        "TB-2026-03-008",
        "pending",
        "Bài viết/Chi đoàn",
    )
    [ack] = plan.replies
    assert ack.purpose == "ack" and ack.to == ("ngocbt@thcspomlot.edu.vn",)
    assert ack.subject == "Re: Tin bài Chi đoàn tháng 3 [TB-2026-03-008]"
    assert ack.in_reply_to == "<m1@gmail.com>" and ack.template == "ack_submission"


def test_urgent_feedback_alerts_the_leadership_in_the_same_plan(rules: RuleSet) -> None:
    m = mail(
        "giangasu88@gmail.com",
        "con toi bi danh",
        "con toi bi cac anh lop 9 danh hoi dong o truong, bi thuong o dau",
    )
    plan = plan_for(rules, m, new_ref="PH-2026-03-003")
    assert [r.purpose for r in plan.replies] == ["ack", "alert"]
    alert = plan.replies[1]
    assert alert.to == CTX.alert_to and alert.auto_submitted == "auto-generated"
    assert alert.subject.startswith("[KHẨN] PH-2026-03-003")


def test_receipt_withheld_but_alert_sent_when_capped(rules: RuleSet) -> None:
    m = mail("giangasu88@gmail.com", "con toi bi danh", "con toi bi danh o truong, bi thuong")
    plan = plan_for(rules, m, new_ref="PH-2026-03-004", reply=ReplyFacts(sender_last_hour=3))
    assert [r.purpose for r in plan.replies] == ["alert"]
    assert plan.notes[0].startswith("no acknowledgement: sender-cap")


def test_automatic_mail_gets_no_reference_and_no_reply(rules: RuleSet) -> None:
    m = mail(
        "hoant@thcspomlot.edu.vn",
        "Trả lời tự động: Tin bài",
        "Tôi đang nghỉ phép.",
        headers=(("auto-submitted", "auto-replied"),),
    )
    plan = plan_for(rules, m, new_ref=None)
    assert (plan.ref, plan.replies, plan.folder) == (None, (), "Thư tự động")


def test_follow_up_by_the_same_sender_joins_its_record(rules: RuleSet) -> None:
    m = mail(
        "giangasu88@gmail.com",
        "Re: con toi bi danh [PH-2026-03-002]",
        "Xin bo sung: chau da di kham, bac si noi khong sao.",
        in_reply_to="<p1@gmail.com>",
    )
    plan = plan_for(rules, m, new_ref="PH-2026-03-010", parent=OPINION)
    assert (plan.join, plan.ref, plan.replies) == (9, None, ())


def test_ref_in_subject_from_someone_else_opens_a_new_record(rules: RuleSet) -> None:
    m = mail("xuanlt1985@gmail.com", "Về PH-2026-03-002", "Tôi cũng muốn phản ánh việc này ạ?")
    plan = plan_for(rules, m, new_ref="PH-2026-03-011", subject_ref=OPINION)
    assert (plan.join, plan.ref) == (None, "PH-2026-03-011")


def test_leadership_commands_change_records_and_answer(rules: RuleSet) -> None:
    m = mail(
        "hieutruong@thcspomlot.edu.vn",
        "Re: Bản tin hằng ngày",
        "DUYỆT TB-2026-03-007\nĐÃ XỬ LÝ PH-2026-03-002: đã làm việc với hai gia đình\n"
        "DUYỆT TB-2026-03-099\nKHÔNG DUYỆT TB-2026-3-1",
    )
    plan = plan_for(rules, m, targets={"TB-2026-03-007": ARTICLE, "PH-2026-03-002": OPINION})
    assert [(c.record_id, c.status, c.note) for c in plan.changes] == [
        (7, "approved", ""),
        (9, "handled", "đã làm việc với hai gia đình"),
    ]
    result, notice = plan.replies
    assert result.purpose == "result" and result.to == ("hieutruong@thcspomlot.edu.vn",)
    texts = [line["text"] for line in result.context["results"]]
    assert texts[2] == "Không tìm thấy số TB-2026-03-099; xin kiểm tra lại số tham chiếu."
    assert texts[3].endswith("số tham chiếu không đúng dạng (ví dụ: TB-2026-01-007).")
    assert notice.purpose == "notice" and notice.to == ("hoant@thcspomlot.edu.vn",)
    assert notice.context["approved"] is True


def test_bare_duyet_in_an_articles_thread_approves_it(rules: RuleSet) -> None:
    m = mail(
        "thanglv@thcspomlot.edu.vn",
        "Re: Ngày hội STEM",
        "Duyệt, đồng ý cho đăng.",
        in_reply_to="<a1@thcspomlot.edu.vn>",
    )
    plan = plan_for(rules, m, parent=ARTICLE)
    assert [(c.ref, c.status) for c in plan.changes] == [("TB-2026-03-007", "approved")]


def test_rejection_in_the_thread_carries_the_reason(rules: RuleSet) -> None:
    m = mail(
        "thanglv@thcspomlot.edu.vn",
        "RE: Ngày hội STEM",
        "Chưa duyệt, đề nghị bổ sung ảnh hoạt động.",
        in_reply_to="<a1@thcspomlot.edu.vn>",
    )
    plan = plan_for(rules, m, parent=ARTICLE)
    [change] = plan.changes
    assert change.status == "rejected" and "bổ sung ảnh" in change.note
    assert plan.replies[1].context["note"] == change.note


@pytest.mark.parametrize("dmarc", ["fail", "none", "temperror"])
def test_commands_need_dmarc_pass(rules: RuleSet, dmarc: str) -> None:
    """A spoofed or unauthenticated command changes nothing and gets no answer."""
    m = mail("hieutruong@thcspomlot.edu.vn", "Duyệt", "DUYỆT TB-2026-03-007", dmarc=dmarc)
    plan = plan_for(rules, m, targets={"TB-2026-03-007": ARTICLE})
    assert plan.changes == () and plan.replies == ()


def test_trusting_unauthenticated_mail_is_a_setting(rules: RuleSet) -> None:
    m = replace(mail("hieutruong@thcspomlot.edu.vn", "x", "DUYỆT TB-2026-03-007"), auth=())
    facts = Facts(now=NOW, targets={"TB-2026-03-007": ARTICLE})
    trusting = replace(CTX, trust=TrustPolicy(OWN, trust_unauthenticated=True))
    plan = decide(m, classify(m, rules, trusting.trust), rules, facts, trusting)
    assert len(plan.changes) == 1
    assert decide(m, classify(m, rules, CTX.trust), rules, facts, CTX).changes == ()


def test_wrong_verb_for_the_kind_is_explained(rules: RuleSet) -> None:
    m = mail("hieutruong@thcspomlot.edu.vn", "x", "ĐÃ XỬ LÝ TB-2026-03-007: xong")
    plan = plan_for(rules, m, targets={"TB-2026-03-007": ARTICLE})
    assert plan.changes == ()
    assert "dùng DUYỆT hoặc KHÔNG DUYỆT" in plan.replies[0].context["results"][0]["text"]
