"""The disk each real profile needs, from the models' parameter counts (``ftlab.estimate.SHAPES``).

What the course writes, per profile: the prefetched hub weights (bf16 safetensors, 2 bytes per parameter, for the
LoRA model and the QLoRA model), and Lab 10's files for the LoRA model: two merged copies (PEFT's merge and the
streaming merge, bf16), the full-precision GGUF (bf16, 16.0 bits per weight), Q8_0 (8.50) and Q4_K_M (4.89), at
the bits per weight llama.cpp's quantize README lists for Llama 3.1 8B. Adapters and records are under 1 GB.
Run ``python benchmarks/disk_budget.py``: prints the Markdown table LAB_PREP.md shows (tests/test_gpu_path.py
checks that they agree).
"""

from __future__ import annotations

from ftlab import profiles
from ftlab.estimate import SHAPES

GB = 1e9
GGUF_BITS_PER_WEIGHT = {"bf16": 16.0005, "Q8_0": 8.5008, "Q4_K_M": 4.8944}
MERGED_COPIES = 2


def budget(profile_name: str, ungated: bool = False) -> dict[str, float]:
    """GB (10**9 bytes) a profile writes: ``download`` (prefetch), ``lab10`` (merged copies and GGUFs), ``total``."""
    profile = profiles.get(profile_name)
    if ungated:
        profile = profile.without_gate()
    lora, qlora = SHAPES[profile.model_for("base")].parameters, SHAPES[profile.model_for("qlora")].parameters
    download = 2 * (lora + qlora) / GB
    lab10 = (MERGED_COPIES * 2 * lora + sum(bits / 8 * lora for bits in GGUF_BITS_PER_WEIGHT.values())) / GB
    return {"download": download, "lab10": lab10, "total": download + lab10}


def table() -> str:
    """The per-profile table, gated models (ungated in brackets), GB rounded to whole numbers."""
    rows = ["| profile | prefetched models | Lab 10 writes | together |", "|---|---|---|---|"]
    for name in ("gpu24", "spark"):
        gated, ungated = budget(name), budget(name, ungated=True)
        rows.append(f"| `{name}` | " + " | ".join(f"~{gated[k]:.0f} GB ({ungated[k]:.0f})"
                                               for k in ("download", "lab10", "total")) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
