"""Settings from YAML and the environment (mailbot.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import Settings, load_settings
from mailbot.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_demo_school(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no environment, only the servers are missing."""
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, env={})
    assert (s.mailbox, s.receiving_server) == (
        "truyenthong@thcspomlot.edu.vn",
        "mx.thcspomlot.edu.vn",
    )
    assert s.imap.host == "" and s.smtp.host == ""
    assert s.db_url == "sqlite:///store/mailbot.sqlite3"
    assert s.maildir_path == Path("store/maildir")


def test_file_then_environment_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "imap:\n  host: imap.example.org\n  port: 993\n  user: a@b.example\n"
        "smtp:\n  host: smtp.example.org\n",
    )
    env = {
        "MAILBOT_IMAP_HOST": "127.0.0.1",
        "MAILBOT_IMAP_PORT": "1143",
        "MAILBOT_IMAP_SECURITY": "none",
        "MAILBOT_IMAP_PASSWORD": "s3cret",
        "MAILBOT_SMTP_PORT": "587",
        "MAILBOT_SMTP_SECURITY": "starttls",
        "MAILBOT_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/test",
        "MAILBOT_STORE_DIR": str(tmp_path / "st"),
        "MAILBOT_RULES_DIR": str(tmp_path / "r"),
        "MAILBOT_REPLIES_SINCE": "2026-01-01",
    }
    s = load_settings(path, env=env)
    assert (s.imap.host, s.imap.port, s.imap.security, s.imap.user) == (
        "127.0.0.1",
        1143,
        "none",
        "a@b.example",
    )
    assert s.imap.password == "s3cret"
    assert (s.smtp.host, s.smtp.port, s.smtp.security) == ("smtp.example.org", 587, "starttls")
    assert s.db_url.startswith("postgresql+psycopg://")
    assert s.store_dir == tmp_path / "st" and s.rules_dir == tmp_path / "r"
    assert s.replies_since is not None and s.replies_since.year == 2026


def test_password_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    s = load_settings(None, env={"MAILBOT_SMTP_PASSWORD_FILE": str(secret)})
    assert s.smtp.password == "from-file"


def test_password_never_in_repr() -> None:
    s = load_settings(None, env={"MAILBOT_IMAP_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(s)


def test_password_in_yaml_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "imap:\n  host: imap.example.org\n  password: hunter2\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value) == (
        f"{path}:3: imap.password must not be written in the config file; set "
        "MAILBOT_IMAP_PASSWORD or imap.password_file instead"
    )
    assert "hunter2" not in str(info.value)
    assert info.value.exit_code == 78


def test_plaintext_only_to_loopback() -> None:
    env = {"MAILBOT_IMAP_HOST": "mail.example.org", "MAILBOT_IMAP_SECURITY": "none"}
    with pytest.raises(ConfigError, match="plaintext is allowed only to a loopback address"):
        load_settings(None, env=env)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.53"):
        assert load_settings(None, env={**env, "MAILBOT_IMAP_HOST": host}).imap.host == host


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAILBOT_IMAP_PORT": "abc"}, "MAILBOT_IMAP_PORT is 'abc'; expected a port number"),
        ({"MAILBOT_SMTP_SECURITY": "tls"}, "expected one of: ssl, starttls, none"),
        ({"MAILBOT_REPLIES_SINCE": "yesterday"}, "expected an ISO date such as 2026-03-01"),
    ],
)
def test_bad_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env=env)


def test_unknown_key_names_file_line_and_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, "mailbox: a@b.example\nimap:\n  hots: x\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value).startswith(f"{path}:3: unknown key 'hots' in imap; did you mean 'host'?")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().mailbox = "x"  # type: ignore[misc]


def test_parse_workers_default_zero_and_negative(tmp_path: Path) -> None:
    """Unset means one per CPU (decided at start-up); 0 is allowed; a negative count is refused."""
    assert load_settings(None, env={}).imap.parse_workers is None
    zero = _write(tmp_path, "imap:\n  parse_workers: 0\n")
    assert load_settings(zero, env={}).imap.parse_workers == 0
    bad = _write(tmp_path, "imap:\n  parse_workers: -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad, env={})
    assert f"{bad}:2: imap.parse_workers must be 0" in str(info.value)
