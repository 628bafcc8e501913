"""Classify one message: sender role and group, kind, plan topics, urgency.

The steps run in a fixed order, each a small named function, and each adds
its reasons to the trace that ``mailbot classify`` shows (Mailman's rule
chain, without its shared mutable state):

1. ``automatic`` — header tests (:mod:`mailbot.core.automatic`);
2. ``trust`` — our receiving server's DMARC verdict (:mod:`mailbot.core.trust`);
3. ``role`` — the roster, known parents, role domains, then parent phrases;
4. ``kind`` — an ordered chain: auto, unverified, directive, approval, a
   non-leader's agreement, media, submission against feedback by weighted
   phrases, then an incident told with none of a letter's words;
5. ``topics`` — the plan's sections I–XII by weighted phrases, the subject
   counting most;
6. ``urgent`` — incident signals, damped by prevention and training context;
   an urgent message's first topic is school safety (VII) or, for a storm in
   the press or on social media, communication (XI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.core.automatic import automatic_reasons
from mailbot.core.matching import Match
from mailbot.core.model import Attachment, Classification, Kind, Mail, Role
from mailbot.core.quotes import is_reply_subject
from mailbot.core.rules import RuleSet, topic_set
from mailbot.core.text import analyse
from mailbot.core.trust import TrustPolicy, TrustVerdict, trust_verdict

__all__ = ["Evidence", "classify", "gather"]

_CONTENT_KINDS: frozenset[Kind] = frozenset({"submission", "media", "feedback"})
_STAFF_ROLES: frozenset[Role] = frozenset({"leadership", "it", "teacher", "staff"})
_MIN_INLINE_PICTURE_BYTES = 10_000
_OTHER_MIN = 3.0  # one strong phrase, or three ordinary ones
_AGREEMENT_MAX_WORDS = 40
_INCIDENT_TOPICS = ("VII", "XI")
# Parents write to be heard: in every labelled corpus their mail is feedback or
# photos, never an article, so "bài tập" and "tin nhắn" must not make one.
_SENDER_FEEDBACK_BONUS: dict[Role, float] = {"parent": 3.0, "unknown": 1.0}


Hits = dict[str, list[Match]]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the steps read, computed once per message.

    ``subject``, ``text`` and ``attachment`` hold every phrase set's matches
    in that part of the message, from one scan each.
    """

    mail: Mail
    subject: Hits
    text: Hits
    attachment: Hits
    words: int
    automatic: tuple[str, ...]
    trust: TrustVerdict


def gather(mail: Mail, rules: RuleSet, policy: TrustPolicy) -> Evidence:
    """Scan the message's text once for every phrase set, for every later step."""
    index = rules.index
    text = analyse(mail.text)
    return Evidence(
        mail=mail,
        subject=index.find(analyse(mail.subject), mail.subject),
        text=index.find(text, mail.text),
        # Regular expressions (links, codes) run on the message's own text only.
        attachment=index.find(analyse(mail.attachment_text), ""),
        words=len(text),
        automatic=automatic_reasons(mail, rules.automatic),
        trust=trust_verdict(mail, policy),
    )


def classify(mail: Mail, rules: RuleSet, policy: TrustPolicy | None = None) -> Classification:
    """Label ``mail`` with the school's schema; ``reasons`` say which rules fired."""
    ev = gather(mail, rules, policy or TrustPolicy())
    reasons: list[str] = []
    role, group = _role(ev, rules, reasons)
    kind = _kind(ev, rules, role, reasons)
    topics = _topics(ev, rules, reasons) if kind in _CONTENT_KINDS else ()
    urgent, signals = _urgent(ev, rules, kind, reasons) if kind in _CONTENT_KINDS else (False, ())
    if urgent:
        topics = _incident_topic(topics, reasons)
    return Classification(
        role=role,
        group=group,
        kind=kind,
        topics=topics,
        urgent=urgent,
        reasons=tuple(reasons),
        verified=ev.trust.verified,
        automatic=bool(ev.automatic),
        signals=signals if urgent else (),
    )


# --- role -------------------------------------------------------------------


RoleFound = tuple[Role, str | None, str]
RoleStep = Callable[[Evidence, RuleSet], RoleFound | None]


