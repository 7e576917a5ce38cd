"""Fisher-weighted structure error, the cheap twin of the measured sensitivity.

One pass over the evaluator's batch accumulates the empirical Fisher diagonal
F = mean_i (dL_i/dW)^2 (per-sample gradients of the cross-entropy against the batch's targets,
the model in eval mode); the term of (layer l, choice k) is the second-order estimate of the
loss increase 0.5 * sum F * (W - P_k(W))^2. Structures use their projection; designs the fit of
``approx.py`` (dw_pw exact per-channel rank 1, the others a parameter-matched low-rank estimate:
the distilled design's kernel needs a fit per layer and design, which is what this proxy avoids).
Additive over layers; torch's own intra-op threads are its only parallelism.
"""
from __future__ import annotations

import numpy as np

from . import terms  # noqa: F401  (the built-in proxies register first: the registry's order is the tables')
from .registry import proxy

MICROBATCH = 1                                       # samples per gradient: 1 is the per-sample Fisher


def fisher_diagonal(model, modules: dict, x, y, microbatch: int = MICROBATCH) -> dict[str, np.ndarray]:
    """{name: F} for the weights of ``modules`` (name -> Conv2d/Linear of ``model``), float64 numpy;
    ``microbatch`` > 1 averages squared gradients of micro-batch means (cheaper, biased low)."""
    import torch

    F = {name: torch.zeros_like(m.weight, dtype=torch.float64) for name, m in modules.items()}
    was_training = model.training
    model.eval()
    try:
        for xb, yb in zip(x.split(microbatch), y.split(microbatch)):
            model.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            for name, m in modules.items():
                if m.weight.grad is not None:
                    F[name] += m.weight.grad.detach().double() ** 2 * len(xb)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    n = max(1, len(x))
    return {name: _as_4d((f / n).numpy()) for name, f in F.items()}


def _as_4d(a: np.ndarray) -> np.ndarray:
    return a[:, :, None, None] if a.ndim == 2 else a


def fisher_error(F: np.ndarray, W: np.ndarray, approx: np.ndarray) -> float:
    """0.5 * sum F (W - P(W))^2: the loss increase a diagonal quadratic model predicts."""
    return 0.5 * float((F * (W - approx) ** 2).sum())


@proxy("fisher", "sum of Fisher-weighted projection errors 0.5 * sum F (W - P(W))^2",
       higher_is_better=False, needs_weights=True, needs_torch=True, opt_in=True,
       note=lambda run: "empirical Fisher diagonal from per-sample gradients on the calibration batch")
def _fisher(run, work):
    ev = run.ev
    F = run.once("fisher", lambda: fisher_diagonal(ev.model, ev.modules, ev.x, ev.hard))[work.name]
    return [fisher_error(F, work.W, work.approx(j)) for j in range(len(work.choices))]
