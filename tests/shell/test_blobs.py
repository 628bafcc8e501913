"""Blobs on a real temporary folder: traversal names stay inside, nothing is overwritten."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import itertools
import os
import shutil
import stat
from pathlib import Path

import pytest

import mailbot.shell.blobs as blobs_mod
from mailbot.core.model import Attachment
from mailbot.errors import StoreError
from mailbot.shell.blobs import Blobs, safe_filename

# RELIABILITY case 20, plus the RFC 2231 name both before and after percent-decoding.
HOSTILE_NAMES = [
    "../../etc/cron.d/x",
    "/etc/passwd",
    "..\\..\\x",
    "con.txt",
    "evil\x00.txt",
    "a" * 300 + ".pdf",
    "..%2F..%2Fx",
    "../../x",
    "..",
    ".",
    "",
    "\u202etxt.exe",
    "C:\\Windows\\win.ini",
    "NUL",
    "lpt1.log",
]


def att(name: str, payload: bytes = b"data", skipped: str | None = None) -> Attachment:
    return Attachment(name=name, content_type="application/octet-stream", size=len(payload),
                      payload=payload, skipped=skipped)  # fmt: skip


@pytest.fixture
def blobs(tmp_path: Path) -> Blobs:
    return Blobs(tmp_path / "store")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_land_inside_the_attachment_folder(
    tmp_path: Path, blobs: Blobs, name: str
) -> None:
    """Every traversal or device name is written as one file inside attachments/<id>/."""
    rel = blobs.put_attachment(5, att(name))
    assert rel is not None
    path = blobs.path(rel)
    assert path.parent == blobs.root / "attachments" / "5"
    assert path.read_bytes() == b"data"
    assert files_under(tmp_path) == {path}
    assert len(path.name) <= 100 and not path.name.startswith(".")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/cron.d/x", "x"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\x", "x"),
        ("con.txt", "_con.txt"),
        ("CON .txt", "_CON .txt"),
        ("Com1.pdf", "_Com1.pdf"),
        ("console.txt", "console.txt"),
        ("evil\x00.txt", "evil.txt"),
        ("tab\there\n.doc", "tabhere.doc"),
        ("..%2F..%2Fx", "%2F..%2Fx"),
        (".bashrc", "bashrc"),
        ("...", "attachment"),
        ("", "attachment"),
        ("a:b?c*.docx", "a_b_c_.docx"),
        ("report. ", "report"),
        ("Bài viết tháng 3.docx", "Bài viết tháng 3.docx"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    """Names are cut to their last component and defused, keeping what a human can read."""
    assert safe_filename(name) == expected


def test_long_names_keep_their_extension() -> None:
    """A 300-character name is shortened to 100 characters, extension kept."""
    assert safe_filename("a" * 300 + ".pdf") == "a" * 96 + ".pdf"
    vietnamese = safe_filename("ệ" * 300 + ".docx")
    assert vietnamese.endswith(".docx") and len(vietnamese.encode()) <= 200


def test_same_name_never_overwrites(blobs: Blobs) -> None:
    """A second file with the same name becomes ``name (2).ext``; the first is untouched."""
    first = blobs.put_attachment(1, att("bai viet.docx", b"one"))
    second = blobs.put_attachment(1, att("bai viet.docx", b"two"))
    third = blobs.put_attachment(1, att("../bai viet.docx", b"three"))
    assert (first, second, third) == (
        "attachments/1/bai viet.docx",
        "attachments/1/bai viet (2).docx",
        "attachments/1/bai viet (3).docx",
    )
    assert [blobs.path(r).read_bytes() for r in (first, second, third) if r] == [
        b"one",
        b"two",
        b"three",
    ]


def test_same_attachment_again_reuses_its_file(blobs: Blobs) -> None:
    """Storing identical bytes under the same name again (a retry) adds no copy."""
    first = blobs.put_attachment(1, att("x.pdf", b"same"))
    assert blobs.put_attachment(1, att("x.pdf", b"same")) == first
    assert len(files_under(blobs.root)) == 1


def test_skipped_attachment_is_not_written(blobs: Blobs) -> None:
    """An attachment dropped by the parser (too large) has no file."""
    assert blobs.put_attachment(1, att("big.mp4", b"", skipped="too large")) is None
    assert files_under(blobs.root) == set()


@pytest.mark.parametrize(
    ("link", "error"), [("attachments/9", "is not a folder"), ("attachments", "leads outside")]
)
def test_symlinked_folder_cannot_lead_outside(
    tmp_path: Path, blobs: Blobs, link: str, error: str
) -> None:
    """If attachments/<id>, or attachments/ itself, were a symlink out of the store,
    nothing is written, and no folder made, through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (blobs.root / link).parent.mkdir(parents=True, exist_ok=True)
    (blobs.root / link).symlink_to(outside)
    with pytest.raises(StoreError, match=error):
        blobs.put_attachment(9, att("x.txt"))
    assert list(outside.iterdir()) == []


