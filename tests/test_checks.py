"""ftlab.checks: exercise checkers accept the right answer and say precisely what is wrong otherwise."""

import pytest

from ftlab import checks, models, profiles


@pytest.fixture(scope="module")
def toy():
    return models.load(profiles.get("toy"))


CHAT = [{"role": "user", "content": "Where does the zarp live?"}]


def test_chat_prompt_right_answer(toy):
    _, tok = toy
    feedback = checks.check_chat_prompt("<s><|user|>Where does the zarp live?</s><|assistant|>", tok, CHAT)
    assert feedback and feedback._repr_markdown_().startswith("✅")


@pytest.mark.parametrize(("answer", "hint"), [
    ("<|user|>Where does the zarp live?</s><|assistant|>", "must start with the BOS token '<s>'"),
    ("<s><|user|>Where does the zarp live?<|assistant|>", "ends with the EOS token '</s>' (you have 0)"),
    ("<s><|user|>Where does the zarp live?</s>", "must end with the generation prompt '<|assistant|>'"),
    ("<s><|user|> Where does the zarp live?</s><|assistant|>", "first difference at character 11"),
    (None, "write the prompt as a string"),
])
def test_chat_prompt_wrong_answers_get_specific_hints(toy, answer, hint):
    _, tok = toy
    feedback = checks.check_chat_prompt(answer, tok, CHAT)
    assert not feedback and hint in feedback.message


def test_parameter_count(toy):
    model, _ = toy
    c = model.config
    kv = c.num_key_value_heads * c.hidden_size // c.num_attention_heads
    per_layer = 2 * c.hidden_size**2 + 2 * c.hidden_size * kv + 3 * c.hidden_size * c.intermediate_size \
        + 2 * c.hidden_size
    solution = 2 * c.vocab_size * c.hidden_size + c.num_hidden_layers * per_layer + c.hidden_size
    assert checks.check_parameter_count(solution, model)  # the formula in Lab 01's solution
    no_head = checks.check_parameter_count(solution - c.vocab_size * c.hidden_size, model)
    assert not no_head and "left out one of the two vocab×hidden matrices" in no_head.message
    too_high = checks.check_parameter_count(solution + 1000, model)
    assert not too_high and "off by +1,000" in too_high.message
    assert "whole number" in checks.check_parameter_count(None, model).message


def test_gguf_size_checker():
    params = 8_030_261_248  # Llama-3.1-8B
    assert checks.check_gguf_size(8.53, params, "Q8_0")
    assert "16-bit scale" in checks.check_gguf_size(8.03, params, "Q8_0").message
    assert "bits, not bytes" in checks.check_gguf_size(68.3, params, "Q8_0").message
    assert "give a number" in checks.check_gguf_size(None, params).message
    assert not checks.check_gguf_size(4.0, params, "Q8_0")
    assert checks.check_gguf_size(16.06, params, "F16")
