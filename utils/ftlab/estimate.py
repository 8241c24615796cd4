"""Estimate training memory from a model's shape and a training setup, before loading anything.

Total = weights (by dtype, or 4-bit) + trainable parameters' gradients and AdamW state + activations
(by batch, sequence length and gradient checkpointing) + logits. Published shapes of the course's real
models are in :data:`SHAPES`, so a student can size an 8B or 70B run without downloading it.

Measured against peak RSS on CPU (``benchmarks/estimate_memory.py``: a random 8-layer Llama with 31.8M
parameters in float32, two AdamW steps, a fresh process per configuration; measured on 2 cores):

| configuration | estimated MiB | measured MiB | error |
|---|---|---|---|
| full fine-tune, batch 4 × 128 | 739 | 717 | +3% |
| full fine-tune + checkpointing, 4 × 256 | 753 | 697 | +8% |
| LoRA r16 all projections, 4 × 128 | 470 | 503 | -7% |
| LoRA r16 all projections, 8 × 256 | 1524 | 1524 | +0% |
| LoRA r16 + checkpointing, 8 × 256 | 886 | 1003 | -12% |
| LoRA r64 q/v only, 2 × 512 | 764 | 685 | +11% |

All six are within 12%. LoRA with gradient checkpointing was underestimated by 25% (752 MiB against 897, 896 and
1003 MiB measured in three runs: RSS on CPU varies by ~10% with allocator behaviour); its recomputation now
counts one more layer's activations (see :func:`activation_bytes`), an allowance fitted to those runs, not a
derivation: ``python -m ftlab smoke`` records max_memory_allocated against this estimate at the real 3B/8B
shapes on a GPU, which is what should calibrate it. On GPUs with fused attention (SDPA) the heads × seq²
attention term is not stored, so estimates there err on the safe side.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ftlab.units import GIB

ADAM_STATES = 2  # exp_avg and exp_avg_sq, kept in float32
QUANT_4BIT_BYTES = 0.5 + 4 / 64 / 4  # NF4 codes + one absmax per 64 weights (8-bit after double quantisation)


@dataclass(frozen=True)
class ModelShape:
    """The numbers that decide a Llama-style decoder's size."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        for field in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads"):
            _check_positive(f"{self.name}: {field}", getattr(self, field))

    @property
    def kv_dim(self) -> int:
        """Output width of k_proj and v_proj (grouped-query attention shares heads)."""
        return self.num_kv_heads * self.hidden_size // self.num_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection in one decoder layer."""
        h, i, kv = self.hidden_size, self.intermediate_size, self.kv_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def linear_parameters(self) -> int:
        """Parameters in the decoder layers' projections (what 4-bit quantisation compresses)."""
        return self.num_layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def parameters(self) -> int:
        """All parameters: embeddings (+ LM head unless tied), projections, RMSNorm weights."""
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_embeddings else 2)
        norms = (2 * self.num_layers + 1) * self.hidden_size
        return embeddings + self.linear_parameters + norms

    @classmethod
    def from_config(cls, config, name: str = "model") -> ModelShape:
        """The shape of a transformers Llama-style config."""
        return cls(name, config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                   config.num_attention_heads, getattr(config, "num_key_value_heads", config.num_attention_heads),
                   bool(getattr(config, "tie_word_embeddings", False)))


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# Published configs (config.json on the Hub); sizes only, no download needed.
SHAPES = {shape.name: shape for shape in [
    ModelShape("HuggingFaceTB/SmolLM2-135M-Instruct", 49152, 576, 1536, 30, 9, 3, tie_embeddings=True),
    ModelShape("meta-llama/Llama-3.2-3B-Instruct", 128256, 3072, 8192, 28, 24, 8, tie_embeddings=True),
    ModelShape("Qwen/Qwen2.5-3B-Instruct", 151936, 2048, 11008, 36, 16, 2, tie_embeddings=True),
    ModelShape("meta-llama/Llama-3.1-8B-Instruct", 128256, 4096, 14336, 32, 32, 8),
    ModelShape("Qwen/Qwen2.5-7B-Instruct", 152064, 3584, 18944, 28, 28, 4),
    ModelShape("meta-llama/Llama-3.1-70B-Instruct", 128256, 8192, 28672, 80, 64, 8),
    ModelShape("Qwen/Qwen2.5-72B-Instruct", 152064, 8192, 29568, 80, 64, 8),
]}