def test_record_folder_symlinked_inside_the_store_is_refused_too(blobs: Blobs) -> None:
    """A record's folder must be a folder: a symlink to another record's is not followed."""
    blobs.put_attachment(1, att("a.txt", b"one"))
    (blobs.root / "attachments" / "2").symlink_to(blobs.root / "attachments" / "1")
    with pytest.raises(StoreError, match="is not a folder"):
        blobs.put_attachment(2, att("b.txt", b"two"))
    assert sorted(p.name for p in (blobs.root / "attachments" / "1").iterdir()) == ["a.txt"]


def test_a_temporary_name_left_by_a_crash_is_passed_over(
    blobs: Blobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``.tmp-`` file of an earlier process with the same id is neither reused nor removed."""
    folder = blobs.root / "attachments" / "4"
    folder.mkdir(parents=True)
    left = folder / f".tmp-{os.getpid()}-0"
    left.write_bytes(b"left by a crash")
    monkeypatch.setattr(blobs_mod, "_TEMP_NUMBERS", itertools.count())
    assert blobs.put_attachment(4, att("a.txt", b"new")) == "attachments/4/a.txt"
    assert (folder / "a.txt").read_bytes() == b"new"
    assert left.read_bytes() == b"left by a crash"
    assert sorted(p.name for p in folder.iterdir()) == [left.name, "a.txt"]


def test_temporary_names_are_unique_and_leave_nothing_behind(blobs: Blobs) -> None:
    """Many attachments of one message: each its own file, no ``.tmp-`` file left."""
    names = [blobs.put_attachment(3, att(f"p{i}.jpg", bytes([i]) * 10)) for i in range(50)]
    assert len(set(names)) == 50
    folder = blobs.root / "attachments" / "3"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"p{i}.jpg" for i in range(50))
    assert all((folder / f"p{i}.jpg").read_bytes() == bytes([i]) * 10 for i in range(50))


def test_symlink_planted_at_an_attachment_name_is_neither_followed_nor_reused(
    tmp_path: Path, blobs: Blobs
) -> None:
    """A name taken by a symlink (even to the same bytes) is passed over for ``name (2)``."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"data")
    (blobs.root / "attachments" / "5").mkdir(parents=True)
    (blobs.root / "attachments" / "5" / "x.txt").symlink_to(outside)
    assert blobs.put_attachment(5, att("x.txt", b"data")) == "attachments/5/x (2).txt"
    assert outside.read_bytes() == b"data"


def test_path_refuses_relative_escape(blobs: Blobs) -> None:
    """A stored path from the database cannot point outside the store."""
    with pytest.raises(StoreError, match="leads outside"):
        blobs.path("../../etc/passwd")


def test_raw_write_is_content_addressed_and_idempotent(blobs: Blobs) -> None:
    """raw/<ab>/<sha256>.eml holds the bytes; writing again changes nothing; no temp files."""
    raw = b"From: a@b\r\nSubject: x\r\n\r\nbody\r\n"
    digest = hashlib.sha256(raw).hexdigest()
    rel = blobs.put_raw(raw)
    assert rel == f"raw/{digest[:2]}/{digest}.eml"
    mtime = blobs.path(rel).stat().st_mtime_ns
    assert blobs.put_raw(raw) == rel
    assert blobs.path(rel).stat().st_mtime_ns == mtime
    assert blobs.read_raw(rel) == raw
    assert files_under(blobs.root) == {blobs.path(rel)}


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions(blobs: Blobs, umask: int) -> None:
    """Files are 0o640 and folders 0o750 whatever the umask: mail is personal data (Decree 13).

    The umask is read once per process; with one that takes none of those
    bits, no chmod is needed.
    """
    old = os.umask(umask)
    blobs_mod._umask.cache_clear()
    try:
        raw = blobs.path(blobs.put_raw(b"x"))
        attached = blobs.path(blobs.put_attachment(3, att("a.txt")) or "")
    finally:
        os.umask(old)
        blobs_mod._umask.cache_clear()
    for path in (raw, attached):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE((blobs.root / "raw").stat().st_mode) == 0o750


def test_missing_raw_is_a_store_error(blobs: Blobs) -> None:
    """Reading a raw file that is gone names the file."""
    with pytest.raises(StoreError, match=r"raw/00/missing\.eml"):
        blobs.read_raw("raw/00/missing.eml")


def test_synced_once_syncs_a_batch_once_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside synced_once no file is fsynced; one sync covers the batch when the block ends."""
    syncs: list[Path] = []
    fsyncs: list[int] = []
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda root: syncs.append(root) or True)
    monkeypatch.setattr(blobs_mod.os, "fsync", fsyncs.append)
    blobs = Blobs(tmp_path)
    with blobs.synced_once():
        rel = blobs.put_raw(b"raw message")
        blobs.put_attachment(7, att("a.pdf"))
        assert syncs == [] and fsyncs == []
    assert syncs == [blobs.root] and fsyncs == []
    assert blobs.read_raw(rel) == b"raw message"
    blobs.put_raw(b"another")
    assert len(fsyncs) == 2  # outside a batch: the file, then its folder


def test_synced_once_skips_the_sync_when_the_batch_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[Path] = []
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda root: syncs.append(root) or True)
    blobs = Blobs(tmp_path)
    with pytest.raises(RuntimeError), blobs.synced_once():
        blobs.put_raw(b"raw message")
        raise RuntimeError("the batch's commit will not happen")
    assert syncs == []


def _counted_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Real fsyncs, each one's file descriptor recorded in the list returned."""
    fsyncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(blobs_mod.os, "fsync", lambda fd: fsyncs.append(fd) or real(fd))
    return fsyncs


def test_sync_all_fsyncs_each_file_and_folder_without_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda root: False)
    fsyncs = _counted_fsyncs(monkeypatch)
    blobs = Blobs(tmp_path)
    with blobs.synced_once():
        blobs.put_raw(b"one")
        blobs.put_raw(b"two")
    assert len(fsyncs) == 2 + 2  # two files, two raw/xx folders


