"""SimPO (and CPO) with TRL's ``CPOTrainer``, the way TRL's own ``trl/scripts/*.py`` run a method.

TRL 1.x keeps CPO (SimPO is ``loss_type: simpo``) in ``trl.experimental``, which the ``trl`` command does not
launch: there is no ``trl cpo``. This script is that missing command, one recipe YAML in, an adapter out:

    accelerate launch recipes/cpo.py --config recipes/spark/simpo.yaml
    accelerate launch --config_file recipes/accelerate/fsdp2.yaml recipes/cpo.py --config recipes/spark/simpo.yaml
    accelerate launch recipes/cpo.py --config recipes/toy/simpo.yaml --model_name_or_path <toy model dir>

Run it from the repository root (the recipe's dataset paths are relative to it).
"""

import warnings

from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, TrlParser, get_dataset, get_peft_config
from trl.import_utils import TRLExperimentalWarning

from datasets import load_dataset

with warnings.catch_warnings():
    warnings.simplefilter("ignore", TRLExperimentalWarning)
    from trl.experimental.cpo import CPOConfig, CPOTrainer


def main(script_args, training_args, model_args, dataset_args) -> None:
    """Load the recipe's dataset, train a LoRA adapter with CPOTrainer, save it to ``output_dir``."""
    training_args.model_init_kwargs = {"dtype": model_args.dtype}
    dataset = get_dataset(dataset_args) if dataset_args.datasets else load_dataset(script_args.dataset_name)
    trainer = CPOTrainer(model=model_args.model_name_or_path, args=training_args,
                         train_dataset=dataset[script_args.dataset_train_split],
                         peft_config=get_peft_config(model_args))
    trainer.train()
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.print(f"Saved to {training_args.output_dir}.")
    trainer.accelerator.end_training()


if __name__ == "__main__":
    parser = TrlParser((ScriptArguments, CPOConfig, ModelConfig, DatasetMixtureConfig))
    main(*parser.parse_args_and_config())
