"""ftlab.lora against PEFT, ftlab.sft's splits, adapter bookkeeping and overfitting signals, the loss plot, the Lab
02-05 checkers."""

from dataclasses import replace

import torch
from peft import LoraConfig, get_peft_model

from ftlab import estimate, labs, models, plots, profiles, sft
from ftlab.lora import LoRALinear

LAB02, LAB03, LAB04, LAB05 = (labs.get(n).module() for n in ("02", "03", "04", "05"))  # the labs' checkers


def test_hand_written_lora_matches_peft():
    torch.manual_seed(0)
    wrapper = torch.nn.Sequential()
    wrapper.proj = torch.nn.Linear(24, 12)
    mine = LoRALinear(torch.nn.Linear(24, 12), r=4, alpha=8)
    mine.base.load_state_dict(wrapper.proj.state_dict())
    layer = get_peft_model(wrapper, LoraConfig(r=4, lora_alpha=8, target_modules=["proj"])).base_model.model.proj
    with torch.no_grad():
        torch.nn.init.normal_(layer.lora_B["default"].weight)
        mine.lora_A.copy_(layer.lora_A["default"].weight)
        mine.lora_B.copy_(layer.lora_B["default"].weight)
    x = torch.randn(5, 24)
    assert torch.allclose(mine(x), layer(x), atol=1e-6)
    assert mine.trainable_parameters() == 4 * (24 + 12)
    before = mine.base.weight.clone()
    mine.merge()
    layer.merge()
    assert torch.allclose(mine.base.weight, layer.base_layer.weight, atol=1e-6)
    assert torch.allclose(mine(x), layer(x), atol=1e-5)  # merged: the low-rank path is not added twice
    mine.unmerge()
    assert torch.allclose(mine.base.weight, before, atol=1e-6)


def test_lora_starts_as_the_base_layer_and_rejects_bad_rank():
    layer = LoRALinear(torch.nn.Linear(8, 8), r=2, alpha=4)
    x = torch.randn(3, 8)
    assert torch.equal(layer(x), layer.base(x)) and not layer.base.weight.requires_grad
    try:
        LoRALinear(torch.nn.Linear(8, 8), r=0, alpha=1)
    except ValueError as error:
        assert "rank r must be positive" in str(error)
    else:
        raise AssertionError("r=0 was accepted")


def test_overfitting_signals_on_labelled_logs():
    for name, (history, overfitting) in LAB03.OVERFITTING_CASES.items():
        assert bool(sft.overfitting_signals(history)) == overfitting, name


def test_the_eval_cut_leaves_the_training_split_alone():
    """cpu measures its eval loss on 16 of its 64 held-out conversations: the training set is the 90% split's."""
    cpu = profiles.get("cpu")
    train, evaluation = sft.sft_splits(cpu)
    whole_train, whole_eval = sft.sft_splits(replace(cpu, eval_conversations=10**6))
    assert (len(train), len(evaluation), len(whole_eval)) == (576, cpu.eval_conversations, 64)
    assert train.to_list() == whole_train.to_list() and evaluation.to_list() == whole_eval.to_list()[:16]
    for name in ("toy", "gpu24", "spark"):  # the other profiles keep their whole 10%
        profile = profiles.get(name)
        assert len(sft.sft_splits(profile)[1]) == profile.eval_conversations == 152


def test_loss_curves_take_lists_and_step_dicts():
    fig = plots.curves({"train": [1.0, 0.5, 0.25], "held-out, once": {20: 0.4}}, "loss")
    (train, once) = fig.axes[0].get_lines()
    assert list(train.get_xdata()) == [1, 2, 3] and list(once.get_xdata()) == [20] and once.get_marker() == "o"


def test_adapter_is_retrained_when_the_base_model_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_OUTPUTS", str(tmp_path))
    profile = profiles.get("toy")
    trained = []
    real_trainer = sft.sft_trainer

    def short_trainer(p, **kwargs):
        trained.append(1)
        return real_trainer(p, max_steps=2, **kwargs)

    monkeypatch.setattr(sft, "sft_trainer", short_trainer)
    first = sft.ensure_sft_adapter(profile)
    assert (first / "adapter_config.json").is_file() and len(trained) == 1
    assert sft.ensure_sft_adapter(profile) == first and len(trained) == 1  # reused
    (first / "ftlab_base.txt").write_text("toy-v0-older-build")
    sft.ensure_sft_adapter(profile)
    assert len(trained) == 2 and (first / "ftlab_base.txt").read_text() != "toy-v0-older-build"
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no staging directory left


def test_four_bit_loading_quantises_the_decoder_projections():
    toy = profiles.get("toy")
    model, _ = models.load(toy, quantization_config=models.quantization_config(toy))
    assert type(model.model.layers[0].mlp.down_proj).__name__ == "Linear4bit"
    assert type(model.lm_head).__name__ == "Linear"  # the LM head stays in the compute dtype


def test_lab_checkers():
    shape = estimate.SHAPES["meta-llama/Llama-3.1-8B-Instruct"]
    assert LAB02.check_lora_parameters(3_407_872, shape, 8, ["q_proj", "v_proj"])
    assert "one layer" in LAB02.check_lora_parameters(3_407_872 // 32, shape, 8, ["q_proj", "v_proj"]).message
    assert "only A" in LAB02.check_lora_parameters(32 * 8 * 4096 * 2, shape, 8, ["q_proj", "v_proj"]).message
    frozen = 32 * (4096 * 4096 + 4096 * 1024)
    assert "frozen weights" in LAB02.check_lora_parameters(frozen, shape, 8, ["q_proj", "v_proj"]).message
    assert LAB04.check_weight_memory(36.4, 72_705_384_448, 4)
    assert "16-bit size" in LAB04.check_weight_memory(145, 72_705_384_448, 4).message
    assert LAB05.check_neftune_scale(5 / (512 * 4096) ** 0.5, 5, 512, 4096)
    assert "not by L·d itself" in LAB05.check_neftune_scale(5 / (512 * 4096), 5, 512, 4096).message
    assert "both the sequence length" in LAB05.check_neftune_scale(5 / 512**0.5, 5, 512, 4096).message
    assert LAB03.check_overfitting_detector(lambda h: bool(sft.overfitting_signals(h)))
    assert "you said fine" in LAB03.check_overfitting_detector(lambda h: False).message
    assert "raised ZeroDivisionError" in LAB03.check_overfitting_detector(lambda h: 1 / 0).message
