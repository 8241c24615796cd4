"""Scale-out (Lab 11): the labs' recipes as TRL CLI YAML, accelerate configs checked before launch, and the
measured 2-process run on the CPU.

* ``recipe`` / ``write_recipes``: ``recipes/<profile>/<method>.yaml`` holds the non-default values of the very
  config object a lab trains with (``sft.sft_config``, ``preference.config``), its LoRA settings as TRL's
  ``ModelConfig`` flags, the model and the course dataset. ``tests/test_recipes.py`` checks the committed files
  are what this writes, and that TRL's own parser turns them back into the lab's config.
* ``check_recipe`` / ``check_accelerate_config`` / ``command``: one clear error for a profile, method, dataset or
  process count that cannot work, before any process starts; then the exact command to run.
* ``run_ranks``: the SFT recipe in N CPU processes (``torchrun``, gloo); each rank reports its world size, batch,
  losses and trained LoRA weights, so Lab 11 can check that data parallelism changes nothing but the speed.

    python -m ftlab.distributed generate                      # rewrite recipes/ from the profiles
    python -m ftlab.distributed launch sft --profile spark --accelerate-config recipes/accelerate/fsdp2.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

from ftlab import data, models, profiles, sft
from ftlab.files import staged_dir, staged_file
from ftlab.methods import METHODS as PREFERENCE
from ftlab.paths import REPO_ROOT
from ftlab.profiles import Profile

RECIPES_DIR = REPO_ROOT / "recipes"
ACCELERATE_DIR = RECIPES_DIR / "accelerate"
SFT_DATA = "recipes/data/sft"  # the lab's prompt/completion split of datasets/sft.jsonl: train.jsonl, test.jsonl
METHODS = ("sft", *PREFERENCE)  # every recipe: Lab 03's SFT and each preference method
MACHINE_KEYS = {"output_dir", "use_cpu", "bf16", "fp16"}  # decided by the machine that runs, not by the recipe
SHOWN = {"learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "max_length",
         "seed"}  # written even where they equal TRL's default, as are each method's own knobs


def lab_config(method: str, profile: Profile, output_dir: str | Path = "recipe-output"):
    """The TRL config a lab builds for ``method`` on ``profile`` (Lab 03 for SFT, Labs 06-09 for the others)."""
    if method == "sft":
        return sft.sft_config(profile, output_dir)
    return _preference().config(method, profile, output_dir)


def _preference():
    """``ftlab.preference``, imported when needed: its measurements and tables are no part of a rank's run."""
    from ftlab import preference

    return preference


def target_precision(profile: Profile) -> dict[str, bool]:
    """``bf16``/``fp16`` as the profile's own hardware sets them (on a CPU the labs train in float32)."""
    return {"bf16": profile.dtype == "bfloat16", "fp16": profile.dtype == "float16"}


def recipe(method: str, profile: Profile) -> dict:
    """The YAML recipe for ``method`` on ``profile``: model and LoRA (TRL ``ModelConfig`` flags), dataset, and every
    value of the lab's TRL config that differs from TRL's default (the main knobs always), precision as on the
    profile's hardware."""
    config = lab_config(method, profile)
    defaults = type(config)(output_dir="recipe-output", use_cpu=config.use_cpu).to_dict()
    shown = SHOWN | set(PREFERENCE[method].settings if method != "sft" else ())
    values = {key: value for key, value in config.to_dict().items()  # gradient_checkpointing: activation_'s old name
              if key not in MACHINE_KEYS | {"gradient_checkpointing"} and (value != defaults[key] or key in shown)}
    values |= target_precision(profile)  # explicit: TRL's configs default to bf16
    lora = sft.lora_config(profile)
    model = {} if profile.is_toy else {"model_name_or_path": profile.model}
    model |= {"dtype": profile.dtype, "use_peft": True, "lora_r": lora.r, "lora_alpha": lora.lora_alpha,
              "lora_dropout": lora.lora_dropout, "lora_target_modules": sorted(lora.target_modules)}
    if method == "sft":
        dataset = {"dataset_name": sft_data_dir(profile)}
    else:
        dataset = {"datasets": [{"path": "json", "data_files": PREFERENCE[method].data_file, "split": "train"}]}
    return model | dataset | {"output_dir": f"outputs/{profile.name}/recipe_{method}"} | values


