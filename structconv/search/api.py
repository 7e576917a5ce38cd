"""One search run from its settings, as `structconv search` runs it: problem, study, extras.

``search_with(SearchSettings)`` resolves the network once (and the presets once, in
``build_space``), builds the Problem, runs (or resumes) the study, saves the front and,
when asked, adds the baselines and accuracy in the loop. ``search(model, hw, **kw)``
is its keyword form.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..core import Network, resolve_network, write_data_file
from ..sim import load_accelerator
from .codesign import load_hw_space
from .compare import baseline_summary
from .costs import build_costs
from .problem import Problem, check_budgets
from .proxies import ProxySettings, compute_proxies, list_proxies
from .proxies.suite import DEFAULT_OBJECTIVES
from .results import SearchResult
from .settings import SearchSettings
from .space import build_space
from .space_config import SpaceConfig, load_space_config
from .study import SRFineTune, check_place, front_candidates, run_in_loop, run_search


@dataclass(frozen=True)
class SearchRun:
    """What one search run made: its result and problem, and the extras the settings asked for."""

    result: SearchResult
    problem: Problem
    baselines: dict | None = None
    in_loop: dict | None = None


def search(model, hw="edge-int8", *, log=None, **options) -> tuple[SearchResult, Problem]:
    """Build everything from references, run (or resume) the study, save the front under ``out``.

    ``options``: the fields of ``SearchSettings`` and ``study.RunSettings`` (trials, seed,
    out, storage, mode, ...). ``log(message)`` hears the progress notes. Returns (SearchResult, Problem).
    """
    run = search_with(SearchSettings.of(model, hw, **options), log=log)
    return run.result, run.problem


def search_with(settings: SearchSettings, network: Network | None = None, log=None) -> SearchRun:
    """The whole run of ``settings``; ``network``: the model already resolved (else resolved here, once).
    Every file is checked before the costs and proxies are computed: the study's storage first."""
    if settings.run.mode != "exact":
        check_place(*settings.run.place)
    if settings.in_loop is not None:
        _fine_tuner(settings, None).module()          # a checkpoint of another model fails before the search
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    if network is None:
        network, _ = network_for(settings.model, settings.weights)
    problem = build_problem(settings, network, say)
    res = run_search(problem, settings.run)
    out = settings.run.out
    if out is not None:
        res.save(out)
    res = replace(res, total_seconds=time.perf_counter() - t0)
    run = settings.run
    baselines = baseline_summary(problem, res, run.trials, run.seed) if settings.baselines else None
    loop = _in_loop(settings, res, problem) if settings.in_loop is not None else None
    return SearchRun(res, problem, baselines, loop)


def build_problem(settings: SearchSettings, network: Network, say=lambda msg: None) -> Problem:
    """The search space, its cost and proxy tables, and the Problem over them (the files read first)."""
    cfg = _space_config(settings.space)
    hs = load_hw_space(settings.hw_space) if isinstance(settings.hw_space, (str, Path)) else settings.hw_space
    area = hs.area_budget_mm2 if hs is not None else None
    acc = load_accelerator(settings.hw)
    calib = selection_data(settings.data, network, settings.data_dir)
    sp = build_space(network, cfg, with_presets=cfg is None)      # the default space: every preset that fits
    say(f"search space: {len(sp.searched)} layers, {sum(sp.sizes)} choices, 10^{sp.log10_size:.1f} plans")
    costs = build_costs(sp, acc)
    check_budgets(costs, settings.budgets, hs, area)                # before the proxies
    suite = compute_proxies(sp, weights=settings.weights, data=calib, settings=ProxySettings(
        proxies=proxies_needed(settings), anchors=settings.anchors, seed=settings.run.seed))
    say(f"proxies: {', '.join(suite.names)} ({suite.seconds:.1f} s)")
    return Problem(sp, costs, suite, settings.proxy or suite.default_objective, settings.objectives,
                   settings.budgets, hs, area)


# -- the model, its checkpoint, the calibration data -------------------------------------------
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


def proxies_needed(settings: SearchSettings) -> tuple | None:
    """The proxies to compute: those asked for; in exact mode, which optimises one proxy, only that one
    (the suite's default when none is named) and any named as an objective; else all that apply."""
    if settings.proxies is not None or settings.run.mode != "exact":
        return settings.proxies
    main = settings.proxy or next(n for n in DEFAULT_OBJECTIVES if settings.weights or n != "residual")
    named = [o for o in settings.objectives if o in list_proxies()]
    return tuple(dict.fromkeys([main, *named]))


def selection_data(name: str | None, network, data_dir=None):
    """Dataset ``name`` as the proxies may read it: the validation split carved from its training data
    (``nn.selection_bundle``), its test split dropped, so no proxy is calibrated on test data."""
    if name is None:
        return None
    from ..nn import selection_bundle

    return selection_bundle(load_calibration(name, network, data_dir))


def _space_config(space) -> SpaceConfig | None:
    cfg = load_space_config(space) if isinstance(space, (str, Path)) else space
    return cfg if isinstance(cfg, SpaceConfig) else None


# -- accuracy in the loop, after the search ---------------------------------------------------
def _fine_tuner(settings: SearchSettings, network) -> SRFineTune:
    """SR fine-tuning of the zoo model from the weights, on the data shaped for ``network`` (None: none)."""
    il = settings.in_loop
    extra = {"train_size": il.train_size} if il.train_size is not None else {}
    data = None if network is None else load_calibration(settings.data, network, settings.data_dir, **extra)
    return SRFineTune(settings.model, data, weights=settings.weights, device=il.device)


def _in_loop_study(settings: SearchSettings, plans) -> str:
    """One study per candidate set and settings: a rerun with other candidates never reads old trials."""
    il = settings.in_loop
    key = repr(([p.to_dict() for p in plans], ",".join(map(str, il.epochs)), il.pruner, str(settings.weights),
                settings.data, settings.data_dir, il.train_size))
    return "in-loop-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _in_loop(settings: SearchSettings, res: SearchResult, problem: Problem) -> dict:
    """Train the candidates; write in_loop.json and the winner as in_loop_best.yaml."""
    plans = front_candidates(res, problem, settings.in_loop.candidates)
    if not plans:
        return {"ranking": [], "best": None, "note": "the front is empty: nothing to train"}
    out = settings.run.out
    tuner = _fine_tuner(settings, problem.space.network)
    loop = run_in_loop(plans, tuner, budgets=settings.in_loop.epochs,
                       pruner=settings.in_loop.pruner, storage=os.path.join(out, "in_loop.journal"),
                       study_name=_in_loop_study(settings, plans))
    d = dict(loop.to_dict(), recipe=tuner.recipe)
    write_data_file(os.path.join(out, "in_loop.json"), d)
    if loop.best is not None:
        best = next(p for p in plans if p.name == loop.best["plan"])
        best.save(os.path.join(out, "in_loop_best.yaml"))
    return d
