"""Which models the course's labs can use: decoder-only causal language models. Loading, merging and rebuilding a
model all check here first, so an encoder-only or encoder-decoder model gets one clear error."""

from __future__ import annotations

from transformers import PretrainedConfig
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)


class NotACausalLMError(ValueError):
    """The model cannot generate text left to right (encoder-only or encoder-decoder)."""


def check_causal_lm(config: PretrainedConfig, source: str) -> None:
    """Raise :class:`NotACausalLMError` unless ``config`` is a decoder-only causal language model."""
    kind = config.model_type
    if getattr(config, "is_encoder_decoder", False):
        raise NotACausalLMError(f"{source}: '{kind}' is an encoder-decoder model; the course's labs need a "
                                "decoder-only causal LM (Llama, Mistral, Qwen, ...)")
    # BERT-like models also have a "causal LM head" class, but they were pre-trained as masked-LM encoders.
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise NotACausalLMError(f"{source}: '{kind}' is not a causal language model (encoder-only models such "
                                "as BERT cannot generate text); use a decoder-only model (Llama, Mistral, Qwen, ...)")
