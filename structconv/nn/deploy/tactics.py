"""Per layer, the deployed form that runs fastest on a backend: a tactic selection, by measurement.

A decomposed layer (sum-pool + small conv) has interchangeable forms with identical outputs: the
decomposed one with each sum-pool method, and the projected dense weight (A alpha, one Conv2d).
Fewer multiplications do not make a layer faster where it is memory-bound or where the sum-pool
costs more than it saves, so each form is timed on the layer's own input shape, on the backend,
thread count, batch and memory layout the network will run with, and the fastest kept: the
deployed network is then never slower than dense layer by layer. Timings are interleaved rounds
(a load spike hits every form alike; CPU time with one thread), compared by their medians, and
cached in this process per
(layer shape, target), so identical layers are measured once.

Backends: ``torch`` (eager, CPU) times every form; ``onnxruntime`` (CPU) times the decomposed
form as exported (every method exports to the same ops, sumpool.py) against the dense one, each
layer exported alone.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..layers import DecomposedConv2d, compose
from ..layers.sumpool import METHODS

BACKENDS = ("torch", "onnxruntime")
DENSE = "dense"
_TIMINGS: dict = {}           # (layer signature, target key) -> {form: median seconds}


@dataclass(frozen=True)
class DeployTarget:
    """Where the deployed network runs: backend, batch, memory layout (channels-last or NCHW),
    intra-op threads; how many interleaved rounds time each layer; whether BatchNorm is folded; by
    what fraction a decomposed form must beat dense (timing noise and what a layer-alone timing
    misses, such as the next layer's cache misses, favour the form with fewer ops to run)."""

    backend: str = "torch"
    batch: int = 1
    channels_last: bool = False
    threads: int = 1
    rounds: int = 7
    fold_bn: bool = True
    margin: float = 0.05          # a decomposed form must beat dense by this fraction to be kept

    def describe(self) -> str:
        layout = "channels-last" if self.channels_last else "NCHW"
        return f"{self.backend} CPU, batch {self.batch}, {layout}, {self.threads} thread(s)"

    def key(self) -> tuple:
        return (self.backend, self.batch, self.channels_last, self.threads, torch.__version__)


def dense_form(dec: DecomposedConv2d) -> nn.Conv2d | None:
    """The projected dense Conv2d computing what ``dec`` computes (None for asymmetric padding)."""
    sp, small = dec.sumpool, dec.conv
    left, right, top, bottom = sp.padding
    if left != right or top != bottom:
        return None
    _, a, b = sp.window
    nh, nw = small.kernel_size
    cg = sp.in_channels // sp.groups
    conv = nn.Conv2d(sp.in_channels, small.out_channels, (nh + a - 1, nw + b - 1), stride=small.stride,
                     padding=(top, left), dilation=small.dilation, groups=sp.groups,
                     bias=small.bias is not None, padding_mode=sp.padding_mode,
                     device=small.weight.device, dtype=small.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(compose(small.weight.detach(), cg, nh + a - 1, nw + b - 1))
        if small.bias is not None:
            conv.bias.copy_(small.bias.detach())
    return conv.train(dec.training)


def candidates(dec: DecomposedConv2d, backend: str) -> dict[str, nn.Module]:
    """The forms of ``dec`` worth timing on ``backend``: name -> module (all with ``dec``'s outputs)."""
    methods = [m for m in METHODS if m != "auto"] if backend == "torch" else [dec.sumpool.method]
    forms = {}
    for m in methods:
        form = DecomposedConv2d(_with_method(dec.sumpool, m), dec.conv)
        forms[f"decomposed:{m}"] = form.train(dec.training)
    dense = dense_form(dec)
    if dense is not None:
        forms[DENSE] = dense
    return forms


def _with_method(sp, method: str):
    import copy
    new = copy.copy(sp)
    new.method = method
    return new


def _signature(dec: DecomposedConv2d, shape: tuple) -> tuple:
    sp, small = dec.sumpool, dec.conv
    return (shape, sp.in_channels, sp.window, sp.groups, sp.padding, sp.dilation, sp.padding_mode,
            small.out_channels, small.kernel_size, small.stride, small.bias is not None)


def _interleaved_medians(fns: dict, rounds: int, clock=time.perf_counter) -> dict[str, float]:
    for f in fns.values():                                   # warm-up: allocations, lazy init
        f()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = clock()
            f()
            times[k].append(clock() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _torch_runner(module: nn.Module, x: torch.Tensor):
    def run():
        with torch.inference_mode():
            module(x)
    return run


def _runners(forms: dict, x: torch.Tensor, target: DeployTarget) -> dict:
    if target.backend == "torch":
        mf = torch.channels_last if target.channels_last else torch.contiguous_format
        return {k: _torch_runner(m.eval().to(memory_format=mf), x) for k, m in forms.items()}
    from .ort_timing import ort_runner
    return {k: ort_runner(m.eval(), x, target.threads) for k, m in forms.items()}


def time_forms(dec: DecomposedConv2d, input_shape: tuple, target: DeployTarget) -> dict[str, float]:
    """Median seconds of each form of ``dec`` on a random input of ``input_shape`` (C, H, W) at the
    target's batch; cached per (layer shape, target)."""
    key = (_signature(dec, tuple(input_shape)), target.key())
    if key not in _TIMINGS:
        mf = torch.channels_last if target.channels_last else torch.contiguous_format
        x = torch.randn((target.batch,) + tuple(input_shape), dtype=dec.conv.weight.dtype)
        x = x.contiguous(memory_format=mf)
        threads = torch.get_num_threads()
        torch.set_num_threads(target.threads)
        try:
            # one thread: this process's CPU time, which time spent descheduled on a shared machine
            # does not inflate; more threads: wall time
            clock = time.process_time if target.threads == 1 else time.perf_counter
            _TIMINGS[key] = _interleaved_medians(_runners(candidates(dec, target.backend), x, target),
                                                 target.rounds, clock)
        finally:
            torch.set_num_threads(threads)
    return _TIMINGS[key]


def pick(times: dict[str, float], margin: float = 0.0, default: str | None = None) -> tuple[str, str]:
    """(the form to deploy, a note saying why, in milliseconds). Another form replaces ``default``
    (the sum-pool method 'auto' picks; else the fastest decomposed form), and a decomposed form
    replaces dense, only when faster by ``margin``: ties go to the rule, then to fewer ops."""
    decomposed = [k for k in times if k != DENSE]
    best = min(decomposed, key=times.get)
    if default in times and times[best] > (1.0 - margin) * times[default]:
        best = default
    if DENSE in times and times[best] > (1.0 - margin) * times[DENSE]:
        best = DENSE
    shown = ", ".join(f"{k.removeprefix('decomposed:')} {1e3 * v:.3g}" for k, v in sorted(times.items()))
    rule = f", a form kept over the default only if {margin:.0%} faster" if margin else ""
    return best, f"fastest of ({shown}) ms{rule}"
