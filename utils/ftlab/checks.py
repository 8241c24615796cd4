"""Exercise checkers: each says what is right, or exactly what is wrong and a hint — never just "no"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Feedback:
    """A checker's verdict; shows as Markdown in a notebook and is truthy when the answer is right."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def _repr_markdown_(self) -> str:
        return ("✅ " if self.ok else "❌ ") + self.message


def _first_difference(answer: str, expected: str) -> int:
    for i, (a, b) in enumerate(zip(answer, expected, strict=False)):
        if a != b:
            return i
    return min(len(answer), len(expected))


def check_chat_prompt(answer: str, tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> Feedback:
    """Check a hand-written chat prompt against what the tokenizer's chat template renders."""
    if not isinstance(answer, str):
        return Feedback(False, f"write the prompt as a string, not a {type(answer).__name__}")
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    if answer == expected:
        return Feedback(True, "exactly what the chat template renders — this is the text the model sees.")
    at = _first_difference(answer, expected)
    hints = []
    if tokenizer.bos_token and not answer.startswith(tokenizer.bos_token):
        hints.append(f"it must start with the BOS token {tokenizer.bos_token!r}")
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


def check_parameter_count(answer: int, model) -> Feedback:
    """Check a hand-computed parameter count against the model's own count, with a hint by how far off it is."""
    expected = model.num_parameters()
    if not isinstance(answer, int):
        return Feedback(False, f"give a whole number, not a {type(answer).__name__}")
    if answer == expected:
        return Feedback(True, f"{expected:,} parameters — right.")
    config = model.config
    embedding = config.vocab_size * config.hidden_size
    hints = []
    if answer == expected - embedding:
        hints.append("you left out one of the two vocab×hidden matrices (input embedding or LM head; "
                     "this model does not tie them)")
    elif answer < expected:
        hints.append("too low: count q/k/v/o, gate/up/down, both RMSNorm weights per layer, the final norm, "
                     "the embedding and the LM head; k and v are smaller here (grouped-query attention)")
    else:
        hints.append("too high: k_proj and v_proj have num_key_value_heads × head_dim outputs, not hidden_size")
    return Feedback(False, f"{answer:,} is off by {answer - expected:+,}; " + "; ".join(hints))
