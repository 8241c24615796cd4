"""Lab 10's own pieces — its exercise checkers, its widget and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from ftlab.checks import Feedback, as_number, code_checker, lora_cases, scalar_check
from ftlab.outcomes import Expectation

# Q8_0: blocks of 32 int8 weights + one fp16 scale = 34 bytes; Q4_K_M: a mix of 4- and 6-bit k-quant blocks with
# their scales, ~4.9 bits per weight on Llama-3.1-8B (llama.cpp's quantize report).
GGUF_BITS_PER_WEIGHT = {"F16": 16.0, "Q8_0": 8.5, "Q4_K_M": 4.9}


def check_gguf_size(answer_gb, parameters: int, kind: str = "Q8_0") -> Feedback:
    """Check an estimate, in GB (10⁹ bytes), of a GGUF file's size: parameters × bits per weight / 8, within 3%."""
    if kind not in GGUF_BITS_PER_WEIGHT:
        return Feedback(False, f"the checker knows the formats {', '.join(GGUF_BITS_PER_WEIGHT)}, not {kind!r}")
    answer = as_number(answer_gb)
    if answer is None:
        return Feedback(False, f"give a number of GB, not {answer_gb!r}")
    bits = GGUF_BITS_PER_WEIGHT[kind]
    expected = parameters * bits / 8 / 1e9
    if abs(answer - expected) <= 0.03 * expected:
        return Feedback(True, f"about {expected:.1f} GB: {bits:g} bits per weight for {kind}, scales included")
    mistakes = {expected * 1e9 / 2**30: "that is GiB (2³⁰ bytes); the exercise asks for GB (10⁹ bytes)",
                parameters * bits / 1e9: "that is bits, not bytes: divide by 8"}
    if kind == "Q8_0":
        mistakes[parameters / 1e9] = ("close, but Q8_0 is not exactly 8 bits: every block of 32 weights also stores "
                                      "a 16-bit scale (34 bytes per 32 weights)")
    nearest = min(mistakes, key=lambda value: abs(answer - value))
    if abs(answer - nearest) <= 0.03 * nearest:
        return Feedback(False, mistakes[nearest])
    return Feedback(False, f"{answer:g} GB is off: multiply the parameters by {kind}'s bits per weight, divide "
                           "by 8 for bytes and by 10⁹ for GB")


def _peft_merged(weight, a, b, alpha, r) -> torch.Tensor:
    """The weight PEFT's ``merge_and_unload`` writes for a LoRA adapter (A, B) on a linear layer ``weight``."""
    from peft import LoraConfig, get_peft_model

    holder = torch.nn.Sequential()
    holder.proj = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        holder.proj.weight.copy_(weight)
    model = get_peft_model(holder, LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"]))
    with torch.no_grad():
        model.base_model.model.proj.lora_A["default"].weight.copy_(a)
        model.base_model.model.proj.lora_B["default"].weight.copy_(b)
    return model.merge_and_unload().proj.weight.detach()


@code_checker
def check_merged_weight(merged_weight) -> Feedback:
    """Lab 10: ``merged_weight(weight, A, B, alpha, r)`` must return the weight PEFT's ``merge_and_unload``
    writes: W + (alpha/r)·B·A."""
    cases = [(weight, a, b, alpha, r) for _, weight, a, b, alpha, r in lora_cases()]

    def mistakes(weight, a, b, alpha, r):
        update = b @ a
        return [(weight + update, "scale the update by alpha / r"),
                (weight + alpha * update, "the scale is alpha / r, not alpha"),
                ((alpha / r) * update, "the merged weight keeps W: W + (alpha/r)·B·A"),
                (weight, "nothing was merged: add (alpha/r)·B·A to W")]

    return scalar_check(merged_weight, "merged_weight", cases, _peft_merged, mistakes,
                         "B (out × r) times A (r × in) is out × in, the shape of W: W + (alpha/r)·B·A",
                         "the weight PEFT's merge_and_unload writes, on all 3 layers: after merging, the "
                         "model needs no adapter code, which is what llama.cpp loads.")


def gguf_playground(runners: dict[str, object], hf_replies: dict[str, str]) -> widgets.VBox:
    """Ask the exported GGUF files in llama.cpp: pick a question, a format and a temperature; the HF model's greedy
    reply is shown for comparison, with whether the GGUF's reply stopped at EOS."""
    from ftlab import export

    question = widgets.Dropdown(options=list(hf_replies), description="question")
    fmt = widgets.ToggleButtons(options=list(runners), description="format")
    temperature = widgets.FloatSlider(value=0.0, min=0.0, max=1.5, step=0.25, description="temperature")
    output = widgets.Output()

    def show(_=None) -> None:
        reply, finish = export.chat(runners[fmt.value], question.value, temperature=temperature.value)
        output.clear_output()
        with output:
            print(f"HF (greedy):    {hf_replies[question.value]!r}")
            print(f"{fmt.value} GGUF:{' ' * max(1, 10 - len(fmt.value))}{reply!r}  (finish_reason={finish!r})")

    for control in (question, fmt, temperature):
        control.observe(show, names="value")
    show()
    return widgets.VBox([question, fmt, temperature, output])


THRESHOLDS = {  # toy only: on cpu the accuracy changes have 1 measured run and are reported; every profile asserts
    # the llama.cpp checks (tokens, logits, greedy replies, stops) and the merge in the notebook itself
    "toy": {
        "f16_accuracy_change": Expectation("|accuracy of the f16 GGUF − the HF model's|", at_most=0.02),
        "q8_accuracy_change": Expectation("|accuracy of the Q8_0 GGUF − the HF model's|", at_most=0.04, margin=0.01),
        "q4_accuracy_drop": Expectation("accuracy of the HF model − the Q4_K_M GGUF's", at_most=0.2, margin=0.02),
        "stopped_at_eos": Expectation("share of GGUF chat replies that stopped at EOS (worst format)", at_least=0.95),
    },
    "cpu": {
    },
}
