"""SCALE-Sim 3.0.0 USER-bandwidth mode, reproduced for compatibility (not this project's model).

    simulate_scalesim_user(layer_or_network, hw, double_count=True) -> ScaleSimUserResult | tuple

A port of SCALE-Sim's own read/write-buffer code (``_scalesim_user.py`` says which lines), so
that a USER-mode SCALE-Sim run can be reproduced without SCALE-Sim: on the 228 runs pinned by
``benchmarks/scalesim_user_mode.py`` (tests/data/scalesim_user_mode*.csv: 5 layers x os/ws/is x 1/4/10
words/cycle x 2/8 kB, other array shapes, odd bandwidths and SRAM sizes, unequal per-operand settings,
GEMM topology rows)
every number it reports equals SCALE-Sim's, with and without the double count. It keeps SCALE-Sim's
quirks (documented there and in the README), because matching them is the point: its read buffers
fetch in a fixed order that ignores the schedule, a miss moves the window a whole half at a time and
sweeps it round the whole operand (DRAM reads far above the operand size; a larger SRAM can be
slower); ``double_count=False`` removes the one plain slip
(a positive prefetch stall added twice, read_buffer.py:361-364). For a memory model with a stated,
checked policy use ``simulate`` (``memory.links``) instead.

Inputs are taken as SCALE-Sim takes them: the layer's input *with its padding* is SCALE-Sim's
already-padded ifmap (padding words are fetched like data), its output size is SCALE-Sim's
ceil((H - Fh + stride) / stride), one word is one byte, SRAM sizes are ``hw.memory``'s bytes, and
the ifmap/filter/ofmap DRAM rates are the link bandwidths (``read_scalesim_config`` of a USER cfg:
IfmapSRAMBankBandwidth, FilterSRAMBankBandwidth, Bandwidth) in words per cycle, whole numbers
(a 'shared' link is taken as three links of its bandwidth: SCALE-Sim has no shared link).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from structconv.core import Layer, Network

from .accelerator import Accelerator, Memory
from .engine import simulate

MAX_DEMAND_WORDS = 1 << 27          # SCALE-Sim's own demand matrices would not fit either


@dataclass(frozen=True)
class ScaleSimUserResult:
    """One layer as SCALE-Sim's USER mode reports it (words = bytes; cycles as SCALE-Sim counts)."""

    name: str
    cycles_total: int               # SCALE-Sim's "Total Cycles"
    cycles_stall: int               # its "Stall Cycles"
    cycles_compute: int             # total - stall (its schedule with no memory delays)
    cycles_total_incl_prefetch: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int
    ifmap_new_prefetches: int       # read-buffer window moves (each one a half-buffer DRAM fetch)
    filter_new_prefetches: int
    dram_cycles: dict               # {operand: (start, stop)} as in its DETAILED_ACCESS_REPORT


def _port():
    """The USER-mode port's Numba kernels, imported when a USER-mode simulation first runs."""
    from . import _scalesim_user
    return _scalesim_user


def _geometry(layer: Layer) -> tuple[int, ...]:
    """SCALE-Sim's topology row (H, W, Fh, Fw, C, K, stride) of a dense layer."""
    if layer.groups != 1 or layer.dilation != (1, 1) or layer.stride[0] != layer.stride[1] \
            or layer.op == "conv_transpose2d":
        raise ValueError(f"layer {layer.name!r}: SCALE-Sim's USER mode takes a dense conv with one "
                         f"stride, no dilation and one group (got groups={layer.groups}, "
                         f"stride={layer.stride}, dilation={layer.dilation}, op={layer.op})")
    (H, W), (ph, pw) = layer.input_size, layer.padding
    return (H + 2 * ph, W + 2 * pw, *layer.kernel, layer.in_channels, layer.out_channels, layer.stride[0])


def _words_per_cycle(hw: Accelerator) -> tuple[int, int, int]:
    if hw.memory.links == "unlimited":
        raise ValueError("memory.links = 'unlimited' is SCALE-Sim's CALC mode; its USER mode needs "
                         "DRAM bandwidths (a USER cfg, or links 'per_operand' / 'shared')")
    # SCALE-Sim has no shared link: a 'shared' one is taken as three links of its bandwidth
    bws = hw.memory.link_bytes_per_cycle()
    if any(b != int(b) or b < 1 for b in bws):
        raise ValueError(f"SCALE-Sim's USER mode needs whole words per cycle; links are {bws}")
    return tuple(int(b) for b in bws)


def _read_buffer(order, dem, sram_bytes, bw):
    """(compact demand, ptr, ids, geo, first-fill DRAM lines) of one read buffer."""
    half = math.ceil(sram_bytes * 0.5)                               # active_buf_frac 0.5
    per_line = math.ceil(sram_bytes / 100)
    cdem, ptr, ids, n = _port().hash_lines(order, dem, sram_bytes)
    n_act = min(n, math.ceil(half / per_line))
    n_pf = min(n - n_act, math.ceil((sram_bytes - half) / per_line))
    geo = np.array([n, n_act, n_pf, math.ceil((sram_bytes - half) / bw), bw], np.int64)
    init = min(math.ceil(half / bw), math.ceil(order.size / bw))
    return cdem, ptr, ids, geo, init


