"""Accuracy proxies: scores of (model, Plan) computed before any training.

Every table proxy is a per-(layer, choice) table built once, so scoring a trial is
O(layers): ``score = base + reduce(table[l, index_l])``. The terms:

====================  ======  =========  ====================================================
proxy                 better  weights?   per-(layer, choice) term
====================  ======  =========  ====================================================
params                higher  no         parameters kept (the naive baseline)
mults                 higher  no         multiplies kept (the naive baseline)
kept_dof              higher  no         log(kept / dense weight count), mean over layers
field_ratio           higher  no         information field / the layer's (k, k, C), mean
synflow               higher  no         log R'/R with only this layer structured (exact: R is affine)
grad_norm             higher  no         ||P G||_F, G = dL/dW on a calibration batch
snip                  higher  no         sum |P(W) * P(G)|
naswot                higher  no         change of NASWOT's log|K_H| with only this layer projected
residual              lower   yes        ||W - P(W)|| / ||W|| (the SR residual)
projection_loss       lower   yes        calibration-loss increase with only this layer projected
====================  ======  =========  ====================================================

P(W) is the weight of the structured network: the orthogonal projection onto the
(c, n) structure for ``Structure`` choices (``core.structure.project``); for the
sparse-kernel designs, which have no linear projection, a fitted approximation:
dw_pw is the exact per-input-channel rank-1 fit (DW x PW); the other designs use
the best rank-r fit of the (C_out, C*k*k) matrix with r matched to the design's
parameter count (an estimate, stated in every output that uses it). Gradients are
projected on the tangent space of the same set. "No weights" proxies are computed
on a seeded random initialisation (zero-cost NAS practice) and need no checkpoint.

``projection_loss`` and ``naswot`` need forward passes: they are measured at a few
*anchor* choices per layer (``anchors``; all choices when the layer has fewer) and
interpolated in the residual r of each choice (0 at r = 0). ``projected_loss`` is
the per-trial task loss with every chosen layer projected at once (no training):
not a table; the study uses it to re-rank its front, and small studies can optimise
it directly (``proxy="projected_loss"``, one forward pass pair per trial). Both
loss proxies re-estimate the BatchNorm statistics on the calibration batch after
projecting (adaptive BN, EagleEye: Li et al., ECCV 2020), since a projected layer
shifts the activation statistics the running averages were measured for.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..core import Choice, Dense, Structure, count_ops
from ..core.structure import project as _project
from .space import SearchSpace

TABLE_PROXIES = ("params", "mults", "kept_dof", "field_ratio", "synflow", "grad_norm", "snip", "naswot",
                 "residual", "projection_loss")
WEIGHT_PROXIES = ("residual", "projection_loss")
TORCH_PROXIES = ("synflow", "grad_norm", "snip", "naswot", "residual", "projection_loss")
HIGHER_IS_BETTER = {"params": True, "mults": True, "kept_dof": True, "field_ratio": True, "synflow": True,
                    "grad_norm": True, "snip": True, "naswot": True, "residual": False,
                    "projection_loss": False, "projected_loss": False}
DESCRIPTIONS = {
    "params": "parameters kept (naive baseline)",
    "mults": "multiplies kept (naive baseline)",
    "kept_dof": "mean log fraction of weights kept per layer",
    "field_ratio": "mean information-field ratio (1 = full field)",
    "synflow": "log SynFlow score of the structured network",
    "grad_norm": "sum of projected gradient norms",
    "snip": "SNIP saliency of the structured weights",
    "naswot": "NASWOT log|K_H| of the structured network",
    "residual": "sum of SR residuals of the pretrained weights",
    "projection_loss": "sensitivity-weighted projection loss (sum of per-layer loss increases)",
    "projected_loss": "task loss with every chosen layer projected (per trial)",
}


# -- the structured weight of one choice --------------------------------------------
class _LayerApprox:
    """P(W) and the gradient projection for every choice of one layer (numpy, float64)."""

    def __init__(self, layer, W4: np.ndarray):
        self.layer = layer
        self.W = np.asarray(W4, dtype=np.float64)
        self._svd = None
        self._dw = None
        self._Wt = None

    @staticmethod
    def _kproject(X: np.ndarray, s: Structure) -> np.ndarray:
        """A A^+ X (the Kronecker projector; torch's port is 3-10x faster than numpy's here)."""
        try:
            import torch

            from ..nn import _kron
        except ImportError:                             # pragma: no cover - torch is a dependency
            return _project(X, s.c, s.n)
        with torch.no_grad():
            return _kron.project(torch.from_numpy(np.ascontiguousarray(X)), s.c, s.nh, s.nw).numpy()

    def _full_svd(self):
        if self._svd is None:
            F = self.W.shape[0]
            U, s, Vt = np.linalg.svd(self.W.reshape(F, -1), full_matrices=False)
            self._svd = (U, s, Vt)
        return self._svd

    def _dw_svd(self):
        if self._dw is None:
            F, C = self.W.shape[:2]
            M = np.moveaxis(self.W.reshape(F, C, -1), 1, 0)          # (C, F, k*k)
            U, s, Vt = np.linalg.svd(M, full_matrices=False)
            self._dw = (U[:, :, :1], s[:, :1], Vt[:, :1, :])
        return self._dw

    def rank_of(self, choice) -> int:
        F, C, kh, kw = self.W.shape
        params = sum(p.out_channels * p.group_in_channels * p.kernel[0] * p.kernel[1]
                     for p in choice.expand(self.layer))
        return int(min(F, C * kh * kw, max(1, round(params / (F + C * kh * kw)))))

    def approx(self, choice: Choice) -> np.ndarray:
        if isinstance(choice, Dense):
            return self.W
        if isinstance(choice, Structure):
            if choice.is_identity(self.layer):
                return self.W
            return self._kproject(self.W, choice)
        F, C = self.W.shape[:2]
        if choice.kind == "dw_pw":
            U, s, Vt = self._dw_svd()
            M = (U * s[:, None, :]) @ Vt                                 # (C, F, k*k)
            return np.moveaxis(M, 0, 1).reshape(self.W.shape)
        U, s, Vt = self._full_svd()
        r = self.rank_of(choice)
        return ((U[:, :r] * s[:r]) @ Vt[:r]).reshape(self.W.shape)

    def project_grad(self, choice: Choice, G: np.ndarray) -> np.ndarray:
        if isinstance(choice, Dense):
            return G
        if isinstance(choice, Structure):
            return G if choice.is_identity(self.layer) else self._kproject(G, choice)
        F, C = self.W.shape[:2]
        if choice.kind == "dw_pw":
            U, _, Vt = self._dw_svd()
            M = np.moveaxis(G.reshape(F, C, -1), 1, 0)
            uM = U @ (np.swapaxes(U, 1, 2) @ M)
            P = uM + (M @ np.swapaxes(Vt, 1, 2)) @ Vt - (uM @ np.swapaxes(Vt, 1, 2)) @ Vt
            return np.moveaxis(P, 0, 1).reshape(G.shape)
        U, _, Vt = self._full_svd()
        r = self.rank_of(choice)
        U, V = U[:, :r], Vt[:r].T
        M = G.reshape(F, -1)
        uM = U @ (U.T @ M)
        return (uM + (M @ V) @ V.T - (uM @ V) @ V.T).reshape(G.shape)


def _field_ratio(layer, choice) -> float:
    if isinstance(choice, (Dense, Structure)):
        return 1.0                           # sum-pool + small conv sees the whole (k, k, C/groups)
    f = choice.information_field(layer)
    full = layer.kernel[0] * layer.kernel[1] * layer.in_channels
    return min(1.0, f.h * f.w * f.c / full)


def _weight_count(layer, choice) -> int:
    return count_ops(layer, choice).params - (layer.out_channels if layer.bias else 0)


# -- tables ------------------------------------------------------------------------
@dataclass
class ProxyTable:
    """One proxy: score(idx) = base + reduce over layers of values[l, idx[l]]."""

    name: str
    values: np.ndarray                   # (searched layers, max choices), NaN-padded
    base: float = 0.0
    reduce: str = "sum"                  # sum | mean
    higher_is_better: bool = True
    requires_weights: bool = False
    note: str = ""

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self._rows = np.arange(self.values.shape[0])
        self._scale = 1.0 / self.values.shape[0] if self.reduce == "mean" else 1.0

    def score(self, idx) -> float:
        return float(self.base + self._scale * self.values[self._rows, idx].sum())

    def score_batch(self, idx_matrix) -> np.ndarray:
        M = np.asarray(idx_matrix)
        return self.base + self._scale * self.values[self._rows[None, :], M].sum(axis=1)

    def loss(self, idx) -> float:
        """The minimised form: -score when higher is better."""
        s = self.score(idx)
        return -s if self.higher_is_better else s

    def loss_batch(self, idx_matrix) -> np.ndarray:
        s = self.score_batch(idx_matrix)
        return -s if self.higher_is_better else s

    def to_dict(self) -> dict:
        return {"name": self.name, "higher_is_better": self.higher_is_better, "reduce": self.reduce,
                "requires_weights": self.requires_weights, "note": self.note,
                "description": DESCRIPTIONS.get(self.name, "")}


@dataclass
class ProxySuite:
    """The proxy tables of one (model, search space) and how they were obtained."""

    space: SearchSpace
    tables: dict = field(default_factory=dict)
    weights: str | None = None           # checkpoint path (None: weight-free proxies only)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    evaluator: object = None             # _TorchEval for projected_loss (None without torch model)

    def __contains__(self, name) -> bool:
        return name in self.tables or (name == "projected_loss" and self.evaluator is not None
                                       and self.evaluator.weights_loaded)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tables)

    @property
    def default_objective(self) -> str:
        """projection_loss with weights; else the best weight-free proxy of the validation benchmark."""
        for name in ("projection_loss", "kept_dof", "params"):
            if name in self.tables:
                return name
        return next(iter(self.tables))

    def scores(self, idx) -> dict[str, float]:
        return {k: t.score(idx) for k, t in self.tables.items()}

    def loss(self, name: str, idx) -> float:
        if name not in self.tables:
            raise ValueError(f"proxy = {name!r} is not available; computed: {list(self.tables)}")
        return self.tables[name].loss(idx)

    def projected_loss(self, idx) -> float:
        if self.evaluator is None:
            raise ValueError("projected_loss needs a torch model of the network")
        return self.evaluator.projected_loss(self.space, idx)

    def to_dict(self) -> dict:
        return {"weights": self.weights, "weight_free": self.weights is None, "seconds": round(self.seconds, 2),
                "notes": list(self.notes), "proxies": {k: t.to_dict() for k, t in self.tables.items()},
                "default_objective": self.default_objective}


def _pad(rows, K: int) -> np.ndarray:
    out = np.full((len(rows), K), np.nan)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def cost_proxies(space: SearchSpace) -> dict[str, ProxyTable]:
    """params, mults, kept_dof, field_ratio: no torch, no weights."""
    K = max(len(ls) for ls in space.searched)
    params, mults, dof, fieldr = [], [], [], []
    base_p = base_m = 0.0
    for ls in space.layers:
        if len(ls) == 1:
            op = count_ops(ls.layer, ls.choices[0])
            base_p += op.params
            base_m += op.mults
            continue
        ops = [count_ops(ls.layer, c) for c in ls.choices]
        params.append([o.params for o in ops])
        mults.append([o.mults for o in ops])
        w0 = _weight_count(ls.layer, Dense())
        dof.append([math.log(max(1, _weight_count(ls.layer, c)) / w0) for c in ls.choices])
        fieldr.append([_field_ratio(ls.layer, c) for c in ls.choices])
    base_p += space.network.extra_params
    return {
        "params": ProxyTable("params", _pad(params, K), base_p),
        "mults": ProxyTable("mults", _pad(mults, K), base_m),
        "kept_dof": ProxyTable("kept_dof", _pad(dof, K), 0.0, "mean"),
        "field_ratio": ProxyTable("field_ratio", _pad(fieldr, K), 0.0, "mean"),
    }


# -- torch side ---------------------------------------------------------------------
def load_weights(model, path) -> dict:
    """Load a checkpoint (``torch.load(weights_only=True)``) into ``model``; returns its meta.

    Accepts a structconv training checkpoint (dict with 'state_dict') or a plain state dict.
    """
    from structconv.nn.checkpoint import read_weights

    _, sd, _, meta = read_weights(path, "weights file")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        msg = " ".join(s.strip() for s in first[:2])
        raise ValueError(f"weights file {str(path)!r} does not fit the model: {msg[:300]}") from None
    return meta


class _TorchEval:
    """A torch model of the network plus a fixed calibration batch."""

    def __init__(self, network, model, x, y, weights_loaded: bool, seed: int = 0, bn_recalibrate: bool = True):
        import torch

        self.torch = torch
        self.bn_recalibrate = bool(bn_recalibrate)
        self.network = network
        self.model = model.float()
        self.weights_loaded = weights_loaded
        mods = {n: m for n, m in model.named_modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
        missing = [l.name for l in network.layers if l.name not in mods]
        if missing:
            raise ValueError(f"the torch model lacks layer(s) {missing[:5]} of network {network.name!r}")
        self.modules = {l.name: mods[l.name] for l in network.layers}
        self.x = x
        self.model.eval()
        with torch.no_grad():
            self.dense_logits = self.model(x).detach()
        self.labels = y                                        # None: no dataset
        if y is None:
            if weights_loaded:
                self.hard = self.dense_logits.argmax(1)
            else:
                g = torch.Generator().manual_seed(seed)
                self.hard = torch.randint(0, self.dense_logits.shape[1], (x.shape[0],), generator=g)
        else:
            self.hard = y
        self.dense_loss = self.loss_with({})              # with the same BN re-estimation as the rest

    def _loss_value(self, logits) -> float:
        F = self.torch.nn.functional
        if self.labels is not None:
            return float(F.cross_entropy(logits, self.labels))
        p = F.log_softmax(self.dense_logits, 1)                  # KL(dense || model)
        return float((p.exp() * (p - F.log_softmax(logits, 1))).sum(1).mean())

    def weight(self, name) -> np.ndarray:
        w = self.modules[name].weight.detach().double().numpy()
        return w[:, :, None, None] if w.ndim == 2 else w

    def _bn_modules(self):
        bn = (self.torch.nn.BatchNorm1d, self.torch.nn.BatchNorm2d, self.torch.nn.BatchNorm3d)
        return [m for m in self.model.modules() if isinstance(m, bn) and m.track_running_stats]

    def loss_with(self, replaced: dict, recalibrate: bool | None = None) -> float:
        """Calibration loss with some layers' weights replaced (numpy 4-D arrays).

        ``recalibrate`` (default: ``self.bn_recalibrate``) re-estimates the BatchNorm
        statistics on the calibration batch first (adaptive BN, as EagleEye, Li et al.
        ECCV 2020, evaluates pruned candidates); everything is restored afterwards.
        """
        torch = self.torch
        recal = self.bn_recalibrate if recalibrate is None else recalibrate
        saved = {}
        bns = self._bn_modules() if recal else []
        bn_state = [(m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
                    for m in bns]
        try:
            with torch.no_grad():
                for name, W in replaced.items():
                    mod = self.modules[name]
                    saved[name] = mod.weight.detach().clone()
                    mod.weight.copy_(torch.as_tensor(W.reshape(mod.weight.shape), dtype=mod.weight.dtype))
                if bns:
                    for m in bns:
                        m.reset_running_stats()
                        m.momentum = None                      # cumulative average over the batches
                    self.model.train()
                    for chunk in self.x.split(64):
                        self.model(chunk)
                    self.model.eval()
                return self._loss_value(self.model(self.x))
        finally:
            self.model.eval()
            with torch.no_grad():
                for name, w in saved.items():
                    self.modules[name].weight.copy_(w)
                for m, mean, var, n, mom in bn_state:
                    m.running_mean.copy_(mean)
                    m.running_var.copy_(var)
                    m.num_batches_tracked.copy_(n)
                    m.momentum = mom

    def projected_loss(self, space: SearchSpace, idx, recalibrate: bool | None = None) -> float:
        """Calibration loss with every chosen layer of the plan projected at once (no training)."""
        full = space.full_indices(idx)
        rep = {}
        for ls, i in zip(space.layers, full):
            ch = ls.choices[i]
            if not isinstance(ch, Dense):
                rep[ls.name] = _LayerApprox(ls.layer, self.weight(ls.name)).approx(ch)
        return self.loss_with(rep, recalibrate)

    # -- zero-cost quantities on the dense model ---------------------------------
    def gradients(self, bn_train: bool) -> dict[str, np.ndarray]:
        torch = self.torch
        self.model.zero_grad(set_to_none=True)
        state = {k: v.clone() for k, v in self.model.state_dict().items()} if bn_train else None
        self.model.train(bn_train)
        try:
            out = self.model(self.x)
            torch.nn.functional.cross_entropy(out, self.hard).backward()
        finally:
            self.model.eval()
            if state is not None:
                self.model.load_state_dict(state)
        grads = {}
        for name, mod in self.modules.items():
            g = mod.weight.grad
            g = np.zeros(mod.weight.shape) if g is None else g.detach().double().numpy()
            grads[name] = g[:, :, None, None] if g.ndim == 2 else g
        self.model.zero_grad(set_to_none=True)
        return grads

    def synflow(self) -> tuple[float, dict[str, np.ndarray]]:
        """(log R, dR/d|W| per layer) of the all-positive network on an all-ones input (float64)."""
        import copy

        torch = self.torch
        net = copy.deepcopy(self.model).double().eval()
        with torch.no_grad():
            for t in net.state_dict().values():
                if t.is_floating_point():
                    t.abs_()
        mods = dict(net.named_modules())
        x = torch.ones((1,) + tuple(self.x.shape[1:]), dtype=torch.float64)
        R = net(x).sum()
        R.backward()
        grads = {}
        for name in self.modules:
            g = mods[name].weight.grad.detach().numpy()
            grads[name] = g[:, :, None, None] if g.ndim == 2 else g
        self.synflow_R = float(R.detach())
        return float(torch.log(R.detach().clamp_min(1e-300))), grads

    def naswot(self, replaced: dict, bn_train: bool) -> float:
        """log|K_H| of the binary ReLU codes over the calibration batch (Mellor et al. 2021)."""
        torch = self.torch
        acc = {}
        acts = (torch.nn.ReLU, torch.nn.ReLU6)

        def hook(_m, _i, out):
            c = (out.detach().reshape(out.shape[0], -1) > 0).float()
            k = c @ c.T + (1 - c) @ (1 - c).T
            acc["K"] = k.double() if "K" not in acc else acc["K"] + k.double()

        hooks = [m.register_forward_hook(hook) for m in self.model.modules() if isinstance(m, acts)]
        if not hooks:                                   # functional activations: use BN outputs
            hooks = [m.register_forward_hook(hook) for m in self.model.modules()
                     if isinstance(m, torch.nn.BatchNorm2d)]
        state = {k: v.clone() for k, v in self.model.state_dict().items()} if bn_train else None
        saved = {}
        try:
            with torch.no_grad():
                for name, W in replaced.items():
                    mod = self.modules[name]
                    saved[name] = mod.weight.detach().clone()
                    mod.weight.copy_(torch.as_tensor(W.reshape(mod.weight.shape), dtype=mod.weight.dtype))
                self.model.train(bn_train)
                self.model(self.x[:64])
        finally:
            self.model.eval()
            for h in hooks:
                h.remove()
            with torch.no_grad():
                for name, w in saved.items():
                    self.modules[name].weight.copy_(w)
            if state is not None:
                self.model.load_state_dict(state)
        if "K" not in acc:
            return float("-inf")
        K = acc["K"]
        sign, logdet = torch.linalg.slogdet(K)
        return float(logdet) if float(sign) > 0 else float("-inf")


def _anchors(residuals: np.ndarray, n: int) -> list[int]:
    """Indices (into the non-dense choices) spanning the residual range, max always in."""
    order = np.argsort(residuals, kind="stable")
    if n >= len(order):
        return list(order)
    pos = np.unique(np.round(np.linspace(0, len(order) - 1, n + 1)[1:]).astype(int))
    return [int(order[p]) for p in pos]


def _interp(r_all: np.ndarray, r_anchor, v_anchor) -> np.ndarray:
    xs = np.concatenate([[0.0], np.asarray(r_anchor, float)])
    ys = np.concatenate([[0.0], np.asarray(v_anchor, float)])
    o = np.argsort(xs, kind="stable")
    xs, ys = xs[o], ys[o]
    xs, keep = np.unique(xs, return_index=True)
    ys = ys[keep]
    out = np.interp(r_all, xs, ys)
    if len(xs) >= 2:                                   # linear extrapolation beyond the last anchor
        slope = (ys[-1] - ys[-2]) / max(xs[-1] - xs[-2], 1e-12)
        hi = r_all > xs[-1]
        out[hi] = ys[-1] + slope * (r_all[hi] - xs[-1])
    return out


def calibration_batch(network, data=None, size: int = 128, seed: int = 0):
    """(x, y) from a dataset (DataBundle, Dataset or (x, y) tensors) or, without one,
    seeded N(0, 1) inputs of the network's input shape and y = None."""
    import torch

    g = torch.Generator().manual_seed(seed)
    if data is None:
        return torch.randn((size,) + tuple(network.input_shape), generator=g), None
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        return x[:size].float(), (None if y is None else y[:size].long())
    ds = getattr(data, "train", data)
    n = len(ds)
    idx = torch.randperm(n, generator=g)[:min(size, n)].tolist()
    xs, ys = zip(*(ds[i] for i in idx))
    return torch.stack([torch.as_tensor(v) for v in xs]).float(), torch.as_tensor(ys).long()


