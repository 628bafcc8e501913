"""The service files in deploy/: the systemd unit, the container, the example
config and the install guide agree with each other and with the code.

``systemd-analyze verify`` checks the unit offline. It also checks that the
``ExecStart`` binary exists, which it does only on an installed server, so the
test verifies a temporary copy whose ``ExecStart`` is ``/bin/true``.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from mailbot import config
from mailbot.cli import cli
from mailbot.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "mailbot.service"
EXAMPLE = DEPLOY / "mailbot.example.yaml"
CONTAINERFILE = DEPLOY / "Containerfile"
COMPOSE = DEPLOY / "compose.yaml"
INSTALL = DEPLOY.parent / "README.md"
BINARY = "/opt/mailbot/venv/bin/mailbot"
SWITCHED_OFF = "#~ "  # prefix of the example's optional settings

# --- the systemd unit ----------------------------------------------------------------


def _unit() -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) pairs in order; keys may repeat, as systemd allows."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def _service() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in _unit()["Service"]:
        out.setdefault(key, []).append(value)
    return out


HARDENING = {
    "User": "mailbot",
    "Group": "mailbot",
    "ExecStart": f"{BINARY} --config /etc/mailbot/mailbot.yaml run",
    "Restart": "on-failure",
    "RestartSec": "10",
    "EnvironmentFile": "-/etc/mailbot/mailbot.env",
    "WorkingDirectory": "/var/lib/mailbot",
    "StateDirectory": "mailbot",
    "LogsDirectory": "mailbot",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "UMask": "0027",
    "TimeoutStopSec": "60",
    "KillSignal": "SIGTERM",
}


@pytest.mark.parametrize(("key", "value"), sorted(HARDENING.items()))
def test_unit_sets(key: str, value: str) -> None:
    assert _service().get(key) == [value]


def test_unit_does_not_restart_a_bad_config() -> None:
    """78 is EX_CONFIG (ConfigError); 2 is RulesError, which the daemon raises at start-up."""
    statuses = " ".join(_service()["RestartPreventExitStatus"]).split()
    assert "78" in statuses
    assert "2" in statuses


def test_unit_filters_system_calls() -> None:
    assert _service()["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]


def test_unit_environment_and_writable_paths() -> None:
    service = _service()
    env = dict(item.split("=", 1) for item in service["Environment"])
    assert env["MAILBOT_STORE_DIR"] == "/var/lib/mailbot"
    assert env["MAILBOT_RULES_DIR"] == "/etc/mailbot/rules"
    # Only the state and log folders are writable, and systemd makes them so.
    for path in " ".join(service.get("ReadWritePaths", [])).split():
        assert path.lstrip("-") in ("/var/lib/mailbot", "/var/log/mailbot")
    assert _unit()["Install"] == [("WantedBy", "multi-user.target")]


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return tool


def _runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart on /bin/true: verify insists the binary exists."""
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={BINARY} " in text
    copy = tmp_path / "mailbot.service"
    copy.write_text(text.replace(f"ExecStart={BINARY} ", "ExecStart=/bin/true "), "utf-8")
    return copy


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _analyze()
    result = subprocess.run(
        [tool, "verify", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mailbot.service" not in result.stderr, result.stderr


def test_systemd_analyze_verify_only_misses_the_binary() -> None:
    """The unit as shipped: the one complaint allowed is the not-yet-installed binary."""
    tool = _analyze()
    result = subprocess.run(
        [tool, "verify", str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in result.stderr.splitlines() if "mailbot.service" in line]
    assert all(BINARY in line for line in complaints), result.stderr


def test_systemd_analyze_security(tmp_path: Path) -> None:
    """The offline exposure score (0 safest, 10 exposed) stays in the "OK" band."""
    tool = _analyze()
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    if found is None:
        pytest.skip(f"systemd-analyze security --offline is not available: {result.stderr}")
    assert float(found.group(1)) <= 2.0, result.stdout


# --- the example config --------------------------------------------------------------


def _example_copy(tmp_path: Path, *, all_on: bool) -> Path:
    """The example with its password files in tmp_path (they are read at load)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in ("imap-password", "smtp-password"):
        assert f"password_file: /etc/mailbot/{name}" in text
        (tmp_path / name).write_text(f"{name}-secret\n", encoding="utf-8")
        text = text.replace(f"/etc/mailbot/{name}", str(tmp_path / name))
    if all_on:
        text = text.replace(SWITCHED_OFF, "")
    copy = tmp_path / "mailbot.yaml"
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.parametrize("all_on", [False, True], ids=["as-shipped", "optional-lines-on"])
def test_example_config_loads(tmp_path: Path, all_on: bool) -> None:
    s = load_settings(_example_copy(tmp_path, all_on=all_on), env={})
    assert s.mailbox == "truyenthong@thcspomlot.edu.vn"
    assert s.school_name == "Trường THCS Pom Lót"
    assert (s.imap.host, s.imap.port, s.imap.security) == ("mail.thcspomlot.edu.vn", 993, "ssl")
    assert s.imap.password == "imap-password-secret"
    assert s.smtp.password == "smtp-password-secret"
    assert s.store_dir == Path("/var/lib/mailbot")
    assert s.rules_dir == Path("/etc/mailbot/rules")
    assert s.db_url == "sqlite:////var/lib/mailbot/mailbot.sqlite3"
    assert (s.log_file is not None) is all_on
    assert (s.replies.since is not None) is all_on


def test_example_config_matches_the_defaults(tmp_path: Path) -> None:
    """The example shows the demo school, so apart from the servers it is the defaults."""
    s = load_settings(_example_copy(tmp_path, all_on=False), env={})
    d = config.Settings()
    same = ("mailbox", "receiving_server", "trust_unauthenticated", "school_name", "replies")
    for name in (*same, "schedule", "report", "max_message_bytes", "max_attachment_bytes"):
        assert getattr(s, name) == getattr(d, name), name
    for name in ("folder", "poll_seconds", "idle_seconds", "reconcile_seconds", "batch_size"):
        assert getattr(s.imap, name) == getattr(config.ImapSettings(), name), name


def _accepted_keys() -> dict[str, tuple[str, ...]]:
    """Each mapping config.py reads ("the config", "imap", "limits", …) -> its allowed keys.

    Found in the source: every ``reader.mapping(node, "where", allowed)`` and
    ``_server_mapping(reader, node, "where", allowed)`` call, with ``allowed``
    evaluated (module tuples such as ``_REPLY_KEYS``, or a tuple in the function).
    A section added to config.py is therefore checked without editing this test.
    """
    tree = ast.parse(inspect.getsource(config))
    found: dict[str, tuple[str, ...]] = {}
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        scope: dict[str, Any] = dict(vars(config))
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        scope[target.id] = _eval(node.value, scope)
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "mapping" and len(call.args) >= 3:
                where, allowed = call.args[1], call.args[2]
            elif isinstance(f, ast.Name) and f.id == "_server_mapping":
                where, allowed = call.args[2], call.args[3]
            else:
                continue
            if isinstance(where, ast.Constant) and isinstance(where.value, str):
                found[where.value] = tuple(_eval(allowed, scope))
    return found


def _eval(node: ast.expr, scope: dict[str, Any]) -> Any:
    return eval(compile(ast.Expression(node), "<config.py>", "eval"), scope)


def _section(data: dict[str, Any], where: str) -> dict[str, Any]:
    if where == "the config":
        return data
    for part in where.split("."):
        data = data[part]
    return data


def test_example_config_names_every_key() -> None:
    """Every key config.py accepts appears in the example, so it cannot fall behind."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8").replace(SWITCHED_OFF, ""))
    accepted = _accepted_keys()
    expected_sections = {"the config", "imap", "smtp", "limits", "logging", "replies", "schedule"}
    assert expected_sections <= set(accepted), accepted
    assert accepted["the config"] == config._TOP_KEYS
    assert accepted["imap"] == (*config._SERVER_KEYS, *config._IMAP_EXTRA)
    assert accepted["smtp"] == config._SERVER_KEYS
    assert accepted["replies"] == config._REPLY_KEYS
    assert accepted["schedule"] == config._SCHEDULE_KEYS
    # mailboxes: is described in comments (a list of whole configs, one per school)
    accepted.pop("a mailboxes entry", None)
    missing = [
        f"{where}.{key}"
        for where, keys in sorted(accepted.items())
        for key in keys
        if key not in _section(data, where) and key != "mailboxes"
    ]
    assert missing == []


def test_example_config_has_no_secret() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text.replace(SWITCHED_OFF, ""))
    for server in ("imap", "smtp"):
        assert "password" not in data[server]
        assert data[server]["password_file"].startswith("/etc/mailbot/")
    for name in ("MAILBOT_IMAP_PASSWORD", "MAILBOT_SMTP_PASSWORD", "MAILBOT_DATABASE_URL"):
        assert name in text


