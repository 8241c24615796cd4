"""Peak memory and time of PEFT's merge vs ftlab's streaming merge (a benchmark, not a test).

Builds a random Llama of ~210 MB (float32) saved in 6 safetensors shards, plus a LoRA adapter (r=16 on every
projection, non-zero B). Each merge runs in a fresh process that first imports everything, then reports its peak
RSS rise above that point (``ftlab.memory.measure_peak``: Linux's VmHWM, reset first) and its wall time. Several
runs per method; prints medians and ratios, and checks that both merges wrote the same tensors.
Run: ``python benchmarks/merge_memory.py [--runs 3]`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = {"vocab_size": 640, "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 4,
         "num_attention_heads": 16, "num_key_value_heads": 16}
SHARD_SIZE = "40MB"


def build(workdir: Path) -> tuple[Path, Path]:
    """The multi-shard base model (with the toy tokenizer's files) and a LoRA adapter for it."""
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    from ftlab import merge, sft, toy

    logging.disable_progress_bar()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SHAPE, tie_word_embeddings=False))
    base = workdir / "base"
    model.save_pretrained(base, max_shard_size=SHARD_SIZE)
    for name in merge.TOKENIZER_FILES:
        if (toy.model_dir() / name).is_file():
            shutil.copy2(toy.model_dir() / name, base / name)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=sft.LORA_TARGETS))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.01)
    peft_model.save_pretrained(workdir / "adapter")
    return base, workdir / "adapter"


def run_one(method: str, base: str, adapter: str, out: str) -> None:
    """In a fresh process: import, reset the peak-RSS counter, merge, print JSON with the peak rise and time."""
    from ftlab import memory, merge

    start = time.perf_counter()
    with memory.measure_peak("cpu") as peak:
        {"peft": merge.peft_merge, "streaming": merge.streaming_merge}[method](base, adapter, out)
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rise": peak.delta_bytes,
                      "peak_total": peak.peak_bytes}))


def measure(method: str, base: Path, adapter: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--run", method, str(base), str(adapter), str(out)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--run", nargs=4, metavar=("METHOD", "BASE", "ADAPTER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(*args.run)
        return
    from ftlab import merge

    mib = 2**20
    with tempfile.TemporaryDirectory(prefix="ftlab-merge-bench-") as tmp:
        workdir = Path(tmp)
        base, adapter = build(workdir)
        shards = list(base.glob("*.safetensors"))
        size = sum(p.stat().st_size for p in shards)
        print(f"base model: {size / mib:.0f} MiB in {len(shards)} shards; adapter "
              f"{(adapter / 'adapter_model.safetensors').stat().st_size / mib:.1f} MiB; {args.runs} runs each\n")
        results = {"peft": [], "streaming": []}
        for run in range(args.runs):
            for method in results:
                out = workdir / f"{method}-{run}"
                results[method].append(measure(method, base, adapter, out))
        difference = merge.max_abs_difference(workdir / "peft-0", workdir / "streaming-0")
    print("| merge | peak RSS rise (MiB, median) | peak RSS of the process (MiB) | time (s, median) |")
    print("|---|---|---|---|")
    medians = {}
    for method, runs in results.items():
        medians[method] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        m = medians[method]
        print(f"| {method} | {m['peak_rise'] / mib:.0f} | {m['peak_total'] / mib:.0f} | {m['seconds']:.2f} |")
    ratio = medians["streaming"]["peak_rise"] / medians["peft"]["peak_rise"]
    print(f"\nstreaming / PEFT: peak RSS rise {ratio:.2f}x (target <= 0.35x), time "
          f"{medians['streaming']['seconds'] / medians['peft']['seconds']:.2f}x; "
          f"max abs difference of the merged tensors {difference:.1e}")


if __name__ == "__main__":
    main()