def _role(ev: Evidence, rules: RuleSet, reasons: list[str]) -> tuple[Role, str | None]:
    for step in _ROLE_CHAIN:
        found = step(ev, rules)
        if found is not None:
            role, group, why = found
            reasons.append(f"role: {role} ({why})")
            return role, group
    sender = ev.mail.sender.addr if ev.mail.sender else "the sender"
    reasons.append(f"role: unknown ({sender} is on no list)")
    return "unknown", None


def _role_automatic(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    return ("unknown", None, f"automatic: {', '.join(ev.automatic)}") if ev.automatic else None


def _role_unverified(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    if ev.mail.sender is None or not ev.trust.verified:
        return "unknown", None, f"unverified sender: {ev.trust.reason}"
    return None


def _role_roster(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    addr = ev.mail.sender.addr if ev.mail.sender else ""
    person = rules.staff.get(addr)
    if person is None:
        return None
    return person.role, person.group, f"roster: {addr}, group {person.group}"


def _role_parent(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    addr = ev.mail.sender.addr if ev.mail.sender else ""
    return ("parent", None, f"known parent: {addr}") if addr in rules.parents else None


def _role_domain(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    domain = ev.mail.sender.domain if ev.mail.sender else ""
    for entry in rules.domains:
        if domain == entry.domain or domain.endswith("." + entry.domain):
            return entry.role, None, f"domain {entry.domain}"
    return None


def _role_says_parent(ev: Evidence, rules: RuleSet) -> RoleFound | None:
    found = ev.text.get("parent", [])
    if not found or ev.text.get("not_parent"):  # "bố mẹ em": a pupil's own parents
        return None
    return "parent", None, f"writer presents as a parent: {_names(found)}"


_ROLE_CHAIN: tuple[RoleStep, ...] = (
    _role_automatic,
    _role_unverified,
    _role_roster,
    _role_parent,
    _role_domain,
    _role_says_parent,
)


# --- kind -------------------------------------------------------------------

KindStep = Callable[[Evidence, RuleSet, Role, list[str]], Kind | None]


def _kind(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind:
    for step in _KIND_CHAIN:
        kind = step(ev, rules, role, reasons)
        if kind is not None:
            return kind
    reasons.append("kind: other (no rule fired)")
    return "other"


def _kind_auto(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    if ev.automatic:
        reasons.append(f"kind: auto ({', '.join(ev.automatic)})")
        return "auto"
    return None


def _kind_unverified(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    if not ev.trust.verified:
        reasons.append("kind: other (unverified sender is never filed as content)")
        return "other"
    return None


def _kind_directive(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    if role == "department":
        reasons.append("kind: directive (from the department)")
        return "directive"
    return None


def _kind_approval(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    if role != "leadership":
        return None
    found = ev.text.get("approval", [])
    found += ev.subject.get("approval", [])
    # A new message carrying a document is the leadership's own article, even if it
    # says who will approve it ("trình cô Nga duyệt"); an approval answers one.
    short = ev.words <= rules.kinds.approval_max_words and not _documents(ev, rules)
    if found and (_is_reply(ev.mail) or short):
        reasons.append(f"kind: approval (leadership wrote {_names(found)})")
        return "approval"
    return None


def _kind_agreement(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    """A short reply from staff who cannot approve, agreeing to edits ("ok em, đồng ý"):
    neither an article nor an opinion."""
    if role not in _STAFF_ROLES or role == "leadership" or not _is_reply(ev.mail):
        return None
    found = ev.text.get("approval", []) + ev.subject.get("approval", [])
    if not found or ev.words > _AGREEMENT_MAX_WORDS or _documents(ev, rules):
        return None
    if any(_is_picture(a) for a in ev.mail.attachments):
        return None
    reasons.append(f"kind: other ({role} agreed in a short reply: {_names(found)})")
    return "other"


def _kind_media(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    k = rules.kinds
    pictures = [a for a in ev.mail.attachments if _is_picture(a)]
    found = ev.text.get("media", []) + ev.subject.get("media", [])
    if not pictures and not found:
        return None
    # Photos only spoken of ("ảnh gửi qua Zalo"), with no file or link, make a short
    # note media; in a longer text they are a detail of a question or an article.
    link_phrases = {phrase for _, phrase in k.media.regexes}
    linked = pictures or any(m.phrase in link_phrases for m in found)
    limit = k.media_max_words if linked else k.media_mention_max_words
    if ev.words > limit or _documents(ev, rules):
        return None
    if not linked and _other_score(ev, rules, role)[0] >= _OTHER_MIN:
        return None  # a notice that speaks of photos ("hộp thư đầy, gửi ảnh qua link")
    if _score(ev.subject.get("submission", [])) >= 3 and not pictures:
        return None
    what = f"{len(pictures)} photos/videos" if pictures else _names(found)
    reasons.append(f"kind: media ({what}, {ev.words} words of text)")
    return "media"


def _kind_content(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    sub, sub_why = _submission_score(ev, rules, role)
    fb, fb_why = _feedback_score(ev, rules, role)
    other, other_why = _other_score(ev, rules, role)
    if other >= _OTHER_MIN and other > max(sub, fb):
        reasons.append(f"kind: other ({other_why}; submission {sub:g}, feedback {fb:g})")
        return "other"
    if sub <= 0 and fb <= 0:
        return None
    kind: Kind = "submission" if sub > fb else "feedback"
    reasons.append(f"kind: {kind} (submission {sub:g}: {sub_why}; feedback {fb:g}: {fb_why})")
    return kind


def _submission_score(ev: Evidence, rules: RuleSet, role: Role) -> tuple[float, str]:
    s = rules.scoring
    # "Re: Bài tin …" names the message answered, not this one.
    subject = [] if is_reply_subject(ev.mail.subject) else ev.subject.get("submission", [])
    text = ev.text.get("submission", [])
    score = s.subject * _score(subject) + s.text * _score(text)
    why = [_names(subject + text)] if subject or text else []
    if _documents(ev, rules):
        score += 4
        why.append("a document attached")
    writer = role in _STAFF_ROLES or role == "student"
    if writer and ev.words >= rules.kinds.submission_min_words:
        score += 2
        why.append(f"{ev.words} words from {role}")
    return score, "; ".join(why) or "-"


def _feedback_score(ev: Evidence, rules: RuleSet, role: Role) -> tuple[float, str]:
    s = rules.scoring
    subject = ev.subject.get("feedback", [])
    text = ev.text.get("feedback", [])
    score = s.subject * _score(subject) + s.text * _score(text)
    why = [_names(subject + text)] if subject or text else []
    bonus = _SENDER_FEEDBACK_BONUS.get(role, 0.0)
    if bonus:
        score += bonus
        why.append(f"sender is {role}")
    questions = ev.mail.text.count("?")
    if questions:
        score += min(questions, 3) * 0.5
        why.append(f"{questions} question marks")
    return score, "; ".join(why) or "-"


def _other_score(ev: Evidence, rules: RuleSet, role: Role) -> tuple[float, str]:
    """Offers, invitations and mailbox notices: neither an article nor an opinion.

    Not asked of parents and pupils: what they write to the school is theirs
    to be heard, even when it quotes a price.
    """
    if role in ("parent", "student"):
        return 0.0, "-"
    subject = ev.subject.get("other", [])
    text = ev.text.get("other", [])
    score = rules.scoring.subject * _score(subject) + rules.scoring.text * _score(text)
    return score, _names(subject + text) or "-"


def _kind_incident(ev: Evidence, rules: RuleSet, role: Role, reasons: list[str]) -> Kind | None:
    """A cry for help with no letter's words ("thầy cô ơi, bạn em bị xe đâm"): the schema
    counts an incident report as feedback."""
    signals = ev.subject.get("urgent", []) + ev.text.get("urgent", [])
    if _score(signals, 2) < rules.urgent.threshold:
        return None
    reasons.append(f"kind: feedback (an incident: {_names(signals)})")
    return "feedback"


_KIND_CHAIN: tuple[KindStep, ...] = (
    _kind_auto,
    _kind_unverified,
    _kind_directive,
    _kind_approval,
    _kind_agreement,
    _kind_media,
    _kind_content,
    _kind_incident,
)


def _documents(ev: Evidence, rules: RuleSet) -> bool:
    types = rules.kinds.document_types
    return any(a.text or a.name.lower().endswith(types) for a in ev.mail.attachments)


def _is_picture(att: Attachment) -> bool:
    """A photo or video sent as such: attached, or shown in the text but too big for a
    logo (signature images and icons are small inline parts)."""
    if not (att.is_image or att.is_video):
        return False
    return not att.inline or att.size >= _MIN_INLINE_PICTURE_BYTES


def _is_reply(mail: Mail) -> bool:
    return bool(mail.in_reply_to or mail.references) or mail.subject.lower().startswith("re")


# --- topics -----------------------------------------------------------------


def _topics(ev: Evidence, rules: RuleSet, reasons: list[str]) -> tuple[str, ...]:
    s = rules.scoring
    scored: list[tuple[float, str, str]] = []
    for topic in rules.topics:
        found_s = ev.subject.get(topic_set(topic.numeral), [])
        found_t = ev.text.get(topic_set(topic.numeral), [])
        found_a = ev.attachment.get(topic_set(topic.numeral), [])
        total = (
            s.subject * _score(found_s, s.max_repeats)
            + s.text * _score(found_t, s.max_repeats)
            + s.attachment * _score(found_a, s.max_repeats)
        )
        if total > 0:
            scored.append((total, topic.numeral, _names(found_s + found_t + found_a)))
    scored.sort(key=lambda item: -item[0])
    if not scored:
        reasons.append("topic: none (no topic phrase found)")
        return ()
    best = scored[0][0]
    kept = [t for t in scored if t[0] >= s.topic_min and t[0] >= s.topic_keep_ratio * best]
    kept = kept or scored[:1]
    for total, numeral, names in kept:
        reasons.append(f"topic {numeral}: {total:g} ({names})")
    return tuple(numeral for _, numeral, _ in kept)


# --- urgency ----------------------------------------------------------------


def _urgent(
    ev: Evidence, rules: RuleSet, kind: Kind, reasons: list[str]
) -> tuple[bool, tuple[str, ...]]:
    """Incident signals less prevention context. An article or photos that speak of
    prevention at all tell of work done, not of news for the leadership now."""
    u = rules.urgent
    signals = ev.subject.get("urgent", []) + ev.text.get("urgent", [])
    if not signals:
        return False, ()
    dampers = ev.subject.get("damper", []) + ev.text.get("damper", [])
    score = _score(signals, 2) - u.damper_weight * _score(dampers, 2)
    above = score >= u.threshold
    urgent = above and (kind == "feedback" or not dampers)
    damped = f"; damped by {_names(dampers)}" if dampers else ""
    if above and not urgent:
        damped += f"; a {kind} that speaks of prevention"
    verdict = "urgent" if urgent else "not urgent"
    reasons.append(f"{verdict}: {score:g} (signals {_names(signals)}{damped})")
    words = dict.fromkeys(m.phrase.text for m in signals if m.phrase.label == "urgent")
    return urgent, tuple(w for w in words if not any(ch in w for ch in "\\(|[.{"))


def _incident_topic(topics: tuple[str, ...], reasons: list[str]) -> tuple[str, ...]:
    """VII (school safety) first, or XI when the storm is in the press and online.

    Every urgent message of the labelled corpora (35 of 323) is one of the two:
    a boarding-house or a hostel is where it happened, not what it is about.
    """
    if topics and topics[0] in _INCIDENT_TOPICS:
        return topics
    first = next((t for t in topics if t in _INCIDENT_TOPICS), "VII")
    reasons.append(f"topic {first} first: an urgent message is an incident")
    return (first, *(t for t in topics if t != first))


# --- shared helpers ---------------------------------------------------------


def _score(found: list[Match], cap: int = 1) -> float:
    return sum(m.phrase.weight * min(m.count, cap) for m in found)


def _names(found: list[Match]) -> str:
    parts = []
    for m in sorted(found, key=lambda m: -m.phrase.weight * m.count):
        times = f"×{m.count}" if m.count > 1 else ""
        parts.append(f"{m.phrase.text}{times}")
    return ", ".join(parts)
