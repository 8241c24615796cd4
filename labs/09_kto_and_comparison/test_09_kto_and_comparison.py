"""Lab 09's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib
import numpy as np
import pytest

from ftlab import labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_lab09_solutions():
    solved = solution
    assert lab.check_kto_weights(solved.desirable_weight(1000, 3000), n_desirable=1000, n_undesirable=3000)
    assert lab.check_kto_reference_point(solved.reference_point)


WRONG = [
    (lab.check_kto_reference_point, lambda p, r: (p - r).mean().detach(), "clamp at 0"),
    (lab.check_kto_reference_point, lambda p, r: (p - r).mean().clamp(min=0), "detach the result"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message


def test_weights_checker_accepts_numpy():
    assert lab.check_kto_weights(np.float64(3.5), 1000, 3000)
