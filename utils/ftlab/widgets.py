"""Widgets where a knob teaches: change it, see the effect straight away."""

from __future__ import annotations

import ipywidgets as widgets

from ftlab import evaluation


def chat_vs_plain(model, tokenizer, questions: list[str]) -> widgets.VBox:
    """Pick a question and a format (chat template or plain text); shows exactly what the model sees and says."""
    question = widgets.Dropdown(options=questions, description="question")
    use_template = widgets.ToggleButtons(options=["chat template", "plain text"], description="format")
    tokens = widgets.IntSlider(value=24, min=4, max=64, step=4, description="max tokens")
    output = widgets.Output()

    def show(_=None) -> None:
        if use_template.value == "chat template":
            generation = evaluation.chat_replies(model, tokenizer, [question.value], tokens.value)[0]
        else:
            generation = evaluation.completions(model, tokenizer, [question.value], tokens.value)[0]
        output.clear_output()
        with output:
            print(f"the model sees: {generation.prompt!r}\nthe model says: {generation.text!r}")

    for control in (question, use_template, tokens):
        control.observe(show, names="value")
    show()
    return widgets.VBox([question, use_template, tokens, output])


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
