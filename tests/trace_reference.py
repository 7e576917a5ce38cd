"""A slow, trace-level reference for the MAC array's memory behaviour (issue 14, deliverable 1).

Written to be read, not to be fast: explicit loops over folds, cycles and PEs, Python sets of
addresses. Nothing here uses structconv.sim's closed forms or kernels.

1. Operands. A dense conv / GEMM is three address matrices, SCALE-Sim's layout
   (operand_matrix.py): ifmap ``I`` (P pixels x Wn window elements, window element
   j = (kernel row * Fw + kernel col) * C + channel, address (y * W + x) * C + channel),
   filter ``F`` (Wn x K, address k * Wn + j), ofmap ``O`` (P x K, address p * K + k).
   -1 means "no element": SCALE-Sim's hanging windows (ceil output size), and, for a
   structconv layer, zero padding (a constant, never fetched from DRAM).

2. Demand (``demand``). SCALE-Sim 3.0.0's fold schedule: folds (fc, fr) of the array
   (AR rows x AC cols) over (Sr, Sc, T) = os (P, K, Wn), ws (Wn, K, P), is (Wn, P, K).
   Fold order 0 is SCALE-Sim's (col folds outer); order 1 runs row folds outer. For every
   cycle of a fold, every array row/column port gets one address or -1:
     os: ifmap row i reads I[fr*AR+i, t-i]; filter col j reads F[t-j, fc*AC+j]; PE (i, j)
         writes O[fr*AR+i, fc*AC+j] at t = T-1 + (AR-1-i) + j. Fold = T+AR+AC-2 cycles.
     ws: filter row AR-1-t is loaded at t < AR; ifmap row i reads I[t-AR-i, fr*AR+i];
         col j writes O[t-(2AR-1)-j, fc*AC+j]. Fold = 2AR+AC+T-2 cycles.
     is: ifmap row AR-1-t of the stationary tile (AC wide: pixels) at t < AR; filter row i
         reads F[fr*AR+i, t-AR-i]; col j writes O[fc*AC+j, t-(2AR-1)-j]. Same length.
   tests/test_sim_trace.py checks this demand, cycle by cycle and port by port, against
   SCALE-Sim's own IFMAP/FILTER/OFMAP_SRAM_TRACE.csv (digests pinned in
   tests/data/scalesim_traces/, made by benchmarks/scalesim_traces.py). SCALE-Sim's
   addresses carry its offsets (ifmap 0, filter 10,000,000, ofmap 20,000,000); the
   reference uses the same offsets so the comparison needs no remapping.

3. Memory (``run_memory``): the stated policy.
   SRAMs: each operand's SRAM is double-buffered; a half holds
   ``half = sram_bytes // (2 * bytes_per_element)`` elements. A fold's *need set* is the set
   of valid addresses its demand touches.
   - ifmap / filter. If the operand's whole footprint (distinct addresses of the GEMM)
     fits in a half, nothing is ever evicted: a fold loads its need set minus what was
     loaded before. Otherwise the buffer keeps exactly the previous fold's need set (when
     that fits in a half): a fold loads its need set minus the previous fold's.
   - ofmap. os: every output is final when its fold ends and is written back once.
     ws / is: an output is accumulated by every row fold. Partial sums stay in the ofmap
     SRAM when the largest set of outputs alive at once (written by a finished fold and to
     be accumulated by a later one) fits in a half; otherwise every fold writes its outputs
     back and a later fold that accumulates into one reads it back first (a load).
     A final output is written back once, after its last fold.
   - fold order: both orders are replayed and the one with fewer DRAM elements is kept
     (ties: SCALE-Sim's order 0), the rule structconv states.
   Prefetch (double buffering) and DRAM links:
   - the first fold's loads are a fill (nothing to overlap them);
   - while fold f computes, the link(s) carry fold f+1's loads and fold f-1's
     write-backs (its ofmap half is free once they are out); fold f+1 starts when fold f
     has ended and that traffic is done: the window of fold f lasts max(fold cycles, link
     cycles);
   - after the last fold the last write-backs drain;
   - a link of b bytes/cycle moves x bytes in ceil(x / b) cycles; ``shared``: one link
     carries all three operands' bytes of a window; ``per_operand``: three links work in
     parallel, the window's link time is the slowest one's.
   - cycles_compute is SCALE-Sim's Total Cycles: all demand rows, minus 1 per GEMM (the
     last fold counts one cycle less); the timeline uses the same fold lengths, so
     stall = fill + sum(windows) + drain - cycles_compute.
   Grouped layers run their groups as separate GEMMs one after the other (disjoint
   addresses, buffers start empty for each group), on one timeline.
"""
from __future__ import annotations

import math
from fractions import Fraction

