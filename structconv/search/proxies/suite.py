"""Accuracy proxies of (model, Plan) before any training: the suite of tables one search uses.

``compute_proxies`` runs the registered proxies (``terms.py``; metadata in
``registry.py``) that apply: the cost proxies always, the torch ones when a
torch model of the network exists, the weight ones when a checkpoint is given.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ...core import count_ops
from ..bounds import check
from ..space import SearchSpace
from . import fisher, sensitivity, terms  # noqa: F401  (register the built-in proxies)
from .approx import FITTED, method
from .registry import ProxyTable, list_proxies
from .terms import LayerWork, ProxyRun
from .torch_eval import TorchEval, calibration_batch, load_weights

# The first one computed is the default. residual had the highest Kendall tau on the held-out plans
# of the pre-registered accuracy benchmark (benchmarks/results/search_compare_proxies_cpu.md: 0.735 vs
# #params 0.557; paired p 0.018 raw, 0.23 after Holm, so not significantly better than #params);
# kept_dof is the best weight-free one there (0.705).
DEFAULT_OBJECTIVES = ("residual", "kept_dof", "params")
HEAVY_MACS = 1e9                                                    # heavy proxies skipped by default above
FIT_NOTE = ("sparse-kernel designs have no weight projection: a depthwise-pointwise stack (dw_pw) is fitted "
            "exactly (per-channel rank 1), the others by a parameter-matched low-rank fit (an estimate)")


@dataclass
class ProxySuite:
    """The proxy tables of one (model, search space) and how they were obtained."""

    space: SearchSpace
    tables: dict = field(default_factory=dict)
    weights: str | None = None           # checkpoint path (None: weight-free proxies only)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    evaluator: object = None             # TorchEval for projected_loss (None without torch model)

    def __contains__(self, name) -> bool:
        return name in self.tables or (name == "projected_loss" and self.evaluator is not None
                                       and self.evaluator.weights_loaded)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    @property
    def available(self) -> list[str]:
        """Every proxy an objective may name: the tables and, with a trained model, projected_loss."""
        return list(self.tables) + (["projected_loss"] if "projected_loss" in self else [])

    @property
    def default_objective(self) -> str:
        """projection_loss with weights; else the best weight-free proxy of the validation benchmark."""
        return next((n for n in DEFAULT_OBJECTIVES if n in self.tables), next(iter(self.tables)))

    def without_evaluator(self) -> ProxySuite:
        """A picklable copy (the torch model stays in this process)."""
        return replace(self, notes=list(self.notes), evaluator=None)

    def scores(self, idx) -> dict[str, float]:
        return {k: t.score(idx) for k, t in self.tables.items()}

    def loss(self, name: str, idx) -> float:
        if name not in self.tables:
            raise ValueError(f"proxy = {name!r} is not available; computed: {list(self.tables)}")
        return self.tables[name].loss(idx)

    def projected_loss(self, idx, recalibrate: bool | None = None) -> float:
        """Calibration loss with every chosen layer of the plan projected at once (no training)."""
        if self.evaluator is None:
            raise ValueError("projected_loss needs a torch model of the network")
        work = ProxyRun(self.space, self.evaluator)
        rep = {ls.name: LayerWork(work, ls).approx(i)
               for ls, i in zip(self.space.layers, self.space.full_indices(idx)) if i != 0}   # 0 is dense
        return self.evaluator.loss_with(rep, recalibrate)

    def to_dict(self) -> dict:
        return {"weights": self.weights, "weight_free": self.weights is None,
                "seconds": round(self.seconds, 2),
                "notes": list(self.notes), "proxies": {k: t.to_dict() for k, t in self.tables.items()},
                "default_objective": self.default_objective}


# -- which proxies run --------------------------------------------------------------------
def _wanted(proxies, dense_macs: float, notes: list) -> list[str]:
    known = list_proxies()
    wanted = ([n for n, p in known.items() if not (p.per_trial or p.opt_in)] if proxies is None
              else list(dict.fromkeys(proxies)))
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"proxies {unknown} are unknown; choose from {list(known)}")
    if proxies is None and dense_macs > HEAVY_MACS:
        heavy = [n for n in wanted if known[n].heavy]
        wanted = [n for n in wanted if n not in heavy]
        notes += [f"{n} skipped by default (network over 1 GMAC: one forward pass per anchor); "
                  f"ask for it with proxies=['{n}', ...]" for n in heavy]
    return [n for n in known if n in wanted and not known[n].per_trial]


def _drop_weight_proxies(wanted: list[str], notes: list) -> list[str]:
    known = list_proxies()
    dropped = sorted(n for n in wanted if known[n].needs_weights)
    notes.append("no weights given: weight-free proxies only (zero-cost proxies on a seeded random "
                 "initialisation)" + (f"; skipped {dropped}" if dropped else ""))
    return [n for n in wanted if not known[n].needs_weights]


def _tables(run: ProxyRun, names: list[str], progress=None) -> dict[str, ProxyTable]:
    """One pass over the searched layers; every proxy reads the same per-layer work (P(W) once)."""
    known = list_proxies()
    rows = {n: [] for n in names}
    searched = run.space.searched
    for li, ls in enumerate(searched):
        if progress:
            progress(li, len(searched), ls.name)
        work = LayerWork(run, ls)
        for n in names:
            rows[n].append(known[n].row(run, work))
    K = max(len(ls) for ls in searched)
    return {n: ProxyTable.of(known[n], rows[n], K, run) for n in names}


# -- the suite --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProxySettings:
    """Which proxies run and how (``compute_proxies``'s options).

    proxies: names to compute (default: every table proxy that applies; heavy ones such
        as naswot only for networks under 1 GMAC).
    calib_size / seed: the calibration batch (capped by the network's size) and the seed of
        the random init, inputs and targets. anchors: choices measured per layer by the
        interpolated proxies. progress: ``progress(layer_index, layers, name)`` per layer.
    bn_recalibrate: the loss-based proxies re-estimate BatchNorm statistics on the
        calibration batch after projecting (adaptive BN), as pruning-candidate
        evaluation does (EagleEye); False evaluates with the dense running statistics.
    quiet: no progress bar for the measured tables (``sensitivity_*``).
    """

    proxies: tuple | list | None = None
    calib_size: int = 128
    anchors: int = 3
    seed: int = 0
    progress: Callable | None = None
    torch_threads: int = 1
    bn_recalibrate: bool = True
    quiet: bool = False

    def __post_init__(self):
        check(self, ("anchors", "seed"))


@dataclass(frozen=True)
class _TorchInputs:
    """What the torch proxies read: the model, its weights, calibration data and the settings."""

    model: object
    weights: object
    data: object
    settings: ProxySettings
    dense_macs: float


def compute_proxies(space: SearchSpace, model=None, weights=None, data=None,
                    settings: ProxySettings | None = None, **options) -> ProxySuite:
    """Build the proxy tables for ``space`` (``options``: the fields of ``ProxySettings``).

    model: a torch nn.Module whose Conv2d/Linear names are the network's layer names;
        None builds ``structconv.nn.build_module(network)`` (seeded init) when torch
        and a zoo module exist, else only the cost proxies are computed.
    weights: checkpoint path loaded into the model (``weights_only=True``); without it
        only weight-free proxies run (``residual``/``projection_loss`` are skipped).
    data: calibration data (DataBundle, Dataset or (x, y) tensors); None uses seeded
        random inputs and, with weights, the dense model's own predictions as targets.
    """
    settings = settings if settings is not None else ProxySettings(**options)
    t0 = time.perf_counter()
    suite = ProxySuite(space, weights=str(weights) if weights is not None else None)
    dense_macs = sum(count_ops(layer).mults for layer in space.network.layers)
    wanted = _wanted(settings.proxies, dense_macs, suite.notes)
    known = list_proxies()
    suite.tables.update(_tables(ProxyRun(space), [n for n in wanted if not known[n].needs_torch]))
    if weights is None:
        wanted = _drop_weight_proxies(wanted, suite.notes)
    torch_names = [n for n in wanted if known[n].needs_torch]
    if torch_names or weights is not None:
        _torch_suite(suite, torch_names, _TorchInputs(model, weights, data, settings, dense_macs))
    suite.seconds = time.perf_counter() - t0
    return suite


def _torch_suite(suite, names, inputs: _TorchInputs) -> None:
    try:
        import torch
    except ImportError:                                 # pragma: no cover - torch is a dependency
        suite.notes.append("torch is not installed: zero-cost proxies skipped")
        return
    threads = torch.get_num_threads()
    n = max(1, int(inputs.settings.torch_threads))
    torch.set_num_threads(n)                            # shared CPUs: 1 thread is often 10x faster
    try:
        with _threadpool_limit(n):
            _torch_tables(suite, names, inputs)
    finally:
        torch.set_num_threads(threads)


def _threadpool_limit(n: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                   # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=n)


def _default_model(suite: ProxySuite, net, weights):
    """structconv.nn's zoo module of the network (seeded init), or None with a note why not."""
    try:
        from ...nn import build_module
        return build_module(net)
    except (ValueError, ImportError) as e:
        if weights is not None:
            raise ValueError(f"--weights needs a torch model of {net.name!r}: {e}") from None
        suite.notes.append(f"no torch model for {net.name!r} ({str(e).splitlines()[0][:120]}): "
                           f"only {sorted(suite.tables)}")
        return None


def _load_into(suite: ProxySuite, model, weights) -> None:
    if isinstance(weights, dict):
        model.load_state_dict(weights)
        suite.weights = "<state dict>"
    elif weights is not None:
        load_weights(model, weights)


def _evaluator(suite, model, inputs: _TorchInputs) -> TorchEval:
    net, s = suite.space.network, inputs.settings
    _load_into(suite, model, inputs.weights)
    calib_size = int(max(4, min(s.calib_size, 32e9 // max(1, inputs.dense_macs))))
    x, y = calibration_batch(net, inputs.data, calib_size, s.seed)
    if inputs.data is None:
        targets = " with the dense model's predictions as targets" if inputs.weights is not None else ""
        suite.notes.append(f"no calibration data: {calib_size} seeded N(0,1) inputs{targets}")
    return TorchEval(net, model, x, y, inputs.weights is not None, s.seed, s.bn_recalibrate)


def _torch_tables(suite, names, inputs: _TorchInputs) -> None:
    import torch

    s = inputs.settings
    torch.manual_seed(s.seed)
    model = inputs.model
    if model is None:
        model = _default_model(suite, suite.space.network, inputs.weights)
    if model is None:
        return
    ev = suite.evaluator = _evaluator(suite, model, inputs)
    run = ProxyRun(suite.space, ev, s.anchors, s.quiet)
    known = list_proxies()
    for n in list(names):
        reason = known[n].prepare(run) if known[n].prepare else None
        if reason:
            suite.notes.append(reason)
            names.remove(n)
    tables = _tables(run, names, s.progress)
    if any(method(ls.layer, ch) in FITTED for ls in suite.space.searched for ch in ls.choices):
        suite.notes.append(FIT_NOTE)
    suite.tables.update(tables)
