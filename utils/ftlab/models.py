"""Load a profile's base model and tokenizer, refusing models the causal-LM labs cannot use."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import snapshot_download
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from ftlab import hardware, pypi_model, toy
from ftlab.causal_lm import NotACausalLMError, check_causal_lm  # noqa: F401 (models.NotACausalLMError)
from ftlab.prefetch import ALLOW_PATTERNS
from ftlab.profiles import SMOLLM2, TOY_MODEL, Profile


def _hub_cached(repo_id: str) -> Path | None:
    """The snapshot of ``repo_id`` already in the Hugging Face cache, or None (never downloads)."""
    try:
        return Path(snapshot_download(repo_id, allow_patterns=ALLOW_PATTERNS, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or a cache entry without weights
        return None


def resolve(profile: Profile, role: str = "base") -> str | Path:
    """Where the model of ``role`` (``"base"`` or ``"qlora"``) comes from: a local directory or a hub id.

    The toy is built from the corpus; SmolLM2 (the ``cpu`` profile) is the Hugging Face cache's copy when there is
    one, else rebuilt from its PyPI-shipped GGUF (``ftlab.pypi_model``). Other models are hub ids.
    """
    model = profile.model_for(role)
    if model == TOY_MODEL:
        return toy.model_dir()
    if model == SMOLLM2:
        return _hub_cached(model) or pypi_model.model_dir()
    return model


def local_dir(profile: Profile, role: str = "base") -> Path:
    """The model of ``role`` as a local directory (the toy's, SmolLM2's, or the hub snapshot in the Hugging Face
    cache — downloaded first if ``python -m ftlab prefetch`` has not already done so). Merging and export read files."""
    source = resolve(profile, role)
    if isinstance(source, Path):
        return source
    return Path(snapshot_download(source, allow_patterns=ALLOW_PATTERNS))


def quantization_config(profile: Profile) -> BitsAndBytesConfig:
    """QLoRA's 4-bit setup: NF4 weights, double quantisation, computation in the profile's dtype."""
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=hardware.compute_dtype(profile.dtype))


def load(profile: Profile, role: str = "base", source: str | Path | None = None,
         quantization_config: BitsAndBytesConfig | None = None):
    """Load ``(model, tokenizer)`` for the model of ``role`` in the profile's dtype on the best device, in eval mode.

    ``quantization_config`` (e.g. :func:`quantization_config`, QLoRA's NF4 in Lab 04) quantises the decoder's linear
    layers with bitsandbytes as they load.
    Hub models load with ``use_safetensors=True`` and never with ``trust_remote_code``.
    """
    source = source if source is not None else resolve(profile, role)
    config = AutoConfig.from_pretrained(source)
    check_causal_lm(config, str(source))
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        # Many hub models ship no pad token, or reuse EOS (SmolLM2: <|im_end|>). Padding must stay distinct from
        # the end of a turn, or the token that teaches the model to stop could be masked out with the padding.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=hardware.compute_dtype(profile.dtype), use_safetensors=True,
        quantization_config=quantization_config,
        device_map=hardware.device() if hardware.device() != "cpu" else None)
    model.eval()
    return model, tokenizer