IFMAP_OFFSET, FILTER_OFFSET, OFMAP_OFFSET = 0, 10_000_000, 20_000_000
OPS = ("ifmap", "filter", "ofmap")


# -- 1. operand address matrices ----------------------------------------------------------
def scalesim_operands(H, W, Fh, Fw, C, K, s):
    """SCALE-Sim's (I, F, O) for a topology row (ifmap already padded, ceil output size)."""
    Eh = math.ceil((H - Fh + s) / s)
    Ew = math.ceil((W - Fw + s) / s)
    return _conv_operands(H, W, Fh, Fw, C, K, (s, s), (0, 0), (1, 1), Eh, Ew, scalesim=True)


def layer_operands(layer, group=0):
    """(I, F, O) of one group of a structconv Layer (padding as -1, floor output size);
    addresses of group g are shifted so that groups never share an address."""
    (H, W), (ph, pw) = layer.input_size, layer.padding
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.stride, layer.dilation
    cg, kg = layer.group_in_channels, layer.out_channels // layer.groups
    Eh, Ew = layer.output_size
    I, F, O = _conv_operands(H, W, kh, kw, cg, kg, (sh, sw), (ph, pw), (dh, dw), Eh, Ew, scalesim=False)
    if group:
        shift = group * 1_000_000 // 4   # 250,000 apart: the test layers are far smaller
        I = [[a + shift if a >= 0 else a for a in row] for row in I]
        F = [[a + shift for a in row] for row in F]
        O = [[a + shift for a in row] for row in O]
    return I, F, O


def _conv_operands(H, W, Fh, Fw, C, K, stride, pad, dil, Eh, Ew, scalesim):
    P, Wn = Eh * Ew, Fh * Fw * C
    I = []
    for p in range(P):
        oh, ow = divmod(p, Ew)
        row = []
        for j in range(Wn):
            cr, rest = divmod(j, Fw * C)
            cc, ch = divmod(rest, C)
            y = oh * stride[0] + cr * dil[0] - pad[0]
            x = ow * stride[1] + cc * dil[1] - pad[1]
            inside = 0 <= y < H and 0 <= x < W
            row.append(IFMAP_OFFSET + (y * W + x) * C + ch if inside else -1)
        I.append(row)
    F = [[FILTER_OFFSET + k * Wn + j for k in range(K)] for j in range(Wn)]
    O = [[OFMAP_OFFSET + p * K + k for k in range(K)] for p in range(P)]
    return I, F, O


# -- 2. the schedule's demand ----------------------------------------------------------------
def _at(M, r, c):
    """M[r][c], or -1 outside M."""
    if 0 <= r < len(M) and 0 <= c < len(M[0]):
        return M[r][c]
    return -1


def fold_grid(df, P, Wn, K, AR, AC, order=0):
    """(Sr, Sc, T, [(fc, fr), ...] in schedule order)."""
    Sr, Sc, T = {"os": (P, K, Wn), "ws": (Wn, K, P), "is": (Wn, P, K)}[df]
    RF, CF = math.ceil(Sr / AR), math.ceil(Sc / AC)
    if order == 0:
        grid = [(fc, fr) for fc in range(CF) for fr in range(RF)]
    else:
        grid = [(fc, fr) for fr in range(RF) for fc in range(CF)]
    return Sr, Sc, T, grid


def fold_demand(df, I, F, O, AR, AC, fc, fr):
    """One fold's demand: {operand: [per cycle: [address or -1 per port]]}."""
    P, Wn, K = len(I), len(F), len(F[0])
    T = {"os": Wn, "ws": P, "is": K}[df]
    ncyc = T + AR + AC - 2 if df == "os" else 2 * AR + AC + T - 2
    ifm, fil, ofm = [], [], []
    for t in range(ncyc):
        if df == "os":
            ifm.append([_at(I, fr * AR + i, t - i) if 0 <= t - i < T else -1 for i in range(AR)])
            fil.append([_at(F, t - j, fc * AC + j) if 0 <= t - j < T else -1 for j in range(AC)])
            row = [-1] * AC
            for i in range(AR):
                for j in range(AC):
                    if t == T - 1 + (AR - 1 - i) + j:
                        row[j] = _at(O, fr * AR + i, fc * AC + j)
            ofm.append(row)
        elif df == "ws":
            fil.append([_at(F, fr * AR + AR - 1 - t, fc * AC + j) if t < AR else -1 for j in range(AC)])
            ifm.append([_at(I, t - AR - i, fr * AR + i) if 0 <= t - AR - i < T else -1 for i in range(AR)])
            ofm.append([_at(O, t - (2 * AR - 1) - j, fc * AC + j) if 0 <= t - (2 * AR - 1) - j < T else -1
                        for j in range(AC)])
        else:
            ifm.append([_at(I, fc * AC + j, fr * AR + AR - 1 - t) if t < AR else -1 for j in range(AC)])
            fil.append([_at(F, fr * AR + i, t - AR - i) if 0 <= t - AR - i < T else -1 for i in range(AR)])
            ofm.append([_at(O, fc * AC + j, t - (2 * AR - 1) - j) if 0 <= t - (2 * AR - 1) - j < T else -1
                        for j in range(AC)])
    return {"ifmap": ifm, "filter": fil, "ofmap": ofm}


