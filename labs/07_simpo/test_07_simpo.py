"""Lab 07's own tests: its checkers accept the solutions and name the typical mistakes, and its plot shows what the
course's measured functions say."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from ftlab import labs, losses, plots

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_simpo_plot_marks_the_target_gap():
    fig = lab.simpo_figure(2.0, 1.0, gaps=[0.1, 0.9])
    target = plots.line(fig, "target gap γ/β = 0.50")
    assert target.get_xdata()[0] == pytest.approx(0.5)
    assert "50% of the batch still below the target" in fig.axes[0].get_title()

def test_lab07_solutions():
    solved = solution
    chosen, rejected = [-0.8, -1.2, -0.4], [-1.1, -0.9, -1.6]
    assert lab.check_simpo_gamma(solved.simpo_batch_loss(chosen, rejected, 2.0, 1.0), chosen, rejected,
                                    beta=2.0, gamma=1.0)
    assert lab.check_simpo_loss(solved.simpo_loss)


WRONG = [
    (lab.check_simpo_loss, lambda cw, lw, cl, ll, b, g: losses.simpo_loss(cw, cl, b, g),
     "divide each summed log-probability"),
    (lab.check_simpo_loss, lambda cw, lw, cl, ll, b, g: -F.logsigmoid(b * (cw / lw - cl / ll - g)).mean(),
     "not β·(Δ − γ)"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message


def test_gamma_checker_accepts_the_stated_precision():
    chosen, rejected = [-0.2, -0.8], [-0.9, -0.6]
    exact = losses.simpo_loss(torch.tensor(chosen), torch.tensor(rejected), 2.0, 1.0).item()
    assert lab.check_simpo_gamma(round(exact, 3), chosen, rejected, 2.0, 1.0)
    assert lab.check_simpo_gamma(torch.tensor(exact), chosen, rejected, 2.0, 1.0)
    assert not lab.check_simpo_gamma(exact + 0.05, chosen, rejected, 2.0, 1.0)
