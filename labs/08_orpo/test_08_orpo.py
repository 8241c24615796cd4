"""Lab 08's own tests: its checkers accept the solutions and name the typical mistakes, and its plot shows what the
course's measured functions say."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from ftlab import labs, plots

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_orpo_plot_splits_the_loss_into_sft_and_penalty():
    fig = lab.orpo_figure(1.0, nll=2.0, log_odds_ratio=0.0)
    star = plots.line(fig, "the last logged batch, at its mean r")
    assert star.get_ydata()[0] == pytest.approx(2.0 + math.log(2))  # −λ·log σ(0) = λ·log 2

def test_lab08_solutions():
    solved = solution
    assert lab.check_orpo_lambda(solved.orpo_loss_with(1.9, -0.62, 1.0), nll=1.9, log_odds_ratio=-0.62, lam=1.0)
    assert lab.check_log_odds_ratio(solved.log_odds_ratio)


WRONG = [
    (lab.check_log_odds_ratio, lambda c, r: c - r, "ORPO uses odds"),
    (lab.check_log_odds_ratio, lambda c, r: (c - torch.log(1 - c.exp())) - (r - torch.log(1 - r.exp())),
     "not finite"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message


def test_lambda_checker_accepts_the_stated_precision():
    nll, lor = 0.6469, -1.0
    assert lab.check_orpo_lambda(1.65, nll=nll, log_odds_ratio=lor, lam=1.0)  # 1.6469 to three figures
    assert lab.check_orpo_lambda(np.float64(1.647), nll=nll, log_odds_ratio=lor, lam=1.0)
    assert "the sign" in lab.check_orpo_lambda(-0.353, nll=nll, log_odds_ratio=lor, lam=1.0).message
