"""Lab 09's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""

import torch


def desirable_weight(n_desirable: int, n_undesirable: int, undesirable_weight: float = 1.0) -> float:
    """Exercise 1: the middle of the paper's range, desirable examples weighing 7/6 of the undesirable ones."""
    return 7 / 6 * undesirable_weight * n_undesirable / n_desirable


def reference_point(policy_kl_logps: torch.Tensor, reference_kl_logps: torch.Tensor) -> torch.Tensor:
    """Exercise 2: KTO's z₀, the batch's mean log-ratio on mismatched pairs, never negative, without gradient."""
    return (policy_kl_logps - reference_kl_logps).mean().clamp(min=0).detach()
