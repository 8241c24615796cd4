"""Merge a LoRA adapter into its base model: PEFT's reference merge, and a streaming merge that never holds
the whole model in memory.

The streaming merge reads the base safetensors one shard at a time and writes each tensor as soon as it has added
``(alpha / r) · B @ A`` to it (for targeted weights). Peak memory is about one shard's pages plus the adapter, instead
of the base model plus its merged copy — the difference between finishing and being killed (exit code 137)
on a machine with little RAM.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import torch
from peft import PeftModel
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from ftlab.causal_lm import check_causal_lm
from ftlab.files import staged_dir
from ftlab.memory import release_free_heap

TOKENIZER_FILES = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "added_tokens.json"]
COPIED_FILES = ["config.json", "generation_config.json", *TOKENIZER_FILES]


class AdapterMismatchError(ValueError):
    """The adapter was trained for a different base model (names or shapes do not match)."""


class UnsupportedAdapterError(ValueError):
    """The adapter holds more than plain LoRA pairs; the streaming merge would drop it, PEFT's merge applies it."""


# adapter_config.json settings that mean more than (alpha / r) · B @ A added to each targeted weight
UNSUPPORTED = {"modules_to_save": "whole modules trained and saved with the adapter",
               "trainable_token_indices": "retrained token embeddings", "fan_in_fan_out": "transposed weights",
               "lora_bias": "a trained bias", "use_dora": "DoRA", "rank_pattern": "a rank per module",
               "alpha_pattern": "an alpha per module", "target_parameters": "LoRA on bare parameters"}
_LORA_KEY = re.compile(r"base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight")


def check_model_dir(model_dir: str | Path) -> Path:
    """A directory with a causal-LM config, safetensors weights and tokenizer files, and no code that loading it
    would run (``auto_map``, ``*.py``), or one clear error."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json — not a Hugging Face model directory")
    code = [p.name for p in sorted(model_dir.glob("*.py"))] + \
        [f"auto_map in {p.name}" for p in sorted(model_dir.glob("*.json")) if "auto_map" in _json_object(p)]
    if code:
        raise ValueError(f"{model_dir}: holds code that loading it would run ({', '.join(code)}); the course never "
                         "runs code from a model folder (trust_remote_code): use a model that transformers supports "
                         "without it")
    check_causal_lm(AutoConfig.from_pretrained(model_dir), str(model_dir))
    if not list(model_dir.glob("*.safetensors")):
        raise FileNotFoundError(f"{model_dir}: no *.safetensors weights")
    if not any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
        raise FileNotFoundError(f"{model_dir}: no tokenizer files (tokenizer.json or tokenizer.model); "
                                "save the tokenizer next to the model (tokenizer.save_pretrained)")
    return model_dir


def _json_object(path: Path) -> dict:
    """A JSON file's top-level object; {} if it is something else or not JSON (then it cannot map to code)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def adapter_config(adapter_dir: str | Path) -> dict:
    """A LoRA adapter's ``adapter_config.json``, with a positive integer ``r`` and a positive ``lora_alpha``."""
    adapter_dir = Path(adapter_dir)
    config_path, weights_path = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json / adapter_model.safetensors — not a PEFT "
                                "LoRA adapter directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{config_path}: not a LoRA adapter's config (peft_type LORA)")
    r, alpha = config.get("r"), config.get("lora_alpha")
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f"{config_path}: field 'r' must be a positive integer (the LoRA rank), got {r!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha <= 0:
        raise ValueError(f"{config_path}: field 'lora_alpha' must be a positive number, got {alpha!r}")
    return config


def read_adapter(adapter_dir: str | Path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """The adapter's (A, B) pair per base weight name, and its scaling alpha / r.

    Raises :class:`UnsupportedAdapterError` for anything besides those pairs (a setting in :data:`UNSUPPORTED`, or a
    tensor that is not a ``lora_A``/``lora_B`` weight): the streaming merge would silently leave it out.
    """
    config = adapter_config(adapter_dir)
    used = [f"{name} ({meaning})" for name, meaning in UNSUPPORTED.items() if config.get(name)]
    if used:
        raise UnsupportedAdapterError(f"{adapter_dir}: the adapter uses {', '.join(used)}; the streaming merge adds "
                                      "only plain LoRA pairs: use merge.peft_merge for this adapter")
    scaling = config["lora_alpha"] / (config["r"] ** 0.5 if config.get("use_rslora") else config["r"])
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(Path(adapter_dir) / "adapter_model.safetensors", "pt") as handle:
        keys = list(handle.keys())
        for key in keys:
            if match := _LORA_KEY.fullmatch(key):
                pairs.setdefault(f"{match['module']}.weight", {})[match["part"]] = handle.get_tensor(key)
    other = [key for key in keys if not _LORA_KEY.fullmatch(key)]
    other += [f"{name} (lora_{'B' if 'A' in pair else 'A'} missing)" for name, pair in pairs.items() if len(pair) < 2]
    if other:
        raise UnsupportedAdapterError(f"{adapter_dir}: tensors the streaming merge would leave out: {other[:3]}; "
                                      "use merge.peft_merge for this adapter")
    return {name: (pair["A"], pair["B"]) for name, pair in pairs.items()}, scaling


def _shards(model_dir: Path) -> list[str]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        return sorted(set(json.loads(index.read_text())["weight_map"].values()))
    return [p.name for p in sorted(model_dir.glob("*.safetensors"))]


def _copy_side_files(source: Path, target: Path, names: list[str]) -> None:
    for name in names:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


# Bytes per element of each safetensors dtype (the format's own names).
_ITEM_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
               "F8_E4M3": 1, "F8_E5M2": 1}


