"""ftlab.merge: streaming merge == PEFT merge; bad inputs fail clearly; an interrupted merge leaves nothing."""

import json
import shutil

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, BertConfig, LlamaConfig, LlamaForCausalLM

from ftlab import files, merge, models, profiles, toy, training

TOY = profiles.get("toy")


@pytest.fixture(scope="module")
def adapter():
    return training.ensure_sft_adapter(TOY)


def test_streaming_merge_equals_peft_merge(tmp_path, adapter):
    streamed = merge.streaming_merge(toy.model_dir(), adapter, tmp_path / "streamed")
    reference = merge.peft_merge(toy.model_dir(), adapter, tmp_path / "peft")
    assert merge.max_abs_difference(streamed, reference) < 1e-6
    # measured: the merged weights move by up to ~0.1 from the base; the merge is not a no-op
    assert merge.max_abs_difference(streamed, toy.model_dir()) > 0.01
    for name in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]:
        assert (streamed / name).is_file(), name
    model, tokenizer = models.load(TOY, source=streamed)
    assert tokenizer.chat_template == models.load(TOY)[1].chat_template


def test_streaming_merge_keeps_shards(tmp_path, adapter):
    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(toy.model_dir()).save_pretrained(sharded, max_shard_size="1MB")
    for name in merge.TOKENIZER_FILES:
        if (toy.model_dir() / name).is_file():
            shutil.copy2(toy.model_dir() / name, sharded / name)
    shards = sorted(p.name for p in sharded.glob("*.safetensors"))
    assert len(shards) >= 4
    streamed = merge.streaming_merge(sharded, adapter, tmp_path / "streamed")
    assert sorted(p.name for p in streamed.glob("*.safetensors")) == shards
    assert (streamed / "model.safetensors.index.json").is_file()
    reference = merge.peft_merge(toy.model_dir(), adapter, tmp_path / "peft")
    assert merge.max_abs_difference(streamed, reference) < 1e-6


def test_encoder_only_model_is_refused(tmp_path, adapter):
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        tmp_path / "bert")
    with pytest.raises(models.NotACausalLMError, match="encoder-only"):
        merge.streaming_merge(tmp_path / "bert", adapter, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_directory_without_tokenizer_is_refused(tmp_path, adapter):
    bare = tmp_path / "bare"
    shutil.copytree(toy.model_dir(), bare)
    for name in merge.TOKENIZER_FILES:
        (bare / name).unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):
        merge.streaming_merge(bare, adapter, tmp_path / "out")


def test_adapter_for_another_base_is_refused(tmp_path, adapter):
    other = LlamaForCausalLM(LlamaConfig(vocab_size=640, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                                         num_attention_heads=4, num_key_value_heads=2))
    config = json.loads((adapter / "adapter_config.json").read_text())
    peft_model = get_peft_model(other, LoraConfig(r=config["r"], lora_alpha=config["lora_alpha"],
                                                  target_modules=config["target_modules"]))
    peft_model.save_pretrained(tmp_path / "other_adapter")
    for merge_function in (merge.streaming_merge, merge.peft_merge):
        with pytest.raises(merge.AdapterMismatchError, match="different base model|does not fit"):
            merge_function(toy.model_dir(), tmp_path / "other_adapter", tmp_path / "out")
        assert not (tmp_path / "out").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_existing_output_is_never_overwritten(tmp_path, adapter):
    out = tmp_path / "merged"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(files.OutputExistsError, match="already exists"):
        merge.streaming_merge(toy.model_dir(), adapter, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_interrupted_merge_leaves_no_output(tmp_path, adapter, monkeypatch):
    def interrupted(path, *args):
        path.write_bytes(b"half a shard")
        raise KeyboardInterrupt  # e.g. the student presses stop while a shard is being written

    monkeypatch.setattr(merge, "write_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merge.streaming_merge(toy.model_dir(), adapter, tmp_path / "merged")
    assert list(tmp_path.iterdir()) == []


def test_streamed_shard_file_equals_safetensors_own(tmp_path):
    tensors = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.bfloat16), "c": torch.arange(6).reshape(2, 3),
               "d": torch.tensor(1.5, dtype=torch.float16)}
    save_file(tensors, tmp_path / "reference.safetensors", metadata={"format": "pt"})
    with safe_open(tmp_path / "reference.safetensors", "pt") as handle:
        layout = {n: (handle.get_slice(n).get_dtype(), handle.get_slice(n).get_shape()) for n in tensors}
    merge.write_shard(tmp_path / "streamed.safetensors", layout, {"format": "pt"}, tensors.__getitem__)
    streamed = load_file(tmp_path / "streamed.safetensors")
    assert all(torch.equal(streamed[name], tensor) for name, tensor in tensors.items())
    assert (tmp_path / "streamed.safetensors").stat().st_size == (tmp_path / "reference.safetensors").stat().st_size


def test_merge_math_by_hand(tmp_path, adapter):
    """One targeted weight: merged = base + (alpha / r) · B @ A."""
    pairs, scaling = merge.read_adapter(adapter)
    name = sorted(pairs)[0]
    lora_a, lora_b = pairs[name]
    streamed = merge.streaming_merge(toy.model_dir(), adapter, tmp_path / "merged")
    base = merge.tensors(toy.model_dir())[name]
    assert torch.allclose(merge.tensors(streamed)[name], base + scaling * lora_b @ lora_a, atol=1e-6)
