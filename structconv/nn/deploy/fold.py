"""BatchNorm folded into the convolution before it, as inference runtimes do at deployment.

An eval-mode BatchNorm2d is a per-channel affine map y = s * x + t (s = gamma / sqrt(var + eps),
t = beta - s * mean); when it reads only a Conv2d's output, and that output only feeds it, the conv
can compute s * W x + s * b + t itself and the BN becomes an Identity. In a decomposed layer the conv
before the BN is the small conv after the sum-pool (the sum-pool is linear and channel-blind to
the output channels), so the fold is the same. Which BN follows which conv is read from the traced
graph (torch.fx, sum-pools as leaves), never from module names.
"""
from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..layers import SumPool1d, SumPool3d, set_submodule
from ..padding import ForwardPadded


class _Tracer(fx.Tracer):
    """torch.fx's tracer with sum-pools and forward paddings as leaves (their shape checks do not trace)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (SumPool3d, SumPool1d, ForwardPadded)) or super().is_leaf_module(m, qualname)


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, BN name) of every eval-mode BatchNorm2d whose only input is a Conv2d's output that
    nothing else reads, each module called once. ValueError when the model does not trace."""
    try:
        graph = _Tracer().trace(model)
    except Exception as e:                                   # fx's errors have no common base class
        raise ValueError(f"cannot trace {type(model).__name__} to find its conv -> BatchNorm pairs: "
                         f"{type(e).__name__}: {e}") from e
    calls = [n for n in graph.nodes if n.op == "call_module"]
    times = Counter(n.target for n in calls)
    pairs = []
    for node in calls:
        bn = model.get_submodule(node.target)
        if not (isinstance(bn, nn.BatchNorm2d) and not bn.training and bn.running_mean is not None):
            continue
        src = node.args[0] if len(node.args) == 1 and not node.kwargs else None
        if not (isinstance(src, fx.Node) and src.op == "call_module" and len(src.users) == 1):
            continue
        conv = model.get_submodule(src.target)
        if (type(conv) is nn.Conv2d and conv.out_channels == bn.num_features
                and times[src.target] == 1 and times[node.target] == 1):
            pairs.append((src.target, node.target))
    return pairs


def fold_batchnorm(model: nn.Module, inplace: bool = False) -> tuple[nn.Module, tuple[str, ...]]:
    """``model`` (a copy unless ``inplace``) with every BN of ``conv_bn_pairs`` folded into its conv
    and replaced by an Identity; returns (model, names of the folded BNs). Eval-mode outputs are
    unchanged up to rounding; training a folded model is not what it is for."""
    if not inplace:
        model = copy.deepcopy(model)
    folded = []
    for conv_name, bn_name in conv_bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        with torch.no_grad():
            w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
        conv.weight, conv.bias = w, b
        model = set_submodule(model, bn_name, nn.Identity())
        folded.append(bn_name)
    return model, tuple(folded)
