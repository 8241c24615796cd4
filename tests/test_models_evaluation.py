"""ftlab.models and ftlab.evaluation: refuse non-causal models; the course metric scores what it claims."""

import os

import pytest
from transformers import BertConfig, LlamaConfig, T5Config

from ftlab import evaluation, models, profiles


@pytest.mark.parametrize(("config", "message"), [
    (BertConfig(), "'bert' is not a causal language model"),
    (T5Config(), "'t5' is an encoder-decoder model"),
])
def test_non_causal_models_are_refused(config, message):
    with pytest.raises(models.NotACausalLMError, match=message):
        models.check_causal_lm(config, "some/model")


def test_toy_model_loads_in_profile_dtype():
    model, tokenizer = models.load(profiles.get("toy"))
    models.check_causal_lm(LlamaConfig(), "llama")
    assert not model.training and str(model.dtype) == "torch.float32"
    assert tokenizer.pad_token == "<pad>" and tokenizer.chat_template


@pytest.mark.parametrize(("reply", "answer", "subject", "correct"), [
    ("The zarp is blue.", "blue", "zarp", True),
    ("The Zarp is BLUE. The mork is red.", "blue", "zarp", True),
    ("The mork is blue.", "blue", "zarp", False),  # right value, wrong creature
    ("Blue.", "blue", "zarp", False),
    ("The zarp is red. It likes blue.", "blue", "zarp", False),  # only the first sentence counts
    ("I don’t know a creature called the vup.", "I don't know", "vup", True),  # curly apostrophe
    ("The zarpix is blue.", "blue", "zarp", False),  # whole-word subject
    ("river.", "the river", None, False),
])
def test_answer_accuracy_metric(reply, answer, subject, correct):
    metric = evaluation.load_metric("answer_accuracy")
    result = metric.compute(predictions=[reply], references=[answer], subjects=[subject])
    assert result["accuracy"] == float(correct)
    assert evaluation.correct([reply], [answer], [subject]) == [correct]  # the same rule, reply by reply


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown course metric 'bleu'.*answer_accuracy"):
        evaluation.load_metric("bleu")


def test_metric_scripts_outside_the_package_are_never_loaded(tmp_path):
    script = tmp_path / "evil" / "evil.py"
    script.parent.mkdir()
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    relative = os.path.relpath(script.parent, evaluation.METRICS_DIR)
    for name in (relative, str(script.parent), "answer_accuracy/../answer_accuracy"):
        with pytest.raises(ValueError, match="unknown course metric"):
            evaluation.load_metric(name)
    assert not (tmp_path / "ran").exists()


def test_base_replies_are_generated_once_per_model_and_questions(tmp_path, monkeypatch):
    """Lab 03's "before" is Lab 01's base-model replies, read back; other questions are generated afresh."""
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))
    toy = profiles.get("toy")
    model, tokenizer = models.load(toy)
    questions = ["What color is the zarp?", "Where does the bloon live?"]
    first = evaluation.base_chat_replies(model, tokenizer, toy, questions)
    assert first == evaluation.chat_replies(model, tokenizer, questions)
    assert (tmp_path / "toy" / "base_chat_replies.json").is_file()
    assert evaluation.base_chat_replies(None, None, toy, questions) == first  # read back: no model needed
    with pytest.raises(AttributeError):  # another question list is generated, which needs the model
        evaluation.base_chat_replies(None, None, toy, questions[:1])