def compute_proxies(space: SearchSpace, model=None, weights=None, data=None, proxies=None,
                    calib_size: int = 128, anchors: int = 3, seed: int = 0, progress=None,
                    torch_threads: int = 1, bn_recalibrate: bool = True) -> ProxySuite:
    """Build the proxy tables for ``space``.

    model: a torch nn.Module whose Conv2d/Linear names are the network's layer names;
        None builds ``structconv.nn.zoo.build_module(network)`` (seeded init) when torch
        and a zoo module exist, else only the cost proxies are computed.
    weights: checkpoint path loaded into the model (``weights_only=True``); without it
        only weight-free proxies run (``residual``/``projection_loss`` are skipped).
    data: calibration data (DataBundle, Dataset or (x, y) tensors); None uses seeded
        random inputs and, with weights, the dense model's own predictions as targets.
    proxies: names to compute (default: all that apply; naswot only for networks under
        1 GMAC, it needs a forward pass per anchor).
    bn_recalibrate: the loss-based proxies re-estimate BatchNorm statistics on the
        calibration batch after projecting (adaptive BN), as pruning-candidate
        evaluation does (EagleEye); False evaluates with the dense running statistics.
    """
    t0 = time.perf_counter()
    net = space.network
    suite = ProxySuite(space, weights=str(weights) if weights is not None else None)
    wanted = set(TABLE_PROXIES if proxies is None else proxies)
    unknown = wanted - set(TABLE_PROXIES) - {"projected_loss"}
    if unknown:
        raise ValueError(f"proxies {sorted(unknown)} are unknown; choose from {list(TABLE_PROXIES)}")
    dense_mults = sum(count_ops(l).mults for l in net.layers)
    if proxies is None and dense_mults > 1e9:
        wanted.discard("naswot")
        suite.notes.append("naswot skipped by default (network over 1 GMAC: one forward pass per anchor); "
                           "ask for it with proxies=['naswot', ...]")
    for name, t in cost_proxies(space).items():
        if name in wanted:
            suite.tables[name] = t
    if weights is None:
        dropped = sorted(wanted & set(WEIGHT_PROXIES))
        wanted -= set(WEIGHT_PROXIES)
        suite.notes.append("no weights given: weight-free proxies only (zero-cost proxies on a seeded random "
                           "initialisation)" + (f"; skipped {dropped}" if dropped else ""))
    need_torch = wanted & set(TORCH_PROXIES)
    if not need_torch and weights is None:
        suite.seconds = time.perf_counter() - t0
        return suite
    try:
        import torch
    except ImportError:                                 # pragma: no cover - torch is a dependency
        suite.notes.append("torch is not installed: zero-cost proxies skipped")
        suite.seconds = time.perf_counter() - t0
        return suite
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(torch_threads)))     # shared CPUs: 1 thread is often 10x faster
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                   # pragma: no cover
        import contextlib
        threadpool_limits = lambda **_: contextlib.nullcontext()   # noqa: E731
    try:
        with threadpool_limits(limits=max(1, int(torch_threads))):
            return _torch_proxies(suite, space, model, weights, data, wanted, calib_size, anchors, seed, progress,
                                  dense_mults, t0, bn_recalibrate)
    finally:
        torch.set_num_threads(threads)