def test_example_config_agrees_with_the_unit() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    env = dict(item.split("=", 1) for item in _service()["Environment"])
    assert data["store_dir"] == env["MAILBOT_STORE_DIR"] == _service()["WorkingDirectory"][0]
    assert data["rules_dir"] == env["MAILBOT_RULES_DIR"]


# --- the container -------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in CONTAINERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), " ".join(rest.split())))
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"
    return out


def _first(instruction: str) -> str:
    return next(args for word, args in _instructions() if word == instruction)


def test_containerfile_shape() -> None:
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in steps if word == "USER"]
    assert users == ["mailbot"]
    assert [word for word, _ in steps][-2:] == ["ENTRYPOINT", "CMD"]
    assert _first("ENTRYPOINT") == '["mailbot"]'
    assert _first("CMD") == '["run"]'
    assert _first("VOLUME") == "/var/lib/mailbot"
    assert "MAILBOT_STORE_DIR=/var/lib/mailbot" in _first("ENV").split()
    health = _first("HEALTHCHECK")
    assert health.endswith('CMD ["mailbot", "status", "--json"]')
    assert "--uid 10001" in _first("RUN") and _first("RUN").endswith(" mailbot")


def test_containerfile_copies_what_exists() -> None:
    sources = [
        src
        for word, args in _instructions()
        if word == "COPY"
        for src in args.split()[:-1]
        if not src.startswith("--")
    ]
    assert {"pyproject.toml", "mailbot/", "rules/", "templates/"} <= set(sources)
    for src in sources:
        assert (ROOT / src).exists(), src


