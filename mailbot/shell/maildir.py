"""``MaildirSource``: the embedded default mailbox, a Maildir directory on disk.

No server needed: mail delivered into ``<root>/new`` (by an MTA, fetchmail,
or ``mailbot demo``) is watched like an IMAP INBOX.  See ``MailSource``.

IMAP-like identity: Maildir names messages by unique file names, not
numbers, so ``.mailbot-uids.json`` in the root maps each name to an
increasing integer UID under one UIDVALIDITY (RFC 3501 2.3.1.1 semantics).
If that file is lost, a new UIDVALIDITY is drawn and every message gets a new
UID, which is exactly what a caller must expect from a restored IMAP folder.
The file is replaced atomically (write, fsync, rename), and mailbot must be
the only process moving mail out of this Maildir.

Folders are Maildir++ subfolders (``.Bài viết.Tổ KHTN``), created with
``mailbox.Maildir.add_folder``; names are stored in UTF-8 (NFC), not in the
modified UTF-7 that Dovecot uses for its own Maildir++ folders.
Messages are moved byte-for-byte, keeping their flags: hard link into the
target, then unlink from the inbox, so a crash in between leaves a copy in
both places and never none.
"""

from __future__ import annotations

import contextlib
import email.parser
import json
import mailbox
import os
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.source import MoveOutcome

__all__ = ["UID_FILE", "MaildirSource"]

UID_FILE = ".mailbot-uids.json"
_SUBDIRS = ("new", "cur")


@dataclass
class _UidMap:
    """The persisted name → UID table of the inbox."""

    uidvalidity: int
    next_uid: int = 1
    uids: dict[str, int] = field(default_factory=dict)

    def sync(self, keys: set[str]) -> bool:
        """Give new keys the next UIDs (in name order: names start with the time).

        Returns whether anything changed, i.e. whether to save.
        """
        gone = self.uids.keys() - keys
        for key in gone:
            del self.uids[key]
        new = sorted(keys - self.uids.keys())
        for key in new:
            self.uids[key] = self.next_uid
            self.next_uid += 1
        return bool(gone or new)


