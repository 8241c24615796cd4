"""The body of recipes/cpo.py and recipes/orpo.py: what TRL's own ``trl/scripts/*.py`` do for one method.

TRL 1.x keeps CPO (SimPO) and ORPO in ``trl.experimental``, which the ``trl`` command does not launch. Each of those
scripts imports its config and trainer and hands them to :func:`run`: one recipe YAML in, an adapter out.
"""

from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, TrlParser, get_dataset, get_peft_config

from datasets import load_dataset


def run(config_class, trainer_class) -> None:
    """Parse the recipe, load its dataset, train a LoRA adapter with ``trainer_class``, save it to ``output_dir``."""
    parser = TrlParser((ScriptArguments, config_class, ModelConfig, DatasetMixtureConfig))
    script_args, training_args, model_args, dataset_args = parser.parse_args_and_config()
    training_args.model_init_kwargs = {"dtype": model_args.dtype}
    dataset = get_dataset(dataset_args) if dataset_args.datasets else load_dataset(script_args.dataset_name)
    trainer = trainer_class(model=model_args.model_name_or_path, args=training_args,
                            train_dataset=dataset[script_args.dataset_train_split],
                            peft_config=get_peft_config(model_args))
    trainer.train()
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.print(f"Saved to {training_args.output_dir}.")
    trainer.accelerator.end_training()
