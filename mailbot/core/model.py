"""Plain, frozen data that flows through the pure core.

Nothing here does I/O or holds a reference to ``email.message``: the parser
turns bytes into these values at the edge (house rule 7), and every later step
reads them only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "KINDS",
    "ROLES",
    "TOPICS",
    "Address",
    "Attachment",
    "AuthResult",
    "Classification",
    "Hit",
    "Kind",
    "Mail",
    "Role",
    "Unparseable",
]

Role = Literal["leadership", "it", "teacher", "staff", "parent", "student", "department", "unknown"]
Kind = Literal["submission", "media", "feedback", "approval", "directive", "auto", "other"]

ROLES: tuple[Role, ...] = (
    "leadership",
    "it",
    "teacher",
    "staff",
    "parent",
    "student",
    "department",
    "unknown",
)
KINDS: tuple[Kind, ...] = (
    "submission",
    "media",
    "feedback",
    "approval",
    "directive",
    "auto",
    "other",
)
TOPICS: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
)


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name and address, the address lower-cased.

    RFC 5321 lets the local part be case-sensitive, but every real provider
    (and the school's own server) treats it case-insensitively, so the roster
    compares lower-cased addresses.
    """

    name: str
    addr: str

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2]

    @property
    def local(self) -> str:
        return self.addr.rpartition("@")[0]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """One ``Authentication-Results`` header (RFC 8601), reduced to its verdicts."""

    authserv_id: str
    dmarc: str | None = None
    spf: str | None = None
    dkim: str | None = None
    header_from: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attached file, named safely; ``text`` holds a Word file's text.

    ``name`` is a sanitised display name, never a path to write to (RFC 2183
    section 2.3 lets a sender put anything there). ``skipped`` says why the
    bytes were dropped (too large), and then ``payload`` is empty.
    """

    name: str
    content_type: str
    size: int
    payload: bytes = field(repr=False, default=b"")
    text: str = ""
    inline: bool = False
    skipped: str | None = None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")

    @property
    def is_document(self) -> bool:
        return bool(self.text) or self.name.lower().endswith((".docx", ".doc", ".odt", ".pdf"))


@dataclass(frozen=True, slots=True)
class Mail:
    """One parsed message: everything the core needs, and nothing mutable.

    ``text`` is the new text the writer typed (quotes and signature removed),
    ``body`` the whole body as text. ``sender`` is None when the From header
    does not name exactly one valid mailbox; ``sender_problem`` says why.
    ``headers`` keeps every header as (lower-case name, decoded value), in
    order, for the automatic-mail tests.
    """

    sha256: str
    message_id: str
    sender: Address | None
    subject: str = ""
    text: str = ""
    body: str = ""
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date: datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    auth: tuple[AuthResult, ...] = ()
    content_type: str = "text/plain"
    size: int = 0
    sender_problem: str | None = None
    forwarded: bool = False
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        key = name.lower()
        for hname, value in self.headers:
            if hname == key:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        key = name.lower()
        return tuple(value for hname, value in self.headers if hname == key)

    @property
    def attachment_text(self) -> str:
        return "\n".join(a.text for a in self.attachments if a.text)


@dataclass(frozen=True, slots=True)
class Unparseable:
    """Input that could not become a ``Mail``; it goes to quarantine."""

    sha256: str
    reason: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule that fired: its stable name, what it matched and its weight."""

    rule: str
    matched: str
    weight: float = 1.0
    where: str = ""

    def __str__(self) -> str:
        place = f" in {self.where}" if self.where else ""
        return f"{self.rule}: {self.matched!r}{place} (+{self.weight:g})"


@dataclass(frozen=True, slots=True)
class Classification:
    """What a message is: the label schema of the demo school, plus the reasons."""

    role: Role
    group: str | None
    kind: Kind
    topics: tuple[str, ...]
    urgent: bool
    reasons: tuple[str, ...] = ()
    verified: bool = True
    automatic: bool = False
    signals: tuple[str, ...] = ()

    @property
    def topic(self) -> str | None:
        return self.topics[0] if self.topics else None
