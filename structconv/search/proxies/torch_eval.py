"""The torch side of the proxies: a model of the network, a calibration batch, and what is measured on it.

Torch is imported only when a proxy needs it, so the search runs (on the cost
proxies) without touching torch. The loss-based proxies re-estimate BatchNorm
statistics on the calibration batch after projecting (adaptive BN, EagleEye:
Li et al., ECCV 2020), since a projected layer shifts the activation statistics
the running averages were measured for.
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np


def load_weights(model, path) -> dict:
    """Load a checkpoint (``torch.load(weights_only=True)``) into ``model``; returns its meta.

    Accepts a structconv training checkpoint (dict with 'state_dict') or a plain state dict.
    """
    from ...nn import read_weights

    _, sd, _, meta = read_weights(path, "weights file")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        msg = " ".join(s.strip() for s in str(e).strip().splitlines()[:2])
        raise ValueError(f"weights file {str(path)!r} does not fit the model: {msg[:300]}") from None
    return meta


def calibration_batch(network, data=None, size: int = 128, seed: int = 0):
    """(x, y) from a dataset (DataBundle, Dataset or (x, y) tensors) or, without one,
    seeded N(0, 1) inputs of the network's input shape and y = None. A bundle is read from its
    training split, or from its validation split once carved (``nn.split_validation``): never
    from its evaluation (test) split."""
    import torch

    g = torch.Generator().manual_seed(seed)
    if data is None:
        return torch.randn((size,) + tuple(network.input_shape), generator=g), None
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        return x[:size].float(), (None if y is None else y[:size].long())
    ds = data.val if _is_split(data) else getattr(data, "train", data)
    idx = torch.randperm(len(ds), generator=g)[:min(size, len(ds))].tolist()
    xs, ys = zip(*(ds[i] for i in idx))
    return torch.stack([torch.as_tensor(v) for v in xs]).float(), torch.as_tensor(ys).long()


def _is_split(data) -> bool:
    return isinstance(getattr(data, "info", None), dict) and "validation_seed" in data.info


def _as_4d(w: np.ndarray) -> np.ndarray:
    return w[:, :, None, None] if w.ndim == 2 else w


class TorchEval:
    """A torch model of the network plus a fixed calibration batch."""

    def __init__(self, network, model, x, y, weights_loaded: bool, seed: int = 0,
                 bn_recalibrate: bool = True):
        import torch

        self.torch = torch
        self.bn_recalibrate = bool(bn_recalibrate)
        self.network = network
        self.model = model.float()
        self.weights_loaded = weights_loaded
        self.modules = self._layer_modules(network, model)
        self.x = x
        self.model.eval()
        with torch.no_grad():
            self.dense_logits = self.model(x).detach()
        self.labels = y                                        # None: no dataset
        self.hard = y if y is not None else self._targets(seed)
        self.dense_loss = self.loss_with({})              # with the same BN re-estimation as the rest

    def _layer_modules(self, network, model) -> dict:
        nn = self.torch.nn
        mods = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
        # attention products (op matmul) have no weights and take only dense: no module to score
        layers = [layer for layer in network.layers if layer.op != "matmul"]
        missing = [layer.name for layer in layers if layer.name not in mods]
        if missing:
            raise ValueError(f"the torch model lacks layer(s) {missing[:5]} of network {network.name!r}")
        return {layer.name: mods[layer.name] for layer in layers}

    def _targets(self, seed: int):
        """Without labels: the dense model's own predictions (trained) or seeded random classes (init)."""
        if self.weights_loaded:
            return self.dense_logits.argmax(1)
        g = self.torch.Generator().manual_seed(seed)
        return self.torch.randint(0, self.dense_logits.shape[1], (self.x.shape[0],), generator=g)

    def _loss_value(self, logits) -> float:
        F = self.torch.nn.functional
        if self.labels is not None:
            return float(F.cross_entropy(logits, self.labels))
        p = F.log_softmax(self.dense_logits, 1)                  # KL(dense || model)
        return float((p.exp() * (p - F.log_softmax(logits, 1))).sum(1).mean())

    def weight(self, name) -> np.ndarray:
        return _as_4d(self.modules[name].weight.detach().double().numpy())

    # -- temporary changes, always undone ---------------------------------------
    @contextlib.contextmanager
    def _weights_replaced(self, replaced: dict):
        """Some layers' weights replaced by numpy 4-D arrays; the model back in eval mode afterwards."""
        torch, saved = self.torch, {}
        try:
            with torch.no_grad():
                for name, W in replaced.items():
                    mod = self.modules[name]
                    saved[name] = mod.weight.detach().clone()
                    mod.weight.copy_(torch.as_tensor(W.reshape(mod.weight.shape), dtype=mod.weight.dtype))
            yield
        finally:
            self.model.eval()
            with torch.no_grad():
                for name, w in saved.items():
                    self.modules[name].weight.copy_(w)

    @contextlib.contextmanager
    def _state_kept(self, keep: bool):
        """The whole state dict restored afterwards (a forward pass in train mode moves BN statistics)."""
        state = {k: v.clone() for k, v in self.model.state_dict().items()} if keep else None
        try:
            yield
        finally:
            self.model.eval()
            if state is not None:
                self.model.load_state_dict(state)

    def _bn_modules(self):
        nn = self.torch.nn
        bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
        return [m for m in self.model.modules() if isinstance(m, bn) and m.track_running_stats]

    @contextlib.contextmanager
    def _bn_recalibrated(self, recalibrate: bool):
        """BatchNorm statistics re-estimated on the calibration batch, restored afterwards."""
        bns = self._bn_modules() if recalibrate else []
        kept = [(m, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
                for m in bns]
        try:
            if bns:
                self._reestimate(bns)
            yield
        finally:
            with self.torch.no_grad():
                for m, mean, var, n, mom in kept:
                    m.running_mean.copy_(mean)
                    m.running_var.copy_(var)
                    m.num_batches_tracked.copy_(n)
                    m.momentum = mom

    def _reestimate(self, bns) -> None:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None                      # cumulative average over the batches
        self.model.train()
        with self.torch.no_grad():
            for chunk in self.x.split(64):
                self.model(chunk)
        self.model.eval()

    # -- measurements -------------------------------------------------------------
    def loss_with(self, replaced: dict, recalibrate: bool | None = None) -> float:
        """Calibration loss with some layers' weights replaced (numpy 4-D arrays).

        ``recalibrate`` (default: ``self.bn_recalibrate``) re-estimates the BatchNorm
        statistics on the calibration batch first (adaptive BN, as EagleEye, Li et al.
        ECCV 2020, evaluates pruned candidates); everything is restored afterwards.
        """
        recal = self.bn_recalibrate if recalibrate is None else recalibrate
        with self._weights_replaced(replaced), self._bn_recalibrated(recal), self.torch.no_grad():
            return self._loss_value(self.model(self.x))

    def gradients(self, bn_train: bool) -> dict[str, np.ndarray]:
        """dL/dW of every layer on the calibration batch (targets: ``self.hard``)."""
        torch = self.torch
        self.model.zero_grad(set_to_none=True)
        with self._state_kept(bn_train):
            self.model.train(bn_train)
            torch.nn.functional.cross_entropy(self.model(self.x), self.hard).backward()
        grads = {}
        for name, mod in self.modules.items():
            g = mod.weight.grad
            grads[name] = _as_4d(np.zeros(mod.weight.shape) if g is None else g.detach().double().numpy())
        self.model.zero_grad(set_to_none=True)
        return grads

    def synflow(self) -> tuple[float, dict[str, np.ndarray]]:
        """(log R, dR/d|W| per layer) of the all-positive network on an all-ones input (float64)."""
        torch = self.torch
        net = copy.deepcopy(self.model).double().eval()
        with torch.no_grad():
            for t in net.state_dict().values():
                if t.is_floating_point():
                    t.abs_()
        mods = dict(net.named_modules())
        R = net(torch.ones((1,) + tuple(self.x.shape[1:]), dtype=torch.float64)).sum()
        R.backward()
        grads = {name: _as_4d(mods[name].weight.grad.detach().numpy()) for name in self.modules}
        self.synflow_R = float(R.detach())
        return float(torch.log(R.detach().clamp_min(1e-300))), grads

    def _activation_hooks(self, hook) -> list:
        nn = self.torch.nn
        hooks = [m.register_forward_hook(hook) for m in self.model.modules()
                 if isinstance(m, (nn.ReLU, nn.ReLU6))]
        if not hooks:                                   # functional activations: use BN outputs
            hooks = [m.register_forward_hook(hook) for m in self.model.modules()
                     if isinstance(m, nn.BatchNorm2d)]
        return hooks

    def naswot(self, replaced: dict, bn_train: bool) -> float:
        """log|K_H| of the binary ReLU codes over the calibration batch (Mellor et al. 2021)."""
        torch = self.torch
        acc = {}

        def hook(_m, _i, out):
            c = (out.detach().reshape(out.shape[0], -1) > 0).float()
            k = (c @ c.T + (1 - c) @ (1 - c).T).double()
            acc["K"] = k if "K" not in acc else acc["K"] + k

        hooks = self._activation_hooks(hook)
        try:
            with self._state_kept(bn_train), self._weights_replaced(replaced), torch.no_grad():
                self.model.train(bn_train)
                self.model(self.x[:64])
        finally:
            for h in hooks:
                h.remove()
        if "K" not in acc:
            return float("-inf")
        sign, logdet = torch.linalg.slogdet(acc["K"])
        return float(logdet) if float(sign) > 0 else float("-inf")
