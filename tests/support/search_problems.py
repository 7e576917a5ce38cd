"""Small search problems shared by the search tests (one process, or workers on a shared storage)."""
from __future__ import annotations

from structconv.core.zoo import get_network
from structconv.search import Problem, build_costs, build_space, compute_proxies


def small_problem(budgets=None, objectives=("proxy", "cycles_total", "energy_pj"), proxy="kept_dof",
                  hw_space=None):
    """resnet20 at 8x8 with uniform-n2 among the plans, on edge-int8: small enough for many trials."""
    from structconv.core.presets import get_preset

    net = get_network("resnet20", input_size=(8, 8))
    sp = build_space(net, extra_plans=[get_preset("uniform-n2", net)])
    costs = build_costs(sp, "edge-int8")
    suite = compute_proxies(sp, proxies=["params", "mults", "kept_dof", "field_ratio"])
    return Problem(sp, costs, suite, proxy, objectives, budgets or {}, hw_space,
                   hw_space.area_budget_mm2 if hw_space else None)