def lora_parameters(shape: ModelShape, r: int, targets: list[str]) -> int:
    """Trainable LoRA parameters: r × (in + out) per targeted projection per layer."""
    _check_positive("lora_r", r)
    if not targets:
        raise ValueError("no target modules: LoRA needs at least one (None in estimate_training means all seven)")
    unknown = set(targets) - set(shape.linear_shapes())
    if unknown:
        raise ValueError(f"unknown target modules {sorted(unknown)}; choose from {sorted(shape.linear_shapes())}")
    return shape.num_layers * sum(r * (a + b) for name, (a, b) in shape.linear_shapes().items() if name in targets)


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated bytes per component of a training run."""

    weights: int
    trainable: int  # LoRA adapter weights (0 for full fine-tuning: they are part of `weights`)
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        """Everything added up."""
        return self.weights + self.trainable + self.gradients + self.optimizer + self.activations

    def gib(self) -> dict[str, float]:
        """Each component and the total in GiB (for tables and bar charts)."""
        return {k: v / GIB for k, v in asdict(self).items()} | {"total": self.total / GIB}


def activation_bytes(shape: ModelShape, batch_size: int, seq_len: int, compute_bytes: int,
                     gradient_checkpointing: bool, lora_targets: list[str] | None = None) -> int:
    """Activations kept for the backward pass, plus the float32 logits and the loss's copies of them.

    Per token and layer a Llama layer keeps about 8·h + 2·kv + 4·i values (norm inputs/outputs, q/k/v,
    attention output, residuals, gate/up/activation/product) and the attention probabilities
    (heads × seq). Each LoRA-targeted projection adds one tensor of its output width (B·A·x, kept for the
    backward pass). Gradient checkpointing keeps only each layer's input, and recomputes one layer at a time
    (its activations and their gradients; with LoRA one more layer's worth, an allowance measured on CPU, see the
    module's table). The loss holds about five float32 copies of the logits.
    """
    tokens = batch_size * seq_len
    h, i = shape.hidden_size, shape.intermediate_size
    lora_extra = sum(out for name, (_, out) in shape.linear_shapes().items() if name in (lora_targets or []))
    per_layer = tokens * (8 * h + 2 * shape.kv_dim + 4 * i + lora_extra) + batch_size * shape.num_heads * seq_len**2
    recomputed = 3 if lora_extra else 2
    kept = shape.num_layers * tokens * h + recomputed * per_layer if gradient_checkpointing else \
        shape.num_layers * per_layer
    logits = 5 * tokens * shape.vocab_size * 4
    return kept * compute_bytes + logits


def estimate_training(shape: ModelShape, *, weight_bits: int = 16, lora_r: int | None = 16,
                      targets: list[str] | None = None, batch_size: int = 1, seq_len: int = 512,
                      gradient_checkpointing: bool = False) -> MemoryEstimate:
    """Estimate the peak memory of training ``shape``.

    ``weight_bits``: 32, 16 (bf16/fp16) or 4 (QLoRA's NF4; embeddings, norms and LM head stay 16-bit).
    ``lora_r=None`` means full fine-tuning (gradients and AdamW state for every weight); ``targets=None`` means
    LoRA on all seven projections.
    """
    _check_positive("batch_size", batch_size)
    _check_positive("seq_len", seq_len)
    if weight_bits not in (32, 16, 4):
        raise ValueError(f"weight_bits must be 32, 16 or 4, got {weight_bits}")
    if weight_bits == 4 and lora_r is None:
        raise ValueError("4-bit weights cannot be fine-tuned directly: use LoRA on top (QLoRA)")
    compute_bytes = 4 if weight_bits == 32 else 2
    if weight_bits == 4:
        other = shape.parameters - shape.linear_parameters
        weights = int(shape.linear_parameters * QUANT_4BIT_BYTES) + other * compute_bytes
    else:
        weights = shape.parameters * weight_bits // 8
    targets = list(shape.linear_shapes()) if targets is None else targets
    if lora_r is None:  # gradients and AdamW state in the weights' own dtype
        trainable_params, trainable, state_bytes = shape.parameters, 0, weight_bits // 8
    else:  # PEFT keeps adapters, their gradients and AdamW state in float32
        trainable_params = lora_parameters(shape, lora_r, targets)
        trainable, state_bytes = trainable_params * 4, 4
    return MemoryEstimate(
        weights=weights, trainable=trainable, gradients=trainable_params * state_bytes,
        optimizer=trainable_params * state_bytes * ADAM_STATES,
        activations=activation_bytes(shape, batch_size, seq_len, compute_bytes, gradient_checkpointing,
                                     targets if lora_r is not None else None))
