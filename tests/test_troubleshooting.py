"""TROUBLESHOOTING.md quotes real messages: reproduce each on the toy profile and check the page still matches."""

import re
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ftlab import data, export, profiles, toy

PAGE = (Path(__file__).resolve().parents[1] / "TROUBLESHOOTING.md").read_text(encoding="utf-8")
HEADINGS = re.findall(r"^## (.+)$", PAGE, flags=re.M)


def heading_for(message: str) -> str:
    """The section heading that quotes the start of ``message``."""
    matches = [h for h in HEADINGS if message.startswith(h.split(": ", 1)[-1].split("…")[0].rstrip("'"))]
    assert matches, f"no TROUBLESHOOTING.md section quotes: {message[:100]}"
    return matches[0]


def test_missing_chat_template_message():
    tokenizer = AutoTokenizer.from_pretrained(toy.model_dir())
    tokenizer.chat_template = None
    with pytest.raises(ValueError) as error:
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert heading_for(str(error.value)).startswith("ValueError: ")


def test_dataset_error_message(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text('{"messages": []}\n')
    with pytest.raises(data.DatasetError) as error:
        data.load_rows(path, "sft")
    assert "ftlab.data.DatasetError: datasets/….jsonl, line N: …" in HEADINGS
    assert re.fullmatch(r".+\.jsonl, line \d+: .+", str(error.value))


def test_unknown_profile_message():
    with pytest.raises(ValueError) as error:
        profiles.get("tiny")
    assert heading_for(str(error.value)) == "ValueError: unknown profile '…' (from FTLAB_PROFILE or the caller)"


def test_missing_pad_token_message():
    tokenizer = AutoTokenizer.from_pretrained(toy.model_dir())
    tokenizer.pad_token = None
    with pytest.raises(ValueError) as error:
        tokenizer(["a", "a longer one"], padding=True)
    assert heading_for(str(error.value)).startswith("ValueError: Asking to pad")


def test_bpe_pre_tokenizer_message(tmp_path):
    """A GPT-2-style byte-level BPE trained by us is unknown to llama.cpp's converter; the toy's tokenizer is not."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(["The zarp lives in the marsh."] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>")
    wrapped.save_pretrained(tmp_path / "model")
    LlamaForCausalLM(LlamaConfig(vocab_size=len(wrapped), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1)).save_pretrained(tmp_path / "model")
    with pytest.raises(export.ExportError) as error:  # the course's wrapper passes the converter's own words on
        export.convert(tmp_path / "model", tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
    heading = next(h for h in HEADINGS if "BPE pre-tokenizer" in h)
    assert heading in str(error.value)


def test_missing_converter_message(monkeypatch):
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(export.ExportError) as error:
        export.converter()
    assert heading_for(str(error.value)).startswith("ftlab.export.ExportError: llama.cpp's converter")


@pytest.mark.skipif("avx512_bf16" not in Path("/proc/cpuinfo").read_text(), reason="needs an AVX-512 BF16 CPU")
def test_bitsandbytes_cpu_block_message(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from ftlab import models as course_models

    AutoModelForCausalLM.from_config(LlamaConfig(  # an MLP width (352) that is not a multiple of 64
        vocab_size=64, hidden_size=128, intermediate_size=352, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1)).save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=course_models.quantization_config(
        profiles.get("toy"))).eval()
    with pytest.raises(RuntimeError) as error, torch.no_grad():
        model(torch.tensor([[1, 2, 3]]))
    assert heading_for(str(error.value)) == "RuntimeError: shape '[128, 5]' is invalid for input of size 704"
