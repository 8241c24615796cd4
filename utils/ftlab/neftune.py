"""NEFTune's noise bound, and the largest change it can make once the embeddings' dtype has rounded it (Lab 05).

NEFTune adds noise drawn uniformly from ``±alpha/sqrt(L·d)`` to the input embeddings while training. The noise is
drawn, added and compared in the embeddings' dtype, so in bfloat16 each of those steps rounds: the change a lab
measures (``noisy − clean``) can exceed the bound by a few units in the last place of the *embedding values*, not
of the bound — about 1% of the bound for a real model's embeddings in bf16, ~1e-6 of it in float32.
"""

from __future__ import annotations

import torch


def noise_bound(alpha: float, seq_len: int, dim: int) -> float:
    """``alpha / sqrt(L·d)``: the largest noise NEFTune draws for a batch of ``seq_len`` tokens of width ``dim``."""
    return alpha / (seq_len * dim) ** 0.5


def max_change(alpha: float, seq_len: int, dim: int, clean: torch.Tensor) -> float:
    """The largest ``|noisy − clean|`` NEFTune can produce on the embeddings ``clean``, in their dtype.

    Three roundings, each at most half a unit in the last place (``eps/2`` relative): drawing the noise (size up to
    the bound b), adding it to an embedding value (size up to ``max|clean| + b``) and subtracting the clean value
    again. Their sum is below ``eps · (2b + max|clean|)``, which is added to the bound.
    """
    bound = noise_bound(alpha, seq_len, dim)
    eps = torch.finfo(clean.dtype).eps
    return bound + eps * (2 * bound + clean.detach().abs().max().item())
