"""Lab 04's exercises, solved (tests/test_exercises.py runs each through the lab's checker)."""

from ftlab import estimate


def weights_gb(parameters: int, bits: float) -> float:
    """Exercise 1: parameters × bits per weight ÷ 8 bits per byte, in GB (10⁹ bytes)."""
    return parameters * bits / 8 / 1e9


def largest_batch(shape, budget_gib: float, weight_bits: int, seq_len: int) -> int:
    """Exercise 2: grow the batch while the estimate (LoRA r 16, checkpointing) still fits the budget."""
    batch = 0
    while estimate.estimate_training(shape, weight_bits=weight_bits, lora_r=16, batch_size=batch + 1,
                                     seq_len=seq_len, gradient_checkpointing=True).total <= budget_gib * 2**30:
        batch += 1
    return batch