def _torch_proxies(suite, space, model, weights, data, wanted, calib_size, anchors, seed, progress,
                   dense_mults, t0, bn_recalibrate=True):
    import torch

    net = space.network
    torch.manual_seed(seed)
    if model is None:
        try:
            from ..nn.zoo import build_module
            model = build_module(net)
        except (ValueError, ImportError) as e:
            if weights is not None:
                raise ValueError(f"--weights needs a torch model of {net.name!r}: {e}") from None
            suite.notes.append(f"no torch model for {net.name!r} ({str(e).splitlines()[0][:120]}): "
                               f"only {sorted(suite.tables)}")
            suite.seconds = time.perf_counter() - t0
            return suite
    if weights is not None and not isinstance(weights, dict):
        load_weights(model, weights)
    elif isinstance(weights, dict):
        model.load_state_dict(weights)
        suite.weights = "<state dict>"
    weights_loaded = weights is not None
    per_sample = max(1, dense_mults)
    calib_size = int(max(4, min(calib_size, 32e9 // per_sample)))
    x, y = calibration_batch(net, data, calib_size, seed)
    if data is None:
        suite.notes.append(f"no calibration data: {calib_size} seeded N(0,1) inputs"
                           + (" with the dense model's predictions as targets" if weights_loaded else ""))
    ev = _TorchEval(net, model, x, y, weights_loaded, seed, bn_recalibrate)
    suite.evaluator = ev
    bn_train = not weights_loaded

    names = [ls.name for ls in space.searched]
    K = max(len(ls) for ls in space.searched)
    rows = {k: [] for k in ("residual", "projection_loss", "grad_norm", "snip", "synflow", "naswot")}
    grads = ev.gradients(bn_train) if wanted & {"grad_norm", "snip"} else None
    logR, sgrads = ev.synflow() if "synflow" in wanted else (0.0, None)
    nas0 = ev.naswot({}, bn_train) if "naswot" in wanted else 0.0
    if "naswot" in wanted and not math.isfinite(nas0):
        suite.notes.append("naswot: the dense kernel matrix is singular; proxy skipped")
        wanted.discard("naswot")
    design_note = False
    for li, ls in enumerate(space.searched):
        if progress:
            progress(li, len(names), ls.name)
        W = ev.weight(ls.name)
        ap = _LayerApprox(ls.layer, W)
        nW = np.linalg.norm(W)
        res = np.zeros(len(ls))
        gn, sn, sf = (np.zeros(len(ls)) for _ in range(3))
        absW_S = float((np.abs(W) * sgrads[ls.name]).sum()) if sgrads is not None else 0.0
        Wh_cache = {}
        for j, ch in enumerate(ls.choices):
            Wh = ap.approx(ch)
            if not isinstance(ch, (Dense, Structure)):
                design_note = True
            res[j] = float(np.linalg.norm(W - Wh) / nW) if nW > 0 else 0.0
            if grads is not None:
                PG = ap.project_grad(ch, grads[ls.name])
                gn[j] = float(np.linalg.norm(PG))
                sn[j] = float(np.abs(Wh * PG).sum())
            if sgrads is not None:                      # R is affine in |W_l|: exact for one layer
                m = float((np.abs(Wh) * sgrads[ls.name]).sum())
                R = ev.synflow_R
                sf[j] = math.log(max(1.0 + (m - absW_S) / R, 1e-300)) if R > 0 and math.isfinite(R) else 0.0
            Wh_cache[j] = Wh
        rows["residual"].append(res)
        rows["grad_norm"].append(gn)
        rows["snip"].append(sn)
        rows["synflow"].append(sf)
        anchor_ids = [j + 1 for j in _anchors(res[1:], anchors)]
        if "projection_loss" in wanted:
            vals = [ev.loss_with({ls.name: Wh_cache[j]}) - ev.dense_loss for j in anchor_ids]
            rows["projection_loss"].append(_interp(res, res[anchor_ids], vals))
        if "naswot" in wanted:
            vals = [ev.naswot({ls.name: Wh_cache[j]}, bn_train) - nas0 for j in anchor_ids]
            vals = [v if math.isfinite(v) else -1e3 for v in vals]
            rows["naswot"].append(_interp(res, res[anchor_ids], vals))
    if design_note:
        suite.notes.append("sparse-kernel designs have no weight projection: dw_pw is fitted exactly "
                           "(per-channel rank 1), the others by a parameter-matched low-rank fit (an estimate)")
    if grads is not None:
        if "grad_norm" in wanted:
            suite.tables["grad_norm"] = ProxyTable("grad_norm", _pad(rows["grad_norm"], K))
        if "snip" in wanted:
            suite.tables["snip"] = ProxyTable("snip", _pad(rows["snip"], K))
    if sgrads is not None:
        suite.tables["synflow"] = ProxyTable("synflow", _pad(rows["synflow"], K), logR)
    if "naswot" in wanted:
        suite.tables["naswot"] = ProxyTable("naswot", _pad(rows["naswot"], K), nas0,
                                            note=f"interpolated from {anchors} anchors per layer")
    if weights_loaded:
        if "residual" in wanted:
            suite.tables["residual"] = ProxyTable("residual", _pad(rows["residual"], K), 0.0,
                                                  higher_is_better=False, requires_weights=True)
        if "projection_loss" in wanted:
            suite.tables["projection_loss"] = ProxyTable(
                "projection_loss", _pad(rows["projection_loss"], K), ev.dense_loss, higher_is_better=False,
                requires_weights=True,
                note=f"per-layer loss increase measured at {anchors} anchors per layer, interpolated in r")
    suite.seconds = time.perf_counter() - t0
    return suite