def recipe_path(method: str, profile_name: str) -> Path:
    """``recipes/<profile>/<method>.yaml``; an unknown profile or method is an error naming the known ones."""
    profiles.get(profile_name)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; recipes exist for {', '.join(METHODS)}")
    return RECIPES_DIR / profile_name / f"{method}.yaml"


def command(method: str, profile: Profile, accelerate_config: str | Path | None = None,
            extra: list[str] | None = None) -> list[str]:
    """The command that runs ``method``'s recipe for ``profile`` from the repository root, after checking the
    recipe and the accelerate config. A model built locally (the toy; SmolLM2 rebuilt from PyPI) lives in the
    course cache, so its path is passed here."""
    path = recipe_path(method, profile.name)
    check_recipe(path)
    config = ["--accelerate_config", _relative(check_accelerate_config(accelerate_config))] if accelerate_config else []
    source = models.resolve(profile)
    model = ["--model_name_or_path", str(source)] if isinstance(source, Path) else []
    script = _script(method)
    if script:
        launch = ["--config_file", config[1]] if config else []
        return ["accelerate", "launch", *launch, script, "--config", _relative(path), *model, *(extra or [])]
    return ["trl", method, "--config", _relative(path), *config, *model, *(extra or [])]


def _script(method: str) -> str | None:
    """The launcher script of a method that TRL's CLI has no command for (``recipes/cpo.py``), else None."""
    return PREFERENCE[method].script if method in PREFERENCE else None


def _relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _header(method: str, profile: Profile) -> str:
    path = f"recipes/{profile.name}/{method}.yaml"
    script = _script(method)
    run = f"accelerate launch {script}" if script else f"trl {method}"
    run += f" --config {path}"
    several = ("accelerate launch --config_file recipes/accelerate/<config>.yaml ..." if script
               else "add --accelerate_config recipes/accelerate/<config>.yaml")
    model = " --model_name_or_path <toy model dir>" if profile.is_toy else ""
    start = "" if method == "sft" else (
        "# Labs 06-09 start from Lab 03's SFT model merged into the base: pass it as --model_name_or_path.\n")
    return (f"# {method} on profile {profile.name!r}, generated from the profile by `python -m ftlab.distributed "
            f"generate`\n# (tests/test_recipes.py fails if this file and the lab's config disagree). From the "
            f"repository root:\n#   {run}{model}\n# several GPUs or two Sparks: {several}\n"
            f"# (multi_gpu, fsdp2, zero3, two_sparks; see recipes/README.md)\n{start}")


def recipe_text(method: str, profile: Profile) -> str:
    """The file ``recipes/<profile>/<method>.yaml`` as generated: a comment with the command, then the values."""
    return _header(method, profile) + yaml.safe_dump(recipe(method, profile), sort_keys=False)


def sft_data_dir(profile: Profile) -> str:
    """Where the SFT recipe of ``profile`` reads its split: ``recipes/data/sft`` for the profiles that train on the
    whole set, ``recipes/data/sft-<n>`` for one that uses only its first ``n`` conversations (``cpu``)."""
    whole = profile.train_examples >= len(data.course_dataset("sft"))
    return SFT_DATA if whole else f"{SFT_DATA}-{profile.train_examples}"


def sft_data(profile: Profile) -> dict[str, list[dict]]:
    """The lab's SFT split as prompt/completion rows: ``{"train": [...], "test": [...]}``."""
    train, test = sft.sft_splits(profile)
    return {"train": train.to_list(), "test": test.to_list()}


