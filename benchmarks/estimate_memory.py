"""Measure training peak memory on CPU and compare it with ftlab.estimate (a benchmark, not a test).

Each configuration runs in a fresh process: build a random 8-layer Llama (31.8M parameters, float32), add
LoRA or not, run two AdamW steps on random tokens, and report the peak RSS rise from before the model existed.
Run: ``python benchmarks/estimate_memory.py`` (about a minute on 2 cores). Prints a Markdown table.
"""

from __future__ import annotations

import json
import subprocess
import sys

CONFIGS = [
    {"name": "full fine-tune, batch 4 × 128", "lora_r": None, "batch_size": 4, "seq_len": 128},
    {"name": "full fine-tune + checkpointing, 4 × 256", "lora_r": None, "batch_size": 4, "seq_len": 256,
     "gradient_checkpointing": True},
    {"name": "LoRA r16 all projections, 4 × 128", "lora_r": 16, "batch_size": 4, "seq_len": 128},
    {"name": "LoRA r16 all projections, 8 × 256", "lora_r": 16, "batch_size": 8, "seq_len": 256},
    {"name": "LoRA r16 + checkpointing, 8 × 256", "lora_r": 16, "batch_size": 8, "seq_len": 256,
     "gradient_checkpointing": True},
    {"name": "LoRA r64 q/v only, 2 × 512", "lora_r": 64, "batch_size": 2, "seq_len": 512,
     "targets": ["q_proj", "v_proj"]},
]
SHAPE = {"vocab_size": 8000, "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8,
         "num_attention_heads": 8, "num_key_value_heads": 4}


def measure(config: dict) -> int:
    """Peak RSS rise (bytes) of building and training the model under ``config`` (run in this process)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from ftlab import memory

    torch.manual_seed(0)
    with memory.measure_peak("cpu") as peak:
        model = LlamaForCausalLM(LlamaConfig(**SHAPE, tie_word_embeddings=False))
        if config.get("gradient_checkpointing"):
            model.gradient_checkpointing_enable()
            model.config.use_cache = False
        if config["lora_r"] is not None:
            targets = config.get("targets") or ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                "down_proj"]
            model = get_peft_model(model, LoraConfig(r=config["lora_r"], lora_alpha=2 * config["lora_r"],
                                                     target_modules=targets, task_type="CAUSAL_LM"))
            if config.get("gradient_checkpointing"):
                model.enable_input_require_grads()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        batch = torch.randint(0, SHAPE["vocab_size"], (config["batch_size"], config["seq_len"]))
        for _ in range(2):
            model(input_ids=batch, labels=batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return peak.delta_bytes


def estimate(config: dict) -> int:
    """ftlab.estimate's prediction for ``config``."""
    from ftlab.estimate import ModelShape, estimate_training

    shape = ModelShape("bench", SHAPE["vocab_size"], SHAPE["hidden_size"], SHAPE["intermediate_size"],
                       SHAPE["num_hidden_layers"], SHAPE["num_attention_heads"], SHAPE["num_key_value_heads"])
    return estimate_training(shape, weight_bits=32, lora_r=config["lora_r"], targets=config.get("targets"),
                             batch_size=config["batch_size"], seq_len=config["seq_len"],
                             gradient_checkpointing=config.get("gradient_checkpointing", False)).total


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(measure(json.loads(sys.argv[2])))
        return
    print("| configuration | estimated MiB | measured MiB | error |\n|---|---|---|---|")
    for config in CONFIGS:
        out = subprocess.run([sys.executable, __file__, "--one", json.dumps(config)], capture_output=True,
                             text=True, check=True).stdout
        measured, predicted = int(out.strip().splitlines()[-1]), estimate(config)
        print(f"| {config['name']} | {predicted / 2**20:.0f} | {measured / 2**20:.0f} | "
              f"{(predicted - measured) / measured:+.0%} |", flush=True)


if __name__ == "__main__":
    main()
