"""Benchmark: build and write the monthly report over a year's worth of facts.

Run on demand (not collected by pytest)::

    python tests/bench/bench_report.py [--messages 5000] [--repeat 3]

It generates the facts of N messages (articles, media, feedback; the rest would
be approvals, directives and automatic mail, which the report does not list)
spread over the 12 months of 2026, then times, in the same run:

* the baseline: python-docx creating and saving an empty document;
* ``build_report`` + ``write_report`` for one month (January);
* the same for a year-scope model (1 January to 31 December in one report).

It prints the best of ``--repeat`` runs and the ratio to the baseline; the goal
is under 5 s for each.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from docx import Document

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mailbot.core.model import TOPICS  # noqa: E402
from mailbot.core.monthly import (  # noqa: E402
    ArticleFact,
    FeedbackFact,
    GroupInfo,
    MediaFact,
    MonthlyInput,
    SchoolInfo,
    build_report,
    period_for,
)
from mailbot.rules_file import default_rules_dir, load_rules  # noqa: E402
from mailbot.shell.docx_writer import write_report  # noqa: E402

GOAL_SECONDS = 5.0
AUTHORS = ("Nguyễn Thị Hoa", "Phạm Văn Dũng", "Lường Thị Thu", "Đỗ Thị Lan", "Cà Văn Hùng")


def _facts(
    n: int, groups: list[str], seed: int = 2026
) -> tuple[tuple[ArticleFact, ...], tuple[MediaFact, ...], tuple[FeedbackFact, ...]]:
    """N messages' facts over 2026: ~40% articles, ~20% media, ~20% feedback."""
    rnd = random.Random(seed)
    articles, media, feedback = [], [], []
    for i in range(n):
        day = date(2026, 1, 1) + timedelta(days=rnd.randrange(365))
        topic = rnd.choice((*TOPICS, None))
        group = rnd.choice((*groups, None))
        kind = rnd.random()
        if kind < 0.4:
            approval = rnd.choice(("approved", "approved", "pending", "rejected"))
            articles.append(
                ArticleFact(
                    f"TB-{i:05d}",
                    day,
                    f"Tin bài số {i} về hoạt động của nhà trường",
                    rnd.choice(AUTHORS),
                    group,
                    topic,
                    approval,  # type: ignore[arg-type]
                    forwarded=approval == "approved" and rnd.random() < 0.7,
                    attachments_left_out=("video.mp4",) if rnd.random() < 0.02 else (),
                )
            )
        elif kind < 0.6:
            media.append(
                MediaFact(f"TL-{i:05d}", day, f"Ảnh hoạt động {i}", "Cà Văn Hùng", group, topic, 5)
            )
        elif kind < 0.8:
            state = rnd.choice(("open", "handled", "handled"))
            feedback.append(
                FeedbackFact(
                    f"PA-{i:05d}",
                    day,
                    f"Phụ huynh phản ánh việc số {i}",
                    rnd.choice(("parent", "teacher", "student")),
                    topic,
                    urgent=rnd.random() < 0.03,
                    state=state,  # type: ignore[arg-type]
                    handling="Đã trả lời phụ huynh." if state == "handled" else None,
                )
            )
    return tuple(articles), tuple(media), tuple(feedback)


def _inputs(n: int) -> tuple[MonthlyInput, MonthlyInput]:
    """The January input and the year-scope input over the same facts."""
    rules = load_rules(default_rules_dir())
    groups = tuple(GroupInfo(g.code, g.name, g.owes_article) for g in rules.groups.values())
    articles, media, feedback = _facts(n, [g.code for g in groups])
    start, end = period_for(1, 2026)
    month = MonthlyInput(
        period_start=start,
        period_end=end,
        report_date=end,
        month=1,
        year=2026,
        school=SchoolInfo(),
        groups=groups,
        topic_titles={t.numeral: t.title for t in rules.topics},
        articles=articles,
        media=media,
        feedback=feedback,
    )
    year = MonthlyInput(
        **{
            **{f: getattr(month, f) for f in month.__dataclass_fields__},
            "period_start": date(2026, 1, 1),
            "period_end": date(2026, 12, 31),
            "month": 12,
            "report_date": date(2026, 12, 31),
        }
    )
    return month, year


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    month, year = _inputs(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        baseline = _best(lambda: Document().save(str(out / "empty.docx")), args.repeat)
        results = {
            "build only, one month": _best(lambda: build_report(month), args.repeat),
            "build only, year": _best(lambda: build_report(year), args.repeat),
            "build + write, one month": _best(
                lambda: write_report(build_report(month), out / "month.docx"), args.repeat
            ),
            "build + write, year": _best(
                lambda: write_report(build_report(year), out / "year.docx"), args.repeat
            ),
        }
        sizes = {p.name: p.stat().st_size for p in out.glob("*.docx")}
    counts = build_report(year).counts
    print(
        f"{args.messages} messages: {counts['articles']} articles, {counts['media']} media, "
        f"{counts['feedback']} feedback over 2026 (January: {build_report(month).counts})"
    )
    print(f"{'baseline: python-docx empty document':40s} {baseline * 1000:9.1f} ms")
    for name, seconds in results.items():
        verdict = "ok" if seconds < GOAL_SECONDS else "OVER GOAL"
        print(f"{name:40s} {seconds * 1000:9.1f} ms  x{seconds / baseline:7.1f}  {verdict}")
    print(f"files: {sizes}")


if __name__ == "__main__":
    main()
