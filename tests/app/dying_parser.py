"""A parser for the worker-pool tests: it kills its process on a marked message.

Importable by name, so a spawned worker process can load it.
"""

from __future__ import annotations

import os
import time

from mailbot.core.model import Mail, Unparseable
from mailbot.core.parse import Limits, parse_message

KILL_MARK = b"X-Test-Kill-Parser: yes"


def parse(raw: bytes, limits: Limits) -> Mail | Unparseable:
    """``parse_message``, except that a marked message ends the process as a C crash would."""
    if KILL_MARK in raw:
        os._exit(70)
    return parse_message(raw, limits)


HANG_MARK = b"X-Test-Hang-Parser: yes"


def hang(raw: bytes, limits: Limits) -> Mail | Unparseable:
    """``parse_message``, except that a marked message never finishes (a runaway parse)."""
    if HANG_MARK in raw:
        time.sleep(3600)
    return parse_message(raw, limits)
