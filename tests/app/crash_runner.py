"""`mailbot run --once` that kills itself with SIGKILL right after a chosen step.

Usage: ``python -m tests.app.crash_runner STEP N`` — after the N-th call of
STEP the process dies as a power cut would: no finally blocks, no rollback
beyond what the database's own transactions guarantee.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from mailbot.cli import main
from mailbot.shell.blobs import Blobs
from mailbot.shell.imap import ImapSource
from mailbot.shell.store import Store

STEPS: dict[str, tuple[type, str]] = {
    "claim": (Store, "claim_many"),
    "raw": (Blobs, "put_raw"),
    "file": (Store, "file_message"),
    "move": (ImapSource, "move"),
    "mark-moved": (Store, "mark_moved"),
    "sync-state": (Store, "save_sync_state"),
}


def _arm(step: str, nth: int) -> None:
    cls, name = STEPS[step]
    original = getattr(cls, name)
    calls = 0

    def dying(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = original(*args, **kwargs)
        calls += 1
        if calls >= nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(cls, name, dying)


if __name__ == "__main__":
    _arm(sys.argv[1], int(sys.argv[2]))
    sys.argv = ["mailbot", "run", "--once"]
    main()