def _run_commands() -> list[str]:
    return [
        " ".join(part.split())
        for word, args in _instructions()
        if word == "RUN"
        for part in args.split("&&")
    ]


def _doc_commands() -> list[str]:
    """Each command line of the install guide's sh blocks, without sudo."""
    text = INSTALL.read_text(encoding="utf-8")
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(re.sub(r"\s#\s.*$", "", line).split())
            lines.append(command.removeprefix("sudo "))
    return lines


def _adapted(run: str) -> str:
    """A container step written as on a server: the source in /opt/mailbot/src."""
    for only_here in ("--no-cache-dir ", "--uid 10001 "):
        run = run.replace(only_here, "")
    return run.replace("/app", "/opt/mailbot/src")


def test_container_steps_are_the_install_steps_in_order() -> None:
    doc = _doc_commands()
    positions = []
    for run in _run_commands():
        assert _adapted(run) in doc, f"container step not in README.md: {run}"
        positions.append(doc.index(_adapted(run)))
    assert positions == sorted(positions)
    assert any("pip install " in run and "-e '/app[postgres]'" in run for run in _run_commands())
    clone = next(i for i, line in enumerate(doc) if line.startswith("git clone "))
    assert doc[clone].endswith(" /opt/mailbot/src")
    assert doc.index("python3 -m venv /opt/mailbot/venv") > clone


def test_compose_file() -> None:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    bot = data["services"]["mailbot"]
    assert (COMPOSE.parent / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == (
        CONTAINERFILE
    )
    assert bot["env_file"] == ["mailbot.env"]
    volumes = [v.split(":") for v in bot["volumes"]]
    named = [v for v in volumes if not v[0].startswith((".", "/"))]
    assert named == [["store", "/var/lib/mailbot"]]
    assert "store" in data["volumes"]
    assert ["./mailbot.yaml", "/etc/mailbot/mailbot.yaml", "ro"] in volumes
    assert bot["environment"]["MAILBOT_STORE_DIR"] == "/var/lib/mailbot"
    db = data["services"]["db"]
    assert db["image"] == "postgres:16"
    assert db["profiles"] == ["postgres"]
    assert bot["depends_on"]["db"]["required"] is False
    url = "MAILBOT_DATABASE_URL=postgresql+psycopg://mailbot:...@db:5432/mailbot"
    assert url in COMPOSE.read_text(encoding="utf-8")


# --- the install guide and the command line ------------------------------------------


def _invocations() -> Iterator[tuple[str, list[str]]]:
    """Every mailbot command line in the guide, the unit and the Containerfile."""
    for line in _doc_commands():
        if line.startswith(("mb ", f"{BINARY} ")):
            yield line, shlex.split(line)[1:]
    exec_start = _service()["ExecStart"][0]
    yield exec_start, exec_start.split()[1:]
    health = _first("HEALTHCHECK")
    check = json.loads(health[health.index("CMD [") + 4 :])  # not run through ENTRYPOINT
    start = json.loads(_first("ENTRYPOINT")) + json.loads(_first("CMD"))
    for entry, *args in (check, start):
        assert entry == "mailbot"
        yield f"Containerfile: {entry} {' '.join(args)}", args


def test_every_command_in_the_guide_exists() -> None:
    """Each `mailbot …` the guide tells IT to type is a real command with real options."""
    seen = set()
    for line, words in _invocations():
        command: click.Command = cli
        path: list[str] = []
        rest = list(words)
        while rest:
            word = rest.pop(0)
            if word.startswith("-"):
                options = {opt: p for p in command.params for opt in p.opts}
                assert word in options, f"{line}: {word} is not an option of {path}"
                option = options[word]
                if isinstance(option, click.Option) and not option.is_flag:
                    rest.pop(0)  # its value
                continue
            assert isinstance(command, click.Group), f"{line}: {path} takes no {word}"
            assert word in command.commands, f"{line}: no command {word!r} under {path}"
            command = command.commands[word]
            path.append(word)
        assert not isinstance(command, click.Group), f"{line}: {path} needs a subcommand"
        seen.add(" ".join(path))
    assert {"run", "status", "db upgrade", "rules check"} <= seen


def test_ci_installs_systemd() -> None:
    packages = (ROOT / ".ci" / "apt-packages").read_text(encoding="utf-8").split()
    assert "systemd" in packages
