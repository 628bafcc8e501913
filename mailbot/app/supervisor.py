"""Several mailboxes from one config: one child process each, supervised.

Each mailbox runs in its own ``mailbot --mailbox ADDR run`` process, so a
crash, a hung connection or a memory spike in one school's mailbox never
stalls another's, and each keeps the single-mailbox daemon's guarantees
(its own IDLE connection, jobs, reports and rules). SIGTERM and SIGINT are
passed on; a child that dies is started again after a pause.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

__all__ = ["supervise"]

log = logging.getLogger("mailbot.supervisor")
RESTART_PAUSE = 10.0


def _command(config: Path | None, mailbox: str, once: bool) -> list[str]:
    cmd = [sys.executable, "-m", "mailbot"]
    if config is not None:
        cmd += ["--config", str(config)]
    return [*cmd, "--mailbox", mailbox, "run", *(["--once"] if once else [])]


def supervise(config: Path | None, mailboxes: list[str], *, once: bool) -> int:
    """Run one child per mailbox; return the worst exit status (0 when all did well)."""
    children = {m: subprocess.Popen(_command(config, m, once)) for m in mailboxes}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if once:
            return max(child.wait() for child in children.values())
        given_up: set[str] = set()
        while not stopping:
            _restart_dead(children, config, given_up)
            time.sleep(1.0)
        return max(child.wait() for child in children.values())
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _restart_dead(
    children: dict[str, subprocess.Popen[bytes]], config: Path | None, given_up: set[str]
) -> None:
    for mailbox, child in list(children.items()):
        code = child.poll()
        if code is None or mailbox in given_up:
            continue
        if code == 78:  # a broken config stays broken: do not loop
            log.error("mailbox %s: configuration error; not restarted", mailbox)
            given_up.add(mailbox)
            continue
        log.warning(
            "mailbox %s: process exited %s; restarting in %.0f s", mailbox, code, RESTART_PAUSE
        )
        time.sleep(RESTART_PAUSE)
        children[mailbox] = subprocess.Popen(_command(config, mailbox, once=False))
