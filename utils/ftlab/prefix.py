"""Batches of prompts that share a prefix, the prefix run once: the measurements' speed-up on a real chat model.

SmolLM2's chat template starts every prompt with the same 24 tokens (its default system prompt), 62% of it; generation
and pair scoring spent most of their time re-reading it. Here a batch is laid out as ``[shared prefix][padding]
[each prompt's own tokens]``: the prefix runs once as one row and its key/value cache is copied to every row, the
padding is masked, and the positions count on across it (what ``generate`` derives from the attention mask). The
results are those of left-padded prompts, up to float rounding (``tests/test_prefix.py``, ``tests/test_preference.py``).
"""

from __future__ import annotations

import torch
from transformers import Cache


def shared_length(sequences: list[list[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving each at least its last token of its own."""
    shared = 0
    while shared < min(map(len, sequences)) - 1 and len({ids[shared] for ids in sequences}) == 1:
        shared += 1
    return shared


def batch(sequences: list[list[int]], pad: int, device) -> tuple[int, torch.Tensor, torch.Tensor]:
    """The shared prefix's length, the token ids laid out ``[prefix][padding][own tokens]`` and their attention mask."""
    shared, width = shared_length(sequences), max(map(len, sequences))
    ids = [seq[:shared] + [pad] * (width - len(seq)) + seq[shared:] for seq in sequences]
    mask = [[1] * shared + [0] * (width - len(seq)) + [1] * (len(seq) - shared) for seq in sequences]
    return shared, torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each token's position: real tokens count on across the padding, as ``generate`` counts them."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def cache(model, input_ids: torch.Tensor, shared: int) -> Cache | None:
    """The key/value cache of the ``shared`` prefix, run once and copied to every row (``None`` without a prefix)."""
    if not shared:
        return None
    prefix_cache = model(input_ids=input_ids[:1, :shared], use_cache=True, logits_to_keep=1).past_key_values
    prefix_cache.batch_repeat_interleave(input_ids.shape[0])
    return prefix_cache
