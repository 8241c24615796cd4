"""The labs' asserted outcomes: every threshold stands clear of the worst value measured across seeds × CPU
kernels (benchmarks/outcomes.json), and the paired statistics behind them mean what they say."""

import json
import math
import random
import re
from pathlib import Path

import pytest

from ftlab import evaluation, labs, outcomes, profiles

ROOT = Path(__file__).resolve().parents[1]


def measured_runs() -> list[dict]:
    """Every run in the committed table (it must exist: thresholds are set from it)."""
    return json.loads(outcomes.MEASURED.read_text())["runs"]
EXPECTATIONS = outcomes.expectations(ROOT / "labs")
ASSERTED = [(profile, key) for profile, table in EXPECTATIONS.items() for key in table]


def test_the_table_covers_several_seeds_and_kernels_per_asserting_profile():
    for profile in EXPECTATIONS:
        runs = [run for run in measured_runs() if run["profile"] == profile]
        assert len({run["seed"] for run in runs}) >= 3, profile
        assert len({run["capability"] for run in runs}) >= 2, profile
        assert not [e for run in runs for errors in run["errors"].values() for e in errors], "a run had errors"


@pytest.mark.parametrize(("profile", "key"), ASSERTED)
def test_threshold_stands_clear_of_the_worst_measured_value(profile, key):
    expectation = EXPECTATIONS[profile][key]
    runs = [run for run in measured_runs() if run["profile"] == profile and key in run["outcomes"]]
    seen = [run["outcomes"][key] for run in runs]
    assert len(seen) >= 3 and len({run["capability"] for run in runs}) >= 2, f"{key}: too few measured runs"
    if expectation.at_least is not None:
        assert expectation.at_least <= min(seen) - expectation.margin, (key, min(seen))
    else:
        assert expectation.at_most >= max(seen) + expectation.margin, (key, max(seen))


def test_every_asserted_outcome_is_checked_by_a_lab():
    code = "".join("".join(cell["source"]) for lab in labs.discover(ROOT / "labs") for cell in lab.cells("code"))
    code += (ROOT / "utils" / "ftlab" / "preference.py").read_text()
    named = set(re.findall(r'"(\d\d\.\w+)"', code)) | {f"{lab}.{name}" for lab in ("06", "07", "08", "09")
                                                       for name in ("preference_gain_low", "margin_gain",
                                                                    "fact_gain_low")}  # via expect_gains
    assert {key for _, key in ASSERTED} <= named


def test_expect_records_then_asserts(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FTLAB_OUTCOMES_LOG", str(log))
    toy = profiles.get("toy")
    assert outcomes.expect(toy, "01.probe_accuracy", 0.99) == 0.99
    assert "threshold ≥ 0.9 holds" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="01.probe_accuracy = 0.5 misses its threshold ≥ 0.9"):
        outcomes.expect(toy, "01.probe_accuracy", 0.5)
    monkeypatch.setenv("FTLAB_OUTCOMES", "record")
    outcomes.expect(toy, "01.probe_accuracy", 0.4)  # the benchmark's record mode reports instead
    assert "MISSED" in capsys.readouterr().out
    outcomes.expect(profiles.get("spark"), "01.probe_accuracy", 0.4)  # GPU profiles report only
    assert "reported, not asserted on profile 'spark'" in capsys.readouterr().out
    assert [json.loads(line)["value"] for line in log.read_text().splitlines()] == [0.99, 0.5, 0.4, 0.4]


def test_seed_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FTLAB_SEED", "2")
    assert profiles.current().seed == 2
    monkeypatch.setenv("FTLAB_SEED", "two")
    with pytest.raises(ValueError, match="FTLAB_SEED must be a whole number"):
        profiles.current()


def binomial_p(won: int, lost: int) -> float:
    """Two-sided exact binomial test by summing the probabilities no likelier than the observed one."""
    n = won + lost
    probability = [math.comb(n, k) / 2**n for k in range(n + 1)]
    return min(1.0, sum(p for p in probability if p <= probability[won] * (1 + 1e-9)))


@pytest.mark.parametrize(("won", "lost"), [(0, 0), (5, 0), (12, 3), (30, 30), (40, 4), (3, 17)])
def test_mcnemar_is_the_exact_binomial_test(won, lost):
    assert evaluation.mcnemar_p(won, lost) == pytest.approx(binomial_p(won, lost) if won + lost else 1.0)


def test_paired_comparison_counts_and_interval():
    rng = random.Random(0)
    before = [rng.random() < 0.4 for _ in range(200)]
    after = [b or rng.random() < 0.3 for b in before]  # only ever gains
    c = evaluation.paired_comparison(before, after)
    assert c.lost == 0 and c.won + c.tied == 200
    assert c.won == sum(a and not b for a, b in zip(after, before, strict=True))
    assert c.difference == pytest.approx(c.won / 200)
    assert 0 < c.low < c.difference < c.high and c.p_value < 1e-6
    # the interval is about ±1.96 standard errors of the paired difference
    d = [int(a) - int(b) for a, b in zip(after, before, strict=True)]
    se = (sum((x - c.difference) ** 2 for x in d) / len(d)) ** 0.5 / len(d) ** 0.5
    assert c.high - c.low == pytest.approx(2 * 1.96 * se, rel=0.1)
    with pytest.raises(ValueError, match="same, non-zero number"):
        evaluation.paired_comparison([True], [])


def test_readme_counts_the_measured_runs():
    """Run counts are counted, not typed: the README's "`toy` N runs, `cpu` M" matches the committed table."""
    stated = re.search(r"`toy` (\d+) runs, `cpu` (\d+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README.md no longer states the run counts as '`toy` N runs, `cpu` M)'"
    counted = [sum(run["profile"] == profile for run in measured_runs()) for profile in ("toy", "cpu")]
    assert [int(n) for n in stated.groups()] == counted
