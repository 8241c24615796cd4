"""The preference methods (Labs 06-09), one record each: what a method needs, its TRL config and trainer, the data
it trains on, how its recipe runs from the command line, and its quirks. ``preference`` (the labs' trainers and
measurements), ``distributed`` (the recipes), ``smoke`` and the tests iterate ``METHODS``: a new method is one entry.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """What a preference method needs and how TRL runs it."""

    key: str
    title: str
    needs_pairs: bool  # chosen *and* rejected answer for the same prompt (KTO: one answer with a thumbs up/down)
    needs_reference: bool  # a frozen copy of the starting model in the loss (DPO, KTO)
    dataset: str  # the course dataset it trains on (datasets/<dataset>.jsonl)
    settings: dict  # the method's own knobs, passed to its TRL config
    trl_module: str  # where TRL keeps its config and trainer (imported when first asked: the names need no TRL)
    trl_name: str  # ``DPO`` for DPOConfig and DPOTrainer
    batch_factor: int = 1  # KTO scores one answer per example, the others two: 2x its batch = same answers per step
    script: str | None = None  # the recipe's launcher where TRL's CLI has no `trl <key>` command
    raw_columns: bool = False  # its collator needs the raw columns: remove_unused_columns=False (silences TRL)

    @property
    def config_class(self) -> type:
        return _trl(self.trl_module, f"{self.trl_name}Config")

    @property
    def trainer_class(self) -> type:
        return _trl(self.trl_module, f"{self.trl_name}Trainer")

    @property
    def data_file(self) -> str:
        """The dataset's path from the repository root, as the recipes name it."""
        return f"datasets/{self.dataset}.jsonl"


METHODS: dict[str, Method] = {method.key: method for method in [
    Method("dpo", "DPO", True, True, "preference", {"beta": 0.1}, "trl", "DPO"),
    Method("simpo", "SimPO", True, False, "preference",
           {"loss_type": "simpo", "cpo_alpha": 0.0, "beta": 2.0, "simpo_gamma": 0.5}, "trl.experimental.cpo", "CPO",
           script="recipes/cpo.py", raw_columns=True),
    Method("orpo", "ORPO", True, False, "preference", {"beta": 0.1}, "trl.experimental.orpo", "ORPO",
           script="recipes/orpo.py", raw_columns=True),
    Method("kto", "KTO", False, True, "unpaired", {"beta": 0.1, "train_sampling_strategy": "sequential"},
           "trl", "KTO", batch_factor=2),
]}


def get(key: str) -> Method:
    """The method called ``key``; an unknown name is an error that lists the known ones."""
    if key not in METHODS:
        raise ValueError(f"unknown preference method {key!r}; choose one of {', '.join(METHODS)}")
    return METHODS[key]


def _trl(module: str, name: str) -> type:
    """``name`` from TRL's ``module``; CPO (SimPO) and ORPO live in trl.experimental in TRL 1.x (the labs say so)."""
    from trl.import_utils import TRLExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TRLExperimentalWarning)
        return getattr(importlib.import_module(module), name)
