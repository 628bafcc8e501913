"""The mailbox seen by the rest of mailbot: one folder of messages with UIDs.

``MailSource`` is what ``app/`` depends on; ``ImapSource`` (a real IMAP
server) and ``MaildirSource`` (the embedded default, a directory on disk)
implement it.  The shape follows IMAP (RFC 3501) because IMAP is the harder
case: messages are named by ``(UIDVALIDITY, UID)`` (section 2.3.1.1), UIDs
only grow within one UIDVALIDITY, and a changed UIDVALIDITY means every
stored UID is void.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

__all__ = ["MailSource", "MoveOutcome"]

MoveOutcome = Literal["moved", "copied"]
"""``moved``: gone from the source folder.  ``copied``: the server could
neither MOVE nor UID EXPUNGE, so the original stays (unflagged) in the source
folder and the caller must remember that it has been filed."""


class MailSource(Protocol):
    """One watched folder and the folders messages are filed into.

    Folder names use ``/`` as the hierarchy separator (``"Bài viết/Tổ KHTN"``)
    whatever the store's own delimiter is.
    """

    def select(self) -> int:
        """Open the watched folder; return its UIDVALIDITY."""
        ...

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid`` in the watched folder, ascending."""
        ...

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Size in bytes of each message, read without fetching it."""
        ...

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The raw messages; UIDs that vanished meanwhile are absent.  Never sets ``\\Seen``."""
        ...

    def ensure_folder(self, name: str) -> None:
        """Create the folder (and its parents) unless it exists."""
        ...

    def move(self, uids: Sequence[int], folder: str) -> MoveOutcome:
        """File the messages into ``folder`` (which must exist)."""
        ...

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether ``folder`` holds a message with this Message-ID header.

        Lets the caller tell, after a crash between copy and delete, that a
        move has already happened (RELIABILITY.md case 7).
        """
        ...

    def idle_wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when new mail may have arrived."""
        ...

    def close(self) -> None:
        """Release the connection or files; safe to call twice."""
        ...
