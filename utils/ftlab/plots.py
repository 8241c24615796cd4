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


def curves(series: dict[str, Sequence[float]], title: str, xlabel: str = "step", ylabel: str = "loss"):
    """One line per named series (e.g. train and eval loss); returns the figure."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, ys in series.items():
        ax.plot(range(1, len(ys) + 1), ys, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
