"""Lab 02's own pieces — its exercise checkers and its widget.

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ftlab.checks import Feedback, as_whole, code_checker, lora_cases, scalar_check


def check_lora_parameters(answer, shape, r: int, targets: list[str]) -> Feedback:
    """Check a hand count of LoRA's trainable parameters for ``shape`` with rank ``r`` on ``targets``."""
    from ftlab.estimate import lora_parameters

    expected = lora_parameters(shape, r, targets)
    answer = as_whole(answer)
    if answer is None:
        return Feedback(False, "give a whole number of parameters")
    if answer == expected:
        return Feedback(True, f"{expected:,} trainable parameters — r × (in + out) per target, per layer.")
    per_layer = expected // shape.num_layers
    dims = shape.linear_shapes()
    if answer == per_layer:
        hint = f"that is one layer; the model has {shape.num_layers}"
    elif answer == shape.num_layers * sum(a * b for name, (a, b) in dims.items() if name in targets):
        hint = "that is the size of the frozen weights W; LoRA trains A (r × in) and B (out × r) instead"
    elif answer == shape.num_layers * sum(r * a for name, (a, _) in dims.items() if name in targets):
        hint = "you counted only A (r × in); B (out × r) is trained too"
    else:
        hint = "per target it is r × (in + out); k_proj and v_proj have a smaller output (grouped-query attention)"
    return Feedback(False, f"{answer:,} is off by {answer - expected:+,}: {hint}")


def _lora_reference(x, weight, a, b, alpha, r) -> torch.Tensor:
    from ftlab.lora import LoRALinear

    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
        lora = LoRALinear(layer, r=r, alpha=alpha)
        lora.lora_A.copy_(a)
        lora.lora_B.copy_(b)
        return lora(x)


@code_checker
def check_lora_forward(lora_forward) -> Feedback:
    """Lab 02: ``lora_forward(x, weight, A, B, alpha, r)`` must equal :class:`ftlab.lora.LoRALinear` (itself
    checked against PEFT's layer): ``x·Wᵀ + (alpha/r)·x·Aᵀ·Bᵀ``."""

    def mistakes(x, weight, a, b, alpha, r):
        base, update = x @ weight.T, x @ a.T @ b.T
        return [(base, "the adapter's path is missing: add (alpha/r)·x·Aᵀ·Bᵀ to the frozen x·Wᵀ"),
                (base + update, "the update is scaled by alpha / r"),
                (base + alpha * update, "the scale is alpha / r, not alpha"),
                (base + r / alpha * update, "the scale is alpha / r, not r / alpha"),
                ((alpha / r) * update, "the frozen path x·Wᵀ is missing: LoRA adds to it")]

    return scalar_check(lora_forward, "lora_forward", lora_cases(), _lora_reference, mistakes,
                         "A is r × in and B is out × r, so the update is x·Aᵀ·Bᵀ, scaled by alpha / r",
                         "equal to the course's LoRALinear (and so to PEFT) on all 3 cases: "
                         "y = x·Wᵀ + (alpha/r)·x·Aᵀ·Bᵀ, without ever forming B·A.")


def lora_explorer(shapes: dict, batch_size: int, seq_len: int) -> widgets.VBox:
    """Rank, alpha and target modules -> trainable parameters, adapter size and training-memory estimate."""
    from ftlab.estimate import GIB, estimate_training, lora_parameters

    model = widgets.Dropdown(options=list(shapes), description="model")
    rank = widgets.SelectionSlider(options=[1, 2, 4, 8, 16, 32, 64, 128], value=16, description="rank r")
    alpha = widgets.IntSlider(value=32, min=1, max=256, description="alpha")
    targets = widgets.SelectMultiple(options=list(next(iter(shapes.values())).linear_shapes()),
                                     value=["q_proj", "v_proj"], description="targets", rows=7)
    output = widgets.Output()

    def show(_=None) -> None:
        shape, chosen = shapes[model.value], list(targets.value)
        output.clear_output()
        with output:
            if not chosen:
                print("pick at least one target module")
                return
            trainable = lora_parameters(shape, rank.value, chosen)
            lora = estimate_training(shape, weight_bits=16, lora_r=rank.value, targets=chosen,
                                     batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=True)
            qlora = estimate_training(shape, weight_bits=4, lora_r=rank.value, targets=chosen,
                                      batch_size=batch_size, seq_len=seq_len, gradient_checkpointing=True)
            print(f"trainable: {trainable:,} of {shape.parameters:,} parameters ({trainable / shape.parameters:.3%})")
            print(f"adapter file: {trainable * 4 / 2**20:,.1f} MiB in float32 (the base model is not in it)")
            print(f"scaling alpha/r = {alpha.value / rank.value:g}: how strongly the update counts")
            print(f"training memory, batch {batch_size} x {seq_len} tokens, checkpointing: "
                  f"LoRA bf16 ≈ {lora.total / GIB:,.1f} GiB, QLoRA 4-bit ≈ {qlora.total / GIB:,.1f} GiB")

    for control in (model, rank, alpha, targets):
        control.observe(show, names="value")
    show()
    return widgets.VBox([model, rank, alpha, targets, output])
