"""ORPO with TRL's ``ORPOTrainer``, the way TRL's own ``trl/scripts/*.py`` run a method.

TRL 1.x keeps ORPO in ``trl.experimental``, which the ``trl`` command does not launch: there is no
``trl orpo``. This script is that missing command, one recipe YAML in, an adapter out:

    accelerate launch recipes/orpo.py --config recipes/spark/orpo.yaml
    accelerate launch --config_file recipes/accelerate/fsdp2.yaml recipes/orpo.py --config recipes/spark/orpo.yaml
    accelerate launch recipes/orpo.py --config recipes/toy/orpo.yaml --model_name_or_path <toy model dir>

Run it from the repository root (the recipe's dataset paths are relative to it).
"""

import warnings

from experimental_method import run  # recipes/experimental_method.py: the script's directory is on sys.path
from trl.import_utils import TRLExperimentalWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TRLExperimentalWarning)
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

if __name__ == "__main__":
    run(ORPOConfig, ORPOTrainer)
