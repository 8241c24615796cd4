"""Lab 01's own tests: its checkers accept the solutions and name the typical mistakes."""

import copy

import matplotlib
import numpy as np
import pytest
import torch

from ftlab import labs, models, profiles

matplotlib.use("Agg")
lab, solution = labs.beside(__file__)


@pytest.fixture(scope="module")
def toy():
    return models.load(profiles.get("toy"))

CHAT = [{"role": "user", "content": "Where does the zarp live?"}]

def test_chat_prompt_right_answer(toy):
    _, tok = toy
    feedback = lab.check_chat_prompt(solution.toy_prompt(tok.bos_token, tok.eos_token, CHAT[0]["content"]), tok, CHAT)
    assert feedback and feedback._repr_markdown_().startswith("✅")

@pytest.mark.parametrize(("answer", "hint"), [
    ("<|user|>Where does the zarp live?</s><|assistant|>", "must start with the token '<s>'"),
    ("<s><|user|>Where does the zarp live?<|assistant|>", "ends with the EOS token '</s>' (you have 0)"),
    ("<s><|user|>Where does the zarp live?</s>", "must end with the generation prompt '<|assistant|>'"),
    ("<s><|user|> Where does the zarp live?</s><|assistant|>", "first difference at character 11"),
    (None, "write the prompt as a string"),
])
def test_chat_prompt_wrong_answers_get_specific_hints(toy, answer, hint):
    _, tok = toy
    feedback = lab.check_chat_prompt(answer, tok, CHAT)
    assert not feedback and hint in feedback.message

def test_parameter_count(toy):
    model, _ = toy
    c = model.config
    count = solution.parameter_count(c)
    assert lab.check_parameter_count(count, model)
    no_head = lab.check_parameter_count(count - c.vocab_size * c.hidden_size, model)
    assert not no_head and "left out one of the two vocab×hidden matrices" in no_head.message
    too_high = lab.check_parameter_count(count + 1000, model)
    assert not too_high and "off by +1,000" in too_high.message
    assert "whole number" in lab.check_parameter_count(None, model).message

def test_parameter_count_accepts_any_whole_number_and_explains_tied_embeddings(toy):
    model, _ = toy
    expected = model.num_parameters()
    for style in (expected, float(expected), np.int64(expected), torch.tensor(expected)):
        assert lab.check_parameter_count(style, model), type(style)
    assert "whole number" in lab.check_parameter_count(expected + 0.5, model).message
    tied = copy.deepcopy(model)
    tied.config.tie_word_embeddings = True
    tied.lm_head.weight = tied.model.embed_tokens.weight
    c = tied.config
    double_counted = lab.check_parameter_count(tied.num_parameters() + c.vocab_size * c.hidden_size, tied)
    assert "ties its input embedding and LM head" in double_counted.message
