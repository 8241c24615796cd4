"""Lab 10's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""

import torch


def gguf_gb(parameters: int, bits_per_weight: float) -> float:
    """Exercise 1: Q8_0 stores 32 int8 weights plus a 16-bit scale: 34 bytes per 32 weights, 8.5 bits per weight."""
    return parameters * bits_per_weight / 8 / 1e9


def merged_weight(weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, alpha: float,
                  r: int) -> torch.Tensor:
    """Exercise 2: what merge_and_unload writes: W + (alpha/r)·B·A, the shape of W."""
    return weight + (alpha / r) * (B @ A)
