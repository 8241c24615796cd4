"""Seconds per lab on each CPU profile, from the runs ``benchmarks/outcomes.py`` recorded (``outcomes.json``).

Every run of the outcome grid executes the labs top to bottom with nbconvert and records each lab's wall time and
torch's thread count. This prints, per profile and thread count, the median seconds of each lab over those runs and
the whole course. A run with ``OMP_NUM_THREADS=1`` (the grid's pinned streams) is no guide to a student's 2-core
laptop; the rows with torch's default threads are.

    .venv/bin/python benchmarks/lab_times.py                 # every profile in outcomes.json
    .venv/bin/python benchmarks/lab_times.py --profile cpu

To measure afresh, run the grid for one seed and capability with the default threads on an idle machine, e.g.
``benchmarks/outcomes.py --profile cpu --seeds 0 --capabilities avx512``, then this script.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "benchmarks" / "outcomes.json"


def table(runs: list[dict]) -> str:
    """A Markdown table: median seconds per lab and for the whole course, per profile × threads."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["profile"], str(run.get("threads", "torch's default"))), []).append(run)
    labs = sorted({lab for run in runs for lab in run["lab_seconds"]})
    lines = ["| profile | threads | runs | " + " | ".join(labs) + " | whole course (min) |",
             "|---|---|---|" + "---|" * (len(labs) + 1)]
    for (profile, threads), group in sorted(groups.items()):
        medians = {lab: statistics.median(seconds) for lab in labs
                   if (seconds := [r["lab_seconds"][lab] for r in group if lab in r["lab_seconds"]])}
        complete = [sum(r["lab_seconds"].values()) for r in group if set(r["lab_seconds"]) >= set(labs)]
        course = f"{statistics.median(complete) / 60:.1f}" if complete else "—"
        cells = [f"{medians[lab]:.0f}" if lab in medians else "—" for lab in labs]
        lines.append(f"| `{profile}` | {threads} | {len(group)} | " + " | ".join(cells) + f" | {course} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", help="only this profile (repeatable)")
    args = parser.parse_args()
    runs = json.loads(MEASURED.read_text())["runs"]
    print(table([r for r in runs if not args.profile or r["profile"] in args.profile]))


if __name__ == "__main__":
    main()
