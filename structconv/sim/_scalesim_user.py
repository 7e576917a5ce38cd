"""A port, for compatibility, of SCALE-Sim 3.0.0's USER-bandwidth memory simulation (private).

Public wrapper: ``scalesim_user.py``. Everything here restates SCALE-Sim's own code on plain
arrays; file:line citations are to ``scalesim/`` 3.0.0. It is a replay of SCALE-Sim's policy,
quirks included, not this project's memory model (that is ``_kernels.py``).

1. Operands (operand_matrix.py): ifmap ``I`` (P x Wn), filter ``F`` (Wn x K), ofmap ``O``
   (P x K), SCALE-Sim's addresses and offsets; -1 = a window hanging off the input.
2. Demand (systolic_compute_{os,ws,is}.py ``create_demand_matrices``): per cycle, one address
   (or -1) per array port, folds col-major (fc outer). The same schedule as
   tests/trace_reference.py, which the tests check this against.
3. Prefetch order (``create_{ifmap,filter}_prefetch_mat``): the operand cut into row or column
   folds, stacked, and for os ifmap/filter, ws ifmap and is filter rolled out along anti-diagonals.
4. Read buffers (read_buffer.py): the prefetch order is cut into "hash lines" of
   ceil(words / 100) valid entries (prepare_hashed_buffer, :173-222); the active window is
   ceil(half / that) consecutive lines, circular; a demanded address not in the window moves the
   window by the prefetch lines and costs ceil(half / bw) DRAM lines (new_prefetch, :450-528),
   repeated until it is in the window (service_reads, :359-364).
5. Write buffer (write_buffer.py): ofmap words go into lines of ``bw``; once more than the active
   half is held, ceil(half / bw) lines drain (service_writes :189-235, empty_drain_buf :238-273).
6. The array (double_buffered_scratchpad_mem.py:234-307): row i is issued at i + stalls so far;
   a row's stall is the largest of the three operands' delays.
"""
from __future__ import annotations

import math

import numpy as np

from . import _kernels as K
from ._algebra import DATAFLOWS
from ._numba import NUMBA_FLAGS
from ._numba import compiled_njit as njit  # a cycle-level replay: always compiled

IFMAP_OFFSET, FILTER_OFFSET, OFMAP_OFFSET = 0, 10_000_000, 20_000_000
# outputs of replay(), in order
FIELDS = ("cycles_total", "cycles_stall", "dram_ifmap_reads", "dram_filter_reads",
          "dram_ofmap_writes", "ifmap_new_prefetches", "filter_new_prefetches",
          "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle", "dram_filter_start_cycle",
          "dram_filter_stop_cycle", "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle")


# -- 1. operands --------------------------------------------------------------------------
def operands(H, W, Fh, Fw, C, K, s):
    """SCALE-Sim's (I, F, O) address matrices for a topology row (ifmap already padded)."""
    Eh, Ew = -(-(H - Fh + s) // s), -(-(W - Fw + s) // s)       # its ceil output size
    oh, ow = np.divmod(np.arange(Eh * Ew), Ew)
    cr, rest = np.divmod(np.arange(Fh * Fw * C), Fw * C)
    cc, ch = np.divmod(rest, C)
    y = oh[:, None] * s + cr[None, :]
    x = ow[:, None] * s + cc[None, :]
    I = np.where((y < H) & (x < W), IFMAP_OFFSET + (y * W + x) * C + ch[None, :], -1)
    Wn = Fh * Fw * C
    F = FILTER_OFFSET + np.arange(K)[None, :] * Wn + np.arange(Wn)[:, None]
    O = OFMAP_OFFSET + np.arange(Eh * Ew)[:, None] * K + np.arange(K)[None, :]
    return I.astype(np.int64), F.astype(np.int64), O.astype(np.int64)


def _at(M, r, c):
    """M[r, c] where (r, c) is inside M, else -1 (vectorised)."""
    ok = (r >= 0) & (r < M.shape[0]) & (c >= 0) & (c < M.shape[1])
    return np.where(ok, M[np.clip(r, 0, M.shape[0] - 1), np.clip(c, 0, M.shape[1] - 1)], -1)


# -- 2. demand ----------------------------------------------------------------------------
# SCALE-Sim writes each dataflow's demand and prefetch order by hand; each reads its operands by
# their role in the fold algebra (_algebra.py), so here they are written once, per role, on each
# operand seen with its axes where the dataflow puts them (``_view``).
def _view(flow, mat, operand, first, second):
    """``mat`` (an operand matrix, its rows and cols the operand's GEMM axes) with the axes the
    dataflow puts at ``first`` and ``second`` (ON_ROWS, ON_COLS, ON_TIME) as its rows and cols."""
    a, b = _AXES[operand]
    return mat if (flow.at(a), flow.at(b)) == (first, second) else mat.T


_AXES = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}         # axes of I (P x Wn), F (Wn x K), O (P x K)


