"""Lab 10's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib
import numpy as np
import pytest

from ftlab import estimate, labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_gguf_size_checker():
    params = 8_030_261_248  # Llama-3.1-8B
    assert lab.check_gguf_size(8.53, params, "Q8_0")
    assert "16-bit scale" in lab.check_gguf_size(8.03, params, "Q8_0").message
    assert "bits, not bytes" in lab.check_gguf_size(68.3, params, "Q8_0").message
    assert "give a number" in lab.check_gguf_size(None, params).message
    assert not lab.check_gguf_size(4.0, params, "Q8_0")
    assert lab.check_gguf_size(16.06, params, "F16")

def test_gguf_size_every_format_and_gib():
    params = 8_030_261_248
    assert lab.check_gguf_size(4.92, params, "Q4_K_M")
    assert "GiB" in lab.check_gguf_size(params * 8.5 / 8 / 2**30, params, "Q8_0").message
    assert "knows the formats" in lab.check_gguf_size(4.9, params, "Q3_K").message
    assert lab.check_gguf_size(np.float64(8.5), params, "Q8_0")

LLAMA_8B = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]

def test_lab10_solutions():
    solved = solution
    assert lab.check_gguf_size(solved.gguf_gb(LLAMA_8B.parameters, 8.5), LLAMA_8B.parameters, "Q8_0")
    assert lab.check_merged_weight(solved.merged_weight)


WRONG = [
    (lab.check_merged_weight, lambda w, a, b, alpha, r: w + b @ a, "scale the update"),
    (lab.check_merged_weight, lambda w, a, b, alpha, r: (alpha / r) * (b @ a), "keeps W"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
