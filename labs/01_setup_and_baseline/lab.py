"""Lab 01's own pieces — its exercise checkers, its widget and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import ipywidgets as widgets

from ftlab import evaluation
from ftlab.checks import Feedback, as_whole, first_difference
from ftlab.outcomes import Expectation


def check_chat_prompt(answer: str, tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> Feedback:
    """Check a hand-written chat prompt against what the tokenizer's chat template renders."""
    if not isinstance(answer, str):
        return Feedback(False, f"write the prompt as a string, not a {type(answer).__name__}")
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    if answer == expected:
        return Feedback(True, "exactly what the chat template renders — this is the text the model sees.")
    at = first_difference(answer, expected)
    hints = []
    if tokenizer.bos_token and expected.startswith(tokenizer.bos_token) and not answer.startswith(tokenizer.bos_token):
        hints.append(f"it must start with the token {tokenizer.bos_token!r}")
    turns = len(messages)
    if tokenizer.eos_token and answer.count(tokenizer.eos_token) != expected.count(tokenizer.eos_token):
        hints.append(f"every one of the {turns} turns ends with the EOS token {tokenizer.eos_token!r} "
                     f"(you have {answer.count(tokenizer.eos_token)})")
    without_prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    generation_prompt = expected[len(without_prompt):]
    if add_generation_prompt and generation_prompt and not answer.endswith(generation_prompt):
        hints.append(f"it must end with the generation prompt {generation_prompt!r}, which invites the reply")
    detail = f"first difference at character {at}: you wrote {answer[at:at + 20]!r}, expected {expected[at:at + 20]!r}"
    return Feedback(False, "; ".join(hints + [detail]))


def check_parameter_count(answer, model) -> Feedback:
    """Check a hand-computed parameter count against the model's own count, with a hint from the model's config
    (tied or separate embedding and LM head, biases, grouped-query attention)."""
    expected = model.num_parameters()
    count = as_whole(answer)
    if count is None:
        return Feedback(False, f"give a whole number of parameters, not {answer!r}")
    if count == expected:
        return Feedback(True, f"{expected:,} parameters — right.")
    config = model.config
    embedding = config.vocab_size * config.hidden_size
    tied = bool(getattr(config, "tie_word_embeddings", False))
    biases = sum(p.numel() for name, p in model.named_parameters() if name.endswith(".bias"))
    if tied and count == expected + embedding:
        hint = ("this model ties its input embedding and LM head (tie_word_embeddings=True): they are one "
                "vocab×hidden matrix, counted once")
    elif not tied and count == expected - embedding:
        hint = ("you left out one of the two vocab×hidden matrices (input embedding or LM head; this model does "
                "not tie them)")
    elif biases and count == expected - biases:
        hint = f"you left out the biases ({biases:,} parameters: this model's q/k/v projections have them)"
    elif count < expected:
        hint = ("too low: count q/k/v/o, gate/up/down, both RMSNorm weights per layer, the final norm, the "
                "embedding and the LM head")
    else:
        hint = "too high: k_proj and v_proj have num_key_value_heads × head_dim outputs, not hidden_size"
    return Feedback(False, f"{count:,} is off by {count - expected:+,}; {hint}")


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


_BOTH = {  # the same bound on the toy and on SmolLM2
    "chat_above_luck": Expectation(
        "chat accuracy minus reciting a random fact, before any SFT",
        at_most=0.1, margin=0.02),
}
THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        **_BOTH,
        "probe_accuracy": Expectation("the base model completes corpus facts as plain text", at_least=0.9, margin=0.02),
    },
    "cpu": {
        **_BOTH,
        "probe_accuracy": Expectation(
            "the real model completes toy-world facts as plain text (it never read them)",
            at_most=0.1, margin=0.02),
    },
}
