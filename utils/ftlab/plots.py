"""The course's plots: one call per kind of picture, labelled so a student can read them alone."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt


def bars(values: dict[str, float], title: str, ylabel: str, fmt: str = "{:.2f}", ylim: tuple | None = None):
    """A labelled bar chart of named measurements; returns the figure."""
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(values)), 3.2))
    rects = ax.bar(list(values), list(values.values()), color=plt.cm.tab10.colors[: len(values)])
    ax.bar_label(rects, labels=[fmt.format(v) for v in values.values()], padding=2)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def paired(comparisons: dict, title: str):
    """Before/after accuracy bars for named paired comparisons (``evaluation.PairedComparison``); the whisker on
    each "after" bar is the 95% interval of the change, placed on the "before" level, and the label says it."""
    fig, ax = plt.subplots(figsize=(max(5, 2.6 * len(comparisons)), 3.4))
    for i, c in enumerate(comparisons.values()):
        ax.bar([2.5 * i, 2.5 * i + 1], [c.before, c.after], color=["tab:grey", "tab:blue"])
        ax.errorbar(2.5 * i + 1, c.after, yerr=[[c.difference - c.low], [c.high - c.difference]], color="black",
                    capsize=6)
        ax.text(2.5 * i + 0.5, max(c.before, c.high + c.before) + 0.04,
                f"{100 * c.difference:+.1f} pts\n[{100 * c.low:+.1f}, {100 * c.high:+.1f}]", ha="center", fontsize=9)
    ax.set_xticks([2.5 * i + j for i in range(len(comparisons)) for j in (0, 1)],
                  [f"{name}\n{when}" for name in comparisons for when in ("before", "after")], fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def curves(series: dict[str, Sequence[float] | dict[int, float]], title: str, xlabel: str = "step",
           ylabel: str = "loss"):
    """One line per named series (e.g. train and eval loss); returns the figure. A series is a list of values (at
    1, 2, 3, ...) or a ``{step: value}`` dict, drawn with markers (a single point still shows)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, ys in series.items():
        if isinstance(ys, dict):
            ax.plot(list(ys), list(ys.values()), marker="o", label=name)
        else:
            ax.plot(range(1, len(ys) + 1), ys, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def line(figure, label: str):
    """The one line of ``figure`` drawn with ``label``: tests read a knob's plot back through it."""
    (found,) = [artist for ax in figure.axes for artist in ax.lines if artist.get_label() == label]
    return found
