"""Plans the study is seeded with before any sampled trial (``enqueue_trial``).

The network's presets that fit the space (``SearchSpace.presets``, resolved once when
the space was built) and a uniform family (same c fraction and n offset on every
layer); the study adds plans from the exact fronts (``exact.exact_seed_plans``) unless
``warm_start=False``.
"""
from __future__ import annotations

import math

from ...core import Plan, Structure
from ..exact import exact_seed_plans
from ..problem import Problem
from ..space import LayerSpace, SearchSpace

UNIFORM_FRACTIONS = (0.75, 0.5, 0.25)
UNIFORM_N_OFFSETS = (0, 1, 2)


# -- presets and the uniform family --------------------------------------------------
def preset_plans(space: SearchSpace) -> tuple[list[Plan], list[str]]:
    """The core presets that apply to the network and fit the space (+ notes on the rest)."""
    plans, notes = [], []
    for plan in space.presets:
        if space.contains(plan):
            plans.append(plan)
        else:
            notes.append(f"preset {plan.name!r} is outside the search space: not enqueued")
    return plans, notes


def _nearest(ls: LayerSpace, frac: float, dn: int):
    """The choice of the layer's menu closest to Structure(C * frac, k - dn), or None.

    The uniform family is a family of one kind (Structure): only that kind's members
    of the menu are candidates, compared by their c and n.
    """
    C = ls.layer.group_in_channels
    kh, kw = ls.layer.kernel
    c = max(1, min(C, int(round(C * frac))))
    want = Structure(c, (max(1, kh - dn), max(1, kw - dn)))
    same = [ch for ch in ls.choices if ch.kind == want.kind]
    if not same:
        return None
    return min(same, key=lambda s: (abs(math.log(s.c / c)) + abs(s.nh - want.nh) + abs(s.nw - want.nw), s.c))


def uniform_plans(space: SearchSpace) -> list[Plan]:
    """Same c fraction and same n offset on every searched layer (nearest choice in the space)."""
    out = []
    for frac in UNIFORM_FRACTIONS:
        for dn in UNIFORM_N_OFFSETS:
            choices = {ls.name: ch for ls in space.searched if (ch := _nearest(ls, frac, dn)) is not None}
            if not choices:
                continue
            p = Plan(choices, name=f"uniform-c{frac:g}-n{'k' if dn == 0 else f'k-{dn}'}",
                     model=space.network.name)
            if all(q.choices != p.choices for q in out):
                out.append(p)
    return out


# -- the seeds of a study ---------------------------------------------------------------
def seed_params(problem: Problem, warm_start: bool, notes: list):
    """(params over the searched layers, origin tag) of every seed, in order."""
    space = problem.space
    presets, pnotes = preset_plans(space)
    notes.extend(pnotes)
    for plan, tag in [(p, f"preset:{p.name}") for p in presets] + [(p, f"uniform:{p.name}")
                                                                    for p in uniform_plans(space)]:
        yield space.params_of(plan), tag
    if warm_start:
        for i, idx in enumerate(exact_seed_plans(problem)):
            yield {n: int(v) for n, v in zip(problem.names, idx)}, f"exact:{i}"


def enqueue_seeds(study, problem: Problem, warm_start: bool, notes: list) -> None:
    """Each distinct seed once, as a waiting trial tagged with its origin (user attr ``seed``)."""
    hw0 = problem.hw_space.default_params(problem.costs.hw) if problem.hw_space is not None else {}
    seen = set()
    for params, tag in seed_params(problem, warm_start, notes):
        key = tuple(int(params.get(n, 0)) for n in problem.names)
        if key in seen:
            continue
        seen.add(key)
        study.enqueue_trial({**params, **hw0}, user_attrs={"seed": tag})
