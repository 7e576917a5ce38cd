"""Slow, obviously-correct reference models for every fast path of structconv.sim.

Nothing here imports the kernels: each function restates the model the direct way
(building SCALE-Sim's demand matrices, running a sum-pool on real numbers while
counting the adds, replaying a tile-residency policy fold by fold) so the tests can
compare the Numba code against it on many random cases.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from structconv.core import Layer, Structure
from structconv.sim import DATAFLOWS, OVERLAPS, SCHEMES, Accelerator, MacArray, Memory, SumPoolUnit

# ----------------------------------------------------------------------------------------
# MAC array: SCALE-Sim 3.0.0's demand matrices, built the way systolic_compute_*.py does
# ----------------------------------------------------------------------------------------


def _skew(m: np.ndarray) -> np.ndarray:
    rows, cols = m.shape
    out = np.full((rows + cols - 1, cols), -1, dtype=m.dtype)
    for c in range(cols):
        out[c:c + rows, c] = m[:, c]
    return out


def _pad_cols(m, width):
    if m.shape[1] < width:
        m = np.concatenate([m, np.full((m.shape[0], width - m.shape[1]), -1)], axis=1)
    return m


def _pad_rows(m, height):
    if m.shape[0] < height:
        m = np.concatenate([m, np.full((height - m.shape[0], m.shape[1]), -1)], axis=0)
    return m


def scalesim_gemm(df: str, M: int, N: int, K: int, R: int, C: int) -> dict:
    """SCALE-Sim's total cycles and SRAM counts of an (M x K) x (K x N) GEMM, by building its
    per-fold ofmap demand matrices (the memory system serves one row per cycle; "Total
    Cycles" is the index of the last row) and counting the non-null requests of all three."""
    ifmap = np.arange(M * K).reshape(M, K)               # ofmap pixel x window
    filt = np.arange(K * N).reshape(K, N) + 10 ** 7
    ofmap = np.arange(M * N).reshape(M, N) + 2 * 10 ** 7
    if df == "os":
        Sr, Sc, T = M, N, K
    elif df == "ws":
        Sr, Sc, T = K, N, M
    else:
        Sr, Sc, T = K, M, N
    rf, cf = math.ceil(Sr / R), math.ceil(Sc / C)
    rows = reads_i = reads_f = writes = 0
    for fc in range(cf):
        for fr in range(rf):
            r0, r1 = fr * R, min(fr * R + R, Sr)
            c0, c1 = fc * C, min(fc * C + C, Sc)
            if df == "os":
                i_dem = ifmap[r0:r1, :].T                              # T x rows
                f_dem = filt[:, c0:c1]
                o = ofmap[r0:r1, c0:c1]
                writes += o.size + R + C                               # SCALE-Sim adds rows+cols
                o = _pad_rows(_pad_cols(o, C), R)[::-1]
                o = np.concatenate([np.full((T - 1, C), -1), o], axis=0)
            elif df == "ws":
                i_dem = ifmap[:, r0:r1]                                # T(=M) x rows of K
                f_dem = filt[r0:r1, c0:c1]
                o = ofmap[:, c0:c1]
                writes += o.size
                o = np.concatenate([np.full((2 * R - 1, C), -1), _pad_cols(o, C)], axis=0)
            else:
                i_dem = ifmap.T[r0:r1, c0:c1]                          # K-rows x pixels
                f_dem = filt[r0:r1, :].T
                o = ofmap[c0:c1, :].T
                writes += o.size
                o = np.concatenate([np.full((2 * R - 1, C), -1), _pad_cols(o, C)], axis=0)
            reads_i += i_dem.size
            reads_f += f_dem.size
            rows += _skew(o).shape[0]
    return {"total_cycles": rows - 1, "ifmap_reads": reads_i, "filter_reads": reads_f, "ofmap_writes": writes,
            "folds": rf * cf}


# ----------------------------------------------------------------------------------------
# Sum-pool unit: run it on numbers, count every add and subtract
# ----------------------------------------------------------------------------------------


class Counter:
    def __init__(self):
        self.n = 0

    def add(self, a, b):
        self.n += 1
        return a + b

    def sub(self, a, b):
        self.n += 1
        return a - b


def _needed(L, n_out, s, d, taps):
    return sorted({s * i + d * j for i in range(n_out) for j in range(taps) if s * i + d * j < L})


def _line_sums(x, k, d, need, running, ctr):
    """Window sums x[y] + x[y+d] + ... (k taps) at the needed y, by running sums or directly."""
    out = {}
    if k == 1:
        return {y: x[y] for y in need}
    if not running:
        for y in need:
            acc = x[y]
            for t in range(1, k):
                acc = ctr.add(acc, x[y + d * t])
            out[y] = acc
        return out
    for r in range(d):
        chain = [y for y in need if y % d == r]
        if not chain:
            continue
        y = chain[0]
        acc = x[y]
        for t in range(1, k):
            acc = ctr.add(acc, x[y + d * t])
        out[y] = acc
        while y < chain[-1]:
            acc = ctr.sub(ctr.add(acc, x[y + d * k]), x[y])      # slide by one position
            y += d
            if y in chain:
                out[y] = acc
    return out


def _running_better(k, d, need):
    """Whether running sums need fewer adds than direct sums on this line."""
    if k <= 1:
        return False
    spans = 0
    for r in range(d):
        chain = [y for y in need if y % d == r]
        if chain:
            spans += (k - 1) + 2 * ((chain[-1] - chain[0]) // d)
    return spans < len(need) * (k - 1)


def _sumpool_setup(x, window, n, stride, dilation, padding, out_hw):
    """Padded input and the sum-pool output rows/cols the small conv reads."""
    kc, a, b = window
    nh, nw = n
    (sh, sw), (dh, dw), (ph, pw), (Ho, Wo) = stride, dilation, padding, out_hw
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw))).astype(np.int64)
    Hp, Wp = xp.shape[1:]
    H1, W1 = Hp - dh * (a - 1), Wp - dw * (b - 1)
    ys, xs = _needed(H1, Ho, sh, dh, nh), _needed(W1, Wo, sw, dw, nw)
    return x.shape[0], kc, a, b, dh, dw, xp, ys, xs, Hp, Wp


