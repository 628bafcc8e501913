"""Decide what happens to one classified message: the plan the shell carries out.

The plan is plain data, so a test reads it without a server, and the shell
(``app/ingest.py``) holds no rule about roles, kinds or folders.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.core.model import Classification, Mail
from mailbot.core.rules import RuleSet

__all__ = ["Plan", "decide", "quarantine_plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the message is filed, and why it is quarantined if it is."""

    folder: str
    quarantine: str | None = None


def decide(mail: Mail, cls: Classification, rules: RuleSet) -> Plan:
    """File ``mail`` in the folder its kind and group route to."""
    return Plan(folder=rules.folder_for(cls.kind, cls.group))


def quarantine_plan(reason: str, rules: RuleSet) -> Plan:
    """Send a message that could not be handled to the quarantine folder."""
    return Plan(folder=rules.routing.quarantine, quarantine=reason)