class MaildirSource:
    """The watched folder (default: the inbox) of the Maildir at ``root``.

    See ``MailSource``.  ``folder`` names another folder to watch, as for
    IMAP (e.g. the quarantine, to retry a message); it gets its own UID map.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        folder: str = "INBOX",
        poll_interval: float = 0.5,
    ) -> None:
        self._root = Path(root)
        self._closed = False
        try:
            self._box = mailbox.Maildir(self._root, factory=None, create=True)
        except OSError as exc:
            raise SourceError(f"cannot open Maildir {self._root}: {exc}") from exc
        self.ensure_folder(folder)
        self._watched = self._folder_path(folder)
        self._map = self._load()
        self.poll_interval = poll_interval

    # -- reading ------------------------------------------------------------

    def select(self) -> int:
        """Scan the watched folder, number new messages; return the UIDVALIDITY."""
        self._sync()
        return self._map.uidvalidity

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending, after a fresh scan."""
        self._sync()
        return sorted(uid for uid in self._map.uids.values() if uid > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """File size per UID (what IMAP's RFC822.SIZE reports for Maildir)."""
        with self._guard("reading sizes"):
            return {uid: path.stat().st_size for uid, path in self._paths(uids)}

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The exact bytes of each file; flags (and so "seen") are not touched."""
        with self._guard("reading messages"):
            return {uid: path.read_bytes() for uid, path in self._paths(uids)}

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether any message in ``folder`` carries this Message-ID header."""
        path = self._folder_path(folder)
        if not path.is_dir():
            return False
        with self._guard(f"searching {folder}"):
            wanted = message_id.strip()
            return any(_message_id(Path(f)) == wanted for f in _files(path).values())

    # -- writing ------------------------------------------------------------

    def ensure_folder(self, name: str) -> None:
        """Create the Maildir++ folder unless it exists (``/`` → ``.``)."""
        path = self._folder_path(name)
        if path.is_dir():
            return
        with self._guard(f"creating folder {name}"):
            self._box.add_folder(path.name[1:])

    def move(self, uids: Sequence[int], folder: str) -> MoveOutcome:
        """Link each message into ``folder`` under the same name, then unlink it here."""
        target = self._folder_path(folder)
        if not target.is_dir():
            raise SourceError(f"folder {folder!r} does not exist in {self._root}")
        with self._guard(f"moving to {folder}"):
            for _, path in self._paths(uids):
                _link_or_copy(path, target / path.parent.name / path.name)
                path.unlink()
        self._sync()
        return "moved"

    # -- waiting ------------------------------------------------------------

    def idle_wait(self, timeout: float) -> bool:
        """Poll every ``poll_interval`` seconds until a new file appears or time is up."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._has_new():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.poll_interval, remaining))

    def close(self) -> None:
        """Nothing is held open; later calls fail with ``SourceError``."""
        self._closed = True

    def __enter__(self) -> MaildirSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- helpers ------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        if self._closed:
            raise SourceError(f"{self._root}: {action} after close()")
        try:
            yield
        except OSError as exc:
            raise SourceError(f"{self._root}: {action} failed: {exc}") from exc

    def _paths(self, uids: Sequence[int]) -> Iterator[tuple[int, Path]]:
        """(uid, file) for the UIDs still present; vanished ones are skipped."""
        files = _files(self._watched)
        keys = {uid: key for key, uid in self._map.uids.items()}
        for uid in uids:
            key = keys.get(uid)
            if key is not None and key in files:
                yield uid, Path(files[key])

    def _has_new(self) -> bool:
        with self._guard("scanning"):
            return bool(_files(self._watched).keys() - self._map.uids.keys())

    def _sync(self) -> None:
        with self._guard("scanning"):
            if self._map.sync(set(_files(self._watched))):
                self._save()

    def _folder_path(self, name: str) -> Path:
        """``"Bài viết/Tổ KHTN"`` → ``<root>/.Bài viết.Tổ KHTN`` (Maildir++, NFC)."""
        if name.upper() == "INBOX":
            return self._root
        parts = unicodedata.normalize("NFC", name).strip("/").split("/")
        for part in parts:
            if not part or "." in part:
                raise ConfigError(f"folder {name!r}: part {part!r} is empty or has '.'; rename it")
        return self._root / ("." + ".".join(parts))

    def _load(self) -> _UidMap:
        try:
            data = json.loads((self._watched / UID_FILE).read_text(encoding="utf-8"))
            return _UidMap(int(data["uidvalidity"]), int(data["next_uid"]), dict(data["uids"]))
        except (OSError, ValueError, KeyError, TypeError):
            return _UidMap(uidvalidity=int(time.time()))

    def _save(self) -> None:
        payload = {
            "uidvalidity": self._map.uidvalidity,
            "next_uid": self._map.next_uid,
            "uids": self._map.uids,
        }
        _atomic_write(self._watched / UID_FILE, json.dumps(payload, ensure_ascii=False, indent=1))


def _files(maildir: Path) -> dict[str, str]:
    """Message key → file path, for ``new/`` and ``cur/`` (key = name before ``:2,``).

    Plain strings: a folder holds thousands of files and is scanned after every move.
    """
    found: dict[str, str] = {}
    for sub in _SUBDIRS:
        with os.scandir(maildir / sub) as entries:
            for entry in entries:
                if entry.is_file() and not entry.name.startswith("."):
                    found[entry.name.split(":", 1)[0]] = entry.path
    return found


def _message_id(path: Path) -> str:
    with path.open("rb") as handle:
        headers = email.parser.BytesHeaderParser().parse(handle)
    return str(headers.get("Message-ID", "")).strip()


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link (atomic, no copy); an existing target means an earlier move got here."""
    try:
        os.link(source, target)
    except FileExistsError:
        return
    except OSError:
        _atomic_write_bytes(target, source.read_bytes(), tmp_dir=target.parent.parent / "tmp")


def _atomic_write(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"), tmp_dir=path.parent)


def _atomic_write_bytes(path: Path, data: bytes, *, tmp_dir: Path) -> None:
    """Write to a temporary file, fsync, rename over ``path``, fsync the directory."""
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".mailbot-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
