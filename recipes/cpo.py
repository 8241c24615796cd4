"""SimPO (and CPO) with TRL's ``CPOTrainer``, the way TRL's own ``trl/scripts/*.py`` run a method.

TRL 1.x keeps CPO (SimPO is ``loss_type: simpo``) in ``trl.experimental``, which the ``trl`` command does not
launch: there is no ``trl cpo``. This script is that missing command, one recipe YAML in, an adapter out:

    accelerate launch recipes/cpo.py --config recipes/spark/simpo.yaml
    accelerate launch --config_file recipes/accelerate/fsdp2.yaml recipes/cpo.py --config recipes/spark/simpo.yaml
    accelerate launch recipes/cpo.py --config recipes/toy/simpo.yaml --model_name_or_path <toy model dir>

Run it from the repository root (the recipe's dataset paths are relative to it).
"""

import warnings

from experimental_method import run  # recipes/experimental_method.py: the script's directory is on sys.path
from trl.import_utils import TRLExperimentalWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TRLExperimentalWarning)
    from trl.experimental.cpo import CPOConfig, CPOTrainer

if __name__ == "__main__":
    run(CPOConfig, CPOTrainer)