def write_shard(path: Path, layout: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None,
                tensor: Callable[[str], torch.Tensor]) -> None:
    """Write a safetensors file one tensor at a time: header from ``layout`` (name → dtype, shape), then the bytes
    of ``tensor(name)`` for each name in order. ``safetensors.save_file`` would first serialise the whole shard in
    memory — a second copy of it."""
    header, offset = {}, 0
    for name, (dtype, shape) in layout.items():
        size = math.prod(shape) * _ITEM_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        for name in layout:
            out.write(tensor(name).contiguous().reshape(-1).view(torch.uint8).numpy().data)


def streaming_merge(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Merge shard by shard, tensor by tensor, into ``out_dir`` (which must not exist); returns ``out_dir``."""
    base_dir = check_model_dir(base_dir)
    pairs, scaling = read_adapter(adapter_dir)
    remaining = set(pairs)

    def merged(handle, name: str) -> torch.Tensor:
        weight = handle.get_tensor(name)
        if name not in pairs:
            return weight
        lora_a, lora_b = pairs[name]
        if (lora_b.shape[0], lora_a.shape[1]) != tuple(weight.shape):
            raise AdapterMismatchError(
                f"{adapter_dir}: adapter for {name} expects a {lora_b.shape[0]}×{lora_a.shape[1]} weight, the base "
                f"model {base_dir} has {tuple(weight.shape)}: the adapter was trained on a different base model")
        remaining.discard(name)
        merged = weight.float()  # the same tensor if it is float32 already: updated in place, no copy
        return merged.addmm_(lora_b.float(), lora_a.float(), alpha=scaling).to(weight.dtype)

    with staged_dir(out_dir) as staging:
        for shard in _shards(base_dir):
            with safe_open(base_dir / shard, "pt") as handle:
                layout = {name: (handle.get_slice(name).get_dtype(), handle.get_slice(name).get_shape())
                          for name in handle.keys()}  # noqa: SIM118 - safe_open handles have no __iter__
                write_shard(staging / shard, layout, handle.metadata() or {"format": "pt"},
                            lambda name, handle=handle: merged(handle, name))
            release_free_heap()  # give this shard's freed buffers back before the next one
        if remaining:
            raise AdapterMismatchError(f"{adapter_dir}: adapter weights for {sorted(remaining)[:3]} have no "
                                       f"matching weight in {base_dir}: the adapter was trained on another model")
        _copy_side_files(base_dir, staging, [*COPIED_FILES, "model.safetensors.index.json"])  # same shards
    return Path(out_dir)


def peft_merge(base_dir: str | Path, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """PEFT's ``merge_and_unload`` on the whole model in memory (the reference); returns ``out_dir``."""
    base_dir = check_model_dir(base_dir)
    adapter_config(adapter_dir)
    config = AutoConfig.from_pretrained(base_dir)
    with staged_dir(out_dir) as staging:
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=config.dtype or torch.float32,
                                                     use_safetensors=True)
        try:
            merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
        except RuntimeError as error:  # PEFT reports shape mismatches while loading the adapter
            raise AdapterMismatchError(f"{adapter_dir}: does not fit {base_dir}: {error}") from None
        merged.save_pretrained(staging)
        AutoTokenizer.from_pretrained(base_dir).save_pretrained(staging)
        _copy_side_files(base_dir, staging, COPIED_FILES)  # the base's own tokenizer files, byte for byte
    return Path(out_dir)


def tensors(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a model directory, by name, from all its safetensors shards."""
    found = {}
    for shard in _shards(Path(model_dir)):
        with safe_open(Path(model_dir) / shard, "pt") as handle:
            found |= {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    return found


def max_abs_difference(dir_a: str | Path, dir_b: str | Path) -> float:
    """Largest absolute difference between same-named tensors of two model directories (all must match)."""
    a, b = tensors(dir_a), tensors(dir_b)
    if set(a) != set(b):
        raise ValueError(f"different tensor names: only in {dir_a}: {sorted(set(a) - set(b))[:3]}, "
                         f"only in {dir_b}: {sorted(set(b) - set(a))[:3]}")
    return max((a[name].float() - b[name].float()).abs().max().item() for name in a)
