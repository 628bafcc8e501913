"""The file side of the store folder: raw messages and attachments.

Raw messages are content-addressed (``raw/ab/<sha256>.eml``), so writing one
twice is harmless and the ledger can point at it before any decision
(ARCHITECTURE step 4). A raw file is written in place, from its start and
never truncated: whatever a crash or a second writer of the same message
leaves there is a prefix of its bytes, which the size check below tells
from the whole. An attachment is written to a temporary name in its final
folder, then linked into place. Every file is made durable before the
database commit that points at it: at once, or, inside :meth:`Blobs.synced_once`
(a batch of filings sharing one commit), all together when the block ends.
A raw file left short by a crash before that sync is never trusted: its size
must match before it is reused.

Attachment names come from the sender (RFC 2183 section 2.3 lets them put
anything there), so they are sanitised again here even though the parser
already did: a name is reduced to one harmless path component, its folder is
checked to lie inside the store, and no symlink at the file's name is followed
(RELIABILITY case 20). An existing file is never overwritten.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import itertools
import os
import re
import secrets
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbot.core.model import Attachment
from mailbot.errors import StoreError

__all__ = ["Blobs", "safe_filename"]

FILE_MODE = 0o640
DIR_MODE = 0o750
MAX_NAME_CHARS = 100
# Leaves room for " (999)" under the 255-byte limit of common file systems.
MAX_NAME_BYTES = 200
MAX_EXTENSION = 16
FALLBACK_NAME = "attachment"
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in "123456789¹²³"]
)
_RAW_PATH = re.compile(r"raw/([0-9a-f]{2})/\1[0-9a-f]{62}\.eml")
_TEMP_NUMBERS = itertools.count()
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_RAW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
_NEW_FLAGS = _RAW_FLAGS | os.O_EXCL
# Writes ``data`` to a path, synced when told; False when it did not place it.
_WriteFn = Callable[[Path, bytes, bool], bool]
# Path separators and characters Windows refuses in a name.
_UNSAFE = re.compile(r'[/\\<>:"|?*]')


def safe_filename(name: str) -> str:
    """``name`` as one harmless file-name component, never empty, at most ~100 chars.

    Keeps the last path component only, drops control and format characters,
    replaces characters Windows forbids, strips leading dots and spaces (no
    hidden files, no ``..``), defuses Windows device names such as ``con.txt``
    and shortens long names while keeping the extension.
    """
    text = unicodedata.normalize("NFC", name)
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("_", text).strip().lstrip(". ").rstrip(". ")
    if not text:
        return FALLBACK_NAME
    if text.split(".")[0].upper().rstrip() in WINDOWS_RESERVED:
        text = f"_{text}"
    return _shorten(text)


def _shorten(name: str) -> str:
    """Cut ``name`` to the length limits, keeping a short extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > MAX_EXTENSION:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_CHARS - len(suffix)
    stem = stem[:budget]
    while len((stem + suffix).encode()) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def _candidates(name: str) -> Iterator[str]:
    """``name``, then ``name (2)``, ``name (3)``… with the number before the extension."""
    yield name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    n = 2
    while True:
        yield f"{stem} ({n}){suffix}"
        n += 1