def _fold(flow, ops, AR, AC, fc, fr):
    """{operand: its demand (cycles x ports)} of fold (fc, fr); ``ops``: {operand: matrix}."""
    T = flow.dims(ops["ifmap"].shape[0], ops["filter"].shape[1], ops["filter"].shape[0])[2]
    t, i, j = np.arange(flow.fold_cycles(AR, AC, T))[:, None], np.arange(AR)[None, :], np.arange(AC)[None, :]
    out = {}
    if flow.role("ofmap") == K.STATIONARY:                  # os: operands skewed in, outputs drained
        for op, mat in ops.items():
            r = flow.role(op)
            if r == K.ROW_STREAM:
                v = _view(flow, mat, op, K.ON_ROWS, K.ON_TIME)
                out[op] = np.where((t - i >= 0) & (t - i < T), _at(v, fr * AR + i, t - i), -1)
            elif r == K.COL_STREAM:
                v = _view(flow, mat, op, K.ON_TIME, K.ON_COLS)
                out[op] = np.where((t - j >= 0) & (t - j < T), _at(v, t - j, fc * AC + j), -1)
            else:
                row = T - 1 + AR - 1 + j - t                 # the PE row whose output leaves now
                v = _view(flow, mat, op, K.ON_ROWS, K.ON_COLS)
                out[op] = np.where((row >= 0) & (row < AR), _at(v, fr * AR + row, fc * AC + j), -1)
        return out
    live = (t - AR - i >= 0) & (t - AR - i < T)              # ws / is: a stationary input preloaded
    leave = (t - (2 * AR - 1) - j >= 0) & (t - (2 * AR - 1) - j < T)
    for op, mat in ops.items():
        r = flow.role(op)
        if r == K.STATIONARY:
            v = _view(flow, mat, op, K.ON_ROWS, K.ON_COLS)
            out[op] = np.where(t < AR, _at(v, fr * AR + AR - 1 - t, fc * AC + j), -1)
        elif r == K.ROW_STREAM:
            v = _view(flow, mat, op, K.ON_TIME, K.ON_ROWS)
            out[op] = np.where(live, _at(v, t - AR - i, fr * AR + i), -1)
        else:
            v = _view(flow, mat, op, K.ON_TIME, K.ON_COLS)
            out[op] = np.where(leave, _at(v, t - (2 * AR - 1) - j, fc * AC + j), -1)
    return out


