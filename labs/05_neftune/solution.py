"""Lab 05's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""

import torch


def largest_change(alpha: float, seq_len: int, dim: int) -> float:
    """Exercise 1: NEFTune's bound on one embedding value, alpha / sqrt(L·d)."""
    return alpha / (seq_len * dim) ** 0.5


def add_neftune_noise(embeddings: torch.Tensor, alpha: float) -> torch.Tensor:
    """Exercise 2: uniform noise in ±alpha/sqrt(L·d) for a (batch, L, d) tensor, a fresh draw per value."""
    seq_len, dim = embeddings.shape[1], embeddings.shape[2]
    bound = alpha / (seq_len * dim) ** 0.5
    return embeddings + torch.empty_like(embeddings).uniform_(-bound, bound)