class Blobs:
    """Raw ``.eml`` files and attachments under ``root`` (the store folder)."""

    def __init__(self, root: Path, *, synced_elsewhere: bool = False) -> None:
        """Blobs under ``root``.

        With ``synced_elsewhere`` nothing written here is synced: for the
        writer thread of a pass, whose files the daemon makes durable with
        its batch (:meth:`adopt`).
        """
        self.root = root.resolve()
        self._synced_elsewhere = synced_elsewhere
        self._unsynced: list[Path] | None = None
        self._folders: set[Path] = set()  # made (or found) already: one mkdir check each

    @contextmanager
    def synced_once(self) -> Iterator[None]:
        """Write without waiting for the disk, then make everything durable when the block ends.

        One sync for a batch instead of two fsyncs per file. The block must end
        before the database commit that points at these files; when it raises,
        nothing is synced (that commit will not happen either).
        """
        if self._unsynced is not None:
            yield
            return
        self._unsynced = []
        try:
            yield
            with self._io("(sync)"):
                _sync_all(self.root, self._unsynced)
        finally:
            self._unsynced = None

    def put_raw(self, raw: bytes) -> str:
        """Store a raw message under its SHA-256; returns the path relative to ``root``.

        Idempotent: the name is the content hash, so an existing file already
        holds these bytes and is left as it is.
        """
        digest = hashlib.sha256(raw).hexdigest()
        rel = f"raw/{digest[:2]}/{digest}.eml"
        target = self.root / "raw" / digest[:2] / f"{digest}.eml"  # hex: nothing to resolve
        with self._io(rel):
            if not _has_size(target, len(raw)):
                self._make_dirs(target.parent)
                self._write(target, raw, _write_in_place)
        return rel

    def adopt(self, rel: str) -> str:
        """Take on a raw message written unsynced elsewhere (by the writer thread of a pass).

        It is made durable with this batch's files (:meth:`synced_once`), or
        at once outside a batch; returns ``rel``.
        """
        if not _RAW_PATH.fullmatch(rel):
            raise StoreError(f"refusing {rel!r}: not a raw message's path (raw/ab/<sha256>.eml)")
        target = self.root / rel  # hex digits only: nothing to resolve
        with self._io(rel):
            if self._unsynced is not None:
                self._unsynced.append(target)
            else:
                _sync_all(self.root, [target])
        return rel

    def put_attachment(self, record_id: int, att: Attachment) -> str | None:
        """Store one attachment of message ``record_id``; None when it was skipped.

        Writes ``attachments/<record_id>/<safe name>``, adding `` (2)``, `` (3)``…
        rather than overwrite. A file there with the same bytes is reused, so
        filing the same message again after a crash adds no copies.
        """
        if att.skipped is not None:
            return None
        rel = f"attachments/{int(record_id)}"
        with self._io(rel):
            folder = self._record_folder(int(record_id))
            return f"{rel}/{self._put_new(folder, safe_filename(att.name), att.payload)}"

    def _record_folder(self, record_id: int) -> Path:
        """``attachments/<record_id>``, made if missing; never a symlink, never outside the store.

        ``attachments`` is checked once to lie inside the store; a record's
        folder below it is one number, made here, or refused when something
        other than a folder (a planted symlink) already has its name. A file
        name inside it is one sanitised component, and neither linking a file
        into place nor reading one back (``O_NOFOLLOW``) follows a symlink
        planted there, so the files need no check of their own.
        """
        parent = self.root / "attachments"
        folder = parent / str(record_id)
        if folder in self._folders:
            return folder
        if parent not in self._folders:
            self._inside(parent)
            self._make_dirs(parent)
        if not self._make_dirs(folder) and not stat.S_ISDIR(os.lstat(folder).st_mode):
            self._folders.discard(folder)
            raise StoreError(f"refusing {self._relative(folder)!r}: it is not a folder")
        return folder

    def _put_new(self, folder: Path, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` in ``folder``, or as the first free ``name (n)``: the name."""
        for candidate in _candidates(name):
            target = folder / candidate
            if self._write(target, data, _write_new) or _same_content(target, data):
                return candidate
        raise AssertionError("unreachable: _candidates never ends")  # pragma: no cover

    def _make_dirs(self, folder: Path) -> bool:
        """Make ``folder`` unless made (or found) before; True when this call created it."""
        if folder in self._folders:
            return False
        made = _make_dirs(folder, self.root)
        self._folders.add(folder)
        return made

    def _write(self, target: Path, data: bytes, write: _WriteFn) -> bool:
        """``write`` ``data`` to ``target``, synced now (the file, then its folder) or with the
        batch; False if not placed."""
        pending = self._unsynced
        sync = pending is None and not self._synced_elsewhere
        try:
            placed = write(target, data, sync)
        except FileNotFoundError:  # its folder was removed since we made it (retention)
            self._folders.discard(target.parent)
            self._make_dirs(target.parent)
            placed = write(target, data, sync)
        if placed and sync:
            _fsync_dir(target.parent)
        if placed and pending is not None:
            pending.append(target)
        return placed

    def remove(self, rel: str) -> bool:
        """Delete a stored raw message or attachment; False when it was not there."""
        with self._io(rel):
            target = self.path(rel)
            if not target.exists():
                return False
            target.unlink()
            return True

    def remove_attachments(self, record_id: int) -> int:
        """Delete every stored attachment of ``record_id``; returns how many files went."""
        folder = self.path(f"attachments/{int(record_id)}")
        with self._io(self._relative(folder)):
            if not folder.is_dir():
                return 0
            files = [p for p in folder.iterdir() if p.is_file()]
            for path in files:
                path.unlink()
            folder.rmdir()
            self._folders.discard(folder)
            return len(files)

    def read_raw(self, rel: str) -> bytes:
        """The bytes of a stored raw message."""
        with self._io(rel):
            return self.path(rel).read_bytes()

    def path(self, rel: str) -> Path:
        """The absolute path of ``rel``, refusing anything that leads outside ``root``."""
        return self._inside(self.root / rel)

    @contextmanager
    def _io(self, rel: str) -> Iterator[None]:
        """Turn an ``OSError`` (disk full, permissions) on ``rel`` into a ``StoreError``."""
        try:
            yield
        except OSError as exc:
            raise StoreError(f"store folder {self.root}: {rel}: {exc.strerror or exc}") from exc

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise StoreError(f"refusing path {str(path)!r}: it leads outside {self.root}")
        return resolved

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _make_dirs(folder: Path, root: Path) -> bool:
    """Create ``folder`` and its missing parents up to ``root``, each with mode 0o750.

    True when ``folder`` itself was created here, False when it existed.
    """
    try:
        os.mkdir(folder, DIR_MODE)
    except FileExistsError:
        return False
    except FileNotFoundError:
        if folder == root or not folder.is_relative_to(root):
            raise
        _make_dirs(folder.parent, root)
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            return False
    if _umask() & DIR_MODE:  # the umask took bits off
        os.chmod(folder, DIR_MODE)
    return True


def _has_size(path: Path, size: int) -> bool:
    """Whether ``path`` is a file of exactly ``size`` bytes."""
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _same_content(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file (not a symlink) holding exactly ``data``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return False
        raise
    with os.fdopen(fd, "rb") as f:
        return os.fstat(fd).st_size == len(data) and f.read() == data


def _write_new(target: Path, data: bytes, sync: bool) -> bool:
    """Write ``data`` as a new file ``target``, all or nothing; False if the name is taken.

    The bytes go to a temporary file in the same folder (fsynced when
    ``sync``), then ``os.link`` (which fails, atomically, if the name is
    taken) puts them in place.
    """
    fd, tmp = _temporary(target.parent)
    try:
        _set_file_mode(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return True


def _temporary(folder: Path) -> tuple[int, str]:
    """A new file in ``folder`` with a name of its own (``O_EXCL``): its descriptor and path.

    What ``tempfile.mkstemp`` does, at half its cost: the name is this
    process's id and a counter, with a random part only once that is taken (a
    file left by a crash of an earlier process with the same id).
    """
    name = f"{folder}/.tmp-{os.getpid()}-{next(_TEMP_NUMBERS)}"
    while True:
        try:
            return os.open(name, _NEW_FLAGS, FILE_MODE), name
        except FileExistsError:
            name = f"{folder}/.tmp-{os.getpid()}-{secrets.token_hex(8)}"


def _set_file_mode(fd: int) -> None:
    """Give a file just opened with ``FILE_MODE`` the bits the umask took off, if it took any."""
    if _umask() & FILE_MODE:
        os.fchmod(fd, FILE_MODE)


@functools.cache
def _umask() -> int:
    """This process's umask, read once (Linux: ``/proc``; elsewhere assume it takes bits)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o777


def _write_in_place(target: Path, data: bytes, sync: bool) -> bool:
    """Write ``data`` over ``target`` from its start, never truncating it (a raw message).

    See the module doc for why that is safe for content-addressed files;
    it costs half of a temporary file linked into place, and creating files
    is most of what storing raw messages costs. Always placed (True).
    """
    fd = os.open(target, _RAW_FLAGS, FILE_MODE)
    try:
        _set_file_mode(fd)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _sync_all(root: Path, written: list[Path]) -> None:
    """Make ``written`` (files below ``root``) and their folders durable, in one call if possible.

    Linux's ``syncfs(2)`` flushes the whole file system holding ``root`` at
    once; elsewhere each file, then each folder, is fsynced.
    """
    if not written:
        return
    if _syncfs(root):
        return
    for path in written:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for folder in {path.parent for path in written}:
        _fsync_dir(folder)


def _syncfs(root: Path) -> bool:
    """``syncfs(2)`` on the file system of ``root``; False where the C library lacks it."""
    libc = _libc()
    if libc is None or not hasattr(libc, "syncfs"):
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        if libc.syncfs(fd) == 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.EPERM, errno.ENOSYS):  # refused by a seccomp filter: fsync instead
            return False
        raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX needs the directory fsynced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