def jsonl(rows: list[dict]) -> str:
    """Rows as JSON lines, as ``recipes/data/sft*/*.jsonl`` hold them."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_recipes(names: list[str] | None = None) -> list[Path]:
    """Write ``recipes/<profile>/<method>.yaml`` for ``names`` (every profile by default) and their SFT splits.

    Profiles that share a data folder (:func:`sft_data_dir`) must split the SFT data the same way."""
    chosen = [profiles.get(name) for name in names or list(profiles.PROFILES)]
    folders: dict[str, dict[str, dict]] = {}
    for profile in chosen:
        folders.setdefault(sft_data_dir(profile), {})[profile.name] = sft_data(profile)
    for folder, splits in folders.items():
        if len({json.dumps(split) for split in splits.values()}) > 1:
            raise ValueError(f"profiles {sorted(splits)} split the SFT data differently but share {folder}")
    written = []
    for folder, splits in folders.items():
        with staged_dir(REPO_ROOT / folder, replace=True) as staging:
            for split, rows in next(iter(splits.values())).items():
                (staging / f"{split}.jsonl").write_text(jsonl(rows), encoding="utf-8")
    for profile in chosen:
        for method in METHODS:
            path = recipe_path(method, profile.name)
            path.parent.mkdir(exist_ok=True)
            with staged_file(path, replace=True) as staging:
                staging.write_text(recipe_text(method, profile), encoding="utf-8")
            written.append(path)
    return written


def check_recipe(path: str | Path) -> dict:
    """Read a recipe YAML and check that its profile folder, method and data exist; returns its values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recipe at {path}; recipes are recipes/<profile>/<method>.yaml with methods "
                                f"{', '.join(METHODS)} (python -m ftlab.distributed generate writes them)")
    profiles.get(path.parent.name)
    if path.stem not in METHODS:
        raise ValueError(f"{path}: unknown method {path.stem!r}; recipes exist for {', '.join(METHODS)}")
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    sources = [values["dataset_name"]] if "dataset_name" in values else [d["data_files"] for d in values["datasets"]]
    for name in sources:
        if not (REPO_ROOT / name).exists():
            raise FileNotFoundError(f"{path}: dataset {name} does not exist (paths are relative to the repository "
                                    "root; run from there)")
    return values


def check_accelerate_config(path: str | Path) -> Path:
    """Load an accelerate config with accelerate's own loader and check that its processes fit its machines:
    ``num_processes`` is the total over all machines, so a multiple of ``num_machines``; ``machine_rank`` is below
    ``num_machines``; several machines need ``main_process_ip`` and ``main_process_port``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no accelerate config at {path}; the course's are in {_relative(ACCELERATE_DIR)}/")
    config = load_config_from_file(str(path))
    if not isinstance(config, ClusterConfig):
        raise ValueError(f"{path}: compute_environment must be LOCAL_MACHINE")
    machines, processes, rank = config.num_machines, config.num_processes, config.machine_rank
    problems = []
    if machines < 1 or processes < machines or processes % machines:
        problems.append(f"num_processes: {processes} is the total over all machines and must be a multiple of "
                        f"num_machines: {machines} (e.g. {2 * machines} for {machines} machine(s) with 2 GPUs each)")
    if not 0 <= rank < machines:
        problems.append(f"machine_rank: {rank} must be between 0 and num_machines - 1 = {machines - 1}")
    if machines > 1 and not (config.main_process_ip and config.main_process_port):
        problems.append("several machines need main_process_ip (machine 0's address on the link between them) "
                        "and main_process_port")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return path


# ---------------------------------------------------------------------------------------------------------------
# The measured run: the SFT recipe in several CPU processes
# ---------------------------------------------------------------------------------------------------------------

def ranks_command(config: str | Path, processes: int, output_dir: str | Path, *args: str) -> list[str]:
    """``torchrun --standalone --nproc_per_node <processes> -m ftlab.distributed rank --config ... --use_cpu true``:
    one Python process per rank on this machine, each running the recipe; ``use_cpu`` makes accelerate join them
    over gloo (without it each CPU process would train alone)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "ftlab.distributed", "rank", "--config", str(config), "--output_dir", str(output_dir),
            "--use_cpu", "true", *args]


