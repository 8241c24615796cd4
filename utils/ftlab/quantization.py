"""bitsandbytes' 4-bit quantisation of one weight matrix, measured (Lab 04): how much error and how many bits per
weight each block size, data type and double quantisation give."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RoundTrip:
    """One weight matrix quantised to 4 bits and back."""

    block_size: int
    quant_type: str  # "nf4" or "fp4"
    double_quant: bool
    relative_error: float  # ‖dequantised − original‖ / ‖original‖
    bits_per_weight: float  # the packed codes plus every stored scale, per weight


def roundtrip(weight: torch.Tensor, block_size: int = 64, quant_type: str = "nf4",
              double_quant: bool = True) -> RoundTrip:
    """Quantise ``weight`` with bitsandbytes as a 4-bit load does, dequantise it, and measure the error and the
    bytes actually stored: the 4-bit codes, the per-block scales (8-bit with double quantisation) and, with double
    quantisation, the second-level scales and offset."""
    import bitsandbytes.functional as bnbf

    # Flattened, as the GPU kernels treat it: bitsandbytes' CPU kernel (0.50) mis-quantises a 2-D tensor whose rows
    # are not a multiple of the block size (a 1536 × 576 matrix in blocks of 128: error 0.22 instead of 0.10).
    original = weight.detach().float().flatten()
    packed, state = bnbf.quantize_4bit(original, blocksize=block_size, quant_type=quant_type,
                                       compress_statistics=double_quant)
    restored = bnbf.dequantize_4bit(packed, state).float()
    stored = packed.numel() * packed.element_size() + state.absmax.numel() * state.absmax.element_size()
    if state.nested:
        stored += state.state2.absmax.numel() * state.state2.absmax.element_size() + state.offset.numel() * 4
    error = ((restored - original).norm() / original.norm()).item()
    return RoundTrip(block_size, quant_type, double_quant, error, 8 * stored / original.numel())
