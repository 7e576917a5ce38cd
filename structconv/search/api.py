"""``search(...)``: the whole pipeline from names, as `structconv search` runs it."""
from __future__ import annotations

import time
from pathlib import Path

from .codesign import load_hw_space
from .costs import build_costs
from .proxies import compute_proxies
from .space import SpaceConfig, build_space, load_space_config
from .study import Problem, check_budgets, run_search


def network_for(model: str, weights=None):
    """The zoo network, rebuilt at the checkpoint's input size / classes when it records them."""
    from ..core.zoo import get_network

    meta = {}
    if weights is not None:
        meta = checkpoint_meta(weights)
    kw = {}
    shape = meta.get("input_shape") or (meta.get("dataset") or {}).get("input_shape")
    if shape and len(shape) == 3:
        kw["input_size"] = (int(shape[1]), int(shape[2]))
    if meta.get("num_classes"):
        kw["num_classes"] = int(meta["num_classes"])
    if kw:
        try:
            return get_network(model, **kw), meta
        except TypeError:
            pass
    return get_network(model), meta


def checkpoint_meta(path) -> dict:
    """The 'meta' dict of a structconv checkpoint ({} for a plain state dict)."""
    from structconv.nn.checkpoint import read_weights

    return read_weights(path, "weights file")[3]


def load_calibration(name: str | None, network, data_dir=None):
    if name is None:
        return None
    from ..nn.data import load_dataset

    kw = {}
    if name == "digits":
        c, h, _ = network.input_shape
        kw = {"size": int(h), "channels": int(c)}
    return load_dataset(name, data_dir, **kw)


def search(model: str, hw="edge-int8", *, max_latency_ratio=None, max_energy_ratio=None, max_params_ratio=None,
           objectives=("proxy", "cycles", "energy"), proxy=None, trials: int = 500, timeout=None, storage=None,
           study=None, workers: int = 1, seed: int = 0, sampler: str = "nsga2", weights=None, data=None,
           data_dir=None, space=None, hw_space=None, out=None, warm_start: bool = True, population=None,
           proxies=None, progress: bool = False, anchors: int = 3, log=None):
    """Build everything from names, run (or resume) the study, save the front under ``out``.

    Returns (SearchResult, Problem). ``space``/``hw_space`` are YAML paths (or objects).
    """
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    network, _ = network_for(model, weights)
    if isinstance(space, (str, Path)):
        cfg = load_space_config(space)
    else:
        cfg = space if isinstance(space, SpaceConfig) else None
    hs = load_hw_space(hw_space) if isinstance(hw_space, (str, Path)) else hw_space
    from ..sim import load_accelerator

    acc = load_accelerator(hw)
    extra = []
    if cfg is None:                                     # default space: make the presets representable
        try:
            from ..core.presets import get_preset, list_presets
            for name in list_presets():
                try:
                    extra.append(get_preset(name, network))
                except ValueError:
                    pass
        except ImportError:                             # pragma: no cover
            pass
    sp = build_space(network, cfg, extra_plans=extra)
    say(f"search space: {len(sp.searched)} layers, {sum(sp.sizes)} choices, 10^{sp.log10_size:.1f} plans")
    costs = build_costs(sp, acc)
    budgets = {k: v for k, v in (("latency", max_latency_ratio), ("energy", max_energy_ratio),
                                 ("params", max_params_ratio)) if v is not None}
    for k, v in budgets.items():
        if not (isinstance(v, (int, float)) and v > 0):
            raise ValueError(f"max_{k}_ratio = {v!r} must be a number > 0")
    check_budgets(costs, budgets, hs, hs.area_budget_mm2 if hs is not None else None)   # before the proxies
    calib = load_calibration(data, network, data_dir)
    suite = compute_proxies(sp, weights=weights, data=calib, proxies=proxies, anchors=anchors, seed=seed)
    say(f"proxies: {', '.join(suite.names)} ({suite.seconds:.1f} s)")
    problem = Problem(sp, costs, suite, proxy or suite.default_objective, tuple(objectives), budgets,
                      hs, hs.area_budget_mm2 if hs is not None else None)
    res = run_search(problem, n_trials=trials, timeout=timeout, sampler=sampler, seed=seed, storage=storage,
                     out_dir=out, study_name=study, workers=workers, warm_start=warm_start,
                     population_size=population, progress=progress)
    if out is not None:
        res.save(out)
    res.total_seconds = time.perf_counter() - t0
    return res, problem
