"""``search(...)``: the whole pipeline from references, as `structconv search` runs it."""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..core import Network, presets_for, resolve_network
from ..sim import load_accelerator
from .codesign import load_hw_space
from .costs import build_costs
from .problem import Problem, check_budget_value, check_budgets
from .proxies import compute_proxies
from .space import build_space
from .space_config import SpaceConfig, load_space_config
from .journal import check_journal_file
from .storage import resolve_storage_spec
from .study import MODES, check_run_args, run_search


def checkpoint_meta(path) -> dict:
    """The 'meta' dict of a structconv checkpoint ({} for a plain state dict)."""
    from ..nn import read_weights

    return read_weights(path, "weights file")[3]


def _size_options(meta: dict) -> dict:
    """input_size / num_classes a checkpoint records (its dataset's input shape wins)."""
    kw = {}
    shape = meta.get("input_shape") or (meta.get("dataset") or {}).get("input_shape")
    if shape and len(shape) == 3:
        kw["input_size"] = (int(shape[1]), int(shape[2]))
    if meta.get("num_classes"):
        kw["num_classes"] = int(meta["num_classes"])
    return kw


def network_for(model, weights=None) -> tuple[Network, dict]:
    """(Network, checkpoint meta): a Network as given; a reference resolved, at the checkpoint's
    input size / classes when it records them (and the model builder takes them)."""
    meta = checkpoint_meta(weights) if weights is not None else {}
    if isinstance(model, Network):
        return model, meta
    kw = _size_options(meta)
    if kw:
        try:
            return resolve_network(model, **kw), meta
        except TypeError:
            pass
    return resolve_network(model), meta


def load_calibration(name: str | None, network, data_dir=None, **options):
    """Dataset ``name`` shaped for ``network``; ``options`` go to its loader (e.g. ``train_size``)."""
    if name is None:
        return None
    from ..nn import load_dataset

    if name in ("digits", "fashion-mnist", "idx"):        # resized to the network's input, gray repeated
        c, h, _ = network.input_shape
        options = dict(options, size=int(h), channels=int(c))
    return load_dataset(name, data_dir, **options)


def _space_config(space) -> SpaceConfig | None:
    cfg = load_space_config(space) if isinstance(space, (str, Path)) else space
    return cfg if isinstance(cfg, SpaceConfig) else None


def _space(network: Network, cfg: SpaceConfig | None):
    """The search space; the default one (cfg None) makes every preset that fits representable."""
    if cfg is not None:
        return build_space(network, cfg)
    return build_space(network, None, extra_plans=list(presets_for(network).values()))


def _budgets(max_cycles_ratio, max_energy_ratio, max_params_ratio) -> dict:
    budgets = {k: v for k, v in (("cycles_total", max_cycles_ratio), ("energy_pj", max_energy_ratio),
                                 ("params", max_params_ratio)) if v is not None}
    for k, v in budgets.items():
        check_budget_value(k, v)
    return budgets


def _check_out(out, what: str = "out") -> None:
    """``out`` is a directory or can become one: its nearest existing ancestor is a directory."""
    if out is None:
        return
    p = Path(out).absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    if not p.is_dir():
        why = "is not a directory" if p == Path(out).absolute() else f"cannot be created ({str(p)!r} is not a directory)"
        raise ValueError(f"{what} = {str(out)!r} {why}")


def search(model, hw="edge-int8", *, max_cycles_ratio=None, max_energy_ratio=None, max_params_ratio=None,
           objectives=("proxy", "cycles_total", "energy_pj"), proxy=None, trials: int = 500, timeout=None,
           storage=None, study=None, workers: int = 1, seed: int = 0, sampler: str = "nsga2", weights=None,
           data=None, data_dir=None, space=None, hw_space=None, out=None, warm_start: bool = True,
           population=None, proxies=None, progress: bool = False, anchors: int = 3, log=None,
           mode: str = "sampler"):
    """Build everything from references, run (or resume) the study, save the front under ``out``.

    ``model``: a Network or any model reference ``core.resolve_network`` reads (a zoo name,
    a model file an importer reads). ``space``/``hw_space`` are YAML paths (or objects).
    ``mode``: sampler | exact | auto (``run_search``). Returns (SearchResult, Problem).
    """
    t0 = time.perf_counter()
    check_run_args(trials, timeout, sampler, workers, population, seed)    # before anything is built or made
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r} is not one of {list(MODES)}")
    _check_out(out)
    kind, spec = resolve_storage_spec(storage, out)
    if kind == "journal":
        _check_out(Path(spec).parent, f"storage {spec!r}: directory")
        check_journal_file(spec)
    say = log or (lambda msg: None)
    network, _ = network_for(model, weights)
    cfg = _space_config(space)
    hs = load_hw_space(hw_space) if isinstance(hw_space, (str, Path)) else hw_space
    area = hs.area_budget_mm2 if hs is not None else None
    acc = load_accelerator(hw)
    sp = _space(network, cfg)
    say(f"search space: {len(sp.searched)} layers, {sum(sp.sizes)} choices, 10^{sp.log10_size:.1f} plans")
    costs = build_costs(sp, acc)
    budgets = _budgets(max_cycles_ratio, max_energy_ratio, max_params_ratio)
    check_budgets(costs, budgets, hs, area)                             # before the proxies
    calib = load_calibration(data, network, data_dir)
    suite = compute_proxies(sp, weights=weights, data=calib, proxies=proxies, anchors=anchors, seed=seed)
    say(f"proxies: {', '.join(suite.names)} ({suite.seconds:.1f} s)")
    problem = Problem(sp, costs, suite, proxy or suite.default_objective, tuple(objectives), budgets, hs, area)
    res = run_search(problem, n_trials=trials, timeout=timeout, sampler=sampler, seed=seed, storage=storage,
                     out_dir=out, study_name=study, workers=workers, warm_start=warm_start,
                     population_size=population, progress=progress, mode=mode)
    if out is not None:
        res.save(out)
    res.total_seconds = time.perf_counter() - t0
    return res, problem