def demand_cycles(df, P, Wn, K_, AR, AC):
    """Rows of the demand matrices (folds x fold length) of a P x Wn by Wn x K_ GEMM."""
    flow = DATAFLOWS.get(df)
    Sr, Sc, T = flow.dims(P, K_, Wn)
    return -(-Sr // AR) * -(-Sc // AC) * flow.fold_cycles(AR, AC, T)


def demand(df, I, F, O, AR, AC):
    """(ifmap, filter, ofmap) demand matrices: one row per cycle, folds in SCALE-Sim's order."""
    flow = DATAFLOWS.get(df)
    Sr, Sc, _ = flow.dims(I.shape[0], F.shape[1], F.shape[0])
    ops = dict(ifmap=I, filter=F, ofmap=O)
    folds = [_fold(flow, ops, AR, AC, fc, fr) for fc in range(-(-Sc // AC)) for fr in range(-(-Sr // AR))]
    return tuple(np.concatenate([f[op] for f in folds]).astype(np.int64) for op in ops)


# -- 3. prefetch order --------------------------------------------------------------------
def _stack(M, width, n_folds):
    """Fold k's ``width`` columns of M, -1 padded, stacked."""
    parts = []
    for k in range(n_folds):
        blk = M[:, k * width:(k + 1) * width]
        pad = np.full((blk.shape[0], width - blk.shape[1]), -1, np.int64)
        parts.append(np.concatenate([blk, pad], axis=1))
    return np.concatenate(parts)


def _diagonals(M):
    """M's entries along anti-diagonals, each from its bottom row up (the 'Fixing ISSUE #15' roll)."""
    r, c = np.indices(M.shape)
    order = np.lexsort((-r.ravel(), (r + c).ravel()))
    return M.ravel()[order]


def prefetch_order(df, I, F, AR, AC):
    """(ifmap, filter) prefetch matrices, flattened in the order they are fetched: a streamed
    operand's row (or column) folds side by side (time down), rolled out along anti-diagonals;
    a stationary one's column folds side by side, row by row."""
    flow = DATAFLOWS.get(df)
    out = []
    for op, mat in (("ifmap", I), ("filter", F)):
        r = flow.role(op)
        if r == K.STATIONARY:
            v = _view(flow, mat, op, K.ON_ROWS, K.ON_COLS)
            out.append(_stack(v, AC, -(-v.shape[1] // AC)).ravel())
            continue
        at, w = (K.ON_ROWS, AR) if r == K.ROW_STREAM else (K.ON_COLS, AC)
        v = _view(flow, mat, op, K.ON_TIME, at)
        out.append(_diagonals(_stack(v, w, -(-v.shape[1] // w))))
    return tuple(out)


# -- 4. hash lines: which lines hold each address -----------------------------------------
def hash_lines(order, demand_mat, total_words):
    """(demand as compact ids, CSR ptr, line ids, number of lines, valid entries) of one read buffer."""
    per_line = math.ceil(total_words / 100)
    valid = order[order != -1]
    line = np.arange(valid.size, dtype=np.int64) // per_line
    n_lines = valid.size // per_line + 1                 # the last line may be empty (:203)
    addrs, inv = np.unique(valid, return_inverse=True)
    pairs = np.unique(inv.astype(np.int64) * n_lines + line)
    owner, ids = np.divmod(pairs, n_lines)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=addrs.size))]).astype(np.int64)
    pos = np.searchsorted(addrs, demand_mat)
    pos = np.clip(pos, 0, max(addrs.size - 1, 0))
    known = (demand_mat == -1) | ((addrs.size > 0) & (addrs[pos] == demand_mat))
    if not known.all():
        raise ValueError("a demanded address is not in the prefetch order")
    return np.where(demand_mat == -1, -1, pos).astype(np.int64), ptr, ids.astype(np.int64), n_lines


# -- 5./6. the replay ---------------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def _hit(a, ptr, ids, n, n_act, start):
    for k in range(ptr[a], ptr[a + 1]):
        if (ids[k] - start + n) % n < n_act:
            return True
    return False


@njit(**NUMBA_FLAGS)
def _read_row(row, ptr, ids, geo, st, cycle, double):
    """read_buffer.service_reads, non-layout branch, for one demand row; returns its out cycle.
    geo = (lines, active lines, prefetch lines, DRAM lines per prefetch, bw);
    st = [window start, last prefetch cycle, DRAM words, new_prefetch calls]."""
    n, n_act, n_pf, pf_dram, bw = geo[0], geo[1], geo[2], geo[3], geo[4]
    offset = 1                                           # hit latency
    for a in row:
        if a < 0:
            continue
        guard = 0
        while not _hit(a, ptr, ids, n, n_act, st[0]):
            st[0] = (st[0] + n_pf) % n                   # new_prefetch: the window moves
            st[1] += pf_dram + 1                         # requests at last+1.., read port latency 1
            st[2] += pf_dram * bw
            st[3] += 1
            stall = st[1] - (cycle + offset)
            if double:
                offset += stall                          # read_buffer.py:362 (negative too)
            if stall > 0:
                offset += stall                          # read_buffer.py:363-364
            guard += 1
            if guard > n + 1:
                raise ValueError("read buffer window never reaches a demanded address")
    return cycle + offset


@njit(**NUMBA_FLAGS)
def _drain(wb, lines, start):
    """write_buffer.empty_drain_buf; wb = [free, line_idx, n_lines, drained_to, drain_end, words,
    first cycle, last cycle, total, half, bw, drain lines]; returns its end cycle."""
    end = min(wb[3] + wb[11], wb[2])
    n = end - wb[3]
    if n <= 0:
        raise ValueError("write buffer drain with nothing to drain")
    data = n * wb[10] - (wb[10] - lines[end - 1])        # only the last line's -1s are discounted
    wb[5] += data
    wb[6] = min(wb[6], start)
    wb[7] = max(wb[7], start + n - 1)                    # write port latency 0
    wb[0] += data
    wb[3] = end
    return start + n - 1


@njit(**NUMBA_FLAGS)
def _force(wb, lines):
    if wb[1] != 0:
        lines[wb[2]] = wb[1]
        wb[2] += 1
        wb[1] = 0


@njit(**NUMBA_FLAGS)
def _write_row(count, wb, lines, cycle):
    """write_buffer.service_writes for one demand row of ``count`` ofmap words."""
    cur = cycle
    for _ in range(count):
        wb[1] += 1
        wb[0] -= 1
        if wb[1] == wb[10]:
            lines[wb[2]] = wb[10]
            wb[2] += 1
            wb[1] = 0
        if cur < wb[4]:
            if wb[0] <= 0:
                cur = wb[4]                              # wait for the drain in flight
        elif wb[0] < wb[9]:                              # free < total - drain half (write_buffer.py:219)
            _force(wb, lines)
            wb[4] = _drain(wb, lines, cur)
    return cur


@njit(**NUMBA_FLAGS)
def replay(ifm, fil, ofm_counts, ibuf, fbuf, init_dram, ofm_geo, double):
    """double_buffered_scratchpad.service_memory_requests; returns the FIELDS as an int64 array.
    ibuf, fbuf = (ptr, line ids, geo) of the ifmap and filter read buffers (hash_lines, _read_row);
    init_dram = (ifmap, filter) DRAM lines of the first fill; ofm_geo = (total, half, bw)."""
    ip, iid, igeo = ibuf
    fp, fid, fgeo = fbuf
    ist = np.array([0, -1, init_dram[0] * igeo[4], 0], np.int64)    # prefetch_active_buffer
    fst = np.array([0, -1, init_dram[1] * fgeo[4], 0], np.int64)
    total_o, half_o, bw_o = ofm_geo[0], ofm_geo[1], ofm_geo[2]
    big = np.int64(1) << 62
    wb = np.array([total_o, 0, 0, 0, 0, 0, big, -big, total_o, half_o, bw_o,
                   -(-(total_o - half_o) // bw_o)], np.int64)
    lines = np.zeros(2 * ofm_counts.sum() + 2, np.int64)
    stall, out_max, out = 0, -big, 0
    for i in range(ifm.shape[0]):
        cycle = i + stall
        si = _read_row(ifm[i], ip, iid, igeo, ist, cycle, double) - cycle - 1
        sf = _read_row(fil[i], fp, fid, fgeo, fst, cycle, double) - cycle - 1
        out = _write_row(ofm_counts[i], wb, lines, cycle)
        stall += max(si, sf, out - cycle)
        out_max = max(out_max, out)
    _force(wb, lines)                                    # empty_all_buffers
    cycle = out
    while wb[3] < wb[2]:
        wb[4] = _drain(wb, lines, cycle)
        cycle = wb[4] + 1
    return np.array([out_max, stall, ist[2], fst[2], wb[5], ist[3], fst[3],
                     -init_dram[0], ist[1], -init_dram[1], fst[1], wb[6], wb[7]], np.int64)
