"""Labs 03-09 write their configs out in cells tagged ``recipe``. For every profile, each equals what ``ftlab``
builds: the helpers that re-run a lab's recipe (Lab 09's comparison, ``recipes/``) train what the student read."""

import re
import tempfile
from pathlib import Path

import pytest

from ftlab import labs, models, preference, profiles, sft

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = {"output_dir"}  # each side makes its own scratch directory


def recipe_cells(lab: str) -> list[str]:
    cells = labs.get(lab[:2], ROOT / "labs").cells()
    return ["".join(c["source"]) for c in cells if "recipe" in c["metadata"].get("tags", [])]


def run_recipe(lab: str, profile: profiles.Profile) -> dict:
    """The lab's recipe cells run in order, as the notebook runs them, with the lab's ``profile``."""
    namespace = {"profile": profile, "sft": sft, "alpha": 5.0}  # the lab's setup cell: profile, sft; Lab 05's alpha
    for number, source in enumerate(recipe_cells(lab)):
        exec(compile(source, f"{lab} recipe cell {number}", "exec"), namespace)  # noqa: S102 (the lab's own code)
    return namespace


def settings(config) -> dict:
    """A config's settings, scratch directory left out."""
    return {key: value for key, value in config.to_dict().items() if key not in SCRATCH}


def expected(lab: str, profile: profiles.Profile) -> dict:
    scratch = tempfile.mkdtemp()
    lora = {"lora_config": sft.lora_config(profile)}
    if lab == "03_lora_sft":
        return lora | {"sft_config": sft.sft_config(profile, scratch)}
    if lab == "04_qlora":
        return lora | {"bnb_config": models.quantization_config(profile),
                       "ab_config": sft.sft_config(profile, scratch, max_steps=profile.ab_steps, eval_strategy="no",
                                                   per_device_train_batch_size=profile.ab_batch_size)}
    if lab == "05_neftune":
        steps = max(1, 2 * profile.ab_steps // 3)
        return lora | {"neftune_config": sft.sft_config(profile, scratch, max_steps=steps, eval_strategy="no",
                                                        neftune_noise_alpha=5.0,
                                                        per_device_train_batch_size=profile.ab_batch_size)}
    method = {"06_dpo": "dpo", "07_simpo": "simpo", "08_orpo": "orpo", "09_kto_and_comparison": "kto"}[lab]
    return lora | {f"{method}_config": preference.config(method, profile, scratch)}


LABS = ["03_lora_sft", "04_qlora", "05_neftune", "06_dpo", "07_simpo", "08_orpo", "09_kto_and_comparison"]


@pytest.mark.parametrize("lab", LABS)
@pytest.mark.parametrize("profile_name", list(profiles.PROFILES))
def test_the_labs_written_out_config_is_the_one_ftlab_builds(lab, profile_name, capsys):
    profile = profiles.get(profile_name)
    namespace = run_recipe(lab, profile)
    for name, config in expected(lab, profile).items():
        assert name in namespace, f"{lab}'s recipe cell defines no {name}"
        assert type(namespace[name]) is type(config)
        mine, theirs = settings(namespace[name]), settings(config)
        assert mine == theirs, {key: (mine.get(key), theirs.get(key)) for key in mine.keys() | theirs.keys()
                                if mine.get(key) != theirs.get(key)}


@pytest.mark.parametrize("lab", LABS)
def test_every_argument_of_a_recipe_says_why(lab):
    """One comment per argument: a config line without a comment teaches nothing. A config that repeats an earlier
    lab's says so once, on its opening line (``lora_config = LoraConfig(  # Lab 03's adapter, unchanged``)."""
    for source in recipe_cells(lab):
        bare, repeated = [], False
        for line in source.splitlines():
            if re.match(r"\w+ = \w+\(", line):
                repeated = "#" in line
            elif re.match(r"    \w+=", line) and "#" not in line and not repeated:
                bare.append(line)
        assert not bare, f"{lab}: arguments without a comment: {bare}"


def test_a_changed_value_in_a_lab_is_caught():
    """The comparison can fail: a recipe with another beta differs from ftlab's."""
    toy = profiles.get("toy")
    namespace = run_recipe("06_dpo", toy)
    namespace["dpo_config"].beta = 0.5
    assert settings(namespace["dpo_config"]) != settings(preference.config("dpo", toy, tempfile.mkdtemp()))