def test_real_syncfs_runs(tmp_path: Path) -> None:
    assert blobs_mod._syncfs(tmp_path) is (os.uname().sysname == "Linux")


def test_put_raw_rewrites_a_file_left_short_by_a_crash(tmp_path: Path) -> None:
    """A raw file cut short (a crash before the batch's sync) is not trusted as the message."""
    blobs = Blobs(tmp_path)
    raw = b"From: a@b\r\n\r\nbody"
    rel = blobs.put_raw(raw)
    blobs.path(rel).write_bytes(b"")
    assert blobs.put_raw(raw) == rel
    assert blobs.read_raw(rel) == raw


def test_put_raw_completes_a_prefix_in_place_without_temporary_files(tmp_path: Path) -> None:
    """A raw file is written in place from its start: what a crash or a second writer of
    the same message leaves is a prefix, which the next write completes."""
    blobs = Blobs(tmp_path)
    raw = b"From: a@b\r\n\r\n" + b"body " * 1000
    rel = blobs.put_raw(raw)
    blobs.path(rel).write_bytes(raw[:100])
    inode = blobs.path(rel).stat().st_ino
    assert blobs.put_raw(raw) == rel
    assert blobs.read_raw(rel) == raw
    assert blobs.path(rel).stat().st_ino == inode
    assert files_under(blobs.root) == {blobs.path(rel)}


