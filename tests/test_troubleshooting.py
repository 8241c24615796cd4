"""TROUBLESHOOTING.md quotes real messages: reproduce each on the toy profile and check the page still matches."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ftlab import data, export, merge, profiles, toy

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


def quoted(message: str) -> str:
    """The section heading that quotes ``message``, its varying parts (paths, names) written … and numbers N."""
    for heading in HEADINGS:
        quote = heading.split(": ", 1)[-1]
        pattern = ".+".join(re.escape(part) for part in quote.split("…"))
        if re.match(re.sub(r"(?<= )N(?=\\?[ :])", r"\\d+", pattern), message):
            return heading
    pytest.fail(f"no TROUBLESHOOTING.md section quotes: {message[:150]}")


def test_non_utf8_dataset_message(tmp_path):
    path = tmp_path / "my_pairs.jsonl"
    path.write_text('{"prompt": "Café?", "chosen": "Oui.", "rejected": "Non."}\n', encoding="latin-1")
    with pytest.raises(data.DatasetError) as error:
        data.load_rows(path, "preference")
    assert quoted(str(error.value)).startswith("ftlab.data.DatasetError: ")


def test_one_sided_kto_labels_message(tmp_path):
    for label, quote in ((True, "OneSidedLabelsWarning: "), (False, "Or `label false: KTO's loss then has only its")):
        path = tmp_path / f"my_feedback_{label}.jsonl"
        path.write_text("".join(f'{{"prompt": "q{i}", "completion": "a", "label": {str(label).lower()}}}\n'
                                for i in range(3)))
        with pytest.warns(data.OneSidedLabelsWarning) as caught:
            data.load_rows(path, "unpaired")
        message = str(caught[0].message)
        if label:
            assert quoted(message).startswith(quote)
        else:
            assert quote in PAGE and quote.split("`")[1] in message


def test_streaming_merge_refusal_message(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(toy.model_dir())
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"])).save_pretrained(
        tmp_path / "adapter")
    with pytest.raises(merge.UnsupportedAdapterError) as error:
        merge.streaming_merge(toy.model_dir(), tmp_path / "adapter", tmp_path / "merged")
    assert quoted(str(error.value)).startswith("ftlab.merge.UnsupportedAdapterError: ")


def test_model_folder_with_code_message(tmp_path):
    shutil.copytree(toy.model_dir(), tmp_path / "model")
    (tmp_path / "model" / "modeling_custom.py").write_text("")
    with pytest.raises(ValueError) as error:
        export.convert(tmp_path / "model", tmp_path / "model.gguf")
    assert quoted(str(error.value)).startswith("ValueError: ")


def test_converter_output_not_gguf_message(tmp_path, monkeypatch):
    monkeypatch.setattr(export.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 0, "", ""))
    with pytest.raises(export.ExportError) as error:  # the converter wrote elsewhere: the staged file stays empty
        export.convert(toy.model_dir(), tmp_path / "model.gguf")
    assert quoted(str(error.value)).startswith("ftlab.export.ExportError: converting")
    with pytest.raises(ValueError) as error:
        export.convert(toy.model_dir(), tmp_path / "model-{ftype}.gguf")
    assert "(`ValueError: …: no { or } in the output path`)" in PAGE and "no { or } in the output path" in str(
        error.value)


def test_a_notebook_away_from_its_lab_module(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import lab"], cwd=tmp_path,
                            capture_output=True, text=True)
    message = result.stderr.strip().splitlines()[-1].removeprefix("ModuleNotFoundError: ")
    assert heading_for(message) == "ModuleNotFoundError: No module named 'lab'"
