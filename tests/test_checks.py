"""ftlab.checks: exercise checkers accept the right answer and say precisely what is wrong otherwise."""

import copy

import numpy as np
import pytest
import torch

from ftlab import checks, estimate, losses, models, profiles, sft


@pytest.fixture(scope="module")
def toy():
    return models.load(profiles.get("toy"))


CHAT = [{"role": "user", "content": "Where does the zarp live?"}]


def test_chat_prompt_right_answer(toy):
    _, tok = toy
    feedback = checks.check_chat_prompt("<s><|user|>Where does the zarp live?</s><|assistant|>", tok, CHAT)
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


def test_parameter_count_accepts_any_whole_number_and_explains_tied_embeddings(toy):
    model, _ = toy
    expected = model.num_parameters()
    for style in (expected, float(expected), np.int64(expected), torch.tensor(expected)):
        assert checks.check_parameter_count(style, model), type(style)
    assert "whole number" in checks.check_parameter_count(expected + 0.5, model).message
    tied = copy.deepcopy(model)
    tied.config.tie_word_embeddings = True
    tied.lm_head.weight = tied.model.embed_tokens.weight
    c = tied.config
    double_counted = checks.check_parameter_count(tied.num_parameters() + c.vocab_size * c.hidden_size, tied)
    assert "ties its input embedding and LM head" in double_counted.message


def test_lora_parameters_accepts_floats_and_numpy():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    right = estimate.lora_parameters(shape, 8, ["q_proj", "v_proj"])
    for style in (right, float(right), np.int64(right)):
        assert checks.check_lora_parameters(style, shape, r=8, targets=["q_proj", "v_proj"])
    one_layer = checks.check_lora_parameters(right // shape.num_layers, shape, 8, ["q_proj", "v_proj"])
    assert "one layer" in one_layer.message


def test_overfitting_checker_accepts_the_course_detector_and_catches_shortcuts():
    assert checks.check_overfitting_detector(lambda history: bool(sft.overfitting_signals(history)))
    last_train_low = checks.check_overfitting_detector(lambda h: [x["loss"] for x in h if "loss" in x][-1] < 0.2)
    assert not last_train_low and "low train loss alone is no signal" in last_train_low.message

    def gap_only(history):
        train = [x["loss"] for x in history if "loss" in x]
        evals = [x["eval_loss"] for x in history if "eval_loss" in x]
        return evals[-1] - train[-1] > 0.5

    assert "not only the gap" in checks.check_overfitting_detector(gap_only).message

    def forgot_return(history):
        bool(sft.overfitting_signals(history))

    assert "forget `return`" in checks.check_overfitting_detector(forgot_return).message

    def sorts_in_place(history):  # a wrong try that mutates its input must not spoil the next, right one
        history.sort(key=lambda x: -x["step"])
        return False

    assert not checks.check_overfitting_detector(sorts_in_place)
    assert checks.check_overfitting_detector(lambda history: bool(sft.overfitting_signals(history)))


def test_weight_memory_hints_name_each_mistake():
    params = 72_700_000_000
    for style in (36.35, np.float64(36.0), torch.tensor(35.0)):
        assert checks.check_weight_memory(style, params, bits=4)
    in_gib = checks.check_weight_memory(params * 0.5 / 2**30, params, bits=4)  # within the 10% asked for...
    assert in_gib and "closer to the size in GiB" in in_gib.message  # ...but told
    assert "16-bit size" in checks.check_weight_memory(145.4, params, bits=4).message
    four_bytes = checks.check_weight_memory(290.8, params, bits=4).message  # ×4 bytes: float32, or ÷8 forgotten
    assert "forgot to divide 4 bits by 8" in four_bytes and "float32" in four_bytes
    assert "forgot to divide 8 bits by 8" in checks.check_weight_memory(581.6, params, bits=8).message
    assert "give a number" in checks.check_weight_memory("36", params, bits=4).message


@pytest.mark.parametrize("answer", [0.0034, 0.0035, 0.003453, np.float32(0.00345), torch.tensor(0.0034)])
def test_neftune_scale_accepts_two_significant_figures(answer):
    assert checks.check_neftune_scale(answer, alpha=5, seq_len=512, dim=4096)


def test_neftune_scale_wrong_answers():
    assert "square root covers both" in checks.check_neftune_scale(5 / 512**0.5, 5, 512, 4096).message
    assert not checks.check_neftune_scale(0.0033, 5, 512, 4096)
    assert "give a number" in checks.check_neftune_scale(None, 5, 512, 4096).message


def test_dpo_beta_normalises_words_and_survives_extreme_margins():
    margins = [2.0, 3.0, -0.5]
    for word in ("lower", "Lower", "lower ", " LOWER"):
        assert checks.check_dpo_beta(word, margins, 0.1, 0.5)
    assert checks.check_dpo_beta("higher", [-1e6, -2.0], 0.1, 0.5)  # no OverflowError
    assert "one word" in checks.check_dpo_beta(None, margins, 0.1, 0.5).message


def test_predict_checkers_accept_the_stated_precision():
    chosen, rejected = [-0.2, -0.8], [-0.9, -0.6]
    exact = losses.simpo_loss(torch.tensor(chosen), torch.tensor(rejected), 2.0, 1.0).item()
    assert checks.check_simpo_gamma(round(exact, 3), chosen, rejected, 2.0, 1.0)
    assert checks.check_simpo_gamma(torch.tensor(exact), chosen, rejected, 2.0, 1.0)
    assert not checks.check_simpo_gamma(exact + 0.05, chosen, rejected, 2.0, 1.0)
    nll, lor = 0.6469, -1.0
    assert checks.check_orpo_lambda(1.65, nll=nll, log_odds_ratio=lor, lam=1.0)  # 1.6469 to three figures
    assert checks.check_orpo_lambda(np.float64(1.647), nll=nll, log_odds_ratio=lor, lam=1.0)
    assert "the sign" in checks.check_orpo_lambda(-0.353, nll=nll, log_odds_ratio=lor, lam=1.0).message
    assert checks.check_kto_weights(np.float64(3.5), 1000, 3000)


def test_gguf_size_every_format_and_gib():
    params = 8_030_261_248
    assert checks.check_gguf_size(4.92, params, "Q4_K_M")
    assert "GiB" in checks.check_gguf_size(params * 8.5 / 8 / 2**30, params, "Q8_0").message
    assert "knows the formats" in checks.check_gguf_size(4.9, params, "Q3_K").message
    assert checks.check_gguf_size(np.float64(8.5), params, "Q8_0")