def test_put_raw_does_not_follow_a_symlink_planted_in_the_store(tmp_path: Path) -> None:
    """A raw message's name taken by a symlink (someone with access to the store) is
    refused with an error naming it; the file it points at is left alone."""
    blobs = Blobs(tmp_path / "store")
    raw = b"From: a@b\r\n\r\nbody"
    digest = hashlib.sha256(raw).hexdigest()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep")
    planted = blobs.root / "raw" / digest[:2] / f"{digest}.eml"
    planted.parent.mkdir(parents=True)
    planted.symlink_to(victim)
    with pytest.raises(StoreError, match=digest):
        blobs.put_raw(raw)
    assert victim.read_bytes() == b"keep"


def test_a_folder_removed_behind_its_back_is_made_again(tmp_path: Path) -> None:
    """Blobs remembers the folders it made; one deleted since (retention, by hand) comes back."""
    blobs = Blobs(tmp_path)
    first = blobs.put_attachment(3, att("a.pdf", b"one"))
    assert first is not None
    shutil.rmtree(blobs.path("attachments/3"))
    again = blobs.put_attachment(3, att("b.pdf", b"two"))
    assert again is not None and blobs.path(again).read_bytes() == b"two"
    assert blobs.remove_attachments(3) == 1
    assert blobs.put_attachment(3, att("c.pdf", b"three")) is not None


def test_syncfs_refused_by_a_seccomp_filter_falls_back_to_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service sandbox may refuse syncfs(2) with EPERM: each file is fsynced instead."""

    class Refusing:
        def syncfs(self, fd: int) -> int:
            ctypes.set_errno(errno.EPERM)
            return -1

    monkeypatch.setattr(blobs_mod, "_libc", Refusing)
    fsyncs = _counted_fsyncs(monkeypatch)
    blobs = Blobs(tmp_path)
    with blobs.synced_once():
        blobs.put_raw(b"one")
    assert len(fsyncs) == 2  # the file, then its folder


def test_a_writers_blobs_are_never_synced_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread writes raw files unsynced, even outside a batch: the daemon syncs them."""
    fsyncs = _counted_fsyncs(monkeypatch)
    worker = Blobs(tmp_path, synced_elsewhere=True)
    rel = worker.put_raw(b"raw message")
    assert fsyncs == []
    assert Blobs(tmp_path).read_raw(rel) == b"raw message"


def test_adopted_files_are_synced_with_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without syncfs, a file the writer wrote is fsynced with the batch, or at once outside one."""
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda root: False)
    fsyncs = _counted_fsyncs(monkeypatch)
    worker, daemon = Blobs(tmp_path, synced_elsewhere=True), Blobs(tmp_path)
    first, second = worker.put_raw(b"one"), worker.put_raw(b"two")
    with daemon.synced_once():
        assert daemon.adopt(first) == first
        assert fsyncs == []
    assert len(fsyncs) == 2  # the file, then its folder
    daemon.adopt(second)
    assert len(fsyncs) == 4


@pytest.mark.parametrize(
    "rel", ["../elsewhere.eml", f"raw/ab/../../{'a' * 64}.eml", f"raw/cd/{'a' * 64}.eml", ""]
)
def test_adopt_takes_raw_message_paths_only(tmp_path: Path, rel: str) -> None:
    with pytest.raises(StoreError, match="not a raw message"):
        Blobs(tmp_path / "store").adopt(rel)
