"""ftlab.merge: streaming merge == PEFT merge; bad inputs fail clearly; an interrupted merge leaves nothing."""

import json
import shutil

import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, BertConfig, LlamaConfig, LlamaForCausalLM

from ftlab import files, merge, models, profiles, sft, toy

TOY = profiles.get("toy")


@pytest.fixture(scope="module")
def adapter():
    return sft.ensure_sft_adapter(TOY)


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


def lora_adapter(path, **settings):
    """A fresh LoRA adapter on the toy model (random B, so that merging it changes the weights)."""
    model = AutoModelForCausalLM.from_pretrained(toy.model_dir())
    config = LoraConfig(**{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "init_lora_weights": False,
                           **settings})
    get_peft_model(model, config).save_pretrained(path)
    return path


@pytest.mark.parametrize(("settings", "named"), [
    ({"modules_to_save": ["lm_head"]}, r"modules_to_save \(whole modules trained and saved with the adapter\)"),
    ({"target_modules": ["q_proj", "embed_tokens"]},
     r"leave out: \[.*'base_model\.model\.model\.embed_tokens\.lora_embedding_A'"),
    ({"trainable_token_indices": [4, 5]}, r"trainable_token_indices \(retrained token embeddings\)"),
    ({"lora_bias": True}, r"lora_bias \(a trained bias\)"),
], ids=["modules_to_save", "lora_embedding", "trainable_token_indices", "lora_bias"])
def test_adapter_parts_the_streaming_merge_would_drop_are_refused(tmp_path, settings, named):
    """Before, these merged 'successfully' and differed from PEFT's merge by up to 27 (max abs)."""
    adapter = lora_adapter(tmp_path / "adapter", **settings)
    with pytest.raises(merge.UnsupportedAdapterError, match=f"{named}.*use merge.peft_merge for this adapter"):
        merge.streaming_merge(toy.model_dir(), adapter, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_peft_merge_applies_modules_to_save(tmp_path):
    adapter = lora_adapter(tmp_path / "adapter", modules_to_save=["lm_head"])
    with torch.no_grad():  # a trained head: make the saved copy differ from the base's
        saved = load_file(adapter / "adapter_model.safetensors")
        head = next(name for name in saved if "lm_head" in name)
        save_file({**saved, head: saved[head] + 1.0}, adapter / "adapter_model.safetensors")
    merged = merge.peft_merge(toy.model_dir(), adapter, tmp_path / "merged")
    base = merge.tensors(toy.model_dir())["lm_head.weight"]
    assert torch.allclose(merge.tensors(merged)["lm_head.weight"], base + 1.0)


def edited_config(adapter, tmp_path, edit):
    copy = tmp_path / "edited"
    shutil.copytree(adapter, copy)
    text = (copy / "adapter_config.json").read_text()
    (copy / "adapter_config.json").write_text(edit(text) if callable(edit) else json.dumps(json.loads(text) | edit))
    return copy


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda text: text[:-2], r"adapter_config\.json: not valid JSON \("),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "lora_alpha"}),
     r"adapter_config\.json: field 'lora_alpha' must be a positive number, got None"),
    ({"r": 0}, r"adapter_config\.json: field 'r' must be a positive integer \(the LoRA rank\), got 0"),
    ({"fan_in_fan_out": True}, r"fan_in_fan_out \(transposed weights\)"),
], ids=["bad-json", "no-alpha", "r=0", "fan_in_fan_out"])
def test_bad_adapter_config_is_named(tmp_path, adapter, edit, problem):
    broken = edited_config(adapter, tmp_path, edit)
    with pytest.raises(ValueError, match=problem):
        merge.streaming_merge(toy.model_dir(), broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("code", ["auto_map", "py"])
def test_model_folder_with_code_is_refused(tmp_path, adapter, code):
    """A tokenizer_config.json auto_map pointing at a local .py ran it in llama.cpp's converter (trust_remote_code)."""
    folder = tmp_path / "model"
    shutil.copytree(toy.model_dir(), folder)
    (folder / "tokenization_evil.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    if code == "auto_map":
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
        (folder / "tokenization_evil.py").rename(folder / "elsewhere.txt")  # auto_map alone is enough
    with pytest.raises(ValueError, match="holds code that loading it would run .*never runs code from a model folder"):
        merge.streaming_merge(folder, adapter, tmp_path / "out")
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out").exists()