def _check_size(layer: Layer, geometry, arr) -> None:
    """Refuse a layer whose demand matrices (cycles x 2 (rows + cols) ports) or im2col ifmap would
    not fit, before building them."""
    H, W, fh, fw, c, kk, s = geometry
    P, Wn = -(-(H - fh + s) // s) * -(-(W - fw + s) // s), fh * fw * c
    words = _port().demand_cycles(arr.dataflow, P, Wn, kk, arr.rows, arr.cols) * 2 * (arr.rows + arr.cols)
    if max(words, P * Wn) > MAX_DEMAND_WORDS:
        raise ValueError(f"layer {layer.name!r}: {max(words, P * Wn)} words of demand / operand matrix is "
                         f"beyond what the USER-mode replay handles ({MAX_DEMAND_WORDS}); SCALE-Sim "
                         f"builds the same matrices")


def _layer(layer: Layer, hw: Accelerator, double_count: bool) -> ScaleSimUserResult:
    arr, mem = hw.mac_array, hw.memory
    bw_i, bw_f, bw_o = _words_per_cycle(hw)
    geometry = _geometry(layer)
    _check_size(layer, geometry, arr)
    I, F, O = _port().operands(*geometry)
    di, df_, do = _port().demand(arr.dataflow, I, F, O, arr.rows, arr.cols)
    oi, of = _port().prefetch_order(arr.dataflow, I, F, arr.rows, arr.cols)
    ci, ip, iid, igeo, i0 = _read_buffer(oi, di, mem.ifmap_sram_bytes, bw_i)
    cf, fp, fid, fgeo, f0 = _read_buffer(of, df_, mem.filter_sram_bytes, bw_f)
    ofm = np.array([mem.ofmap_sram_bytes, math.ceil(mem.ofmap_sram_bytes * 0.5), bw_o], np.int64)
    out = dict(zip(_port().FIELDS, (int(v) for v in _port().replay(
        ci, cf, (do != -1).sum(axis=1).astype(np.int64), (ip, iid, igeo), (fp, fid, fgeo),
        np.array([i0, f0], np.int64), ofm, bool(double_count)))))
    return _result(layer, hw, out)


def _sram_counts(layer: Layer, hw: Accelerator) -> tuple[int, int, int]:
    """SCALE-Sim's SRAM counts: the project's model reproduces them (tests/test_sim_scalesim.py)
    for SCALE-Sim's topology row, i.e. the padded input taken as data."""
    H, W, fh, fw, c, kk, s = _geometry(layer)
    row = Layer.conv2d(layer.name, c, kk, (fh, fw), (H, W), stride=s)
    calc = replace(hw, memory=Memory(hw.memory.ifmap_sram_bytes, hw.memory.filter_sram_bytes,
                                     hw.memory.ofmap_sram_bytes, 1.0, links="unlimited"))
    r = simulate(Network(layer.name, (c, H, W), (row,)), hw=calc, scalesim_ofmap=True)[0]
    return r.sram_ifmap_reads, r.sram_filter_reads, r.sram_ofmap_writes


def _result(layer: Layer, hw: Accelerator, out: dict) -> ScaleSimUserResult:
    span = {op: (out.pop(f"dram_{op}_start_cycle"), out.pop(f"dram_{op}_stop_cycle"))
            for op in ("ifmap", "filter", "ofmap")}
    overall = span["ofmap"][1] - min(span["ifmap"][0], span["filter"][0])
    sram = _sram_counts(layer, hw)
    return ScaleSimUserResult(name=layer.name, cycles_compute=out["cycles_total"] - out["cycles_stall"],
                              cycles_total_incl_prefetch=overall, sram_ifmap_reads=sram[0],
                              sram_filter_reads=sram[1], sram_ofmap_writes=sram[2],
                              dram_cycles=span, **out)


def simulate_scalesim_user(model, hw: Accelerator, double_count: bool = True):
    """SCALE-Sim 3.0.0's USER-mode numbers for a Layer (one result) or a Network (a tuple, one per
    layer, each run on empty buffers as SCALE-Sim runs them). ``double_count=True`` is SCALE-Sim as
    shipped; False adds a positive prefetch stall once (its layout branch's rule)."""
    if not isinstance(hw, Accelerator):
        raise TypeError(f"hw must be an Accelerator (e.g. read_scalesim_config(path)), "
                        f"got {type(hw).__name__}")
    if isinstance(model, Network):
        return tuple(_layer(layer, hw, double_count) for layer in model.layers)
    if isinstance(model, Layer):
        return _layer(model, hw, double_count)
    raise TypeError(f"model must be a Layer or a Network, got {type(model).__name__}")
