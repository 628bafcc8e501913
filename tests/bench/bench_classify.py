"""Benchmark: parse + classify against mail-parser alone and a bare stdlib parse.

Run on demand (not collected by pytest)::

    python tests/bench/bench_classify.py [--messages 2000] [--repeat 3]

It repeats the shared corpus to N messages, then times, in the same run and
on the same bytes: ``email.message_from_bytes`` (the baseline), mail-parser's
``parse_from_bytes``, mailbot's ``parse_message`` and ``parse_message`` +
``classify``. It prints messages per second and ratios; the issue's goal is
parse+classify >= 0.8x mail-parser alone. Word-file extraction is timed apart.
"""

from __future__ import annotations

import argparse
import email
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mailparser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mailbot.core.classify import classify  # noqa: E402
from mailbot.core.model import Mail  # noqa: E402
from mailbot.core.parse import Limits, parse_message  # noqa: E402
from mailbot.rules_file import default_rules_dir, load_rules  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def _best(fn: Callable[[bytes], object], data: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for raw in data:
            fn(raw)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    files = sorted(CORPUS.glob("*.eml"))
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    data = [files[i % len(files)].read_bytes() for i in range(args.messages)]
    rules = load_rules(default_rules_dir())
    no_docx = Limits(max_docx_text_chars=0)

    def both(raw: bytes) -> None:
        mail = parse_message(raw)
        if isinstance(mail, Mail):
            classify(mail, rules)

    def both_no_docx(raw: bytes) -> None:
        mail = parse_message(raw, no_docx)
        if isinstance(mail, Mail):
            classify(mail, rules)

    rows = [
        ("email.message_from_bytes (baseline)", email.message_from_bytes),
        ("mailparser.parse_from_bytes", mailparser.parse_from_bytes),
        ("mailbot parse_message", parse_message),
        ("mailbot parse_message + classify", both),
        ("  same, without .docx text", both_no_docx),
    ]
    times = {name: _best(fn, data, args.repeat) for name, fn in rows}
    base = times[rows[0][0]]
    mp = times[rows[1][0]]
    mb = sum(len(d) for d in data) / 1e6
    print(f"{len(data)} messages ({mb:.1f} MB), best of {args.repeat} runs\n")
    print(f"{'step':40} {'msg/s':>9} {'vs stdlib':>10} {'vs mail-parser':>15}")
    for name, _ in rows:
        t = times[name]
        print(f"{name:40} {len(data) / t:9.0f} {base / t:9.2f}x {mp / t:14.2f}x")
    ratio = mp / times[rows[4][0]]
    docx = mp / times[rows[3][0]]
    print(f"\nparse+classify vs mail-parser, .docx extraction apart: {ratio:.2f}x (goal >= 0.80x)")
    print(f"parse+classify vs mail-parser, .docx text extracted too: {docx:.2f}x")


if __name__ == "__main__":
    main()