def spu_adds(x: np.ndarray, c: int, window, n, stride, dilation, padding, out_hw, scheme: str):
    """Adds (and subtracts) to compute the needed outputs of one group's sum-pool on x (Cg, H, W).

    Also returns the computed sums, verified against numpy inside.
    """
    Cg, kc, a, b, dh, dw, xp, ys, xs, Hp, Wp = _sumpool_setup(x, window, n, stride, dilation, padding, out_hw)
    rows_in = sorted({y + dh * t for y in ys for t in range(a)})
    cols_in = sorted({q + dw * t for q in xs for t in range(b)})
    ctr = Counter()
    result = np.zeros((c, len(ys), len(xs)), np.int64)
    if scheme == "tree":
        for ci in range(c):
            for iy, y in enumerate(ys):
                for ix, q in enumerate(xs):
                    terms = [xp[ci + u, y + dh * v, q + dw * w] for u in range(kc) for v in range(a)
                             for w in range(b)]
                    acc = terms[0]
                    for t in terms[1:]:
                        acc = ctr.add(acc, t)
                    result[ci, iy, ix] = acc
    else:
        sliding = scheme == "sliding"
        chans = list(range(c))
        run_c = sliding and _running_better(kc, 1, chans)
        run_h = sliding and _running_better(a, dh, ys)
        run_w = sliding and _running_better(b, dw, xs)
        s1 = {}                                              # channel pass: (ci, y, x) -> sum
        for y in rows_in:
            for q in cols_in:
                line = _line_sums(list(xp[:, y, q]), kc, 1, chans, run_c, ctr)
                for ci in chans:
                    s1[ci, y, q] = line[ci]
        s2 = {}                                              # row pass
        for ci in chans:
            for q in cols_in:
                col = [s1.get((ci, y, q), 0) for y in range(Hp)]
                line = _line_sums(col, a, dh, ys, run_h, ctr)
                for y in ys:
                    s2[ci, y, q] = line[y]
        for ci in chans:                                     # column pass
            for iy, y in enumerate(ys):
                row = [s2.get((ci, y, q), 0) for q in range(Wp)]
                line = _line_sums(row, b, dw, xs, run_w, ctr)
                for ix, q in enumerate(xs):
                    result[ci, iy, ix] = line[q]
    # the algorithm must compute the true window sums
    for ci in range(c):
        for iy, y in enumerate(ys):
            for ix, q in enumerate(xs):
                want = xp[ci:ci + kc, y:y + dh * (a - 1) + 1:dh, q:q + dw * (b - 1) + 1:dw].sum()
                assert result[ci, iy, ix] == want, (ci, y, q)
    return ctr.n, len(ys), len(xs), len(rows_in), len(cols_in)


