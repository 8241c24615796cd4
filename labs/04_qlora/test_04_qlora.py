"""Lab 04's own tests: its checkers accept the solutions and name the typical mistakes."""

import matplotlib
import numpy as np
import pytest
import torch

from ftlab import estimate, labs

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


def test_weight_memory_hints_name_each_mistake():
    params = 72_700_000_000
    for style in (36.35, np.float64(36.0), torch.tensor(35.0)):
        assert lab.check_weight_memory(style, params, bits=4)
    in_gib = lab.check_weight_memory(params * 0.5 / 2**30, params, bits=4)  # within the 10% asked for...
    assert in_gib and "closer to the size in GiB" in in_gib.message  # ...but told
    assert "16-bit size" in lab.check_weight_memory(145.4, params, bits=4).message
    four_bytes = lab.check_weight_memory(290.8, params, bits=4).message  # ×4 bytes: float32, or ÷8 forgotten
    assert "forgot to divide 4 bits by 8" in four_bytes and "float32" in four_bytes
    assert "forgot to divide 8 bits by 8" in lab.check_weight_memory(581.6, params, bits=8).message
    assert "give a number" in lab.check_weight_memory("36", params, bits=4).message

def test_lab04_solutions():
    solved = solution
    qwen = estimate.SHAPES["Qwen/Qwen2.5-72B-Instruct"].parameters
    assert lab.check_weight_memory(solved.weights_gb(qwen, 4), qwen, bits=4)
    assert lab.check_largest_batch(solved.largest_batch)


WRONG = [
    (lab.check_largest_batch, lambda s, b, w, L: solution.largest_batch(s, b, w, L) + 1,
     "first batch that does *not* fit"),
    (lab.check_largest_batch, lambda s, b, w, L: next(
        n for n in range(10_000) if estimate.estimate_training(s, weight_bits=w, batch_size=n + 1, seq_len=L,
                                                               gradient_checkpointing=True).total > b * 1e9),
     "multiply by 2**30"),
]


@pytest.mark.parametrize(("checker", "wrong", "hint"), WRONG, ids=[f"{c.__name__}-{h}" for c, _, h in WRONG])
def test_a_typical_mistake_gets_its_own_hint(checker, wrong, hint):
    feedback = checker(wrong)
    assert not feedback and hint in feedback.message, feedback.message
