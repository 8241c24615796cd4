"""Lab 02's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib
import numpy as np
import pytest

from ftlab import estimate, labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_lora_parameters_accepts_floats_and_numpy():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    right = estimate.lora_parameters(shape, 8, ["q_proj", "v_proj"])
    for style in (right, float(right), np.int64(right)):
        assert lab.check_lora_parameters(style, shape, r=8, targets=["q_proj", "v_proj"])
    one_layer = lab.check_lora_parameters(right // shape.num_layers, shape, 8, ["q_proj", "v_proj"])
    assert "one layer" in one_layer.message

LLAMA_8B = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]

def test_lab02_solutions():
    solved = solution
    assert lab.check_lora_parameters(solved.lora_parameter_count(LLAMA_8B, 8, ["q_proj", "v_proj"]), LLAMA_8B,
                                        r=8, targets=["q_proj", "v_proj"])
    assert lab.check_lora_forward(solved.lora_forward)

def test_a_checker_hands_over_copies():
    """A function that changes its inputs in place cannot spoil the checker's cases for a later, right answer."""
    def in_place(x, w, a, b, alpha, r):
        w.mul_(0)
        return x @ a.T
    assert not lab.check_lora_forward(in_place)
    assert lab.check_lora_forward(solution.lora_forward)


WRONG = [
    (lab.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + x @ a.T @ b.T, "scaled by alpha / r"),
    (lab.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + alpha * (x @ a.T @ b.T),
     "not alpha"),
    (lab.check_lora_forward, lambda x, w, a, b, alpha, r: x @ w.T + (alpha / r) * (x @ b @ a),
     "raised RuntimeError"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
