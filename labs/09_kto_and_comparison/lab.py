"""Lab 09's own pieces — its exercise checkers and its outcome thresholds per profile (``THRESHOLDS``).

The notebook beside this file imports it (``import lab``); ``ftlab.labs`` finds it for the tests, the outcome grid and
``python -m ftlab labs``. What several labs share lives in ``ftlab``.
"""

from __future__ import annotations

import torch

from ftlab import losses
from ftlab.checks import Feedback, as_number, call_safely, code_checker, scalar_check
from ftlab.outcomes import margin_rise


def check_kto_weights(answer, n_desirable: int, n_undesirable: int, undesirable_weight: float = 1.0) -> Feedback:
    """Check a ``desirable_weight`` for imbalanced KTO data against the KTO paper's range (TRL warns outside it):
    ``desirable_weight · n_desirable / (undesirable_weight · n_undesirable)`` between 1 and 4/3."""
    answer = as_number(answer)
    if answer is None or answer <= 0:
        return Feedback(False, "give a positive number for desirable_weight")
    low = n_undesirable * undesirable_weight / n_desirable
    ratio = answer * n_desirable / (undesirable_weight * n_undesirable)
    if 1 - 1e-9 <= ratio <= 4 / 3 + 1e-9:
        return Feedback(True, f"{answer:g}: desirable examples now weigh {ratio:.2f}× the undesirable ones in total "
                              f"(the paper's range is 1 to 4/3: between {low:.2f} and {4 / 3 * low:.2f}).")
    if ratio < 1:
        return Feedback(False, f"{answer:g} is too small: {n_desirable} desirable examples would weigh only "
                               f"{ratio:.2f}× the {n_undesirable} undesirable ones; scale by how outnumbered they are")
    return Feedback(False, f"{answer:g} is too large ({ratio:.2f}×): the paper keeps the ratio at most 4/3, "
                           f"i.e. desirable_weight at most {4 / 3 * low:.2f}")


@code_checker
def check_kto_reference_point(reference_point) -> Feedback:
    """Lab 09: ``reference_point(policy_kl_logps, reference_kl_logps)`` on mismatched pairs must equal
    :func:`ftlab.losses.kto_reference_point`: the batch's mean log-ratio, clamped at 0, carrying no gradient."""
    generator = torch.Generator().manual_seed(3)
    policy, reference = (-torch.rand(6, generator=generator) * 20 for _ in range(2))
    below = (reference - 1.0, reference)  # the policy below the reference everywhere: the estimate is negative
    cases = [(policy, reference), below, (reference + 0.5, reference)]

    def mistakes(p, r):
        return [((p - r).mean(), "clamp at 0: a KL divergence cannot be negative"),
                ((p - r).sum().clamp(min=0), "the mean over the batch, not the sum"),
                ((r - p).mean().clamp(min=0), "the sign: policy minus reference")]

    values = scalar_check(reference_point, "reference_point", cases, losses.kto_reference_point, mistakes,
                           "mean over the batch of (policy − reference), clamped at 0", "")
    if not values:
        return values
    policy_grad = policy.clone().requires_grad_(True)
    result, stop = call_safely(reference_point, "reference_point", policy_grad, reference)
    if stop is not None:
        return stop
    if isinstance(result, torch.Tensor) and result.requires_grad:
        return Feedback(False, "detach the result: z₀ is a baseline, no gradient may flow through it")
    return Feedback(True, "equal to ftlab.losses.kto_reference_point (checked against TRL's KTO loss): z₀ is the "
                          "batch's KL estimate, never negative, held fixed in the gradient.")


THRESHOLDS = {  # per profile; the GPU profiles report only
    "toy": {
        "margin_gain": margin_rise("KTO", at_least=0.3, margin=0.2),
    },
    "cpu": {
        "margin_gain": margin_rise("KTO", at_least=1.0, margin=0.5),
    },
}
