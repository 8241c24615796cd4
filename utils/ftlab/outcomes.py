"""The measured outcomes the labs assert: one table of thresholds, and the call that checks and records them.

A lab proves its lesson with ``outcomes.expect(profile, "03.accuracy_gain", value)``: it prints the value,
its threshold and the range ``benchmarks/outcomes.py`` measured across seeds × CPU kernels
(``benchmarks/outcomes.json``), and raises ``AssertionError`` when a profile that asserts misses it. Each lab keeps
its thresholds in its own folder (``labs/NN_topic/lab.py``, ``THRESHOLDS``); profiles without thresholds (the GPU
ones) only report.

Floating-point results differ between CPUs, so a threshold must hold on all of them:
``tests/test_outcomes.py`` fails when a threshold sits closer than its margin to the worst value measured.
With ``FTLAB_OUTCOMES_LOG=<file>`` every value is appended there as a JSON line; with ``FTLAB_OUTCOMES=record``
a miss is reported instead of raised, so the benchmark sees every outcome of a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ftlab import labs
from ftlab.labs import LABS_DIR
from ftlab.paths import REPO_ROOT
from ftlab.profiles import Profile

MEASURED = REPO_ROOT / "benchmarks" / "outcomes.json"


@dataclass(frozen=True)
class Expectation:
    """A bound on one measured outcome, and how far it must stay from the worst value measured."""

    what: str
    at_least: float | None = None
    at_most: float | None = None
    margin: float = 0.0  # in the outcome's own unit

    def holds(self, value: float) -> bool:
        """True if ``value`` is within the bound."""
        return (self.at_least is None or value >= self.at_least) and (self.at_most is None or value <= self.at_most)

    def describe(self) -> str:
        """The bound in words: ``≥ 0.12`` or ``≤ 0.35``."""
        return f"≥ {self.at_least:g}" if self.at_least is not None else f"≤ {self.at_most:g}"


def margin_rise(method: str, at_least: float, margin: float) -> Expectation:
    """The bound every preference lab asserts: ``method`` raised the held-out mean chosen − rejected margin."""
    return Expectation(f"{method}: rise of the mean chosen − rejected log-prob margin on held-out pairs (nats)",
                       at_least=at_least, margin=margin)


def expectations(root: Path = LABS_DIR) -> dict[str, dict[str, Expectation]]:
    """Every lab's thresholds by profile, keyed ``NN.name``: each lab's ``THRESHOLDS`` in its own ``lab.py``."""
    table: dict[str, dict[str, Expectation]] = {}
    for lab in labs.discover(root):
        for profile, bounds in getattr(lab.module(), "THRESHOLDS", {}).items():
            table.setdefault(profile, {}).update({f"{lab.number}.{name}": bound for name, bound in bounds.items()})
    return table


def measured(profile: str, key: str) -> list[float]:
    """The values ``benchmarks/outcomes.py`` recorded for one outcome (every seed × CPU kernel), if any."""
    if not MEASURED.is_file():
        return []
    runs = json.loads(MEASURED.read_text())["runs"]
    return [run["outcomes"][key] for run in runs if run["profile"] == profile and key in run["outcomes"]]


def capability() -> str:
    """The CPU kernel set torch uses here (``ATEN_CPU_CAPABILITY`` switches it): e.g. ``AVX512``."""
    return torch.backends.cpu.get_cpu_capability()


def _log(profile: Profile, key: str, value: float) -> None:
    path = os.environ.get("FTLAB_OUTCOMES_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"profile": profile.name, "seed": profile.seed, "capability": capability(),
                                  "key": key, "value": value}) + "\n")


def expect(profile: Profile, key: str, value: float) -> float:
    """Check one measured outcome against its threshold on this profile; print both, and what was measured."""
    value = float(value)
    _log(profile, key, value)
    expectation = expectations().get(profile.name, {}).get(key)
    seen = measured(profile.name, key)
    spread = f"; measured {min(seen):.4g} to {max(seen):.4g} in {len(seen)} runs (seeds × CPU kernels)" if seen else ""
    if expectation is None:
        print(f"{key} = {value:.4g} (reported, not asserted on profile {profile.name!r}){spread}")
        return value
    verdict = "holds" if expectation.holds(value) else "MISSED"
    print(f"{key} = {value:.4g}: {expectation.what}; threshold {expectation.describe()} {verdict}{spread}")
    if not expectation.holds(value) and os.environ.get("FTLAB_OUTCOMES") != "record":
        raise AssertionError(f"{key} = {value:.4g} misses its threshold {expectation.describe()} on profile "
                             f"{profile.name!r} ({expectation.what}); see TROUBLESHOOTING.md, 'A lab's outcome check "
                             "fails'")
    return value