# ----------------------------------------------------------------------------------------
# DRAM: replay a tile-residency policy fold by fold
# ----------------------------------------------------------------------------------------


def _shares(total, n):
    return [total * (k + 1) // n - total * k // n for k in range(n)]


def dram_reference(df, M, N, K, R, C, Fi, half_i, half_f, half_o, order=None):
    """DRAM elements and per-fold (load, write) of one GEMM, replaying this policy fold by fold:

    buffers are allocated in full-size tiles; an operand whose whole footprint fits in
    its half-buffer keeps every tile it fetched; otherwise only the tile in use stays
    (when a full tile fits), so a tile is fetched again whenever a fold needs a different
    one. WS/IS partial sums accumulate in the ofmap buffer across row folds while all the
    partial-sum tiles alive at once fit (one tile with col folds outer, all of them with
    row folds outer); otherwise every fold writes them out and the next reads them back.
    ``order`` None picks the fold order (0: col folds outer, 1: row folds outer) with less
    traffic, as the simulator does.
    """
    if order is None:
        t0 = dram_reference(df, M, N, K, R, C, Fi, half_i, half_f, half_o, 0)
        t1 = dram_reference(df, M, N, K, R, C, Fi, half_i, half_f, half_o, 1)
        return t1 if t1["total"] < t0["total"] else t0
    Sr, Sc = {"os": (M, N), "ws": (K, N), "is": (K, M)}[df]
    rf, cf = math.ceil(Sr / R), math.ceil(Sc / C)
    used_r = [min(R, Sr - fr * R) for fr in range(rf)]
    used_c = [min(C, Sc - fc * C) for fc in range(cf)]
    grid = ([(fc, fr) for fc in range(cf) for fr in range(rf)] if order == 0
            else [(fc, fr) for fr in range(rf) for fc in range(cf)])
    i_share = _shares(Fi, rf) if df != "is" else _shares(Fi, rf * cf)

    class Buf:
        def __init__(self, whole, full_tile, half, per_tile=False):
            self.keep_all = whole <= half
            self.keep_one = full_tile <= half
            self.half, self.per_tile = half, per_tile    # per_tile: a tile stays when it fits itself
            self.res = set()
            self.last = None

        def need(self, tid, size):
            if self.keep_all:
                if tid in self.res:
                    return 0
                self.res.add(tid)
                return size
            hit = tid == self.last and (size <= self.half if self.per_tile else self.keep_one)
            self.last = tid
            return 0 if hit else size

    ib = Buf(Fi, max(i_share), half_i)
    fb = Buf(K * N, {"os": K * min(C, N), "ws": min(R, K) * min(C, N), "is": min(R, K) * N}[df], half_f, True)
    if df != "os":
        full = M * min(C, N) if df == "ws" else min(C, M) * N
        alive = full if order == 0 else M * N
        psum_stays = rf == 1 or alive <= half_o
    folds = []
    for seq, (fc, fr) in enumerate(grid):
        ru, cu = used_r[fr], used_c[fc]
        L = W = 0
        if df == "os":
            L += ib.need(("i", fr), i_share[fr]) + fb.need(("f", fc), K * cu)
            W += ru * cu                                    # outputs finish inside the PEs
        else:
            if df == "ws":
                L += fb.need(("f", fr, fc), ru * cu) + ib.need(("i", fr), i_share[fr])
                tile = M * cu
            else:
                L += ib.need(("i", seq), i_share[seq]) + fb.need(("f", fr), ru * N)
                tile = cu * N
            if psum_stays:
                W += tile if fr == rf - 1 else 0
            else:
                W += tile
                L += tile if fr > 0 else 0
        folds.append((L, W))
    total = sum(l + w for l, w in folds)
    return {"total": total, "folds": folds, "order": order}


def _fold_cycles(fold_cycles, n):
    """Per-fold cycles of one GEMM of n folds: an int is every fold's length, the last one
    counting a cycle less (SCALE-Sim reports a GEMM's busy time - 1)."""
    if isinstance(fold_cycles, (int, np.integer)):
        return [int(fold_cycles)] * (n - 1) + [int(fold_cycles) - 1]
    return list(fold_cycles)


def link_timeline(folds, fold_cycles, bytes_per_elem, bw):
    """One DRAM link under a run of double-buffered folds, as a timeline.

    The first fold's loads are a fill (nothing to overlap them), then one window per fold:
    while fold f computes, the link carries fold f+1's loads and fold f-1's write-back,
    and the window lasts the longer of the two. Then the last fold's write-back drains.
    Returns (fill, [window lengths], [link cycles per window], drain).
    """
    def by(e):
        return math.ceil(Fraction(e * bytes_per_elem) / Fraction(bw))

    n = len(folds)
    fill, drain = by(folds[0][0]), by(folds[-1][1])
    wins, work = [], []
    for f in range(n):
        x = by((folds[f + 1][0] if f + 1 < n else 0) + (folds[f - 1][1] if f >= 1 else 0))
        work.append(x)
        wins.append(max(fold_cycles[f], x))
    return fill, wins, work, drain


def stall_reference(folds, fold_cycles, bytes_per_elem, bw):
    """Stall cycles of one GEMM on the link: the timeline's length minus the compute time."""
    cycles = _fold_cycles(fold_cycles, len(folds))
    fill, wins, _, drain = link_timeline(folds, cycles, bytes_per_elem, bw)
    return fill + sum(wins) + drain - sum(cycles)


# ----------------------------------------------------------------------------------------
# Fused pipeline: the sum-pool unit row by row, the MAC array band by band
# ----------------------------------------------------------------------------------------


def sumpool_row_adds(x, c, window, n, stride, dilation, padding, out_hw, scheme):
    """Cumulative adds after each needed sum-pool output row, computing rows in order
    (channel sums of an input row when first needed, running row sums carried per line)."""
    Cg, kc, a, b, dh, dw, xp, ys, xs, Hp, Wp = _sumpool_setup(x, window, n, stride, dilation, padding, out_hw)
    cols_in = sorted({q + dw * t for q in xs for t in range(b)})
    ctr, cum = Counter(), []
    chans = list(range(c))
    sliding = scheme == "sliding"
    run_c = sliding and _running_better(kc, 1, chans)
    run_h = sliding and _running_better(a, dh, ys)
    run_w = sliding and _running_better(b, dw, xs)
    s1, state = {}, {}
    for y in ys:
        if scheme == "tree":
            for ci in chans:
                for q in xs:
                    terms = [xp[ci + u, y + dh * v, q + dw * w] for u in range(kc) for v in range(a)
                             for w in range(b)]
                    acc = terms[0]
                    for t in terms[1:]:
                        acc = ctr.add(acc, t)
            cum.append(ctr.n)
            continue
        for t in range(a):                                   # channel pass, new input rows only
            yi = y + dh * t
            if (0, yi, cols_in[0]) not in s1:
                for q in cols_in:
                    line = _line_sums(list(xp[:, yi, q]), kc, 1, chans, run_c, ctr)
                    for ci in chans:
                        s1[ci, yi, q] = line[ci]
        s2 = {}
        for ci in chans:                                     # row pass for row y
            for q in cols_in:
                def col(yy, ci=ci, q=q):
                    return s1[ci, yy, q]

                key = (ci, q, y % dh)
                if a == 1:
                    s2[q] = col(y)
                elif run_h and key in state:
                    py, acc = state[key]
                    while py < y:                            # slide down one dilation step
                        acc = ctr.sub(ctr.add(acc, col(py + dh * a)), col(py))
                        py += dh
                    state[key] = (y, acc)
                    s2[q] = acc
                else:
                    acc = col(y)
                    for t in range(1, a):
                        acc = ctr.add(acc, col(y + dh * t))
                    if run_h:
                        state[key] = (y, acc)
                    s2[q] = acc
            row = [s2.get(q, 0) for q in range(Wp)]
            _line_sums(row, b, dw, xs, run_w, ctr)           # column pass for row y
        cum.append(ctr.n)
    return cum, ys


def _spu_replay(layer, s, hw):
    """(cumulative adds per needed row, needed rows, needed columns, adder pipeline depth)."""
    scheme = hw.sum_pool.scheme
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, size=(layer.group_in_channels, *layer.input_size))
    kc, a, b = s.window(layer)
    cum, ys = sumpool_row_adds(x, s.c, (kc, a, b), s.n, layer.stride, layer.dilation, layer.padding,
                               layer.output_size, scheme)
    W1 = layer.input_size[1] + 2 * layer.padding[1] - layer.dilation[1] * (b - 1)
    xs = _needed(W1, layer.output_size[1], layer.stride[1], layer.dilation[1], s.n[1])

    def lg(v):
        return max(0, math.ceil(math.log2(v))) if v > 1 else 0

    depth = {"tree": lg(kc * a * b), "separable": lg(kc) + lg(a) + lg(b),
             "sliding": (kc > 1) + (a > 1) + (b > 1)}[scheme]
    return cum, ys, xs, depth


