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
   tests/sim/test_sim_trace.py checks this demand, cycle by cycle and port by port, against
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

4. Structured layers, sequential (``simulate_structured_sequential``): the sum-pool unit first
   (it streams the input map in, and writes a pooled map that does not fit half the ifmap
   SRAM out: a spill), then the small conv's GEMM through section 3 with the pooled map as its
   ifmap operand -- on chip (no traffic) or, spilled, fetched by its folds' need sets.

5. Structured layers, fused (``simulate_structured_fused``): stepped cycle by cycle. The input
   map streams in over the ifmap link (on a shared link it gets what the MAC array's tiles
   leave: tiles first); the sum-pool unit sums each needed row once its input rows are in; a
   fold starts once the fold before has ended, its tiles (section 3) are in and every pooled
   row its demand reads is available. The policies are stated in full in those docstrings.
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
    for o in ((0, 1) if order is None else (order,)):
        folds = demand(df, I, F, O, AR, AC, o)
        loads, writes = fold_traffic(folds, half_i, half_f, half_o, df)
        total = sum(sum(l.values()) for l in loads) + sum(writes)
        if best is None or total < best[0]:
            best = (total, folds, loads, writes, o)
    return best[1:]


def run_memory(gemms, df, AR, AC, sram_bytes, bpe, links, bw, order=None):
    """Run GEMMs (a list of (I, F, O)) through the SRAMs and links.

    ``sram_bytes`` = (ifmap, filter, ofmap) bytes; ``bw`` = {"shared": b} or
    {"ifmap": b, "filter": b, "ofmap": b}; ``order`` forces a fold order. Returns a dict: cycles_compute,
    cycles_stall, cycles_total, dram_<op>_bytes, dram_bytes, sram reads/writes and the fold orders.
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


def _links_bw(mem):
    if mem.links == "per_operand":
        return dict(zip(OPS, mem.link_bytes_per_cycle()))
    return {"shared": mem.dram_bytes_per_cycle}


def pooled_map(layer, structure):
    """(H1, W1, needed rows, needed cols) of the stride-1 sum-pool output (over the padded
    input) that the small conv reads: rows oh*sh + kr*dh, columns ow*sw + kc*dw."""
    kc, a, b = structure.window(layer)
    (H, W), (ph, pw) = layer.input_size, layer.padding
    (sh, sw), (dh, dw), (Ho, Wo) = layer.stride, layer.dilation, layer.output_size
    ys = sorted({oh * sh + kr * dh for oh in range(Ho) for kr in range(structure.nh)})
    xs = sorted({ow * sw + kc_ * dw for ow in range(Wo) for kc_ in range(structure.nw)})
    return H + 2 * ph - dh * (a - 1), W + 2 * pw - dw * (b - 1), ys, xs


def small_conv_operands(layer, structure, group, on_chip):
    """(I, F, O) of the small conv of one group. Its ifmap operand is the pooled map:
    window element j = (kernel row * nw + kernel col) * c + channel of pixel (oh, ow) reads
    map element (oh*sh + kr*dh, ow*sw + kc*dw, channel), address (y * W1 + x) * c + channel;
    all -1 when the map stays on chip (no DRAM traffic)."""
    H1, W1, _, _ = pooled_map(layer, structure)
    (Ho, Wo), G = layer.output_size, layer.groups
    K, c = layer.out_channels // G, structure.c
    I, F, O = _conv_operands(H1, W1, structure.nh, structure.nw, c, K, layer.stride, (0, 0), layer.dilation,
                             Ho, Wo, scalesim=False)
    shift = group * 250_000
    if on_chip:
        I = [[-1] * len(row) for row in I]
    else:
        I = [[a + shift for a in row] for row in I]
    F = [[a + shift for a in row] for row in F]
    O = [[a + shift for a in row] for row in O]
    return I, F, O


def simulate_structured_sequential(layer, structure, hw, spu_cycles):
    """A structured layer whose sum-pool unit runs first (``overlap: sequential``).

    The pooled map (c x needed rows x needed columns per group) stays on chip when it fits in
    half the ifmap SRAM; otherwise it is *spilled*: written to DRAM during the sum-pool phase
    and read back by the MAC array as its ifmap operand.
    Phase 1, the sum-pool unit: it streams the input map (cg*H*W per group) over the ifmap
    link, and writes a spilled map over the same link, while it computes for ``spu_cycles``
    (its own busy time, which tests/rtl/test_rtl_sumpool.py checks against RTL); the phase lasts
    the longer of the two. Phase 2, the MAC array: the small conv's GEMM (m = Ho*Wo,
    k = c*nh*nw, n = C_out/g) through run_memory; its ifmap operand is the pooled map
    (small_conv_operands): on chip, no DRAM traffic; spilled, fetched by its folds' need sets
    under the policy of section 3, like a dense layer's ifmap. Filters and outputs as for a
    dense layer. Returns run_memory's dict for phase 2 with both phases folded in.
    """
    mem, bpe, G = hw.memory, hw.bytes_per_element, layer.groups
    _, _, ys, xs = pooled_map(layer, structure)
    inter = structure.c * len(ys) * len(xs)
    spill = inter > mem.ifmap_sram_bytes // (2 * bpe)
    gemms = [small_conv_operands(layer, structure, g, on_chip=not spill) for g in range(G)]
    bw = _links_bw(mem)
    out = run_memory(gemms, hw.mac_array.dataflow, hw.mac_array.rows, hw.mac_array.cols,
                     (mem.ifmap_sram_bytes, mem.filter_sram_bytes, mem.ofmap_sram_bytes), bpe, mem.links, bw)
    spu_in = G * (layer.group_in_channels * layer.input_size[0] * layer.input_size[1] + spill * inter) * bpe
    spu_stall = max(0, _cycles(spu_in, bw.get("ifmap", bw.get("shared"))) - spu_cycles)
    out["cycles_compute"] += spu_cycles
    out["cycles_stall"] += spu_stall
    out["cycles_total"] = out["cycles_compute"] + out["cycles_stall"]
    out["dram_ifmap_bytes"] += spu_in
    out["dram_bytes"] += spu_in
    out["spilled"] = spill
    return out


# -- 5. the fused pipeline: the sum-pool unit feeds the MAC array -------------------------------
def simulate_structured_fused(layer, structure, hw, rows_cum, depth):
    """A structured layer whose sum-pool unit feeds the MAC array through the line buffer
    (``overlap: fused``; whether the line buffer is big enough is the simulator's rule, not
    restated here), stepped cycle by cycle.

    ``rows_cum``: cumulative adds of one group's sum-pool after each needed row, in row
    order (tests/support/sim_reference.py counts them on real numbers); ``depth``: the adder
    pipeline's latency.
    - The sum-pool unit's input: the input map (cg*H*W per group, groups in turn, rows in
      order, all channels and columns of a row) streams over the ifmap link (the one link
      when shared). A needed row k of group g may be summed once the input rows its
      windows read (up to padded row y_k + dh*(a-1)) have arrived, also in the cycle the
      last byte arrives. The unit does ``lanes`` adds per cycle, rows in order, groups in
      turn; a row's sums are available ``depth`` cycles after the cycle its last add ends.
    - The MAC array: its folds (the small conv's GEMM per group, groups in turn, fold order:
      row folds outer for os, otherwise section 3's) read the pooled map from the line buffer
      (no ifmap DRAM traffic). A fold starts once the previous fold has ended, its own tiles
      have arrived (section 3: fill, then fold f+1's loads and fold f-1's write-backs move
      from the start of fold f, then the drain) and every map row its demand reads is
      available.
    - Link arbitration (shared link): the MAC array's traffic first; the input stream gets
      what is left of each cycle's bytes. A link of b bytes/cycle moves b bytes a cycle.
    - The layer ends when the drain is out and the whole input map has arrived.
    cycles_total is that end; cycles_compute is the same run on links with no limit.
    """
    mem, bpe, G, mac = hw.memory, hw.bytes_per_element, layer.groups, hw.mac_array
    df, R, C = mac.dataflow, mac.rows, mac.cols
    H1, W1, ys, xs = pooled_map(layer, structure)
    kc, a, b = structure.window(layer)
    rowpos = {y: k for k, y in enumerate(ys)}
    lens, need, loads, writes = [], [], [], []
    half = [x // (2 * bpe) for x in (mem.ifmap_sram_bytes, mem.filter_sram_bytes, mem.ofmap_sram_bytes)]
    for g in range(G):
        I, F, O = small_conv_operands(layer, structure, g, on_chip=True)
        Imap = small_conv_operands(layer, structure, g, on_chip=False)[0]     # which map rows a fold reads
        fl, ld, wr, _ = gemm_folds(df, I, F, O, R, C, *half, order=1 if df == "os" else None)
        for f, (fc, fr, d) in enumerate(fl):
            lens.append(len(d["ifmap"]) - (1 if f == len(fl) - 1 else 0))
            reads = _need(_fold_demand_rows(df, Imap, fc, fr, R, C))
            rows = {((a_ - g * 250_000) // structure.c) // W1 for a_ in reads}
            need.append(g * len(ys) + max(rowpos[y] for y in rows) if rows else -1)
        loads += ld
        writes += wr
    cum = [g * rows_cum[-1] + x for g in range(G) for x in rows_cum]
    (H, W), ph, cg = layer.input_size, layer.padding[0], layer.group_in_channels
    in_need = [bpe * cg * W * (g * H + max(0, min(H, ys[k] + layer.dilation[0] * (a - 1) - ph + 1)))
               for g in range(G) for k in range(len(ys))]
    spu_in = G * cg * H * W * bpe
    total = _fused_run(lens, need, loads, writes, cum, in_need, spu_in, depth, hw, unlimited=False)
    compute = _fused_run(lens, need, loads, writes, cum, in_need, spu_in, depth, hw, unlimited=True)
    out = {"cycles_total": total, "cycles_compute": compute, "cycles_stall": total - compute,
           "dram_ifmap_bytes": spu_in,
           "dram_filter_bytes": bpe * sum(l["filter"] for l in loads),
           "dram_ofmap_bytes": bpe * (sum(l["ofmap"] for l in loads) + sum(writes))}
    out["dram_bytes"] = sum(out[f"dram_{op}_bytes"] for op in OPS)
    return out


def _fold_demand_rows(df, I, fc, fr, R, C):
    """The rows of I (pixels x window elements) fold (fc, fr) reads, cut to its rectangle."""
    P, Wn = len(I), len(I[0])
    if df == "os":
        pr, jr = range(fr * R, min(P, (fr + 1) * R)), range(Wn)
    elif df == "ws":
        pr, jr = range(P), range(fr * R, min(Wn, (fr + 1) * R))
    else:
        pr, jr = range(fc * C, min(P, (fc + 1) * C)), range(fr * R, min(Wn, (fr + 1) * R))
    return [[I[p][j] for j in jr] for p in pr]


def _fused_run(lens, need, loads, writes, cum, in_need, spu_in, depth, hw, unlimited):
    """The cycle-by-cycle run of simulate_structured_fused: the end cycle."""
    mem, bpe, lanes = hw.memory, hw.bytes_per_element, hw.sum_pool.adder_lanes
    bw = _links_bw(mem)
    scale = math.lcm(*(Fraction(v).denominator for v in bw.values()))
    cap = {k: int(Fraction(v) * scale) for k, v in bw.items()}        # link units a cycle
    n = len(lens)

    def transfer(f):            # fold f's loads and fold f-2's write-backs (f = n: the last write-backs)
        by = {op: (loads[f][op] if f < n else 0) * bpe for op in OPS}
        if f >= 2:
            by["ofmap"] += writes[f - 2] * bpe
        return {op: v * scale for op, v in by.items()}

    pending = []                               # the MAC array's transfers in flight (at most one)

    def send(by):                              # an empty transfer, or any on unlimited links, is done at once
        if any(by.values()) and not unlimited:
            pending.append(by)

    send(transfer(0))                          # the fill
    ready = [None] * len(cum)                  # cycle from which each pooled row is available
    streamed, row, adds_done = 0, 0, 0
    f, left, drained, t = 0, 0, False, 0       # next fold, cycles left of the running fold
    while True:
        while left == 0 and f < n and not pending and (need[f] < 0 or (ready[need[f]] is not None
                                                                       and ready[need[f]] <= t)):
            send(transfer(f + 1))              # start fold f: fold f+1's tiles move from now on
            left, f = lens[f], f + 1
        if f == n and left == 0 and not pending and not drained:
            send({op: (writes[-1] * bpe * scale if op == "ofmap" else 0) for op in OPS})
            drained = True
        if drained and not pending and row == len(cum) and (unlimited or streamed >= spu_in * scale):
            return t
        # the link(s), one cycle: the MAC array's transfer first, the input stream after it
        spare = dict(cap)
        if pending:
            head = pending[0]
            for op in OPS:
                link = "shared" if "shared" in cap else op
                take = min(head[op], spare[link])
                head[op] -= take
                spare[link] -= take
            if not any(head.values()):
                pending.pop(0)
        in_link = "shared" if "shared" in cap else "ifmap"
        streamed = spu_in * scale if unlimited else min(spu_in * scale, streamed + spare[in_link])
        # the sum-pool unit, one cycle: rows in order, each once its input has arrived
        budget = lanes
        while row < len(cum) and streamed >= in_need[row] * scale:
            step = min(budget, cum[row] - adds_done)
            adds_done += step
            budget -= step
            if adds_done < cum[row]:
                break
            ready[row] = t + (1 if budget < lanes else 0) + depth
            row += 1
        if left:
            left -= 1
        t += 1
