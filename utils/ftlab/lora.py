"""LoRA written out by hand, for teaching: a frozen linear layer plus a trainable low-rank update.

    y = W x + (alpha / r) · B (A x)        W: out×in (frozen), A: r×in, B: out×r

A starts random and B at zero, so at step 0 the layer computes exactly W x. Merging folds the update into
W (W ← W + (alpha/r)·B A) so inference costs nothing extra; unmerging takes it out again. Lab 02 checks this
layer against PEFT's own LoRA layer on the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` with a rank-``r`` LoRA update, initialised like PEFT's default, created on the base
    layer's device and in its dtype."""

    def __init__(self, base: nn.Linear, r: int, alpha: float) -> None:
        super().__init__()
        if r <= 0:
            raise ValueError(f"LoRA rank r must be positive, got {r}")
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        # On the base layer's device and dtype, as PEFT does: a layer on CUDA gets its adapter on CUDA.
        like = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **like))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **like))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default for A; B stays zero
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """The update LoRA adds to W: (alpha / r) · B @ A, an out×in matrix of rank at most r."""
        return self.scaling * self.lora_B @ self.lora_A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W x (+ b), plus the low-rank path unless it is already merged into W."""
        out = self.base(x)
        if not self.merged:
            out = out + self.scaling * (x @ self.lora_A.T @ self.lora_B.T)
        return out

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into W: afterwards the layer is a plain linear layer with no extra cost."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update back out of W (to keep training, or to swap adapters)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def trainable_parameters(self) -> int:
        """r × (in + out): all that LoRA trains for this layer."""
        return self.lora_A.numel() + self.lora_B.numel()
