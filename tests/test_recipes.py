"""recipes/: the TRL CLI recipes say what the labs do, for every profile; the accelerate configs load with
accelerate's own code; bad input is refused before anything starts; each recipe runs with TRL's CLI on the toy."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, TrlParser, get_peft_config

from datasets import load_dataset
from ftlab import distributed, methods, profiles, sft

ROOT = Path(__file__).resolve().parents[1]
CASES = [(name, method) for name in profiles.PROFILES for method in distributed.METHODS]


@pytest.mark.parametrize(("name", "method"), CASES)
def test_committed_recipe_is_the_generated_one(name, method):
    path = distributed.recipe_path(method, name)
    assert path.read_text(encoding="utf-8") == distributed.recipe_text(method, profiles.get(name)), \
        f"{path.relative_to(ROOT)} is stale: run `python -m ftlab.distributed generate`"


def test_committed_sft_split_is_the_labs():
    for name in profiles.PROFILES:
        for split, rows in distributed.sft_data(profiles.get(name)).items():
            committed = ROOT / distributed.sft_data_dir(profiles.get(name)) / f"{split}.jsonl"
            assert committed.read_text(encoding="utf-8") == distributed.jsonl(rows), (name, split)


def parse(method: str, path: Path, *args: str):
    """The recipe as TRL's own parser reads it (the ``trl`` command and recipes/cpo.py, orpo.py do the same)."""
    config_class = type(distributed.lab_config(method, profiles.get("toy")))
    parser = TrlParser((ScriptArguments, config_class, ModelConfig, DatasetMixtureConfig))
    return parser.parse_args_and_config(["--config", str(path), *args])


@pytest.mark.parametrize(("name", "method"), CASES)
def test_trl_reads_the_recipe_as_the_labs_config(name, method):
    profile = profiles.get(name)
    # use_cpu: a bf16 recipe is refused on a machine without a GPU otherwise; it is a machine key, not compared
    script_args, config, model_args, dataset_args = parse(method, distributed.recipe_path(method, name),
                                                          "--use_cpu", "true")
    lab = distributed.lab_config(method, profile).to_dict()
    parsed = config.to_dict()
    differ = {k: (parsed[k], lab[k]) for k in lab if k not in distributed.MACHINE_KEYS and parsed[k] != lab[k]}
    assert not differ, f"recipe vs lab (recipe, lab): {differ}"
    assert {"bf16": config.bf16, "fp16": config.fp16} == distributed.target_precision(profile)
    lora, recipe_lora = sft.lora_config(profile), get_peft_config(model_args)
    assert (recipe_lora.r, recipe_lora.lora_alpha, recipe_lora.lora_dropout, recipe_lora.target_modules,
            recipe_lora.task_type) == (lora.r, lora.lora_alpha, lora.lora_dropout, lora.target_modules, lora.task_type)
    assert model_args.dtype == profile.dtype
    assert model_args.model_name_or_path == (None if profile.is_toy else profile.model)
    if method == "sft":
        assert script_args.dataset_name == distributed.sft_data_dir(profile)
    else:
        (dataset,) = dataset_args.datasets
        assert dataset.data_files == methods.METHODS[method].data_file


@pytest.mark.parametrize("name", ["toy", "cpu"])
def test_the_sft_recipe_trains_on_the_labs_split(name):
    profile = profiles.get(name)
    loaded = load_dataset(str(ROOT / distributed.sft_data_dir(profile)))
    train, evaluation = sft.sft_splits(profile)
    assert loaded["train"].to_list() == train.to_list() and loaded["test"].to_list() == evaluation.to_list()


CONFIGS = {"multi_gpu": "MULTI_GPU", "fsdp2": "FSDP", "zero3": "DEEPSPEED", "two_sparks": "FSDP"}


