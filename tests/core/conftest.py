"""Fixtures for the pure core: the shipped rules, loaded once."""

from __future__ import annotations

import pytest

from mailbot.core.rules import RuleSet
from mailbot.rules_file import default_rules_dir, load_rules


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    """The project's own ``rules/``, as shipped."""
    return load_rules(default_rules_dir())
