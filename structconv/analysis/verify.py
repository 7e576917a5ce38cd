"""Check a decomposed model against the projected one it must equal (torch)."""
from __future__ import annotations

import copy

import torch

from structconv.core import count_network
from structconv.nn import decompose, evaluate, network_from_module, structure_


def verify_decomposition(module, plan, dataset, batch: int = 128) -> dict:
    """Decompose ``module`` under ``plan`` and check it against the projected model.

    The projected model is ``module`` in each planned layer's trainable form (for a
    Structure: weight = A A^+ W, the projection onto the (c, n) structure); the
    decomposed model (sum-pool + small conv) must give the same logits, and its
    parameter count must equal core's count of the traced network under the plan.
    Returns the numbers (and the decomposed model as ``_model``).
    """
    module = module.eval()
    dec, report = decompose(module, plan)
    dec.eval()
    ref = structure_(copy.deepcopy(module), plan).eval()
    xs = torch.stack([dataset[i][0] for i in range(min(batch, len(dataset)))])
    with torch.no_grad():
        a, b = ref(xs), dec(xs)
    rel = float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
    counted = count_network(network_from_module(module, xs[:1]), plan).structured.params
    return {"decomposed": len(report.decomposed), "skipped": len(report.skipped),
            "max_residual": report.max_residual, "max_rel_logit_diff": rel,
            "params_decomposed": sum(p.numel() for p in dec.parameters()), "params_counted": counted,
            "params_dense": sum(p.numel() for p in module.parameters()),
            "acc_decomposed": evaluate(dec, dataset)["acc"], "_model": dec}
