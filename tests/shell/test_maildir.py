"""``MaildirSource``: the embedded mailbox, on a temporary directory."""

from __future__ import annotations

import json
import mailbox
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from mailbot.errors import ConfigError, SourceError
from mailbot.shell.maildir import UID_FILE, MaildirSource
from mailbot.shell.source import MailSource

KHTN = "Bài viết/Tổ KHTN"


def message(n: int) -> bytes:
    """CRLF line ends on purpose: the bytes must survive unchanged."""
    return (
        f"From: giaovien{n}@thcspomlot.edu.vn\r\n"
        f"Subject: =?utf-8?q?B=C3=A0i_vi=E1=BA=BFt_{n}?=\r\n"
        f"Message-ID: <msg-{n}@thcspomlot.edu.vn>\r\n"
        "\r\n"
        f"Nội dung {n}\r\n"
    ).encode()


def deliver(root: Path, n: int, *, seen: bool = False) -> str:
    """Deliver like an MTA (or a webmail client that has read it: cur/, flag S)."""
    box = mailbox.Maildir(root, factory=None, create=True)
    msg = mailbox.MaildirMessage(message(n))
    if seen:
        msg.set_subdir("cur")
        msg.add_flag("S")
    key = box.add(message(n))
    if seen:
        src = next((root / "new").glob(f"{key}*"))
        src.rename(root / "cur" / f"{key}:2,S")
    return key


@pytest.fixture
def source(tmp_path: Path) -> MaildirSource:
    src = MaildirSource(tmp_path / "Maildir", poll_interval=0.05)
    src.select()
    return src


def root_of(source: MaildirSource) -> Path:
    return source._root


def test_implements_the_protocol(source: MaildirSource) -> None:
    """MaildirSource is usable wherever a MailSource is expected."""
    as_protocol: MailSource = source
    assert as_protocol.uids_after(0) == []


def test_uids_are_stable_increasing_and_persisted(source: MaildirSource) -> None:
    """New files get the next UIDs; a second instance reads the same map."""
    root = root_of(source)
    deliver(root, 1)
    deliver(root, 2)
    assert source.uids_after(0) == [1, 2]
    assert source.uids_after(2) == []
    deliver(root, 3)
    assert source.uids_after(2) == [3]
    again = MaildirSource(root)
    assert again.select() == source.select()
    assert again.uids_after(0) == [1, 2, 3]
    saved = json.loads((root / UID_FILE).read_text())
    assert saved["next_uid"] == 4


def test_lost_uid_file_means_new_uidvalidity(source: MaildirSource) -> None:
    """Without the map, UIDs cannot be trusted: a new UIDVALIDITY is drawn."""
    root = root_of(source)
    deliver(root, 1)
    before = source.select()
    (root / UID_FILE).unlink()
    time.sleep(1.01)  # UIDVALIDITY is the time in seconds
    again = MaildirSource(root)
    assert again.select() != before
    assert again.uids_after(0) == [1]


def test_fetch_is_byte_exact_and_keeps_flags(source: MaildirSource) -> None:
    """Raw bytes come back unchanged; a message read in webmail is still listed."""
    root = root_of(source)
    deliver(root, 1)
    deliver(root, 2, seen=True)
    uids = source.uids_after(0)
    assert source.fetch_raw([*uids, 99]) == {1: message(1), 2: message(2)}
    assert source.sizes(uids) == {1: len(message(1)), 2: len(message(2))}
    assert [p.name.endswith(":2,S") for p in (root / "cur").iterdir()] == [True]


def test_vietnamese_folder_and_move(source: MaildirSource) -> None:
    """Maildir++ folder '.Bài viết.Tổ KHTN'; move keeps bytes and flags, empties the inbox."""
    root = root_of(source)
    deliver(root, 1)
    deliver(root, 2, seen=True)
    source.ensure_folder(KHTN)
    source.ensure_folder(unicodedata.normalize("NFD", KHTN))  # same folder, NFC
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".B")) == [
        ".Bài viết.Tổ KHTN"
    ]
    assert source.move(source.uids_after(0), KHTN) == "moved"
    assert source.uids_after(0) == []
    box = mailbox.Maildir(root, factory=None).get_folder("Bài viết.Tổ KHTN")
    assert sorted(box.get_bytes(k) for k in box.iterkeys()) == [message(1), message(2)]
    assert [m.get_flags() for m in box if m.get_subdir() == "cur"] == ["S"]