def run_ranks(config: str | Path, processes: int, *args: str, timeout: float = 300) -> list[dict]:
    """Run the SFT recipe ``config`` in ``processes`` CPU processes (printing the command) and return each rank's
    report (see ``rank``); a failed run raises with the ranks' own error output."""
    check_recipe(config)
    output_dir = Path(tempfile.mkdtemp(prefix=f"ftlab-ranks{processes}-"))
    # one thread per process (torchrun's own default for several): two processes use two cores, and one process
    # is not slowed by its threads waiting on each other when the cores are busy with other work
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "utils"), os.environ.get("PYTHONPATH", "")]),
                        "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    run = ranks_command(config, processes, output_dir, *args)
    print("$", shlex.join(["torchrun", *run[3:]]))  # python -m torch.distributed.run is torchrun
    try:
        result = subprocess.run(run, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"the {processes}-process run did not finish in {timeout:.0f} s: a rank is waiting for "
                           "another (TROUBLESHOOTING.md, 'DistStoreError: Timed out … waiting for clients')") from error
    if result.returncode != 0:
        raise RuntimeError(f"the {processes}-process run failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    import torch

    return [torch.load(output_dir / f"rank{r}.pt") for r in range(processes)]


def rank(argv: list[str]) -> None:
    """One rank of ``run_ranks`` (see ``train_rank``). A rank that fails exits at once with its traceback: a normal
    exit would wait for the other ranks in the process group's teardown, and the run would hang instead of failing."""
    try:
        train_rank(argv)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def train_rank(argv: list[str]) -> None:
    """TRL's own SFT script (``trl/scripts/sft.py``: parse the recipe, build the
    trainer, train), then this rank writes ``rank<N>.pt``: world size, backend, batch sizes, logged losses, seconds from
    building the trainer to the end of training, and its trained LoRA weights."""
    import torch
    import torch.distributed as dist
    from trl import SFTTrainer, get_peft_config
    from trl.scripts.sft import make_parser

    from datasets import load_dataset

    script_args, training_args, model_args, _ = make_parser().parse_args_and_config(argv)
    training_args.model_init_kwargs = {"dtype": model_args.dtype}
    dataset = load_dataset(script_args.dataset_name)
    start = time.perf_counter()
    trainer = SFTTrainer(model=model_args.model_name_or_path, args=training_args, train_dataset=dataset["train"],
                         eval_dataset=dataset["test"] if training_args.eval_strategy != "no" else None,
                         peft_config=get_peft_config(model_args))
    trainer.train()
    world = trainer.args.world_size
    report = {"rank": trainer.args.process_index, "world_size": world, "output_dir": training_args.output_dir,
              "backend": dist.get_backend() if dist.is_initialized() else None,
              "per_device_batch": trainer.args.per_device_train_batch_size,
              "grad_accum": trainer.args.gradient_accumulation_steps,
              "effective_batch": world * trainer.args.per_device_train_batch_size
              * trainer.args.gradient_accumulation_steps,
              "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
              "seconds": time.perf_counter() - start,
              "weights": {n: p.detach().cpu().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}}
    torch.save(report, Path(training_args.output_dir) / f"rank{report['rank']}.pt")
    trainer.accelerator.end_training()


def main(argv: list[str] | None = None) -> int:
    """``python -m ftlab.distributed generate | launch | rank``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ftlab.distributed", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write recipes/<profile>/<method>.yaml from the profiles")
    generate.add_argument("--profile", action="append", help="only this profile (repeatable)")
    launch = commands.add_parser("launch", help="check a recipe and an accelerate config, then run it")
    launch.add_argument("method", help=", ".join(METHODS))
    launch.add_argument("--profile", required=True, help=", ".join(profiles.PROFILES))
    launch.add_argument("--accelerate-config", help="e.g. recipes/accelerate/fsdp2.yaml")
    launch.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    commands.add_parser("rank", add_help=False, help="one rank of a torchrun run (Lab 11)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "rank":
        rank(rest)
        return 0
    try:
        if args.command == "generate":
            for path in write_recipes(args.profile):
                print(f"wrote {_relative(path)}")
            return 0
        run = command(args.method, profiles.get(args.profile), args.accelerate_config, rest)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(shlex.join(run))
    return 0 if args.dry_run else subprocess.run(run, cwd=REPO_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
