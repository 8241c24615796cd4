"""Lab 09's comparison of the preference methods: one table and one chart of their recorded runs.

The records are the dicts ``ftlab.preference.results`` returns (one per method, measured on the same data from the
same SFT model): accuracy changes question by question against the SFT model with their 95% intervals, per-token
preference accuracy, reply length, peak memory and training time.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ftlab import evaluation


def comparison_table(found: dict[str, dict]) -> pd.DataFrame:
    """The course's own comparison: one row per method, measured on the same data and start model; accuracy
    changes question by question against the SFT model, with their 95% intervals."""
    rows = [{"method": r["method"], "needs pairs?": "yes" if r["needs_pairs"] else "no",
             "needs a reference model?": "yes" if r["needs_reference"] else "no",
             "peak memory (MiB)": r["peak_memory_mib"], "time (s)": r["train_seconds"],
             "preference accuracy": str(evaluation.PairedComparison(**r["preference_comparison"])),
             "per token": f"{r['preference_accuracy_per_token_before']:.1%} → "
                          f"{r['preference_accuracy_per_token_after']:.1%}",
             "fact accuracy": str(evaluation.PairedComparison(**r["fact_comparison"])),
             "reply length (tokens)": f"{r['reply_tokens_before']:.1f} → {r['reply_tokens_after']:.1f}"}
            for r in found.values()]
    return pd.DataFrame(rows).set_index("method")


def comparison_chart(found: dict[str, dict]):
    """The comparison as one figure: change in held-out preference accuracy and in fact accuracy against the SFT
    model (with 95% intervals), peak memory and time per method."""
    names = [r["method"] for r in found.values()]
    colors = plt.cm.tab10.colors[: len(names)]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax, key, title in [(axes[0], "preference_comparison", "preference accuracy change\n(held-out pairs, points)"),
                           (axes[1], "fact_comparison", "fact accuracy change\nvs the SFT model (points)")]:
        changes = [evaluation.PairedComparison(**r[key]) for r in found.values()]
        centre = [100 * c.difference for c in changes]
        error = [[100 * (c.difference - c.low) for c in changes], [100 * (c.high - c.difference) for c in changes]]
        bars = ax.bar(names, centre, yerr=error, capsize=5, color=colors)
        ax.bar_label(bars, labels=[f"{v:+.1f}" for v in centre], padding=2, label_type="center")
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_title(title, fontsize=10)
    for ax, key, title, fmt in [(axes[2], "peak_memory_mib", "peak memory rise while training\n(MiB)", "{:.0f}"),
                                (axes[3], "train_seconds", "training time (s)", "{:.1f}")]:
        values = [r[key] for r in found.values()]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=2)
        ax.set_title(title, fontsize=10)
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
