"""Lab 06's own tests: its checkers accept the solutions and name the typical mistakes, and its plot shows what the
course's measured functions say."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from ftlab import labs, losses, plots

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_dpo_beta_normalises_words_and_survives_extreme_margins():
    margins = [2.0, 3.0, -0.5]
    for word in ("lower", "Lower", "lower ", " LOWER"):
        assert lab.check_dpo_beta(word, margins, 0.1, 0.5)
    assert lab.check_dpo_beta("higher", [-1e6, -2.0], 0.1, 0.5)  # no OverflowError
    assert "one word" in lab.check_dpo_beta(None, margins, 0.1, 0.5).message

def test_dpo_plot_is_the_dpo_loss():
    fig = lab.dpo_figure(0.5, margins=[-2.0, 4.0])
    curve = plots.line(fig, "β = 0.5")
    m, y = curve.get_xdata(), curve.get_ydata()
    i = int(abs(m - 3.0).argmin())
    one_pair = losses.dpo_loss(torch.tensor([float(m[i])]), torch.zeros(1), torch.zeros(1), torch.zeros(1), 0.5)
    assert y[i] == pytest.approx(one_pair.item())
    assert "mean loss of the batch" in fig.get_suptitle()

def test_lab06_solutions():
    solved = solution
    margins = [3.0, 1.5, -0.5, 2.0]
    assert lab.check_dpo_beta(solved.predict_beta_effect(margins, 0.1, 0.5), margins, beta=0.1, new_beta=0.5)
    assert lab.check_dpo_loss(solved.dpo_loss)


WRONG = [
    (lab.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pr - rr) - (pc - rc))).mean(),
     "the sign"),
    (lab.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)).mean(),
     "the reference is missing"),
    (lab.check_dpo_loss, lambda pc, pr, rc, rr, b: -torch.log(torch.sigmoid(b * ((pc - rc) - (pr - rr)))
                                                                      ).mean(), "not finite"),
    (lab.check_dpo_loss, lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pc - rc) - (pr - rr))),
     "average over the pairs"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