def test_move_after_a_crash_between_link_and_unlink(source: MaildirSource) -> None:
    """A copy already in the target (crash mid-move) is not duplicated; the inbox is emptied."""
    root = root_of(source)
    key = deliver(root, 1)
    source.ensure_folder("Phản ánh")
    src = next((root / "new").glob(f"{key}*"))
    (root / ".Phản ánh" / "new" / src.name).write_bytes(src.read_bytes())
    assert source.contains_message_id("Phản ánh", "<msg-1@thcspomlot.edu.vn>")
    assert source.uids_after(0) == [1]
    source.move([1], "Phản ánh")
    assert len(list((root / ".Phản ánh" / "new").iterdir())) == 1
    assert source.uids_after(0) == []


def test_contains_message_id(source: MaildirSource) -> None:
    """Only an exact Message-ID in the named folder counts."""
    root = root_of(source)
    deliver(root, 1)
    source.ensure_folder(KHTN)
    assert not source.contains_message_id(KHTN, "<msg-1@thcspomlot.edu.vn>")
    assert source.uids_after(0) == [1]
    source.move([1], KHTN)
    assert source.contains_message_id(KHTN, "<msg-1@thcspomlot.edu.vn>")
    assert not source.contains_message_id(KHTN, "<msg-2@thcspomlot.edu.vn>")
    assert not source.contains_message_id("Không có", "<msg-1@thcspomlot.edu.vn>")


def test_move_to_missing_folder_is_source_error(source: MaildirSource) -> None:
    """Filing needs ensure_folder first; nothing is lost when it was skipped."""
    deliver(root_of(source), 1)
    with pytest.raises(SourceError, match="does not exist"):
        source.move(source.uids_after(0), "Không có")
    assert source.uids_after(0) == [1]


@pytest.mark.parametrize("name", ["Tổ K.H.T.N", "Bài viết//Tổ", ""])
def test_bad_folder_names_are_config_errors(source: MaildirSource, name: str) -> None:
    """'.' is the Maildir++ separator; empty parts are typos."""
    with pytest.raises(ConfigError):
        source.ensure_folder(name)


def test_idle_wait_sees_new_file(source: MaildirSource) -> None:
    """Polling notices a delivery well before the timeout."""
    root = root_of(source)

    def deliver_soon() -> None:
        time.sleep(0.2)
        deliver(root, 1)

    thread = threading.Thread(target=deliver_soon)
    thread.start()
    started = time.monotonic()
    assert source.idle_wait(10) is True
    assert time.monotonic() - started < 2
    thread.join()
    assert source.uids_after(0) == [1]


def test_idle_wait_times_out(source: MaildirSource) -> None:
    """No mail: False after roughly the timeout."""
    started = time.monotonic()
    assert source.idle_wait(0.2) is False
    assert 0.15 < time.monotonic() - started < 1


def test_closed_source_refuses_work(source: MaildirSource) -> None:
    """After close() every call is a SourceError; close() twice is fine."""
    source.close()
    source.close()
    with pytest.raises(SourceError):
        source.fetch_raw([1])


def test_watching_another_folder_and_moving_back_to_inbox(source: MaildirSource) -> None:
    """folder= watches a subfolder with its own UIDs; INBOX is a valid target."""
    root = root_of(source)
    deliver(root, 1)
    source.ensure_folder("Cách ly")
    source.move(source.uids_after(0), "Cách ly")
    with MaildirSource(root, folder="Cách ly") as quarantine:
        assert quarantine.uids_after(0) == [1]
        assert quarantine.move([1], "INBOX") == "moved"
        assert quarantine.uids_after(0) == []
    assert (root / ".Cách ly" / UID_FILE).exists()
    assert source.fetch_raw(source.uids_after(0)) == {2: message(1)}
