"""Lab 11's own pieces — its exercise checkers and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

from ftlab.checks import Feedback, code_checker
from ftlab.outcomes import Expectation


@code_checker
def check_accumulation_for(accumulation_for) -> Feedback:
    """Check ``accumulation_for(target, per_device, processes)``: the gradient accumulation that keeps an effective
    batch of ``target`` (per-device batch × processes × accumulation), and a ``ValueError`` when none does."""
    cases = [(16, 4, 1, 4), (16, 4, 2, 2), (16, 8, 2, 1), (64, 4, 8, 2), (16, 16, 1, 1)]
    for target, per_device, processes, expected in cases:
        try:
            answer = accumulation_for(target, per_device, processes)
        except Exception as error:  # noqa: BLE001 — the student's code may raise anything
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) raised {error!r}; "
                                   f"expected {expected}")
        if not isinstance(answer, int) or isinstance(answer, bool):
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) returned {answer!r}: "
                                   "gradient_accumulation_steps is a whole number (use // after checking the rest)")
        if answer != expected:
            hint = (" — you left out the processes: each of them contributes its own per-device batch per step"
                    if answer == target // per_device else "")
            return Feedback(False, f"accumulation_for({target}, {per_device}, {processes}) returned {answer}, "
                                   f"expected {expected}: {per_device} × {processes} × {expected} = {target}{hint}")
    try:
        accumulation_for(16, 4, 3)
    except ValueError:
        return Feedback(True, "right: accumulation = target ÷ (per-device batch × processes), and a target that "
                              "does not divide is refused instead of silently changing the batch.")
    except Exception as error:  # noqa: BLE001
        return Feedback(False, f"accumulation_for(16, 4, 3) raised {error!r}; raise ValueError (12 does not divide 16)")
    return Feedback(False, "accumulation_for(16, 4, 3) returned a value, but 4 × 3 = 12 does not divide 16: no whole "
                           "accumulation keeps the batch; raise ValueError")


def check_two_machine_config(config: dict, gpus_per_machine: int = 4) -> Feedback:
    """Check an accelerate config (as a dict) for two machines with ``gpus_per_machine`` GPUs each, machine 0's
    copy: it must load with accelerate's own loader and pass ``ftlab.distributed.check_accelerate_config``."""
    import tempfile
    from pathlib import Path

    import yaml

    from ftlab import distributed

    if not isinstance(config, dict):
        return Feedback(False, f"give the config as a dict (the YAML's keys and values), not {type(config).__name__}")
    if config.get("num_processes") == gpus_per_machine:
        return Feedback(False, f"num_processes: {gpus_per_machine} is one machine's GPUs; accelerate counts all "
                               f"processes over all machines: {2 * gpus_per_machine}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "two_machines.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        try:
            distributed.check_accelerate_config(path)
        except Exception as error:  # noqa: BLE001 — accelerate's loader raises TypeError for unknown keys
            return Feedback(False, f"accelerate or the course's check refuses it: {error}")
    wanted = {"num_machines": 2, "num_processes": 2 * gpus_per_machine, "machine_rank": 0, "rdzv_backend": "static"}
    wrong = {key: config.get(key) for key, value in wanted.items() if config.get(key) != value}
    if wrong:
        return Feedback(False, f"these keys are not right yet: {wrong}; expected {wanted}")
    return Feedback(True, f"machine 0's config: {2 * gpus_per_machine} processes over 2 machines; machine 1 runs the "
                          "same file with --machine_rank 1, and both reach machine 0 at main_process_ip.")


THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        "rank_weight_difference": Expectation(
            "largest difference between the 2 ranks' trained LoRA weights",
            at_most=0.0),
        "loss_curve_difference": Expectation(
            "largest per-step loss difference, 2 processes × batch b vs 1 × 2b",
            at_most=0.0001, margin=5e-05),
    },
    "cpu": {
    },
}
