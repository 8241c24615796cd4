"""Lab 07's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""

import torch
import torch.nn.functional as F


def simpo_batch_loss(chosen_avg: list[float], rejected_avg: list[float], beta: float, gamma: float) -> float:
    """Exercise 1: SimPO's loss of a batch from per-token averages, mean of −log σ(β·(avg_w − avg_l) − γ)."""
    gap = torch.tensor(chosen_avg, dtype=torch.float64) - torch.tensor(rejected_avg, dtype=torch.float64)
    return float((-F.logsigmoid(beta * gap - gamma)).mean())


def simpo_loss(chosen_logps: torch.Tensor, chosen_lengths: torch.Tensor, rejected_logps: torch.Tensor,
               rejected_lengths: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """Exercise 2: the same from summed log-probabilities: divide by each answer's length first."""
    gap = chosen_logps / chosen_lengths - rejected_logps / rejected_lengths
    return -F.logsigmoid(beta * gap - gamma).mean()