def demand(df, I, F, O, AR, AC, order=0):
    """The schedule's folds in order: [(fc, fr, fold_demand), ...]."""
    _, _, _, grid = fold_grid(df, len(I), len(F), len(F[0]), AR, AC, order)
    return [(fc, fr, fold_demand(df, I, F, O, AR, AC, fc, fr)) for fc, fr in grid]


def demand_matrix(folds, op):
    """One operand's demand of all folds, end to end: SCALE-Sim's SRAM trace without its
    cycle column (row r is served at cycle r + 1 for ifmap/filter, r for ofmap)."""
    return [row for _, _, d in folds for row in d[op]]


# -- 3. SRAMs, prefetch and DRAM links --------------------------------------------------------
def _need(rows):
    return {a for row in rows for a in row if a >= 0}


def fold_traffic(folds, half_i, half_f, half_o, df):
    """Per fold (loads {op: elements}, write-backs after it) under the stated buffer policy."""
    need = {op: [_need(d[op]) for _, _, d in folds] for op in OPS}
    loads = [{op: 0 for op in OPS} for _ in folds]
    for op, half in (("ifmap", half_i), ("filter", half_f)):
        footprint = set().union(*need[op])
        resident = set()
        for f, n in enumerate(need[op]):
            if len(footprint) <= half:
                new = n - resident          # nothing is evicted
                resident |= new
            else:
                prev = need[op][f - 1] if f and len(need[op][f - 1]) <= half else set()
                new = n - prev              # only the previous fold's set stays
            loads[f][op] = len(new)
    writes = [0] * len(folds)
    outs = need["ofmap"]
    last = {}
    for f, n in enumerate(outs):
        for a in n:
            last[a] = f
    if df == "os":
        for f, n in enumerate(outs):
            writes[f] = len(n)
        return loads, writes
    alive_max = 0
    for f in range(len(folds)):   # alive after fold f: written so far, accumulated again later
        seen = set().union(*outs[:f + 1])
        alive_max = max(alive_max, sum(1 for a in seen if last[a] > f))
    keep = alive_max <= half_o
    written = set()
    for f, n in enumerate(outs):
        if keep:
            writes[f] = sum(1 for a in n if last[a] == f)
        else:
            loads[f]["ofmap"] = len(n & written)   # read partial sums back
            writes[f] = len(n)
            written |= n
    return loads, writes


def _cycles(nbytes, bw):
    return math.ceil(Fraction(nbytes) / Fraction(bw))


def _link_time(by, links, bw):
    """Cycles to move {op: bytes} over the links."""
    if links == "per_operand":
        return max(_cycles(by[op], bw[op]) for op in OPS)
    return _cycles(sum(by.values()), bw["shared"])


def timeline(fold_cycles, loads, writes, bpe, links, bw):
    """(total cycles, fill, [windows], drain) of folds under double buffering (docstring, 3)."""
    n = len(fold_cycles)
    zero = {op: 0 for op in OPS}
    fill = _link_time({op: loads[0][op] * bpe for op in OPS}, links, bw)
    wins = []
    for f in range(n):
        by = dict(zero)
        if f + 1 < n:
            by = {op: loads[f + 1][op] * bpe for op in OPS}
        if f >= 1:
            by["ofmap"] += writes[f - 1] * bpe
        wins.append(max(fold_cycles[f], _link_time(by, links, bw)))
    drain = _link_time(dict(zero, ofmap=writes[-1] * bpe), links, bw)
    return fill + sum(wins) + drain, fill, wins, drain


def gemm_folds(df, I, F, O, AR, AC, half_i, half_f, half_o, order=None):
    """(folds, loads, writes, order) of one GEMM in the order with fewer DRAM elements
    (or in ``order`` when given)."""
    best = None
    for order in ((0, 1) if order is None else (order,)):
        folds = demand(df, I, F, O, AR, AC, order)
        loads, writes = fold_traffic(folds, half_i, half_f, half_o, df)
        total = sum(sum(l.values()) for l in loads) + sum(writes)
        if best is None or total < best[0]:
            best = (total, folds, loads, writes, order)
    return best[1:]