def _fold_grid(df, M, N, Kw, R, C, order):
    Sr, Sc = {"os": (M, N), "ws": (Kw, N), "is": (Kw, M)}[df]
    rf, cf = math.ceil(Sr / R), math.ceil(Sc / C)
    if order == 0:
        return [(fc, fr) for fc in range(cf) for fr in range(rf)]
    return [(fc, fr) for fr in range(rf) for fc in range(cf)]


def _fold_rows(layer, s, hw, ys, M, Kw, grid):
    """Per fold (fc, fr), the index of the last needed sum-pool row its demand reads: the
    output row of its last pixel, the kernel row of its last window element
    (j = (kernel row * nw + kernel col) * c + channel)."""
    R, C, df = hw.mac_array.rows, hw.mac_array.cols, hw.mac_array.dataflow
    Wo = layer.output_size[1]
    out = []
    for fc, fr in grid:
        p1 = {"os": min(M, (fr + 1) * R), "ws": M, "is": min(M, (fc + 1) * C)}[df]
        j1 = Kw if df == "os" else min(Kw, (fr + 1) * R)
        v = layer.stride[0] * ((p1 - 1) // Wo) + layer.dilation[0] * (((j1 - 1) // s.c) // s.n[1])
        out.append(sum(1 for y in ys if y <= v) - 1)
    return out


def _fused_order(layer, s, hw, M, N, Kw):
    mem, bpe = hw.memory, hw.bytes_per_element
    hi, hf, ho = (mem.ifmap_sram_bytes // (2 * bpe), mem.filter_sram_bytes // (2 * bpe),
                  mem.ofmap_sram_bytes // (2 * bpe))
    df = hw.mac_array.dataflow
    return dram_reference(df, M, N, Kw, hw.mac_array.rows, hw.mac_array.cols, 0, hi, hf, ho,
                          1 if df == "os" else None)["order"]


def fused_replay(layer, s, hw):
    """Compute cycles of a fused structured layer, replayed event by event: every fold starts
    when the fold before has ended and the sum-pool unit has finished the last row it reads."""
    R, C, df = hw.mac_array.rows, hw.mac_array.cols, hw.mac_array.dataflow
    lanes = hw.sum_pool.adder_lanes
    cum, ys, _, depth = _spu_replay(layer, s, hw)
    ops_g = cum[-1]
    Ho, Wo = layer.output_size
    M, N, Kw = Ho * Wo, layer.out_channels // layer.groups, s.c * s.nh * s.nw
    T = {"os": Kw, "ws": M, "is": N}[df]
    flen = T + R + C - 2 if df == "os" else 2 * R + C + T - 2
    grid = _fold_grid(df, M, N, Kw, R, C, _fused_order(layer, s, hw, M, N, Kw))
    rows = _fold_rows(layer, s, hw, ys, M, Kw, grid)
    end = 0
    for g in range(layer.groups):
        for k in rows:
            ready = depth + math.ceil((g * ops_g + cum[k]) / lanes)
            end = max(end, ready) + flen
    return end - layer.groups


def link_replay(layer, choice, hw, fused):
    """Cycle mode's cycles_total of a layer, restated with ONE DRAM link per layer.

    ``choice`` is None (dense) or a Structure; ``fused`` says whether the simulator ran the
    structured layer fused (its line-buffer rule is not restated here).
    - The MAC array's folds run on the link as link_timeline says; every GEMM's last fold
      counts a cycle less, so the compute part is SCALE-Sim's busy - 1 per GEMM.
    - Sequential: the sum-pool phase first (its input, and a spilled intermediate map's
      write, on the link: it lasts the longer of its adds and those bytes), then the MAC
      phase (which reads a spilled map back as its ifmap).
    - Fused: after the fill, folds (each as long as its link window) start once the last
      sum-pool row they read is available; the sum-pool sums a row once its input
      rows have streamed in (from cycle 0 at the link's rate), at its lanes. A spilled map
      (sequential) is read back by need sets: trace_reference.simulate_structured_sequential.
      The layer cannot end before
      that pipeline has drained, nor before the link has carried the MAC array's transfers
      (the fill, all windows' work and the drain, one after the other, whole cycles each), nor
      before it has carried every byte of the layer at its rate: the sum-pool input rides in
      what the transfers' last cycles leave, so its cycles do not add to theirs.
    """
    R, C, df = hw.mac_array.rows, hw.mac_array.cols, hw.mac_array.dataflow
    lanes, bpe = hw.sum_pool.adder_lanes, hw.bytes_per_element
    bw = Fraction(hw.memory.dram_bytes_per_cycle)
    mem = hw.memory
    hi, hf, ho = (mem.ifmap_sram_bytes // (2 * bpe), mem.filter_sram_bytes // (2 * bpe),
                  mem.ofmap_sram_bytes // (2 * bpe))
    G, (H, W), Cg = layer.groups, layer.input_size, layer.group_in_channels
    Ho, Wo = layer.output_size
    M, N = Ho * Wo, layer.out_channels // G
    structured = choice is not None and not choice.is_identity(layer)
    if not structured:
        Kw, Fi, spu_bytes = Cg * layer.kernel[0] * layer.kernel[1], Cg * H * W, 0
    else:
        cum, ys, xs, depth = _spu_replay(layer, choice, hw)
        Kw, ops = choice.c * choice.nh * choice.nw, G * cum[-1]
        inter = choice.c * len(ys) * len(xs)
        spu_bytes = G * Cg * H * W * bpe
        Fi = 0 if fused else (inter if inter > hi else 0)
        if not fused and Fi:
            spu_bytes += G * inter * bpe                         # the spill's write
    ref = dram_reference(df, M, N, Kw, R, C, Fi, hi, hf, ho,
                         1 if (structured and fused and df == "os") else None)
    T = {"os": Kw, "ws": M, "is": N}[df]
    flen = T + R + C - 2 if df == "os" else 2 * R + C + T - 2
    per = ref["folds"]
    fill, wins, work, drain = link_timeline(per * G, _fold_cycles(flen, len(per)) * G, bpe, bw)
    if not structured:
        return fill + sum(wins) + drain
    if not fused:
        spu_cycles = -(-ops // lanes) + depth if ops else 0
        if Fi:      # a spilled map is read back by its folds' need sets: the trace reference's phase 2
            from tests.support import trace_reference
            return trace_reference.simulate_structured_sequential(layer, choice, hw,
                                                                  spu_cycles)["cycles_total"]
        return max(spu_cycles, math.ceil(spu_bytes / bw)) + fill + sum(wins) + drain
    rows = _fold_rows(layer, choice, hw, ys, M, Kw, _fold_grid(df, M, N, Kw, R, C, ref["order"]))
    ready = _stream_ready(layer, choice, cum, ys, depth, lanes, bpe, bw, 0)
    t = 0
    for g in range(G):
        for i, k in enumerate(rows):
            t = max(t, ready[g * len(ys) + k] - fill) + wins[g * len(rows) + i]
    all_bytes = G * ref["total"] * bpe + spu_bytes
    return max(fill + t + drain, fill + sum(work) + drain, math.ceil(all_bytes / bw))


def _stream_ready(layer, s, cum, ys, depth, lanes, bpe, bw, start):
    """Per needed sum-pool row (groups in turn): the cycle it is available when the unit waits
    for its input, streamed from cycle ``start`` (after the fill on the one link) in row order,
    all channels of a row; a row is summed once the input rows its windows read have arrived
    (in the cycle the last byte does), rows in order at ``lanes`` adds a cycle."""
    (H, W), ph, Cg = layer.input_size, layer.padding[0], layer.group_in_channels
    a, dh = s.window(layer)[1], layer.dilation[0]
    done, out = Fraction(0), []
    for g in range(layer.groups):
        prev = 0
        for k, y in enumerate(ys):
            rows_in = g * H + max(0, min(H, y + dh * (a - 1) - ph + 1))
            arrive = start + max(0, math.ceil(rows_in * Cg * W * bpe / bw) - 1)
            done = max(done, Fraction(arrive)) + Fraction(cum[k] - prev, lanes)
            prev = cum[k]
            out.append(depth + math.ceil(done))
    return out


# ----------------------------------------------------------------------------------------
# Hypothesis strategies shared by the sim tests: small layers, choices and accelerators
# ----------------------------------------------------------------------------------------
@st.composite
def layers(draw, max_channels=24, max_size=14):
    g = draw(st.sampled_from([1, 1, 1, 2, 4]))
    cin = g * draw(st.integers(1, max_channels // g))
    cout = g * draw(st.integers(1, max_channels // g))
    if draw(st.booleans()) and g == 1 and draw(st.booleans()):
        return Layer.linear("fc", cin, cout, bias=False)
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (3, 1), (2, 3)]))
    s = draw(st.sampled_from([1, 1, 2, 3]))
    d = draw(st.sampled_from([1, 1, 2])) if kh > 1 else 1
    p = draw(st.integers(0, kh // 2))
    h = draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), max_size))
    w = draw(st.integers(max(1, d * (kw - 1) + 1 - 2 * p), max_size))
    return Layer.conv2d("l", cin, cout, (kh, kw), (h, w), stride=s, padding=p, dilation=d, groups=g)


@st.composite
def structures(draw, layer):
    c = draw(st.integers(1, layer.group_in_channels))
    nh = draw(st.integers(1, layer.kernel[0]))
    nw = draw(st.integers(1, layer.kernel[1]))
    return Structure(c, (nh, nw))


@st.composite
def accelerators(draw):
    return Accelerator(
        "rand",
        MacArray(draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.sampled_from(DATAFLOWS))),
        sum_pool=SumPoolUnit(draw(st.integers(1, 9)), draw(st.sampled_from(SCHEMES)),
                             draw(st.sampled_from([0, 256, 4096, 1 << 20]))),
        memory=Memory(draw(st.sampled_from([64, 512, 4096, 65536])),
                      draw(st.sampled_from([64, 512, 4096, 65536])),
                      draw(st.sampled_from([64, 512, 4096, 65536])), draw(st.sampled_from([0.5, 2.0, 16.0]))),
        dtype=draw(st.sampled_from(["int8", "int16", "fp32"])),
        overlap=draw(st.sampled_from(OVERLAPS)), leakage_mw=1.0)


# the same small dense cases drawn by a hypothesis strategy or a seeded random.Random
SIZES = (16, 64, 512, 4096)
BWS = (0.5, 2.0, 16.0)


def make_case(pick, pint):
    """A small dense layer and accelerator; ``pick(options)`` and ``pint(lo, hi)`` choose."""
    g = pick((1, 1, 1, 2))
    if g == 1 and pick((0, 0, 0, 0, 1)):
        layer = Layer.linear("fc", pint(1, 24), pint(1, 12), bias=False)
    else:
        kh = pick((1, 2, 3, 5))
        kw = pick((1, 3, kh))
        s, d = pick((1, 1, 2, 3)), pick((1, 1, 2)) if max(kh, kw) > 1 else 1
        p = pint(0, min(kh, kw) // 2)
        h = pint(max(1, d * (kh - 1) + 1 - 2 * p), 9)
        w = pint(max(1, d * (kw - 1) + 1 - 2 * p), 9)
        layer = Layer.conv2d("l", g * pint(1, 5), g * pint(1, 7), (kh, kw), (h, w), stride=s, padding=p,
                             dilation=d, groups=g)
    links = pick(("shared", "per_operand"))
    mem = dict(links=links, dram_bytes_per_cycle=pick(BWS))
    if links == "per_operand":
        mem.update({f"{op}_dram_bytes_per_cycle": pick(BWS) for op in ("ifmap", "filter", "ofmap")})
    hw = Accelerator("r", MacArray(pint(1, 8), pint(1, 8), pick(("os", "ws", "is"))),
                     memory=Memory(pick(SIZES), pick(SIZES), pick(SIZES), **mem),
                     dtype=pick(("int8", "int16")), leakage_mw=1.0)
    return layer, hw