@pytest.mark.parametrize("name", CONFIGS)
def test_accelerate_config_loads_with_accelerates_own_code(name):
    path = distributed.ACCELERATE_DIR / f"{name}.yaml"
    distributed.check_accelerate_config(path)
    args = launch_command_parser().parse_args(["--config_file", str(path), "train.py"])
    _validate_launch_command(args)  # what `accelerate launch` does with it before starting anything
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["distributed_type"] == CONFIGS[name]
    if name in ("fsdp2", "two_sparks"):
        assert args.use_fsdp and config["fsdp_config"]["fsdp_version"] == 2
    if name == "zero3":
        assert args.use_deepspeed and config["deepspeed_config"]["zero_stage"] == 3
    if name == "two_sparks":
        assert (args.num_machines, args.num_processes, config["rdzv_backend"]) == (2, 2, "static")
        assert args.main_process_ip and args.main_process_port
        assert "NCCL_SOCKET_IFNAME" in path.read_text(encoding="utf-8")


def test_every_accelerate_config_is_tested():
    assert {p.stem for p in distributed.ACCELERATE_DIR.glob("*.yaml")} == set(CONFIGS)


@pytest.mark.parametrize(("change", "message"), [
    ({"num_processes": 3}, "num_processes: 3 is the total over all machines and must be a multiple of num_machines: 2"),
    ({"num_processes": 1}, "must be a multiple of num_machines: 2"),
    ({"machine_rank": 2}, "machine_rank: 2 must be between 0 and num_machines - 1 = 1"),
    ({"main_process_ip": None}, "several machines need main_process_ip"),
])
def test_an_accelerate_config_whose_processes_disagree_with_its_machines_is_refused(tmp_path, change, message):
    config = yaml.safe_load((distributed.ACCELERATE_DIR / "two_sparks.yaml").read_text(encoding="utf-8")) | change
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(ValueError, match=f"bad.yaml: .*{message}"):
        distributed.check_accelerate_config(path)


def test_bad_recipes_are_refused_before_anything_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a process was started"))
    assert distributed.main(["launch", "sft", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert distributed.main(["launch", "grpo", "--profile", "toy"]) == 2
    assert "unknown method 'grpo'" in capsys.readouterr().err
    assert distributed.main(["launch", "sft", "--profile", "toy", "--accelerate-config", "nope.yaml"]) == 2
    assert "no accelerate config at nope.yaml" in capsys.readouterr().err
    (tmp_path / "toy").mkdir()
    recipe = yaml.safe_load(distributed.recipe_path("dpo", "toy").read_text(encoding="utf-8"))
    recipe["datasets"][0]["data_files"] = "datasets/nope.jsonl"
    (tmp_path / "toy" / "dpo.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="dpo.yaml: dataset datasets/nope.jsonl does not exist"):
        distributed.check_recipe(tmp_path / "toy" / "dpo.yaml")
    shutil.copy(distributed.recipe_path("sft", "toy"), tmp_path / "sft.yaml")
    with pytest.raises(ValueError, match="unknown profile"):
        distributed.check_recipe(tmp_path / "sft.yaml")


def test_launch_commands_are_the_documented_ones():
    spark = profiles.get("spark")
    assert distributed.command("sft", spark, "recipes/accelerate/fsdp2.yaml") == [
        "trl", "sft", "--config", "recipes/spark/sft.yaml", "--accelerate_config", "recipes/accelerate/fsdp2.yaml"]
    assert distributed.command("simpo", spark, "recipes/accelerate/two_sparks.yaml", ["--machine_rank", "1"]) == [
        "accelerate", "launch", "--config_file", "recipes/accelerate/two_sparks.yaml", "recipes/cpo.py", "--config",
        "recipes/spark/simpo.yaml", "--machine_rank", "1"]


@pytest.mark.parametrize("method", distributed.METHODS)
def test_trl_cli_runs_the_toy_recipe(method, tmp_path):
    run = distributed.command(method, profiles.get("toy"), extra=["--max_steps", "2", "--eval_steps", "1",
                                                                  "--output_dir", str(tmp_path)])
    bin_dir = Path(sys.executable).parent  # trl and accelerate from the same environment as the tests
    result = subprocess.run([str(bin_dir / run[0]), *run[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "adapter_model.safetensors").is_file()
    assert list(tmp_path.glob("runs/*/events.out.tfevents.*")), "no TensorBoard event file"
