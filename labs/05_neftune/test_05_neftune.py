"""Lab 05's own tests: its checkers accept the solutions and name the typical mistakes, and its plot shows what the
course's measured functions say."""

import matplotlib
import numpy as np
import pytest
import torch

from ftlab import labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


@pytest.mark.parametrize("answer", [0.0034, 0.0035, 0.003453, np.float32(0.00345), torch.tensor(0.0034)])
def test_neftune_scale_accepts_two_significant_figures(answer):
    assert lab.check_neftune_scale(answer, alpha=5, seq_len=512, dim=4096)

def test_neftune_scale_wrong_answers():
    assert "square root covers both" in lab.check_neftune_scale(5 / 512**0.5, 5, 512, 4096).message
    assert not lab.check_neftune_scale(0.0033, 5, 512, 4096)
    assert "give a number" in lab.check_neftune_scale(None, 5, 512, 4096).message

def test_neftune_plot_finds_where_noise_equals_signal():
    fig = lab.neftune_figure(alpha=5.0, dim=128, embedding_size=0.05)
    assert "shorter than 78 tokens" in fig.axes[0].get_title()  # 5² / (0.05² · 128) = 78.1

def test_lab05_solutions():
    solved = solution
    assert lab.check_neftune_scale(solved.largest_change(5, 512, 4096), alpha=5, seq_len=512, dim=4096)
    assert lab.check_neftune_noise(solved.add_neftune_noise)


WRONG = [
    (lab.check_neftune_noise, lambda e, a: e + torch.randn_like(e) * a / (e.shape[1] * e.shape[2]) ** 0.5,
     "not normal noise"),
    (lab.check_neftune_noise, lambda e, a: e + torch.rand_like(e) * a / (e.shape[1] * e.shape[2]) ** 0.5,
     "not centred"),
    (lab.check_neftune_noise, lambda e, a: e + (2 * torch.rand_like(e) - 1) * a / e.shape[1] ** 0.5,
     "not L alone"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
