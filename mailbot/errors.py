"""The exception tree and the exit codes the CLI maps it to.

::

    MailbotError                 exit 1   base of every error mailbot raises on purpose
    ├── UsageError               exit 2   a bad command-line argument
    ├── ConfigError              exit 78  the config file or environment is wrong (EX_CONFIG)
    │   └── RulesError           exit 2   one or more rule files are wrong (``rules check``)
    ├── SourceError              exit 1   the mailbox cannot be reached or login failed
    ├── StoreError               exit 1   the database or the store folder failed
    └── SendError                exit 1   the outgoing server refused or failed

Exit code 78 is ``EX_CONFIG`` from ``sysexits.h``: the systemd unit lists it in
``RestartPreventExitStatus`` so that a broken config is not restarted in a loop.
``RulesError`` exits 2, as the ``rules check`` command promises; the daemon
reports it at start-up like any ``ConfigError``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "MailbotError",
    "Problem",
    "RulesError",
    "SendError",
    "SourceError",
    "StoreError",
    "UsageError",
]


class MailbotError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(MailbotError):
    exit_code = 2


class ConfigError(MailbotError):
    exit_code = 78


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a file: where, what, and how to fix it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class RulesError(ConfigError):
    """Every problem found in the rule files, reported together."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(MailbotError):
    pass


class StoreError(MailbotError):
    pass


class SendError(MailbotError):
    pass
