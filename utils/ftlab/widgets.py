"""The widget framework: a knob (or several) above a plot that redraws when one moves. Each lab's own widget
lives in its folder (``labs/NN_topic/lab.py``); nothing trains inside a callback."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets


def plot_in(output: widgets.Output, figure) -> None:
    """Show ``figure`` in ``output`` in place of what was there."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    output.clear_output(wait=True)
    with output:
        display(figure)
    plt.close(figure)


def knobs(controls: list, figure: Callable) -> widgets.VBox:
    """The controls above the plot ``figure()`` draws from their values, redrawn whenever one of them moves."""
    output = widgets.Output()

    def show(_=None) -> None:
        plot_in(output, figure())

    for control in controls:
        control.observe(show, names="value")
    show()
    return widgets.VBox([*controls, output])
