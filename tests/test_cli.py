"""The command line through click's ``CliRunner``: exact output and exit codes, no servers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mailbot import __version__
from mailbot.cli import cli
from mailbot.rules_file import default_rules_dir, load_rules, summary

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")

TITEL_PROBLEM = (
    "people.yaml:8: unknown key 'titel' in a staff entry; did you mean 'title'? "
    "expected one of: address, name, role, group, title"
)
GROUP_PROBLEM = (
    "people.yaml:25: group 'KHTX' is not in groups.yaml; did you mean 'KHXH'? "
    "expected one of: BGH, CNTT, KHTN, KHXH, VP, DOI, DOAN, CD"
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run every command in an empty folder with no MAILBOT_* variables set.

    ``setup_logging`` points the ``mailbot`` logger at the runner's stderr,
    which is closed after ``invoke``; the logger is restored afterwards so
    later tests do not log into a closed stream.
    """
    for name in list(os.environ):
        if name.startswith("MAILBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    logger = logging.getLogger("mailbot")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield tmp_path
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def invoke(args: Sequence[str]) -> Result:
    """Run ``mailbot ARGS``; an exception other than ``SystemExit`` fails the test."""
    result = CliRunner().invoke(cli, list(args), prog_name="mailbot")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


ALL_COMMANDS = _command_paths(cli)


def test_top_level_help() -> None:
    """``mailbot --help`` exits 0, shows the usage line and lists every top-level command."""
    result = invoke(["--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: mailbot [OPTIONS] COMMAND [ARGS]...\n")
    for name in cli.commands:
        assert f"  {name} " in result.stdout


def test_version() -> None:
    """``mailbot --version`` prints the package version."""
    result = invoke(["--version"])
    assert (result.exit_code, result.stdout) == (0, f"mailbot, version {__version__}\n")


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    """``mailbot <command> --help`` exits 0 for every command and subcommand."""
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: mailbot {' '.join(path)} ")
    assert result.stderr == ""


# --- rules check -------------------------------------------------------------


def test_rules_check_shipped_rules() -> None:
    """The shipped rules pass: the folder, ``OK`` and the summary line, exit 0."""
    result = invoke(["rules", "check"])
    expected = f"{default_rules_dir()}: OK\n{summary(load_rules(default_rules_dir()))}\n"
    assert (result.exit_code, result.stdout, result.stderr) == (0, expected, "")
    assert result.stdout.splitlines()[1].startswith("11 staff, 3 parents, 2 domains; 8 groups")


def test_rules_check_broken_copy(tmp_path: Path) -> None:
    """Each problem is an ``error: <file>:<line>: …`` line, then the count; exit 2."""
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    people = rules / "people.yaml"
    text = people.read_text(encoding="utf-8")
    assert "    title: Hiệu trưởng\n" in text and "    group: KHTN\n" in text
    text = text.replace("    title: Hiệu trưởng\n", "    titel: Hiệu trưởng\n", 1)
    people.write_text(text.replace("    group: KHTN\n", "    group: KHTX\n", 1), encoding="utf-8")

    result = invoke(["rules", "check", "--rules", str(rules)])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {rules}/{TITEL_PROBLEM}\n"
        f"error: {rules}/{GROUP_PROBLEM}\n"
        "2 problem(s) found; nothing was loaded.\n"
    )


def test_rules_check_reads_rules_dir_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``--rules``, ``MAILBOT_RULES_DIR`` names the folder that is checked."""
    rules = tmp_path / "myrules"
    shutil.copytree(default_rules_dir(), rules)
    people = rules / "people.yaml"
    text = people.read_text(encoding="utf-8")
    people.write_text(text.replace("    title: Hiệu trưởng\n", "    titel: Hiệu trưởng\n", 1))
    monkeypatch.setenv("MAILBOT_RULES_DIR", str(rules))

    result = invoke(["rules", "check"])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {rules}/{TITEL_PROBLEM}\n1 problem(s) found; nothing was loaded.\n"
    )


# --- classify ----------------------------------------------------------------

JSON_KEYS = ["file", "role", "group", "kind", "topics", "urgent", "reasons"]


@needs_corpus
def test_classify_json_one_object_per_line() -> None:
    """``--json`` prints one object per file, with exactly the documented keys in order."""
    files = [CORPUS / "d026.eml", CORPUS / "d004.eml"]
    result = invoke(["classify", "--json", *map(str, files)])

    assert (result.exit_code, result.stderr) == (0, "")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(row) for row in rows] == [JSON_KEYS, JSON_KEYS]
    assert [row["file"] for row in rows] == [str(f) for f in files]
    values = [{k: row[k] for k in JSON_KEYS[1:-1]} for row in rows]
    assert values == [
        {"role": "parent", "group": None, "kind": "feedback", "topics": ["VII"], "urgent": True},
        {"role": "unknown", "group": None, "kind": "auto", "topics": [], "urgent": False},
    ]
    assert all(row["reasons"] and isinstance(row["reasons"], list) for row in rows)
    assert rows[0]["reasons"][0] == "role: parent (known parent: giangasu88@gmail.com)"
    assert "bị đánh" in result.stdout, "JSON keeps Vietnamese readable (ensure_ascii=False)"


@needs_corpus
def test_classify_table() -> None:
    """Without ``--json``: a header row, then one aligned row per file."""
    result = invoke(["classify", str(CORPUS / "d026.eml"), str(CORPUS / "d004.eml")])

    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "file      role     group  kind      topics  urgent\n"
        "d026.eml  parent   -      feedback  VII     URGENT\n"
        "d004.eml  unknown  -      auto      -\n"
    )


@needs_corpus
def test_classify_bad_files_are_reported_and_the_rest_classified(tmp_path: Path) -> None:
    """A missing file and a text file each get an error line; the others still print; exit 1."""
    notes = tmp_path / "ghi-chu.txt"
    notes.write_text(
        "Ghi chu: hop to chuyen mon thu Ba\nnho mang ke hoach bai day tuan 12\n", encoding="utf-8"
    )
    random_text = tmp_path / "random.eml"
    random_text.write_text("qzv wkx plo\n\nnmr tyu\n", encoding="utf-8")
    files = [
        "missing.eml",
        str(CORPUS / "d026.eml"),
        str(notes),
        str(random_text),
        str(CORPUS / "d004.eml"),
    ]

    result = invoke(["classify", "--json", *files])

    assert result.exit_code == 1
    assert result.stderr == (
        "error: missing.eml: No such file or directory\n"
        f"error: {notes}: not a message: no From, Date, Subject or Message-ID header\n"
        f"error: {random_text}: not a message: no From, Date, Subject or Message-ID header\n"
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["file"], r["kind"]) for r in rows] == [(files[1], "feedback"), (files[4], "auto")]


def test_classify_needs_a_file() -> None:
    """``classify`` with no file is a usage error (exit 2)."""
    result = invoke(["classify"])
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: Missing argument 'FILES...'.\n")


# --- months, config ----------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "forward"])
@pytest.mark.parametrize("month", ["2026-13", "2026-3", "march", "1999-01", "2026-00"])
def test_bad_month_is_a_usage_error(command: str, month: str) -> None:
    """``--month`` must be YYYY-MM: anything else exits 2 and says what is expected."""
    result = invoke([command, "--month", month])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Usage: mailbot {command} [OPTIONS]\n"
        f"Try 'mailbot {command} --help' for help.\n\n"
        f"Error: Invalid value for '--month': '{month}' is not a month; "
        "expected YYYY-MM, e.g. 2026-03\n"
    )


def test_missing_config_file() -> None:
    """``--config`` naming a file that does not exist exits 78 (EX_CONFIG) and says so."""
    result = invoke(["--config", "missing.yaml", "status"])
    assert result.exit_code == 78
    assert result.stdout == ""
    assert result.stderr == (
        "error: missing.yaml: config file not found; pass --config PATH or create mailbot.yaml\n"
    )


@pytest.mark.parametrize("server", ["imap", "smtp"])
def test_password_in_config_is_refused_without_echoing_it(tmp_path: Path, server: str) -> None:
    """A ``password:`` key in the YAML exits 78; the message names the fix, never the secret."""
    secret = "Mk-Tr0ng-YAML-9917"
    config = tmp_path / "mailbot.yaml"
    config.write_text(f"{server}:\n  password: {secret}\n", encoding="utf-8")

    result = invoke(["--config", str(config), "status"])

    assert result.exit_code == 78
    assert secret not in result.output
    assert result.stderr == (
        f"error: {config}:2: {server}.password must not be written in the config file; "
        f"set MAILBOT_{server.upper()}_PASSWORD or {server}.password_file instead\n"
    )


def test_password_in_implicit_config_is_refused(tmp_path: Path) -> None:
    """``./mailbot.yaml`` is read when it exists, and its password is refused the same way."""
    (tmp_path / "mailbot.yaml").write_text("imap:\n  password: hunter2\n", encoding="utf-8")
    result = invoke(["status"])
    assert result.exit_code == 78
    assert "hunter2" not in result.output
    assert "imap.password must not be written in the config file" in result.stderr


# --- run --once ----------------------------------------------------------------


def _closed_port() -> int:
    """A loopback port that nothing listens on (bound once to find it, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_run_once_unreachable_mailbox_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --once`` against a closed port exits 1 with one ``error:`` line naming it."""
    port = _closed_port()
    monkeypatch.setenv("MAILBOT_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("MAILBOT_IMAP_PORT", str(port))
    monkeypatch.setenv("MAILBOT_IMAP_SECURITY", "none")
    monkeypatch.setenv("MAILBOT_IMAP_USER", "truyenthong")
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "not-used")

    result = invoke(["run", "--once"])

    assert result.exit_code == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot connect to 127.0.0.1:{port}: ")
    assert "not-used" not in result.output


# --- demo ----------------------------------------------------------------------

DEMO_ROWS = [
    "  Bài viết/Công đoàn       TB-2026-03-003  submission teacher    V    pending   "
    "Gửi bài tin Công đoàn tháng 3/2026",
    "  Bài viết/Tổ KHTN         TB-2026-03-001  submission teacher    III  approved  "
    "Tổ KHTN gửi bài tin tháng 3: Ngày hội STEM cấp trường",
    "  Khác                                     other      unknown    -              "
    "Nhờ em việc gấp",
    "  Phê duyệt                                approval   leadership -              "
    "Re: Tổ KHTN gửi bài tin tháng 3: Ngày hội STEM cấp trường",
    "  Phản ánh                 PH-2026-03-001  feedback   parent     VI   open      "
    "Hỏi về khoản tiền quỹ lớp 7A",
    "  Phản ánh                 PH-2026-03-002  feedback   parent     VII  open      URGENT "
    "con toi bi danh o truong",
    "  Thư tự động                              auto       unknown    -              "
    "Trả lời tự động: Nhắc các tổ nộp tin bài tháng 3",
    "  Thư tự động                              auto       unknown    -              "
    "Undelivered Mail Returned to Sender",
    "  Tư liệu                  TB-2026-03-002  media      student    VII  pending   "
    "ảnh giải bóng đá khối 8",
    "  Văn bản Sở                               directive  department -              "
    "V/v báo cáo kết quả công tác truyền thông quý I/2026",
]


def test_demo_files_each_sample_and_is_deterministic(tmp_path: Path) -> None:
    """``demo`` prints where each of the ten samples went; a second run prints the same."""
    first = invoke(["demo", "--dir", "tmp/demo"])
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "demo mailbox: tmp/demo/maildir (10 sample messages)",
        "10 messages seen: 10 filed, 0 quarantined, 0 duplicates, 0 to retry",
        "outbox: 8 sent, 0 to retry, 0 failed: written to tmp/demo/outbox",
        *DEMO_ROWS,
    ]
    assert len(list((tmp_path / "tmp/demo/outbox").rglob("*.eml"))) == 8

    second = invoke(["demo", "--dir", "tmp/demo"])
    assert second.exit_code == 0, second.output
    assert second.stdout == first.stdout


# --- doctor and purge ----------------------------------------------------------


def test_doctor_on_the_embedded_defaults_is_all_ok() -> None:
    """With no servers configured, every check passes on the local Maildir and .eml outbox."""
    assert invoke(["db", "upgrade"]).exit_code == 0
    result = invoke(["doctor"])
    assert result.exit_code == 0, result.output
    names = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok")]
    assert names == ["rules", "templates", "store", "mailbox", "smtp"]


def test_doctor_names_what_is_wrong_and_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable mailbox and a database not yet migrated: exit 1, each with its fix."""
    monkeypatch.setenv("MAILBOT_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("MAILBOT_IMAP_PORT", str(_closed_port()))
    monkeypatch.setenv("MAILBOT_IMAP_SECURITY", "none")
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "do-not-print")
    result = invoke(["doctor"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    store = next(i for i, line in enumerate(lines) if line.startswith("FAIL  store"))
    assert lines[store + 1].strip() == "fix: run: mailbot db upgrade"
    mailbox = next(i for i, line in enumerate(lines) if line.startswith("FAIL  mailbox"))
    assert "Connection refused" in lines[mailbox]
    assert "MAILBOT_IMAP_PASSWORD" in lines[mailbox + 1]
    assert "do-not-print" not in result.output


def test_purge_dry_run_counts_and_erases_nothing() -> None:
    """``purge --address`` on a fresh store: nothing to erase, said plainly."""
    result = invoke(["purge", "--address", "someone@gmail.com", "--dry-run"])
    assert result.exit_code == 0
    assert result.stdout == "0 record(s) would be erased; 0 file(s) deleted\n"