def run_memory(gemms, df, AR, AC, sram_bytes, bpe, links, bw, order=None):
    """Run GEMMs (a list of (I, F, O)) through the SRAMs and links.

    ``sram_bytes`` = (ifmap, filter, ofmap) bytes; ``bw`` = {"shared": b} or
    {"ifmap": b, "filter": b, "ofmap": b}; ``order`` forces a fold order. Returns a dict: cycles_compute, cycles_stall,
    cycles_total, dram_<op>_bytes, dram_bytes, sram reads/writes and the fold orders.
    """
    half_i, half_f, half_o = (b // (2 * bpe) for b in sram_bytes)
    cyc, loads, writes, orders = [], [], [], []
    sram = {op: 0 for op in OPS}
    for I, F, O in gemms:
        folds, ld, wr, order = gemm_folds(df, I, F, O, AR, AC, half_i, half_f, half_o, order)
        lens = [len(d["ifmap"]) for _, _, d in folds]
        lens[-1] -= 1                        # SCALE-Sim's Total Cycles: demand rows - 1
        cyc += lens
        loads += ld
        writes += wr
        orders.append(order)
        for _, _, d in folds:
            for op in OPS:
                sram[op] += sum(1 for row in d[op] for a in row if a >= 0)
    total, fill, wins, drain = timeline(cyc, loads, writes, bpe, links, bw)
    out = {"cycles_compute": sum(cyc), "cycles_total": total, "cycles_stall": total - sum(cyc),
           "fill": fill, "drain": drain, "orders": orders}
    for op in OPS:
        out[f"dram_{op}_bytes"] = bpe * sum(l[op] for l in loads)
        out[f"sram_{op}_accesses"] = sram[op]
    out["dram_ofmap_bytes"] += bpe * sum(writes)
    out["dram_bytes"] = sum(out[f"dram_{op}_bytes"] for op in OPS)
    return out


def simulate_dense(layer, hw, order=None):
    """The reference on a structconv dense Layer and Accelerator (dict as run_memory's)."""
    mac, mem = hw.mac_array, hw.memory
    gemms = [layer_operands(layer, g) for g in range(layer.groups)]
    if mem.links == "per_operand":
        bw = dict(zip(OPS, mem.link_bytes_per_cycle()))
    else:
        bw = {"shared": mem.dram_bytes_per_cycle}
    return run_memory(gemms, mac.dataflow, mac.rows, mac.cols,
                      (mem.ifmap_sram_bytes, mem.filter_sram_bytes, mem.ofmap_sram_bytes),
                      hw.bytes_per_element, mem.links, bw, order)


def simulate_structured_sequential(layer, structure, hw, spu_cycles):
    """A structured layer whose sum-pool unit runs first and leaves its map on chip
    (``overlap: sequential``, the map fits in half the ifmap SRAM: no spill).

    Phase 1, the sum-pool unit: it streams the input map (cg*H*W per group) over the ifmap
    link while it computes for ``spu_cycles`` (its own busy time, which tests/test_rtl_sumpool.py
    checks against RTL); the phase lasts the longer of the two. Phase 2, the MAC array: the
    small conv's GEMM (m = Ho*Wo, k = c*nh*nw, n = C_out/g) through run_memory with its ifmap
    operand on chip (no DRAM traffic; -1 for DRAM purposes), filters and outputs as for a dense
    layer. Returns run_memory's dict for phase 2 with both phases folded in.
    """
    mem, bpe, G = hw.memory, hw.bytes_per_element, layer.groups
    P = layer.output_size[0] * layer.output_size[1]
    Wn, K = structure.c * structure.nh * structure.nw, layer.out_channels // G
    gemms = []
    for g in range(G):
        shift = g * 250_000
        I = [[-1] * Wn for _ in range(P)]
        F = [[FILTER_OFFSET + shift + k * Wn + j for k in range(K)] for j in range(Wn)]
        O = [[OFMAP_OFFSET + shift + p * K + k for k in range(K)] for p in range(P)]
        gemms.append((I, F, O))
    if mem.links == "per_operand":
        bw = dict(zip(OPS, mem.link_bytes_per_cycle()))
    else:
        bw = {"shared": mem.dram_bytes_per_cycle}
    out = run_memory(gemms, hw.mac_array.dataflow, hw.mac_array.rows, hw.mac_array.cols,
                     (mem.ifmap_sram_bytes, mem.filter_sram_bytes, mem.ofmap_sram_bytes), bpe, mem.links, bw)
    spu_in = G * layer.group_in_channels * layer.input_size[0] * layer.input_size[1] * bpe
    spu_stall = max(0, _cycles(spu_in, bw.get("ifmap", bw.get("shared"))) - spu_cycles)
    out["cycles_compute"] += spu_cycles
    out["cycles_stall"] += spu_stall
    out["cycles_total"] = out["cycles_compute"] + out["cycles_stall"]
    out["dram_ifmap_bytes"] += spu_in
    out["dram_bytes"] += spu_in
    return out
