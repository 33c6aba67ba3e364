"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print the table, write bench/results.md.

Every number is paired with a baseline measured in the same run on the same machine, because shared
machines are noisy and only ratios travel well. Nothing here asserts: a missed target is a "NO" in
the table, not a failure (the exit code is non-zero only when a benchmark could not run at all).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from bench import ack, billing, cluster, delivery, memory, progress, quota, startup, voice, web, webhook
from bench.common import REPO, Row, Section

BENCHMARKS: dict[str, Callable[[bool], Awaitable[Section]]] = {
    "ack": ack.run,
    "webhook": webhook.run,
    "delivery": delivery.run,
    "memory": memory.run,
    "quota": quota.run,
    "billing": billing.run,
    "startup": startup.run,
    "progress": progress.run,
    "voice": voice.run,
    "cluster": cluster.run,
    "web": web.run,
}
RESULTS = REPO / "bench" / "results.md"
HEADER = ["metric", "value", "baseline", "ratio", "target", "met"]


def table(rows: list[Row]) -> str:
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def fmt(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    return "\n".join([fmt(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, lines[1:])])


async def run_all(names: list[str], quick: bool) -> list[Section]:
    sections = []
    for name in names:
        print(f"… {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            section = await BENCHMARKS[name](quick)
        except Exception as exc:
            traceback.print_exc()
            section = Section(name, [Row(f"{name}: could not run", type(exc).__name__, target="runs", met=False)])
            section.notes.append(f"{name}: {type(exc).__name__}: {exc}")
        section.seconds = time.monotonic() - started
        print(f"  {name}: {section.seconds:.1f} s", file=sys.stderr, flush=True)
        sections.append(section)
    return sections


def report(sections: list[Section], *, quick: bool, wall: float) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    mode = "`python -m bench --quick`" if quick else "`python -m bench`"
    rows = [row for section in sections for row in section.rows]
    timings = ", ".join(f"{s.name} {s.seconds:.1f} s" for s in sections)
    notes = "\n".join(f"- {note}" for section in sections for note in section.notes)
    return (
        f"# Benchmark results\n\n{mode}, {when}; {machine}; wall time {wall:.1f} s ({timings}).\n\n"
        f"{table(rows)}\n\nRatio is value ÷ baseline. Notes:\n\n{notes}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="smaller runs, one round each (noisier); about four minutes on 2 cores"
    )
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    names = args.only or list(BENCHMARKS)
    started = time.monotonic()
    sections = asyncio.run(run_all(names, args.quick))
    text = report(sections, quick=args.quick, wall=time.monotonic() - started)
    print(text)
    partial = RESULTS.with_suffix(".md.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(RESULTS)
    crashed = any(row.metric.endswith("could not run") for s in sections for row in s.rows)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
