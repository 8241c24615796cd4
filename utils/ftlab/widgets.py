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
