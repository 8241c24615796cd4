"""ftlab.estimate: shapes match real models, LoRA counts match PEFT, every real profile fits its hardware."""

import pytest
from peft import get_peft_model

from ftlab import estimate, models, profiles, sft, units


@pytest.mark.parametrize(("name", "billions"), [
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03), ("meta-llama/Llama-3.1-70B-Instruct", 70.55),
    ("Qwen/Qwen2.5-7B-Instruct", 7.62), ("Qwen/Qwen2.5-72B-Instruct", 72.71),
    ("meta-llama/Llama-3.2-3B-Instruct", 3.21), ("Qwen/Qwen2.5-3B-Instruct", 3.09),
])
def test_published_shapes_give_published_sizes(name, billions):
    assert estimate.SHAPES[name].parameters / 1e9 == pytest.approx(billions, abs=0.01)


def test_toy_shape_and_lora_count_match_the_libraries():
    profile = profiles.get("toy")
    model, _ = models.load(profile)
    shape = estimate.ModelShape.from_config(model.config)
    assert shape.parameters == model.num_parameters()
    peft_model = get_peft_model(model, sft.lora_config(profile))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert estimate.lora_parameters(shape, profile.lora_r, sft.LORA_TARGETS) == trainable


def test_70b_needs_4bit_on_a_spark():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-70B-Instruct"]
    bf16 = estimate.estimate_training(shape, weight_bits=16, batch_size=1, seq_len=1024, gradient_checkpointing=True)
    nf4 = estimate.estimate_training(shape, weight_bits=4, batch_size=1, seq_len=1024, gradient_checkpointing=True)
    assert bf16.weights / units.GIB > 128 > nf4.total / units.GIB
    assert nf4.total / 1e9 == pytest.approx(45, rel=0.1)  # REFERENCE: ~140 GB vs ~45 GB (GB, not GiB)


def test_checkpointing_and_lora_shrink_the_estimate():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    full = estimate.estimate_training(shape, weight_bits=16, lora_r=None, batch_size=4, seq_len=1024)
    lora = estimate.estimate_training(shape, weight_bits=16, lora_r=16, batch_size=4, seq_len=1024)
    ckpt = estimate.estimate_training(shape, weight_bits=16, lora_r=16, batch_size=4, seq_len=1024,
                                      gradient_checkpointing=True)
    assert full.optimizer > 10 * lora.optimizer and lora.activations > 3 * ckpt.activations


def test_bad_settings_are_clear_errors():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    with pytest.raises(ValueError, match="unknown target modules \\['qkv'\\]"):
        estimate.lora_parameters(shape, 8, ["qkv"])
    with pytest.raises(ValueError, match="4-bit weights cannot be fine-tuned directly"):
        estimate.estimate_training(shape, weight_bits=4, lora_r=None)
    with pytest.raises(ValueError, match="weight_bits must be 32, 16 or 4"):
        estimate.estimate_training(shape, weight_bits=8)


@pytest.mark.parametrize("name", [n for n in profiles.PROFILES if n != "toy"])
@pytest.mark.parametrize("ungated", [False, True])
def test_every_real_profile_fits_its_hardware(name, ungated):
    """LoRA on the base model (bf16) and QLoRA on the large model (4-bit) must fit in 90% of the budget."""
    p = profiles.get(name).without_gate() if ungated else profiles.get(name)
    for model_id, bits in [(p.model_for("base"), 16), (p.model_for("qlora"), 4)]:
        total = estimate.estimate_training(
            estimate.SHAPES[model_id], weight_bits=bits, lora_r=p.lora_r, batch_size=p.batch_size,
            seq_len=p.max_seq_length, gradient_checkpointing=p.gradient_checkpointing).total
        needed = total / units.GIB
        assert needed <= 0.9 * p.memory_gb, f"{model_id} ({bits}-bit) needs {needed:.0f} GiB of {p.memory_gb}"


@pytest.mark.parametrize(("settings", "problem"), [
    ({"batch_size": -4}, "batch_size must be a positive integer, got -4"),
    ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
    ({"seq_len": 0}, "seq_len must be a positive integer, got 0"),
    ({"lora_r": -16}, "lora_r must be a positive integer, got -16"),
    ({"targets": []}, "no target modules: LoRA needs at least one"),
])
def test_impossible_settings_are_refused(settings, problem):
    """Before, batch_size=-4 gave a total of -7.8 GiB and targets=[] meant all seven projections."""
    with pytest.raises(ValueError, match=problem):
        estimate.estimate_training(estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"], **settings)


def test_impossible_shapes_are_refused():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    with pytest.raises(ValueError, match="tiny: num_heads must be a positive integer, got 0"):
        estimate.ModelShape("tiny", 100, 64, 128, 2, 0, 1)
    with pytest.raises(ValueError, match="no target modules"):
        estimate.lora_parameters(shape, 8, [])
    assert estimate.lora_parameters(shape, 8, list(shape.linear_shapes())) == \
        estimate.estimate_training(shape, lora_r=8).trainable // 4  # None: all seven, in both
