"""Lab 04's own pieces — its exercise checkers, its knob and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets

from ftlab import estimate, units
from ftlab.checks import Feedback, as_number, as_tensor, call_safely, code_checker
from ftlab.outcomes import Expectation
from ftlab.widgets import knobs


def check_weight_memory(answer_gb, parameters: int, bits: float) -> Feedback:
    """Check a weights-memory estimate in GB (10^9 bytes) for ``parameters`` stored at ``bits`` per weight,
    accepted within 10%."""
    expected = parameters * bits / 8 / 1e9
    answer = as_number(answer_gb)
    if answer is None:
        return Feedback(False, f"give a number of GB, not {answer_gb!r}")
    if abs(answer - expected) <= 0.1 * expected:
        gib = expected * 1e9 / 2**30
        note = " (your number is closer to the size in GiB, 2³⁰ bytes; GB are 10⁹)" if abs(answer - gib) < abs(
            answer - expected) else ""
        return Feedback(True, f"≈ {expected:.1f} GB: parameters × {bits:g} bits ÷ 8 bits per byte.{note}")
    near = {}  # each typical mistake's result; where two give the same number, both are named
    near.setdefault(parameters * bits / 1e9, []).append(f"you forgot to divide {bits:g} bits by 8")
    near.setdefault(parameters * 16 / 8 / 1e9, []).append("that is the 16-bit size")
    near.setdefault(parameters * 32 / 8 / 1e9, []).append("that is the float32 size (4 bytes per weight)")
    near.setdefault(expected * 1e9 / 2**30, []).append("that is GiB (2³⁰ bytes); the exercise asks for GB (10⁹)")
    for value, hints in near.items():
        if abs(answer - value) <= 0.03 * value:
            return Feedback(False, f"{answer:g} GB: " + ", or ".join(hints))
    return Feedback(False, f"{answer:g} GB is off (expected within 10% of the right answer); "
                           "multiply the parameters by the bits per weight and divide by 8 for bytes")


BATCH_CASES = [("meta-llama/Llama-3.1-8B-Instruct", 24.0, 4, 1024), ("meta-llama/Llama-3.1-8B-Instruct", 24.0, 16, 512),
               ("meta-llama/Llama-3.2-3B-Instruct", 24.0, 16, 512), ("meta-llama/Llama-3.1-70B-Instruct", 119.2, 4,
                                                                      1024)]


def _largest_batch(shape, budget_gib: float, weight_bits: int, seq_len: int, checkpointing: bool = True,
                   unit: float = units.GIB) -> int:
    batch = 0
    while batch < 4096 and estimate.estimate_training(shape, weight_bits=weight_bits, batch_size=batch + 1,
                                                      seq_len=seq_len, gradient_checkpointing=checkpointing
                                                      ).total <= budget_gib * unit:
        batch += 1
    return batch


@code_checker
def check_largest_batch(largest_batch) -> Feedback:
    """Lab 04: ``largest_batch(shape, budget_gib, weight_bits, seq_len)`` must return the largest batch size whose
    :func:`ftlab.estimate.estimate_training` (LoRA r 16, gradient checkpointing) fits ``budget_gib``; 0 if none."""
    for model_id, budget, bits, seq_len in BATCH_CASES:
        shape = estimate.SHAPES[model_id]
        result, stop = call_safely(largest_batch, "largest_batch", shape, budget, bits, seq_len)
        if stop is not None:
            return stop
        answer = as_tensor(result)
        if answer is None or answer.numel() != 1 or answer.item() != int(answer.item()):
            return Feedback(False, f"return a whole batch size, not {result!r}")
        answer, expected = int(answer.item()), _largest_batch(shape, budget, bits, seq_len)
        if answer == expected:
            continue
        case = f"{model_id.split('/')[-1]}, {bits}-bit weights, {seq_len} tokens, {budget:g} GiB"
        if answer == expected + 1:
            hint = "that is the first batch that does *not* fit: return the one before it"
        elif answer == _largest_batch(shape, budget, bits, seq_len, unit=1e9):
            hint = "the budget is in GiB (2³⁰ bytes) and `.total` is in bytes: multiply by 2**30, not 1e9"
        elif answer == _largest_batch(shape, budget, bits, seq_len, checkpointing=False):
            hint = "estimate with gradient_checkpointing=True, as the course trains"
        elif expected == 0:
            hint = "not even batch 1 fits here: return 0"
        else:
            hint = "try batch sizes 1, 2, 3, … and keep the last whose estimate_training(...).total fits"
        return Feedback(False, f"{case}: got {answer}, the estimator allows {expected}. Hint: {hint}")
    return Feedback(True, f"right on all {len(BATCH_CASES)} budgets: the estimator says which runs fit before you "
                          "start one (8B in bf16 does not fit 24 GiB at any batch; in 4 bits it does).")


NF4_BLOCK_SIZES = [32, 64, 128, 256, 512]


def nf4_figure(weight, block_size: int, quant_type: str, double_quant: bool):
    """Relative error and stored bits per weight of ``weight`` in 4 bits, for every block size; the chosen setting
    marked."""
    import matplotlib.pyplot as plt

    from ftlab import quantization

    fig, (error_ax, bits_ax) = plt.subplots(1, 2, figsize=(9, 3))
    for kind, color in [("nf4", "tab:blue"), ("fp4", "tab:orange")]:
        runs = [quantization.roundtrip(weight, size, kind, double_quant) for size in NF4_BLOCK_SIZES]
        error_ax.plot(NF4_BLOCK_SIZES, [r.relative_error for r in runs], "o-", color=color, label=kind.upper())
        bits_ax.plot(NF4_BLOCK_SIZES, [r.bits_per_weight for r in runs], "o-", color=color, label=kind.upper())
    chosen = quantization.roundtrip(weight, block_size, quant_type, double_quant)
    error_ax.plot([block_size], [chosen.relative_error], "k*", markersize=14, label="your setting")
    bits_ax.plot([block_size], [chosen.bits_per_weight], "k*", markersize=14)
    for ax, label in [(error_ax, "relative error"), (bits_ax, "bits per weight (codes + scales)")]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("block size")
        ax.set_ylabel(label)
    error_ax.legend(fontsize=8)
    fig.suptitle(f"{quant_type.upper()}, blocks of {block_size}, double quantisation {'on' if double_quant else 'off'}:"
                 f" error {chosen.relative_error:.1%}, {chosen.bits_per_weight:.3f} bits per weight")
    fig.tight_layout()
    return fig


def nf4_explorer(weight) -> widgets.VBox:
    """Lab 04: block size, NF4 or FP4, double quantisation on or off -> error and bits per weight of one of the
    model's own weight matrices."""
    block = widgets.SelectionSlider(options=NF4_BLOCK_SIZES, value=64, description="block size")
    kind = widgets.ToggleButtons(options=["nf4", "fp4"], description="data type")
    double = widgets.Checkbox(value=True, description="double quantisation")
    return knobs([block, kind, double], lambda: nf4_figure(weight, block.value, kind.value, double.value))


THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        "qlora_accuracy": Expectation("QLoRA's held-out chat accuracy, mean over seeds", at_least=0.25, margin=0.02),
        "qlora_minus_lora": Expectation("QLoRA minus LoRA accuracy, mean over seeds", at_least=-0.3, margin=0.02),
    },
    "cpu": {
        "qlora_accuracy": Expectation("QLoRA's held-out chat accuracy, mean over seeds", at_least=0.03, margin=0.01),
        "qlora_minus_lora": Expectation("QLoRA minus LoRA accuracy, mean over seeds", at_least=-0.1, margin=0.02),
    },
}
