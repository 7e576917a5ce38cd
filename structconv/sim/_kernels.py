"""All Numba kernels of structconv.sim, and the named layout of what crosses into them.

Python code hands the kernels *records* (numpy structured arrays, fields by name):
``JOB`` rows, one ``HW`` record, and gets ``COUNTS`` rows back (``run_jobs``). Inside,
the kernels see the plain int64/float64 view of the same memory and index its
columns with the J_*, H_* and O_* numbers below, which exist only in this module.

A *job* is a GEMM run ``groups`` times (once per group, as SCALE-Sim users run
grouped layers) and, for a structured layer, the 3-D sum-pool that feeds it.
Every kernel writes one COUNTS row of event counts per job; energy is counts x
table and is computed outside, in Python.

Two modes fill the same fields:
  analytical_jobs  closed forms (SCALE-Sim's fold algebra, pass-level add counts); a dense
                   job's ifmap DRAM traffic (and a spilled sum-pool map's read-back) is its
                   folds' need sets (the input elements their windows read), counted once
                   per row fold (dense_ifmap), without marks where that is cheaper
                   (union_pair); the stall is a whole-layer closed form (a lower bound)
  cycle_jobs       steps each distinct fold of the array schedule cycle by
                   cycle, walks the sum-pool output row by row, and runs the
                   DRAM link fold by fold (a dense job's ifmap loads per fold:
                   dense_fold_loads). Both follow the buffer policy of
                   tests/trace_reference.py, which tests/test_sim_trace*.py check them against.
Both modes run the fused pipeline fold by fold: a fold starts when the fold before has ended
and the last sum-pool row its demand reads is available; a row waits for its adds and for
its input rows to stream in (stream_ready).

DRAM links (HW ``links``): ``shared`` (the default) is one link per layer: the MAC
array's tiles and write-backs, the sum-pool's input stream and any spilled intermediate
map share it, so no layer takes fewer cycles than ceil(DRAM bytes / bytes per cycle).
``per_operand`` gives ifmap, filter and ofmap a link each (the sum-pool input and a
spilled map ride the ifmap link; partial-sum read-back and write-back the ofmap link):
a window lasts as long as its slowest link. ``unlimited`` is SCALE-Sim's CALC mode:
traffic is counted per operand but never stalls (cycles_stall = 0).

The dataflow and the sum-pool scheme arrive as codes (HW ``dataflow``, ``scheme``; registry and
meaning: _algebra.py). Every rule that depends on them reads the code through the small helpers
under "dataflow and scheme codes" -- where the GEMM axes sit on the array, so each operand's role
(stationary, row-streamed, column-streamed), and which passes a scheme runs by running sums --
never a dataflow's or scheme's name, so a newly registered one runs here with no edit.
The kernels are one file on purpose: Numba's cache compiles a kernel's callees into it and
notices edits only to the file that defines the kernel, so a kernel cached from one file would
keep running an edited callee from another.
"""
from __future__ import annotations

from functools import cache
from itertools import repeat

import numpy as np

# Numba's flags and cache directory, one place; njit leaves these plain Python unless this file is
# being loaded as its compiled twin (_tier.py picks the tier per call)
from ._numba import NUMBA_FLAGS, njit

# -- the layout: names, one place -------------------------------------------------------
# It lives in this file, not beside it, because Numba's cache freezes globals at compile
# time and only notices edits to the file that defines the kernels.
# The dataflows and sum-pool schemes are registered in _algebra.py (names, Python twins); the
# kernels see each as the integer code below, in the HW record, and decode it with the helpers
# of "dataflow and scheme codes".
AXES = "kmn"                                 # GEMM axes in code order: reduction, output pixels, filters
AX_K, AX_M, AX_N = range(3)
ON_ROWS, ON_COLS, ON_TIME = range(3)         # where a dataflow puts a GEMM axis on the array
SWAPPED = 3                                  # dataflow code = time axis + SWAPPED if rows/cols are reversed
STATIONARY, ROW_STREAM, COL_STREAM = range(3)    # operand roles (_algebra.py says what each means)
SC_TREE = 1                                  # scheme code bit: one adder tree over the whole window
SC_RUN_CH, SC_RUN_ROW, SC_RUN_COL = 2, 4, 8  # scheme code bits: that pass sums by running sums
OVERLAPS = ("fused", "sequential")           # how the sum-pool unit and the MAC array overlap
MODES = ("analytical", "cycle")
LINKS = ("shared", "per_operand", "unlimited")  # DRAM link semantics

JOB_FIELDS = (
    "m", "n", "k",                  # GEMM of one group: output pixels, filters, reduction length
    "groups",                       # the GEMM runs once per group, in turn
    "ifmap",                        # elements of one group's ifmap the array fetches (0: none); a dense
                                    # job whose ifmap is its whole input map (cg*h*w) fetches need sets
    "spu",                          # 1 when a sum-pool unit feeds the GEMM
    "cg", "h", "w", "ph", "pw",     # input channels per group, input size, padding
    "c", "kc", "a", "b",            # structure c and its sum-pool window (kc, a, b)
    "nh", "nw",                     # the small conv's kernel
    "sh", "sw", "dh", "dw",         # stride, dilation
    "ho", "wo")                     # output size
HW_FIELDS = (
    "rows", "cols", "dataflow",     # MAC array; dataflow = its code (_algebra.Dataflow.code)
    "lanes", "scheme",              # sum-pool unit adder lanes; scheme = its code (_algebra.Scheme.code)
    "line_buffer_bytes", "ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes",
    "dram_bytes_per_cycle", "bytes_per_element",
    "overlap",                      # index into OVERLAPS
    "links",                        # index into LINKS
    "ifmap_bw", "filter_bw", "ofmap_bw")   # per_operand links: bytes per cycle each
COUNT_FIELDS = (
    "cycles_compute", "cycles_stall", "mac_cycles", "spu_cycles",
    "macs", "spu_adds",             # MACs, sum-pool unit adds and subtracts
    "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes", "sram_ifmap_writes",
    "line_buffer_accesses", "dram_bytes",
    "dram_ifmap_bytes", "dram_filter_bytes", "dram_ofmap_bytes",   # dram_bytes by link
    "fused")                        # 1 when the sum-pool unit and MAC array ran pipelined
JOB = np.dtype([(f, np.int64) for f in JOB_FIELDS])
HW = np.dtype([(f, np.float64) for f in HW_FIELDS])
COUNTS = np.dtype([(f, np.int64) for f in COUNT_FIELDS])
NJ, NH, NO = len(JOB_FIELDS), len(HW_FIELDS), len(COUNT_FIELDS)


def _columns(names, wanted: str) -> tuple[int, ...]:
    return tuple(names.index(w) for w in wanted.split())


(J_M, J_N, J_K, J_G, J_IFMAP, J_SPU, J_CG, J_H, J_W, J_PH, J_PW, J_C, J_KC, J_A, J_B, J_NH, J_NW,
 J_SH, J_SW, J_DH, J_DW, J_HO, J_WO) = _columns(
    JOB_FIELDS, "m n k groups ifmap spu cg h w ph pw c kc a b nh nw sh sw dh dw ho wo")
(H_R, H_C, H_DF, H_LANES, H_SCHEME, H_LB, H_IFS, H_FIS, H_OFS, H_BW, H_BPE, H_OVERLAP, H_LINKS, H_BW_I,
 H_BW_F, H_BW_O) = _columns(
    HW_FIELDS, "rows cols dataflow lanes scheme line_buffer_bytes ifmap_sram_bytes filter_sram_bytes "
               "ofmap_sram_bytes dram_bytes_per_cycle bytes_per_element overlap links ifmap_bw filter_bw "
               "ofmap_bw")
(O_COMPUTE, O_STALL, O_MAC, O_SPU, O_MACS, O_ADDS, O_IF_R, O_FI_R, O_OF_W, O_IF_W, O_LB, O_DRAM,
 O_DRAM_I, O_DRAM_F, O_DRAM_O, O_FUSED) = _columns(
    COUNT_FIELDS, "cycles_compute cycles_stall mac_cycles spu_cycles macs spu_adds sram_ifmap_reads "
                  "sram_filter_reads sram_ofmap_writes sram_ifmap_writes line_buffer_accesses dram_bytes "
                  "dram_ifmap_bytes dram_filter_bytes dram_ofmap_bytes fused")
OV_FUSED, OV_SEQ = _columns(OVERLAPS, "fused sequential")
LK_SHARED, LK_PER_OP, LK_UNLIMITED = _columns(LINKS, "shared per_operand unlimited")


def __getattr__(name: str):
    """DATAFLOWS and SCHEMES, the registries' names (they live in _algebra, which imports this module)."""
    if name in ("DATAFLOWS", "SCHEMES"):
        from . import _algebra
        return getattr(_algebra, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def record(dtype: np.dtype, /, **values) -> np.ndarray:
    """One record of ``dtype`` (an array of length 1): the named fields set, the rest 0."""
    names = dtype.names
    if not values.keys() <= _field_set(names):
        raise KeyError(f"no field(s) {sorted(values.keys() - set(names))} in {names}")
    return np.fromiter(map(values.get, names, repeat(0)), dtype[0], len(names)).view(dtype)


@cache
def _field_set(names: tuple) -> frozenset:
    return frozenset(names)


def as_plain(recs: np.ndarray) -> np.ndarray:
    """The (n x fields) int64/float64 matrix that is ``recs`` (a view when contiguous)."""
    recs = np.ascontiguousarray(recs)
    base = recs.dtype[0]
    return recs.view(base).reshape(recs.shape[0], len(recs.dtype))


def as_records(plain: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The records that are the rows of ``plain`` (n x fields, contiguous): a view."""
    return np.ascontiguousarray(plain, dtype[0]).view(dtype).reshape(-1)


def concat(recs) -> np.ndarray:
    """Record arrays of one dtype, end to end (the one array itself when there is one).

    np.concatenate on structured arrays is slow: it promotes their dtypes field by field."""
    if len(recs) == 1:
        return recs[0]
    dtype = recs[0].dtype
    return np.concatenate([np.ascontiguousarray(r).view(dtype[0]) for r in recs]).view(dtype)


def columns(recs: np.ndarray, dtype=None) -> dict[str, np.ndarray]:
    """Field name -> that column of ``recs`` as a plain array (cast to ``dtype`` when given).

    Faster than ``recs[name]`` field by field: one view (or one cast) for all of them."""
    plain = as_plain(recs)
    if dtype is not None:
        plain = plain.astype(dtype)
    return dict(zip(recs.dtype.names, plain.T))


def run_jobs(jobs: np.ndarray, hw: np.ndarray, mode: str = "analytical") -> np.ndarray:
    """COUNTS records of JOB records ``jobs`` on the HW record ``hw`` in ``mode``, run interpreted
    or compiled as the call's size calls for (_tier.py)."""
    from . import _tier
    return as_records(_tier.run(mode, as_plain(jobs), as_plain(hw).reshape(NH)), COUNTS)


@njit(**NUMBA_FLAGS)
def cdiv(a, b):
    return -(-a // b)


# -- dataflow and scheme codes (what each code means: _algebra.py) -------------------------------
@njit(**NUMBA_FLAGS)
def axis_on(df, at):
    """The GEMM axis (AX_*) dataflow ``df`` puts at ``at`` (ON_ROWS, ON_COLS or ON_TIME)."""
    t = df % 3
    if at == ON_TIME:
        return t
    lo = 1 if t == 0 else 0                  # the other two axes, in code order
    hi = 3 - t - lo
    first = hi if df >= SWAPPED else lo
    return first if at == ON_ROWS else 3 - t - first


@njit(**NUMBA_FLAGS)
def place(df, ax):
    """Where dataflow ``df`` puts GEMM axis ``ax``: ON_ROWS, ON_COLS or ON_TIME."""
    if axis_on(df, ON_TIME) == ax:
        return ON_TIME
    return ON_ROWS if axis_on(df, ON_ROWS) == ax else ON_COLS


@njit(**NUMBA_FLAGS)
def role(df, a, b):
    """STATIONARY, ROW_STREAM or COL_STREAM: the role of the operand spanning axes a and b."""
    pa, pb = place(df, a), place(df, b)
    if pa != ON_TIME and pb != ON_TIME:
        return STATIONARY
    return ROW_STREAM if (pa == ON_ROWS or pb == ON_ROWS) else COL_STREAM


@njit(**NUMBA_FLAGS)
def ifmap_role(df):
    return role(df, AX_M, AX_K)


@njit(**NUMBA_FLAGS)
def filter_role(df):
    return role(df, AX_K, AX_N)


@njit(**NUMBA_FLAGS)
def ofmap_role(df):
    return role(df, AX_M, AX_N)


@njit(**NUMBA_FLAGS)
def output_stationary(df):
    """The reduction runs in time: every PE keeps its output (SCALE-Sim's os)."""
    return place(df, AX_K) == ON_TIME


@njit(**NUMBA_FLAGS)
def reads_per_element(rl, rf, cf):
    """How often the folds read each element of an operand of role ``rl``: a stationary one
    once, a row-streamed one once per column fold, a column-streamed one once per row fold."""
    if rl == STATIONARY:
        return 1
    return cf if rl == ROW_STREAM else rf


@njit(**NUMBA_FLAGS)
def runs(scheme, flag):
    """Whether scheme code ``scheme`` sums the pass of ``flag`` (SC_RUN_*) by running sums."""
    return (scheme & flag) != 0


# -- the fold algebra ---------------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def gemm_dims(df, M, N, K):
    """SCALE-Sim's (Sr, Sc, T): the GEMM axes mapped on array rows, array cols, and time."""
    d = (K, M, N)
    return d[axis_on(df, ON_ROWS)], d[axis_on(df, ON_COLS)], d[axis_on(df, ON_TIME)]


@njit(**NUMBA_FLAGS)
def fold_len(df, R, C, T):
    """Cycles of one fold: T+R+C-2, and R more to preload a stationary input a row a cycle."""
    if output_stationary(df):
        return T + R + C - 2
    return 2 * R + C + T - 2


@njit(**NUMBA_FLAGS)
def gemm_closed(df, M, N, K, R, C):
    """(fold cycles, folds, row folds, col folds, ifmap reads, filter reads, ofmap writes) of one GEMM.

    Reads/writes are SCALE-Sim 3.0.0's DETAILED_ACCESS_REPORT counts, including
    its OS quirk of adding rows + cols to the ofmap writes of every fold.
    """
    Sr, Sc, T = gemm_dims(df, M, N, K)
    rf = cdiv(Sr, R)
    cf = cdiv(Sc, C)
    folds = rf * cf
    of_w = M * N * reads_per_element(ofmap_role(df), rf, cf)
    if output_stationary(df):
        of_w += folds * (R + C)
    return (fold_len(df, R, C, T), folds, rf, cf, M * K * reads_per_element(ifmap_role(df), rf, cf),
            K * N * reads_per_element(filter_role(df), rf, cf), of_w)


# -- sum-pool geometry ---------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def needed_mask(L, n_out, s, d, taps):
    """Positions in [0, L) of the stride-1 sum-pool output that the small conv reads."""
    m = np.zeros(L, np.bool_)
    for i in range(n_out):
        for j in range(taps):
            y = s * i + d * j
            if y < L:
                m[y] = True
    return m


@njit(**NUMBA_FLAGS)
def touched_mask(need, L_in, d, win):
    """Input positions touched by the needed outputs through a window of ``win`` taps, dilation d."""
    m = np.zeros(L_in, np.bool_)
    for y in range(need.shape[0]):
        if need[y]:
            for t in range(win):
                m[y + d * t] = True
    return m


@njit(**NUMBA_FLAGS)
def running_cost(need, d, win):
    """Adds per line along one axis with running sums: per dilation chain, the first
    output costs win-1 adds, every later position (needed or skipped over) one add
    and one subtract."""
    if win <= 1:
        return 0
    L = need.shape[0]
    total = 0
    for r in range(d):
        lo = -1
        hi = -1
        y = r
        while y < L:
            if need[y]:
                if lo < 0:
                    lo = y
                hi = y
            y += d
        if lo >= 0:
            total += (win - 1) + 2 * ((hi - lo) // d)
    return total


@njit(**NUMBA_FLAGS)
def count_true(m):
    n = 0
    for v in m:
        if v:
            n += 1
    return n


@njit(**NUMBA_FLAGS)
def ceil_log2(x):
    n = 0
    v = 1
    while v < x:
        v *= 2
        n += 1
    return n


@njit(**NUMBA_FLAGS)
def spu_geometry(job):
    """Per-group sum-pool quantities shared by both modes.

    Returns (Hn, Wn, Rin, Cin, run_h, run_w, need_h, need_w, in_h) where Hn x Wn
    are the needed sum-pool outputs, Rin x Cin the padded-input positions they
    touch, run_h/run_w the running-sum cost of one line along H/W.
    """
    Hp = job[J_H] + 2 * job[J_PH]
    Wp = job[J_W] + 2 * job[J_PW]
    H1 = Hp - job[J_DH] * (job[J_A] - 1)
    W1 = Wp - job[J_DW] * (job[J_B] - 1)
    need_h = needed_mask(H1, job[J_HO], job[J_SH], job[J_DH], job[J_NH])
    need_w = needed_mask(W1, job[J_WO], job[J_SW], job[J_DW], job[J_NW])
    in_h = touched_mask(need_h, Hp, job[J_DH], job[J_A])
    in_w = touched_mask(need_w, Wp, job[J_DW], job[J_B])
    return (count_true(need_h), count_true(need_w), count_true(in_h), count_true(in_w),
            running_cost(need_h, job[J_DH], job[J_A]), running_cost(need_w, job[J_DW], job[J_B]),
            need_h, need_w, in_h)


# -- sum-pool scheme rules: adds and pipeline depth -------------------------------------------
@njit(**NUMBA_FLAGS)
def pass_adds(scheme, flag, direct, running):
    """Adds of one pass: its windows summed directly (adder trees), or, when the scheme runs
    the pass (``flag``), by running sums where those take fewer."""
    return min(direct, running) if runs(scheme, flag) else direct


@njit(**NUMBA_FLAGS)
def channel_line_cost(c, kc, scheme):
    """Adds to turn one spatial position's Cg channels into c window sums of kc channels."""
    if kc <= 1:
        return 0
    return pass_adds(scheme, SC_RUN_CH, c * (kc - 1), (kc - 1) + 2 * (c - 1))


@njit(**NUMBA_FLAGS)
def pass_depth(scheme, flag, win):
    """Pipeline stages of one pass over ``win`` taps: one for running sums, a tree's depth else."""
    if runs(scheme, flag):
        return 1 if win > 1 else 0
    return ceil_log2(win)


@njit(**NUMBA_FLAGS)
def spu_depth(scheme, kc, a, b):
    """Pipeline fill of the adder datapath: one adder tree over the whole window (tree), else
    the three passes' stages one after the other."""
    if scheme & SC_TREE:
        return ceil_log2(kc * a * b)
    return (pass_depth(scheme, SC_RUN_CH, kc) + pass_depth(scheme, SC_RUN_ROW, a)
            + pass_depth(scheme, SC_RUN_COL, b))


@njit(**NUMBA_FLAGS)
def spu_pass_ops(job, scheme, Hn, Wn, Rin, Cin, run_h, run_w):
    """(channel, row, column) pass adds of one group (tree: everything in 'column')."""
    c, kc, a, b = job[J_C], job[J_KC], job[J_A], job[J_B]
    if scheme & SC_TREE:
        return 0, 0, c * Hn * Wn * (kc * a * b - 1)
    ch = Rin * Cin * channel_line_cost(c, kc, scheme)
    row = c * Cin * pass_adds(scheme, SC_RUN_ROW, Hn * (a - 1), run_h)
    col = c * Hn * pass_adds(scheme, SC_RUN_COL, Wn * (b - 1), run_w)
    return ch, row, col


@njit(**NUMBA_FLAGS)
def spu_buffers(job, hw, Hn, Wn, Cin):
    """(line-buffer bytes the sum-pool unit needs for its row window, bytes the fused
    MAC array needs on top of that)."""
    bpe = np.int64(hw[H_BPE])
    win_rows = job[J_DH] * (job[J_A] - 1) + 1
    chans = job[J_CG] if np.int64(hw[H_SCHEME]) & SC_TREE else job[J_C]
    spu_need = bpe * chans * win_rows * Cin
    if place(np.int64(hw[H_DF]), AX_M) == ON_ROWS:
        # one band = R consecutive output pixels: at most ceil(R/Wo)+1 output rows
        span = min(job[J_HO], cdiv(np.int64(hw[H_R]), job[J_WO]) + 1)
        rows = min(Hn, job[J_SH] * (span - 1) + job[J_DH] * (job[J_NH] - 1) + 1)
    else:
        rows = Hn       # pixels in time or across columns: every fold sweeps the whole map
    return spu_need, bpe * job[J_C] * rows * Wn


# -- DRAM traffic of one GEMM (elements) --------------------------------------------------
# A GEMM's folds form a (row fold fr) x (col fold fc) grid. Order 0 is SCALE-Sim's
# (col folds outer), order 1 runs row folds outer. Every fold lasts the same number
# of cycles and SCALE-Sim's SRAM counts are sums over folds, so the order changes
# only which operand tiles stay resident: the memory model takes the cheaper one.
# A streamed operand has one tile per row fold (row-streamed) or per column fold (column-
# streamed), read again in every fold of the other kind. The order that runs a tile's reads
# back to back (order 1 for a row-streamed one, 0 for a column-streamed one) keeps the tile
# across them when it fits half its SRAM; the other order only when the whole operand fits.
@njit(**NUMBA_FLAGS)
def fold_grid(df, M, N, K, R, C):
    """(Sr, Sc, T, R, C, row folds, col folds) of one GEMM on the array."""
    Sr, Sc, T = gemm_dims(df, M, N, K)
    return Sr, Sc, T, R, C, cdiv(Sr, R), cdiv(Sc, C)


@njit(**NUMBA_FLAGS)
def stream_axes(rl, rf, cf):
    """(tiles, reads of each, the fold order that reads a tile back to back) of a streamed role."""
    if rl == ROW_STREAM:
        return rf, cf, 1
    return cf, rf, 0


@njit(**NUMBA_FLAGS)
def stream_tiles(rl, grid):
    """(full, last) tile of an exactly tiled streamed operand, elements."""
    Sr, Sc, T, R, C, rf, cf = grid
    if rl == ROW_STREAM:
        return min(R, Sr) * T, (Sr - (rf - 1) * R) * T
    return T * min(C, Sc), T * (Sc - (cf - 1) * C)


@njit(**NUMBA_FLAGS)
def ifmap_dram(rl, Fi, grid, h, order):
    """(DRAM elements, first load) of an ifmap of ``Fi`` elements fetched in equal shares per tile."""
    rf, cf = grid[5], grid[6]
    if rl == STATIONARY:
        return Fi, Fi // (rf * cf)
    n, again, keeps = stream_axes(rl, rf, cf)
    kept = Fi <= h or (order == keeps and cdiv(Fi, n) <= h)
    return (Fi if kept else Fi * again), Fi // n


@njit(**NUMBA_FLAGS)
def filter_dram(rl, Ff, grid, h, order):
    """(DRAM elements, first load) of a filter of ``Ff`` elements, tiled exactly."""
    Sr, Sc, T, R, C, rf, cf = grid
    if rl == STATIONARY:
        return Ff, min(R, Sr) * min(C, Sc)
    n, again, keeps = stream_axes(rl, rf, cf)
    full, last = stream_tiles(rl, grid)
    if order != keeps:
        return (Ff if Ff <= h else Ff * again), full
    return ((n - 1) * full * (1 if (Ff <= h or full <= h) else again)
            + last * (1 if (Ff <= h or last <= h) else again)), full


@njit(**NUMBA_FLAGS)
def ofmap_dram(rl, Fo, grid, h, order):
    """(DRAM elements, last write) of an ofmap of ``Fo`` elements: stationary, each written once;
    column-streamed (the only other role an output takes), partial sums across the row folds,
    kept on chip while the outputs alive at once fit, else written back by every row fold and
    read back by the next (2 rf - 1 transfers)."""
    Sr, Sc, T, R, C, rf, cf = grid
    if rl == STATIONARY:
        return Fo, (Sr - (rf - 1) * R) * (Sc - (cf - 1) * C)
    alive = T * min(C, Sc) if order == 0 else Fo
    fits = rf == 1 or alive <= h
    return (Fo if fits else Fo * (2 * rf - 1)), T * (Sc - (cf - 1) * C)


@njit(**NUMBA_FLAGS)
def dram_closed(df, M, N, K, R, C, Fi, half_i, half_f, half_o, order):
    """(total, first load, last write) DRAM elements of one GEMM; fold_traffic is the schedule."""
    ifm, filt, ofm, l0_i, l0_f, last_w = dram_parts(df, M, N, K, R, C, Fi, half_i, half_f, half_o, order)
    return ifm + filt + ofm, l0_i + l0_f, last_w


@njit(**NUMBA_FLAGS)
def dram_parts(df, M, N, K, R, C, Fi, half_i, half_f, half_o, order):
    """(ifmap, filter, ofmap, first ifmap load, first filter load, last write) DRAM elements
    of one GEMM; ofmap counts partial-sum write-backs and read-backs."""
    grid = fold_grid(df, M, N, K, R, C)
    ifm, l0_i = ifmap_dram(ifmap_role(df), Fi, grid, half_i, order)
    filt, l0_f = filter_dram(filter_role(df), K * N, grid, half_f, order)
    ofm, last_w = ofmap_dram(ofmap_role(df), M * N, grid, half_o, order)
    return ifm, filt, ofm, l0_i, l0_f, last_w


@njit(**NUMBA_FLAGS)
def pick_order(df, M, N, K, R, C, Fi, half_i, half_f, half_o, rows_outer):
    """Fold order with the least DRAM traffic (ties: SCALE-Sim's); fused OS must run row folds outer."""
    if rows_outer:
        return 1
    t0 = dram_closed(df, M, N, K, R, C, Fi, half_i, half_f, half_o, 0)[0]
    t1 = dram_closed(df, M, N, K, R, C, Fi, half_i, half_f, half_o, 1)[0]
    return 1 if t1 < t0 else 0


@njit(**NUMBA_FLAGS)
def xfer(hw, bi, bf, bo):
    """Cycles the DRAM link(s) take to move bi ifmap, bf filter and bo ofmap bytes at
    once: their sum over the shared link, or the slowest of the per-operand links.
    (``unlimited`` is timed as shared; its stall is dropped at the end of the job.)"""
    if np.int64(hw[H_LINKS]) == LK_PER_OP:
        return max(np.int64(np.ceil(bi / hw[H_BW_I])), np.int64(np.ceil(bf / hw[H_BW_F])),
                   np.int64(np.ceil(bo / hw[H_BW_O])))
    return np.int64(np.ceil((bi + bf + bo) / hw[H_BW]))


@njit(**NUMBA_FLAGS)
def ifmap_bw(hw):
    """Bytes per cycle of the link that carries the ifmap (and the sum-pool's input)."""
    return hw[H_BW_I] if np.int64(hw[H_LINKS]) == LK_PER_OP else hw[H_BW]


@njit(**NUMBA_FLAGS)
def stall_closed(hw, l0_i, l0_f, tot_i, tot_f, tot_o, last_w, busy_cycles):
    """Double buffering: the first tiles are a fill, the last write a drain, the rest
    overlaps compute and stalls only where a link is the bottleneck overall (bytes).

    ``busy_cycles`` is the compute time in the reported convention (SCALE-Sim's busy - 1
    per GEMM), so compute + stall >= every link's busy time, link_closed."""
    fill = xfer(hw, l0_i, l0_f, 0)
    mid = xfer(hw, tot_i - l0_i, tot_f - l0_f, tot_o - last_w)
    return fill + max(np.int64(0), mid - busy_cycles) + xfer(hw, 0, 0, last_w)


@njit(**NUMBA_FLAGS)
def link_closed(hw, l0_i, l0_f, tot_i, tot_f, tot_o, last_w, stream):
    """Busy time of the layer's DRAM link(s), bytes: fill, everything in between, drain
    (per operand: the busiest link). ``stream`` of the ifmap bytes is the sum-pool's input,
    which fills what the fill's and drain's last cycles leave of a shared link: there the
    bound is the tiles' three phases or all the bytes at the link's rate, the longer."""
    if np.int64(hw[H_LINKS]) == LK_PER_OP:
        return max(xfer(hw, l0_i, 0, 0) + xfer(hw, tot_i - l0_i, 0, 0),
                   xfer(hw, 0, l0_f, 0) + xfer(hw, 0, tot_f - l0_f, 0),
                   xfer(hw, 0, 0, tot_o - last_w) + xfer(hw, 0, 0, last_w))
    return max(xfer(hw, l0_i, l0_f, 0) + xfer(hw, tot_i - l0_i - stream, tot_f - l0_f, tot_o - last_w)
               + xfer(hw, 0, 0, last_w), xfer(hw, tot_i, tot_f, tot_o))


# -- the ifmap's need sets (dense jobs) -------------------------------------------------------
# A dense GEMM's ifmap operand is SCALE-Sim's matrix I (pixels p x window elements j, j =
# (kernel row * kw + kernel col) * cg + channel). A fold reads a rectangle of it: os pixels
# [fr*R, ..) x all j; ws all pixels x j in [fr*R, ..); is pixels [fc*C, ..) x j in [fr*R, ..).
# Its *need set* is the input elements (channel, y, x) that rectangle touches (padding and
# hanging windows are no elements). The buffer policy is tests/trace_reference.py's: when the
# whole footprint fits in half the ifmap SRAM a fold loads what was never loaded; otherwise it
# loads its need set minus the previous fold's (kept when that fits in half).
# Counting works per channel class: within a rectangle the channels with the same kernel-offset
# range share one spatial set, counted on an H x W stamp array.
@njit(**NUMBA_FLAGS)
def fold_rect(df, fc, fr, R, C, M, Kk):
    """(p0, p1, j0, j1): the ifmap rectangle fold (fc, fr) reads."""
    p0, p1 = fold_span(place(df, AX_M), fc, fr, R, C, M)
    j0, j1 = fold_span(place(df, AX_K), fc, fr, R, C, Kk)
    return p0, p1, j0, j1


@njit(**NUMBA_FLAGS)
def fold_span(at, fc, fr, R, C, L):
    """The range of an axis of length L that fold (fc, fr) covers when it sits ``at``."""
    if at == ON_ROWS:
        return fr * R, min(L, (fr + 1) * R)
    if at == ON_COLS:
        return fc * C, min(L, (fc + 1) * C)
    return 0, L


@njit(**NUMBA_FLAGS)
def _mark(job, p0, p1, oa, ob, stamp, sid):
    """Mark the spatial positions windows of pixels [p0, p1) touch at kernel offsets [oa, ob)
    with ``sid``; return how many were not marked with it before."""
    return _mark2(job, p0, p1, oa, ob, stamp, sid)[0]


@njit(**NUMBA_FLAGS)
def _offsets(j0, j1, ch, cg):
    """Kernel offsets [oa, ob) channel ch has in window elements [j0, j1)."""
    return (j0 - ch + cg - 1) // cg, (j1 - ch + cg - 1) // cg


@njit(**NUMBA_FLAGS)
def rect_pair(job, a, b, stamp, sid):
    """(|need(a)|, |need(b)|, |need(a) & need(b)|) of rectangles a, b = (p0, p1, j0, j1);
    b may be empty (p1 <= p0). ``sid`` is a one-element counter of stamp ids."""
    cg = job[J_CG]
    cuts = np.empty(6, np.int64)
    cuts[0] = 0
    cuts[1] = a[2] % cg
    cuts[2] = a[3] % cg
    cuts[3] = b[2] % cg
    cuts[4] = b[3] % cg
    cuts[5] = cg
    cuts.sort()
    na = 0
    nb = 0
    ni = 0
    has_b = b[1] > b[0] and b[3] > b[2]
    for k in range(5):
        lo, hi = cuts[k], cuts[k + 1]
        if hi <= lo:
            continue
        cnt = hi - lo
        oa0, oa1 = _offsets(a[2], a[3], lo, cg)
        ob0, ob1 = _offsets(b[2], b[3], lo, cg)
        marks = (a[1] - a[0]) * (oa1 - oa0) + ((b[1] - b[0]) * (ob1 - ob0) if has_b else 0)
        if stamp.shape[0] == 0 or marks > blocks_cost(job):      # count by products: cheaper
            ua, ub, both = union_pair(job, a, oa0, oa1, b, ob0, ob1)
            na += cnt * ua
            nb += cnt * ub
            ni += cnt * both
            continue
        sid[0] += 1
        ua = _mark(job, a[0], a[1], oa0, oa1, stamp, sid[0])
        na += cnt * ua
        if has_b:
            sid[0] += 1
            ub, both = _mark2(job, b[0], b[1], ob0, ob1, stamp, sid[0])
            nb += cnt * ub
            ni += cnt * both
    return na, nb, ni


# Counting without marks. The pixels [p0, p1) of a rectangle are at most three blocks of whole
# ranges (oh in an interval) x (ow in an interval) -- a partial first output row, full rows, a
# partial last row -- and its kernel offsets [oa, ob) at most three blocks (kr) x (kc) likewise.
# A (pixel block, offset block) pair touches exactly the product set Y x X of input rows
# Y = {oh*sh + kr*dh - ph} and columns X = {ow*sw + kc*dw - pw}, so a need set is a union of at
# most nine products, and its size is the sum over input rows y of |union of the X whose Y
# holds y|. Rows with the same set of covering products share that count: the cost is
# O(products x (H + W) + distinct row signatures x products x W), not pixels x offsets.
@njit(**NUMBA_FLAGS)
def _ranges(lo, hi, width, out, n):
    """Split [lo, hi) of a raster index (row-major, ``width`` per row) into at most three
    (row lo, row hi, col lo, col hi) blocks appended to ``out`` from slot n; return the new n."""
    if hi <= lo:
        return n
    r0, c0 = lo // width, lo % width
    r1, c1 = (hi - 1) // width, (hi - 1) % width
    if r0 == r1:
        out[n, 0], out[n, 1], out[n, 2], out[n, 3] = r0, r0 + 1, c0, c1 + 1
        return n + 1
    out[n, 0], out[n, 1], out[n, 2], out[n, 3] = r0, r0 + 1, c0, width
    n += 1
    if r1 > r0 + 1:
        out[n, 0], out[n, 1], out[n, 2], out[n, 3] = r0 + 1, r1, 0, width
        n += 1
    out[n, 0], out[n, 1], out[n, 2], out[n, 3] = r1, r1 + 1, 0, c1 + 1
    return n + 1


@njit(**NUMBA_FLAGS)
def _axis(mask, o0, o1, k0, k1, s, d, pad):
    """mask[o*s + k*d - pad] = True for o in [o0, o1), k in [k0, k1), inside the mask."""
    L = mask.shape[0]
    for k in range(k0, k1):
        base = k * d - pad
        lo = max(o0, cdiv(-base, s)) if base < 0 else o0
        hi = min(o1, cdiv(L - base, s))
        for o in range(lo, hi):
            mask[o * s + base] = True


@njit(**NUMBA_FLAGS)
def _products(job, rect, oa, ob, ys, xs, n):
    """Append the products of rectangle ``rect``'s pixels and kernel offsets [oa, ob) to the
    row masks ``ys`` and column masks ``xs`` from slot n; return the new n."""
    pix = np.zeros((3, 4), np.int64)
    off = np.zeros((3, 4), np.int64)
    npix = _ranges(rect[0], rect[1], job[J_WO], pix, 0)
    noff = _ranges(oa, ob, job[J_NW], off, 0)
    for i in range(npix):
        for j in range(noff):
            ys[n, :] = False
            xs[n, :] = False
            _axis(ys[n], pix[i, 0], pix[i, 1], off[j, 0], off[j, 1], job[J_SH], job[J_DH], job[J_PH])
            _axis(xs[n], pix[i, 2], pix[i, 3], off[j, 2], off[j, 3], job[J_SW], job[J_DW], job[J_PW])
            n += 1
    return n


@njit(**NUMBA_FLAGS)
def blocks_cost(job):
    """Work of one union_pair (an estimate in the units of marks): 18 products over H and W,
    the row signatures sorted, a few distinct signatures' column unions."""
    H, W = job[J_H], job[J_W]
    return 20 * (H + W) + H * ceil_log2(H + 1) + 40 * W


STAMP_MAX = 1 << 24          # stamp arrays (one int32 per input position) up to 64 MiB; above: products only


@njit(**NUMBA_FLAGS)
def new_stamp(job):
    """The H x W stamp array of the marking counters, or an empty one (count by products)."""
    HW = job[J_H] * job[J_W]
    if HW > STAMP_MAX:
        return np.zeros(0, np.int32)
    return np.full(HW, -1, np.int32)


@njit(**NUMBA_FLAGS)
def union_pair(job, a, oa0, oa1, b, ob0, ob1):
    """(|A|, |B|, |A & B|) of the spatial need sets A (rectangle a at kernel offsets
    [oa0, oa1)) and B (b at [ob0, ob1); b may be empty), counted by products (no marks)."""
    H, W = job[J_H], job[J_W]
    ys = np.zeros((18, H), np.bool_)
    xs = np.zeros((18, W), np.bool_)
    na = _products(job, a, oa0, oa1, ys, xs, 0)
    nt = na
    if b[1] > b[0] and ob1 > ob0:
        nt = _products(job, b, ob0, ob1, ys, xs, na)
    sig = np.zeros(H, np.int64)
    for i in range(nt):
        for y in range(H):
            if ys[i, y]:
                sig[y] |= np.int64(1) << i
    sig.sort()
    ca = 0
    cb = 0
    ci = 0
    ua = np.zeros(W, np.bool_)
    ub = np.zeros(W, np.bool_)
    y = 0
    while y < H:
        run = 1
        while y + run < H and sig[y + run] == sig[y]:
            run += 1
        m = sig[y]
        if m != 0:
            ua[:] = False
            ub[:] = False
            for i in range(nt):
                if (m >> i) & 1:
                    if i < na:
                        ua |= xs[i]
                    else:
                        ub |= xs[i]
            sa = 0
            sb = 0
            si = 0
            for x in range(W):
                sa += ua[x]
                sb += ub[x]
                si += ua[x] and ub[x]
            ca += run * sa
            cb += run * sb
            ci += run * si
        y += run
    return ca, cb, ci


@njit(**NUMBA_FLAGS)
def _mark2(job, p0, p1, oa, ob, stamp, sid):
    """_mark, also counting the positions newly marked that carried sid - 1 (a's set)."""
    H, W, kw, Wo = job[J_H], job[J_W], job[J_NW], job[J_WO]
    sh, sw, dh, dw, ph, pw = job[J_SH], job[J_SW], job[J_DH], job[J_DW], job[J_PH], job[J_PW]
    n = 0
    both = 0
    for p in range(p0, p1):
        oh = p // Wo
        ow = p - oh * Wo
        for o in range(oa, ob):
            kr = o // kw
            y = oh * sh + kr * dh - ph
            if y < 0 or y >= H:
                continue
            x = ow * sw + (o - kr * kw) * dw - pw
            if x < 0 or x >= W:
                continue
            a = y * W + x
            s = stamp[a]
            if s != sid:
                if s == sid - 1:
                    both += 1
                stamp[a] = sid
                n += 1
    return n, both


@njit(**NUMBA_FLAGS)
def ifmap_footprint(job):
    """Input elements of one group the windows read: touched rows x touched cols x cg."""
    H, W = job[J_H], job[J_W]
    rows = np.zeros(H, np.bool_)
    cols = np.zeros(W, np.bool_)
    for oh in range(job[J_HO]):
        for kr in range(job[J_NH]):
            y = oh * job[J_SH] + kr * job[J_DH] - job[J_PH]
            if 0 <= y < H:
                rows[y] = True
    for ow in range(job[J_WO]):
        for kc in range(job[J_NW]):
            x = ow * job[J_SW] + kc * job[J_DW] - job[J_PW]
            if 0 <= x < W:
                cols[x] = True
    return count_true(rows) * count_true(cols) * job[J_CG]


@njit(**NUMBA_FLAGS)
def _interior(job, r):
    """Whether every window row of rectangle r's pixels lies inside the input (no clipping)."""
    Wo = job[J_WO]
    lo = (r[0] // Wo) * job[J_SH] - job[J_PH]
    hi = ((r[1] - 1) // Wo) * job[J_SH] + (job[J_NH] - 1) * job[J_DH] - job[J_PH]
    return lo >= 0 and hi < job[J_H]


@njit(**NUMBA_FLAGS)
def pair_memo(job, a, b, C, fr, stamp, sid, tab):
    """rect_pair of is folds, remembered in ``tab`` [column start of b, fr]: moving both
    rectangles by whole output rows moves their need sets by whole input rows, so the inner
    steps of a fold order (same pixel block, next row fold; or next pixel block, same row fold)
    between full blocks of C pixels whose windows stay inside the input give the same counts
    wherever their blocks start in the same column. ``tab`` empty: no memo."""
    ok = tab.shape[0] > 0 and b[1] - b[0] == C and (a[1] <= a[0] or a[1] - a[0] == C) \
        and _interior(job, b) and (a[1] <= a[0] or _interior(job, a))
    if not ok:
        if a[1] <= a[0]:
            return rect_pair(job, b, a, stamp, sid)[0], 0
        r = rect_pair(job, a, b, stamp, sid)
        return r[1], r[2]
    col = b[0] % job[J_WO]
    if tab[col, fr, 0] < 0:
        if a[1] <= a[0]:
            tab[col, fr, 0] = rect_pair(job, b, a, stamp, sid)[0]
            tab[col, fr, 1] = 0
        else:
            r = rect_pair(job, a, b, stamp, sid)
            tab[col, fr, 0] = r[1]
            tab[col, fr, 1] = r[2]
    return tab[col, fr, 0], tab[col, fr, 1]


MEMO_MAX = 1 << 20           # entries of an is memo table (output width x row folds)


@njit(**NUMBA_FLAGS)
def ifmap_schedule(job, df, R, C, rf, cf, order, half_i, foot, loads):
    """(total, first fold's) ifmap elements one group loads in fold order ``order``; fills
    ``loads`` (one per fold, schedule order) when it has rf*cf entries."""
    M, Kk = job[J_M], job[J_K]
    stamp = new_stamp(job)
    sid = np.zeros(1, np.int64)
    Wo = job[J_WO]
    stationary = ifmap_role(df) == STATIONARY      # the ifmap is held in the PEs: is
    memo_on = stationary and Wo * rf <= MEMO_MAX
    pairs = np.full((Wo if memo_on else 0, rf, 2), -1, np.int64)     # (|cur|, |prev & cur|) of inner steps
    singles = np.full((Wo if memo_on else 0, rf, 2), -1, np.int64)   # |cur| alone
    empty = (np.int64(0), np.int64(0), np.int64(0), np.int64(0))
    per_fold = loads.shape[0] == rf * cf
    if foot <= half_i:
        # nothing is evicted: a fold loads what was never loaded before
        first = rect_pair(job, fold_rect(df, 0, 0, R, C, M, Kk), empty, stamp, sid)[0]
        if per_fold:
            fits_loads(job, df, R, C, rf, cf, order, loads)
        return foot, first
    n_outer = rf if order == 1 else cf
    n_inner = cf if order == 1 else rf
    if stationary and job[J_NH] == 1 and job[J_NW] == 1 and job[J_PH] == 0 and job[J_PW] == 0:
        return pointwise_loads(job, df, R, C, rf, cf, order, loads)
    if stationary and not per_fold and memo_on:
        return is_totals(job, df, R, C, rf, cf, order, half_i, stamp, sid, pairs, singles)
    periodic = ifmap_role(df) == ROW_STREAM and order == 0     # a fold's rectangle depends on fr only
    total = 0
    first = 0
    rep = 0                                        # periodic: the loads of column fold 1
    prev = empty
    prev_n = 0
    for o in range(n_outer):
        if periodic and o >= 2:                    # every later column fold repeats column fold 1
            total += (n_outer - 2) * rep
            if per_fold:
                for s in range(2 * rf, rf * cf):
                    loads[s] = loads[s - rf]
            return total, first
        for q in range(n_inner):
            seq = o * n_inner + q
            fr = o if order == 1 else q
            fc = q if order == 1 else o
            cur = fold_rect(df, fc, fr, R, C, M, Kk)
            ld, n = fold_step(job, prev, prev_n, cur, q, fr, seq, C, half_i, stamp, sid, pairs, singles)
            if seq == 0:
                first = ld
            if periodic and o == 1:
                rep += ld
            total += ld
            if per_fold:
                loads[seq] = ld
            prev = cur
            prev_n = n
    return total, first


@njit(**NUMBA_FLAGS)
def fold_step(job, prev, prev_n, cur, q, fr, seq, C, half_i, stamp, sid, pairs, singles):
    """(loads, need-set size) of fold ``cur`` after fold ``prev`` (need-set size prev_n), the
    seq-th of its GEMM, q-th of its inner loop: its need set minus the previous fold's when that
    fits ``half_i`` (the previous fold's set stays), else all of it."""
    keep = seq > 0 and prev_n <= half_i
    if cur == prev:
        return (0 if keep else prev_n), prev_n
    if keep:
        if q > 0:
            n, inter = pair_memo(job, prev, cur, C, fr, stamp, sid, pairs)
        else:
            _na, n, inter = rect_pair(job, prev, cur, stamp, sid)
        return n - inter, n
    empty = (np.int64(0), np.int64(0), np.int64(0), np.int64(0))
    n = pair_memo(job, empty, cur, C, fr, stamp, sid, singles)[0]
    return n, n


@njit(**NUMBA_FLAGS)
def _regular(job, C, fc):
    """Whether pixel block fc of an is GEMM is a full block of C pixels whose windows stay
    inside the input (pair_memo's translation rule applies)."""
    p0 = fc * C
    r = (p0, p0 + C, np.int64(0), np.int64(0))
    return fc >= 0 and p0 + C <= job[J_M] and _interior(job, r)


@njit(**NUMBA_FLAGS)
def is_totals(job, df, R, C, rf, cf, order, half_i, stamp, sid, pairs, singles):
    """(total, first) ifmap loads of an is GEMM (ifmap_schedule's loop, totals only), skipping
    what translation repeats: order 0 (pixel blocks outer), a pixel block after a block, both
    regular (_regular), loads what any such block at the same column start does; order 1 (row
    folds outer), the steps between regular blocks repeat with the period of the column start
    (Wo / gcd(Wo, C) blocks), so whole periods of a run of regular blocks are added at once."""
    memo = (stamp, sid, pairs, singles)
    if order == 0:
        return is_totals_blocks_outer(job, df, R, C, rf, cf, half_i, memo)
    return is_totals_rows_outer(job, df, R, C, rf, cf, half_i, memo)


@njit(**NUMBA_FLAGS)
def is_totals_blocks_outer(job, df, R, C, rf, cf, half_i, memo):
    """is_totals in order 0: a regular block after a regular block loads what the last such
    block at its column start loaded (``memo``: fold_step's stamp, sid, pairs, singles)."""
    stamp, sid, pairs, singles = memo
    M, Kk, Wo = job[J_M], job[J_K], job[J_WO]
    total = 0
    first = 0
    prev = (np.int64(0), np.int64(0), np.int64(0), np.int64(0))
    prev_n = 0
    colsum = np.full(Wo, -1, np.int64)
    coln = np.zeros(Wo, np.int64)
    for o in range(cf):
        col = (o * C) % Wo
        ok = o >= 1 and _regular(job, C, o) and _regular(job, C, o - 1)
        if ok and colsum[col] >= 0:
            total += colsum[col]
            prev = fold_rect(df, o, rf - 1, R, C, M, Kk)
            prev_n = coln[col]
            continue
        acc = 0
        for q in range(rf):
            cur = fold_rect(df, o, q, R, C, M, Kk)
            ld, n = fold_step(job, prev, prev_n, cur, q, q, o * rf + q, C, half_i, stamp, sid, pairs, singles)
            if o == 0 and q == 0:
                first = ld
            acc += ld
            prev = cur
            prev_n = n
        total += acc
        if ok:
            colsum[col] = acc
            coln[col] = prev_n
    return total, first


@njit(**NUMBA_FLAGS)
def last_regular(job, C, q, cf):
    """The last of the consecutive regular blocks from regular block q (binary search)."""
    lo, hi = q, cf - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _regular(job, C, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(**NUMBA_FLAGS)
def is_totals_rows_outer(job, df, R, C, rf, cf, half_i, memo):
    """is_totals in order 1: after P regular steps, the next blocks repeat the last P steps
    while they stay regular, so whole periods are added at once (``memo`` as above)."""
    stamp, sid, pairs, singles = memo
    M, Kk, Wo = job[J_M], job[J_K], job[J_WO]
    total = 0
    first = 0
    prev = (np.int64(0), np.int64(0), np.int64(0), np.int64(0))
    prev_n = 0
    a, b = Wo, C
    while b:
        a, b = b, a % b
    P = Wo // a                                    # blocks until the column start repeats
    hist = np.zeros(P, np.int64)
    hist_n = np.zeros(P, np.int64)
    for fr in range(rf):
        streak = 0
        q = 0
        while q < cf:
            if streak >= P and _regular(job, C, q):
                k = (last_regular(job, C, q, cf) - q + 1) // P
                if k > 0:
                    total += k * hist.sum()
                    q += k * P
                    prev = fold_rect(df, q - 1, fr, R, C, M, Kk)
                    prev_n = hist_n[(q - 1) % P]
                    continue
            cur = fold_rect(df, q, fr, R, C, M, Kk)
            ld, n = fold_step(job, prev, prev_n, cur, q, fr, fr * cf + q, C, half_i, stamp, sid, pairs,
                              singles)
            if fr == 0 and q == 0:
                first = ld
            total += ld
            regular_step = q >= 1 and _regular(job, C, q) and _regular(job, C, q - 1)
            streak = streak + 1 if regular_step else 0
            hist[q % P] = ld
            hist_n[q % P] = n
            prev = cur
            prev_n = n
            q += 1
    return total, first


@njit(**NUMBA_FLAGS)
def pointwise_loads(job, df, R, C, rf, cf, order, loads):
    """is folds of a 1x1 layer without padding: every (pixel, window element) of the ifmap
    operand is its own input element and the folds' rectangles are disjoint, so each fold
    loads its whole rectangle: (total, first) = (M * K, the first rectangle)."""
    M, Kk = job[J_M], job[J_K]
    if loads.shape[0] == rf * cf:
        n_inner = cf if order == 1 else rf
        for s in range(rf * cf):
            o, q = s // n_inner, s % n_inner
            fr = o if order == 1 else q
            fc = q if order == 1 else o
            p0, p1, j0, j1 = fold_rect(df, fc, fr, R, C, M, Kk)
            loads[s] = (p1 - p0) * (j1 - j0)
    return M * Kk, min(C, M) * min(R, Kk)


@njit(**NUMBA_FLAGS)
def fits_loads(job, df, R, C, rf, cf, order, loads):
    """Per fold, the elements never loaded before (the footprint fits: nothing is evicted)."""
    cg, H, W, kw, Wo = job[J_CG], job[J_H], job[J_W], job[J_NW], job[J_WO]
    sh, sw, dh, dw, ph, pw = job[J_SH], job[J_SW], job[J_DH], job[J_DW], job[J_PH], job[J_PW]
    M, Kk, rl = job[J_M], job[J_K], ifmap_role(df)
    seen = np.zeros(cg * H * W, np.bool_)
    n_outer = rf if order == 1 else cf
    n_inner = cf if order == 1 else rf
    for o in range(n_outer):
        for q in range(n_inner):
            seq = o * n_inner + q
            fr = o if order == 1 else q
            fc = q if order == 1 else o
            loads[seq] = 0
            if (fc >= 1 and rl == ROW_STREAM) or (fr >= 1 and rl == COL_STREAM):
                continue                                 # a rectangle read before: resident
            p0, p1, j0, j1 = fold_rect(df, fc, fr, R, C, M, Kk)
            n = 0
            for p in range(p0, p1):
                oh = p // Wo
                ow = p - oh * Wo
                for j in range(j0, j1):
                    o2 = j // cg
                    kr = o2 // kw
                    y = oh * sh + kr * dh - ph
                    if y < 0 or y >= H:
                        continue
                    x = ow * sw + (o2 - kr * kw) * dw - pw
                    if x < 0 or x >= W:
                        continue
                    a = (y * W + x) * cg + (j - o2 * cg)
                    if not seen[a]:
                        seen[a] = True
                        n += 1
            loads[seq] = n


@njit(**NUMBA_FLAGS)
def row_fold_sets(job, df, R, rf, half_i):
    """A row-streamed ifmap (os, ws), whose fold rectangles depend on the row fold only: per row
    fold fr, its need set's size n[fr] and its overlap it[fr] with row fold fr-1's; and the
    overlap w of the last row fold's with the first's (what column fold fc+1's first fold finds
    resident)."""
    M, Kk, cg = job[J_M], job[J_K], job[J_CG]
    n = np.zeros(rf, np.int64)
    it = np.zeros(rf, np.int64)
    stamp = new_stamp(job)
    os_marks = min(R, M) * job[J_NH] * job[J_NW]
    if output_stationary(df) and stamp.shape[0] > 0 and os_marks <= 2 * blocks_cost(job):
        # every row fold reads all channels: one spatial set per fold, stamped with its index
        for fr in range(rf + 1):
            p0, p1, _j0, _j1 = fold_rect(df, 0, fr % rf, R, 1, M, Kk)
            new, old = _mark_os(job, p0, p1, stamp, fr)
            if fr < rf:
                n[fr] = cg * new
                it[fr] = cg * old
            else:
                w = cg * old
        return n, it, w
    sid = np.zeros(1, np.int64)
    for fr in range(rf):
        cur = fold_rect(df, 0, fr, R, 1, M, Kk)
        if fr == 0:
            n[0] = rect_pair(job, cur, (np.int64(0), np.int64(0), np.int64(0), np.int64(0)), stamp, sid)[0]
        else:
            _a, n[fr], it[fr] = rect_pair(job, fold_rect(df, 0, fr - 1, R, 1, M, Kk), cur, stamp, sid)
    w = rect_pair(job, fold_rect(df, 0, rf - 1, R, 1, M, Kk), fold_rect(df, 0, 0, R, 1, M, Kk), stamp, sid)[2]
    return n, it, w


@njit(**NUMBA_FLAGS)
def _mark_os(job, p0, p1, stamp, fr):
    """Stamp the positions pixels [p0, p1)'s windows touch with fr: (newly stamped, of those
    the ones row fold fr-1 had)."""
    H, W, kh, kw, Wo = job[J_H], job[J_W], job[J_NH], job[J_NW], job[J_WO]
    sh, sw, dh, dw, ph, pw = job[J_SH], job[J_SW], job[J_DH], job[J_DW], job[J_PH], job[J_PW]
    new = 0
    old = 0
    for p in range(p0, p1):
        oh = p // Wo
        ow = p - oh * Wo
        for kr in range(kh):
            y = oh * sh + kr * dh - ph
            if y < 0 or y >= H:
                continue
            for kc in range(kw):
                x = ow * sw + kc * dw - pw
                if x < 0 or x >= W:
                    continue
                a = y * W + x
                s = stamp[a]
                if s != fr:
                    if s == fr - 1:
                        old += 1
                    stamp[a] = fr
                    new += 1
    return new, old


@njit(**NUMBA_FLAGS)
def periodic_loads(n, it, w, rf, cf, order, half_i, loads):
    """(total, first) ifmap loads of os/ws from row_fold_sets; per fold into ``loads`` when it
    has rf*cf entries (schedule order)."""
    per_fold = loads.shape[0] == rf * cf
    total = 0
    for fr in range(rf):
        # the fold that enters row fold fr (its predecessor is row fold fr-1; none for fr = 0)
        enter = n[fr] - (it[fr] if (fr > 0 and n[fr - 1] <= half_i) else 0)
        again = 0 if n[fr] <= half_i else n[fr]          # the same rectangle once more
        if order == 1:
            total += enter + (cf - 1) * again
            if per_fold:
                loads[fr * cf] = enter
                for fc in range(1, cf):
                    loads[fr * cf + fc] = again
        else:
            # order 0: column fold 0 enters fr from fr-1; later column folds enter row fold 0
            # from the last row fold
            later = enter if fr > 0 else n[0] - (w if n[rf - 1] <= half_i else 0)
            if rf == 1:
                later = again
            total += enter + (cf - 1) * later
            if per_fold:
                loads[fr] = enter
                for fc in range(1, cf):
                    loads[fc * rf + fr] = later
    return total, n[0]


@njit(**NUMBA_FLAGS)
def dense_ifmap(job, df, R, C, rf, cf, half_i):
    """(footprint, (total, first) in order 0, (total, first) in order 1) of one group."""
    foot = ifmap_footprint(job)
    none = np.zeros(0, np.int64)
    if foot <= half_i:                               # both orders load the footprint once
        t = ifmap_schedule(job, df, R, C, rf, cf, 0, half_i, foot, none)
        return foot, t, t
    if ifmap_role(df) == ROW_STREAM:
        n, it, w = row_fold_sets(job, df, R, rf, half_i)
        return foot, periodic_loads(n, it, w, rf, cf, 0, half_i, none), periodic_loads(n, it, w, rf, cf, 1,
                                                                                          half_i, none)
    t0 = ifmap_schedule(job, df, R, C, rf, cf, 0, half_i, foot, none)
    if rf == 1 or cf == 1:
        return foot, t0, t0
    return foot, t0, ifmap_schedule(job, df, R, C, rf, cf, 1, half_i, foot, none)


@njit(**NUMBA_FLAGS)
def dense_fold_loads(job, df, R, C, rf, cf, order, half_i):
    """The ifmap elements each fold of one group loads, schedule order (cycle mode)."""
    loads = np.zeros(rf * cf, np.int64)
    foot = ifmap_footprint(job)
    if foot > half_i and ifmap_role(df) == ROW_STREAM:
        n, it, w = row_fold_sets(job, df, R, rf, half_i)
        periodic_loads(n, it, w, rf, cf, order, half_i, loads)
    else:
        ifmap_schedule(job, df, R, C, rf, cf, order, half_i, foot, loads)
    return loads


IFMAP_COUNT_MAX = 1 << 28    # need-set counting work (marks or product units) beyond which: equal shares
FITS_COUNT_MAX = 1 << 26     # footprint in SRAM: the cycle mode's per-fold first-load marks (fits_loads)


@njit(**NUMBA_FLAGS)
def pair_work(job, pixels, offsets):
    """Work of counting one pair of rectangles of ``pixels`` x ``offsets`` each: marks on a stamp
    array, or products when that is cheaper or there is no stamp array (rect_pair)."""
    blocks = float(blocks_cost(job))
    marks = 2.0 * pixels * offsets
    if float(job[J_H]) * job[J_W] > STAMP_MAX:
        return blocks
    return min(marks, blocks)


@njit(**NUMBA_FLAGS)
def ifmap_counted(job, df, R, C, rf, cf, half_i):
    """Whether a dense job's ifmap is counted by need sets: when the counting's work (either
    mode, either order; pair_work per pair of fold rectangles, up to five channel classes
    each) stays under IFMAP_COUNT_MAX -- every layer of the zoo networks on any array. Larger
    jobs keep the closed form of whole-map equal shares (cg*H*W per group; dram_parts,
    fold_traffic), as does a job whose ``ifmap`` field is not its whole input map."""
    M, Kk, cg = job[J_M], job[J_K], job[J_CG]
    HW = float(job[J_H]) * job[J_W]
    if job[J_SPU] != 0 or float(job[J_IFMAP]) != cg * HW or float(M) * Kk > 2.0 ** 62:
        return False
    # per rectangle: its pixels, and its kernel offsets in up to five channel classes (all the
    # offsets in two when it reads every window element); floats: an estimate that cannot wrap
    p0, p1, _j0, _j1 = fold_rect(df, 0, 0, R, C, M, Kk)
    if output_stationary(df):
        classes, offs = 2.0, float(job[J_NH] * job[J_NW])
    else:
        classes, offs = 5.0, float(min(R, Kk) // cg + 2)
    if ifmap_role(df) == ROW_STREAM:                    # one pass over the row folds (row_fold_sets)
        work = (rf + 1.0) * classes * pair_work(job, p1 - p0, offs)
    else:
        work = 2.0 * rf * cf * classes * pair_work(job, p1 - p0, offs)
    # the footprint fits the ifmap SRAM's half: the cycle mode marks every element each fold reads
    fits = ifmap_footprint(job) <= half_i
    fits_work = cg * HW + float(M) * Kk if fits else 0.0
    return work <= IFMAP_COUNT_MAX and fits_work <= FITS_COUNT_MAX


@njit(**NUMBA_FLAGS)
def spill_view(job):
    """The small conv of a structured job as a dense job on its spilled sum-pool map: cg = c
    channels of the stride-1 sum-pool output (H1 x W1 over the padded input), no padding, the
    small kernel, the layer's stride and dilation. Its ifmap footprint is the map the sum-pool
    unit wrote (c x needed rows x needed columns), so the read-back is counted by need sets
    like a dense layer's ifmap."""
    v = job.copy()
    v[J_CG] = job[J_C]
    v[J_H] = job[J_H] + 2 * job[J_PH] - job[J_DH] * (job[J_A] - 1)
    v[J_W] = job[J_W] + 2 * job[J_PW] - job[J_DW] * (job[J_B] - 1)
    v[J_PH] = 0
    v[J_PW] = 0
    v[J_IFMAP] = v[J_CG] * v[J_H] * v[J_W]
    v[J_SPU] = 0
    v[J_KC] = 1
    v[J_A] = 1
    v[J_B] = 1
    return v


@njit(**NUMBA_FLAGS)
def dense_order(job, df, R, C, rf, cf, half_i, half_f, half_o):
    """(fold order, dram_parts) of a dense job: the order with fewer DRAM elements (ties:
    SCALE-Sim's), the ifmap counted by its need sets (dense_ifmap)."""
    foot, a0, a1 = dense_ifmap(job, df, R, C, rf, cf, half_i)
    return order_of(job, df, R, C, half_i, half_f, half_o, foot, a0, a1)


@njit(**NUMBA_FLAGS)
def order_of(job, df, R, C, half_i, half_f, half_o, foot, a0, a1):
    """dense_order from the ifmap's (total, first) in either order."""
    M, N, K = job[J_M], job[J_N], job[J_K]
    p0 = dram_parts(df, M, N, K, R, C, foot, half_i, half_f, half_o, 0)
    p1 = dram_parts(df, M, N, K, R, C, foot, half_i, half_f, half_o, 1)
    if a1[0] + p1[1] + p1[2] < a0[0] + p0[1] + p0[2]:
        return 1, (a1[0], p1[1], p1[2], a1[1], p1[4], p1[5])
    return 0, (a0[0], p0[1], p0[2], a0[1], p0[4], p0[5])


# -- the analytical path ------------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def dram_bytes(out, G, bpe, parts, spu_dram):
    """Write the DRAM byte counts of ``G`` runs of a GEMM (``dram_parts``) plus the sum-pool
    unit's ``spu_dram`` bytes (on the ifmap link) into ``out``; return (first ifmap load,
    first filter load, ifmap, filter, ofmap, last write) in bytes."""
    ifm, filt, ofm, l0_i, l0_f, lw = parts
    out[O_DRAM_I] = G * ifm * bpe + spu_dram
    out[O_DRAM_F] = G * filt * bpe
    out[O_DRAM_O] = G * ofm * bpe
    out[O_DRAM] = out[O_DRAM_I] + out[O_DRAM_F] + out[O_DRAM_O]
    return l0_i * bpe, l0_f * bpe, out[O_DRAM_I], out[O_DRAM_F], out[O_DRAM_O], lw * bpe


@njit(**NUMBA_FLAGS)
def halves(hw):
    """Elements one half of the double-buffered ifmap, filter and ofmap SRAMs holds."""
    bpe = np.int64(hw[H_BPE])
    return (np.int64(hw[H_IFS]) // (2 * bpe), np.int64(hw[H_FIS]) // (2 * bpe),
            np.int64(hw[H_OFS]) // (2 * bpe))


@njit(**NUMBA_FLAGS)
def gemm_dram(cjob, df, R, C, rf, cf, h, Fi, rows_outer):
    """(fold order, dram_parts) of a job's GEMM whose ifmap operand is ``Fi`` elements: counted
    by need sets when ``cjob`` (the dense job, or a spilled map's spill_view) is ifmap_counted,
    else fetched in equal shares (``rows_outer``: the order must run row folds outer)."""
    if ifmap_counted(cjob, df, R, C, rf, cf, h[0]):
        return dense_order(cjob, df, R, C, rf, cf, h[0], h[1], h[2])
    M, N, K = cjob[J_M], cjob[J_N], cjob[J_K]
    order = pick_order(df, M, N, K, R, C, Fi, h[0], h[1], h[2], rows_outer)
    return order, dram_parts(df, M, N, K, R, C, Fi, h[0], h[1], h[2], order)


@njit(**NUMBA_FLAGS)
def spu_phase(job, hw, out, ops_g, geo):
    """The sum-pool unit's counts, the same in both modes (``ops_g`` adds a group, geo =
    spu_geometry): cycles, adds, input reads, line-buffer accesses, and its map handed to the
    MAC array through the line buffer (fused) or written to SRAM. Returns (fused, its DRAM
    bytes: the input map, and its map when that does not fit half the ifmap SRAM (a spill),
    the spilled map's elements or 0)."""
    G, bpe, scheme = job[J_G], np.int64(hw[H_BPE]), np.int64(hw[H_SCHEME])
    Hn, Wn, Rin, Cin = geo[0], geo[1], geo[2], geo[3]
    spu_need, mac_need = spu_buffers(job, hw, Hn, Wn, Cin)
    lb = np.int64(hw[H_LB])
    reread = 1 if lb >= spu_need else job[J_A]      # no room for the row window: re-read rows
    fused = np.int64(hw[H_OVERLAP]) == OV_FUSED and lb >= spu_need + mac_need
    inter = job[J_C] * Hn * Wn
    depth = spu_depth(scheme, job[J_KC], job[J_A], job[J_B])
    out[O_SPU] = cdiv(G * ops_g, np.int64(hw[H_LANES])) + depth if ops_g > 0 else 0
    out[O_ADDS] = G * ops_g
    out[O_IF_R] = G * job[J_CG] * Rin * Cin * reread
    out[O_LB] = G * (ops_g + (job[J_C] * Rin * Cin + job[J_C] * Hn * Cin if not scheme & SC_TREE else 0))
    spu_dram = G * job[J_CG] * job[J_H] * job[J_W] * bpe
    spill = 0
    if fused:
        out[O_FUSED] = 1
        out[O_LB] += G * inter                      # the MAC array reads the map from the line buffer
    else:
        out[O_IF_W] = G * inter
        if inter > halves(hw)[0]:
            spill = inter
            spu_dram += G * inter * bpe
    return fused, spu_dram, spill


@njit(**NUMBA_FLAGS)
def analytical_job(job, hw, out):
    """One job by closed forms: the fold algebra's cycles and SRAM counts, the DRAM traffic of
    the cheaper fold order, the stall a whole-layer bound (fused: the pipeline fold by fold)."""
    R, C, df = np.int64(hw[H_R]), np.int64(hw[H_C]), np.int64(hw[H_DF])
    M, N, K, G = job[J_M], job[J_N], job[J_K], job[J_G]
    flen, folds, rf, cf, if_r, fi_r, of_w = gemm_closed(df, M, N, K, R, C)
    mac_cycles = G * (folds * flen - 1)      # SCALE-Sim reports Total Cycles - 1 per layer
    out[:] = 0
    out[O_MAC] = mac_cycles
    out[O_MACS] = G * M * N * K
    out[O_FI_R] = G * fi_r
    out[O_OF_W] = G * of_w
    if job[J_SPU] == 0:
        b = dram_bytes(out, G, np.int64(hw[H_BPE]), gemm_dram(job, df, R, C, rf, cf, halves(hw), job[J_IFMAP],
                                                              False)[1], 0)
        out[O_IF_R] = G * if_r
        out[O_COMPUTE] = mac_cycles
        out[O_STALL] = stall_closed(hw, b[0], b[1], b[2], b[3], b[4], b[5], mac_cycles)
    else:
        analytical_spu_job(job, hw, out, flen, rf, cf, if_r, mac_cycles)
    if np.int64(hw[H_LINKS]) == LK_UNLIMITED:
        out[O_STALL] = 0                     # SCALE-Sim's CALC mode: the links never hold compute up


@njit(**NUMBA_FLAGS)
def analytical_spu_job(job, hw, out, flen, rf, cf, if_r, mac_cycles):
    """A structured job: the sum-pool unit (spu_phase), then the small conv's GEMM, fused
    (analytical_fused) or after it (sequential: the two phases use the links in turn)."""
    R, C, df, G = np.int64(hw[H_R]), np.int64(hw[H_C]), np.int64(hw[H_DF]), job[J_G]
    scheme = np.int64(hw[H_SCHEME])
    geo = spu_geometry(job)
    ch, row, col = spu_pass_ops(job, scheme, geo[0], geo[1], geo[2], geo[3], geo[4], geo[5])
    fused, spu_dram, Fi = spu_phase(job, hw, out, ch + row + col, geo)
    h = halves(hw)
    if fused:
        out[O_LB] += G * if_r                           # the MAC array reads the line buffer
        order, parts = gemm_dram(job, df, R, C, rf, cf, h, 0, place(df, AX_M) == ON_ROWS)
        b = dram_bytes(out, G, np.int64(hw[H_BPE]), parts, spu_dram)
        analytical_fused(job, hw, out, geo, order, flen, b, spu_dram)
        return
    out[O_IF_R] += G * if_r
    cjob = spill_view(job) if Fi > 0 else job          # a spilled map is read back by need sets
    b = dram_bytes(out, G, np.int64(hw[H_BPE]), gemm_dram(cjob, df, R, C, rf, cf, h, Fi, False)[1], 0)
    out[O_DRAM_I] += spu_dram
    out[O_DRAM] += spu_dram
    out[O_COMPUTE] = out[O_SPU] + mac_cycles
    # sequential: the sum-pool phase, then the MAC phase, use the link(s) one after the other
    spu_stall = max(np.int64(0), xfer(hw, spu_dram, 0, 0) - out[O_SPU])
    out[O_STALL] = spu_stall + stall_closed(hw, b[0], b[1], b[2], b[3], b[4], b[5], mac_cycles)


@njit(**NUMBA_FLAGS)
def analytical_fused(job, hw, out, geo, order, flen, b, spu_dram):
    """The fused pipeline fold by fold, as cycle_job's: compute with the input at hand; then after
    the fill, the sum-pool's rows waiting for their input stream, and the drain -- or the links'
    busy time for all the layer's bytes, whichever is longer. ``b``: dram_bytes of the GEMMs."""
    R, C, df, G = np.int64(hw[H_R]), np.int64(hw[H_C]), np.int64(hw[H_DF]), job[J_G]
    Sr, Sc, _T = gemm_dims(df, job[J_M], job[J_N], job[J_K])
    fill = xfer(hw, b[0], b[1], 0)
    drain = xfer(hw, 0, 0, b[5])
    rows = fused_fold_rows(job, df, R, C, cdiv(Sr, R), cdiv(Sc, C), order, geo[6])
    cyc = np.full(rows.shape[0], flen, np.int64)
    out[O_COMPUTE] = fused_end(job, hw, geo, cyc, rows, 0, np.inf) - G
    end_d = fused_end(job, hw, geo, cyc, rows, fill, ifmap_bw(hw))
    total = max(end_d - G + drain, link_closed(hw, b[0], b[1], b[2], b[3], b[4], b[5], spu_dram))
    out[O_STALL] = total - out[O_COMPUTE]


@njit(**NUMBA_FLAGS)
def fused_end(job, hw, geo, cycles, rows, start, bw):
    """End of the fused folds (``cycles`` each, waiting for sum-pool row ``rows``) from cycle
    ``start``, the unit's input streaming in at ``bw`` bytes a cycle (np.inf: at hand)."""
    scheme = np.int64(hw[H_SCHEME])
    Hn, Wn, Rin, Cin, run_h, run_w, need_h, _nw, in_h = geo
    cum = spu_rows(job, scheme, need_h, in_h, Cin, Wn, run_h, run_w)
    depth = spu_depth(scheme, job[J_KC], job[J_A], job[J_B])
    rdy = stream_ready(job, hw, cum, need_h, depth, float(np.int64(hw[H_LANES])), 0, bw)
    return fold_pipeline(cycles, rows, rdy, start)


@njit(**NUMBA_FLAGS)
def fused_fold_rows(job, df, R, C, rf, cf, order, need_h):
    """The global sum-pool row each fold of the fused GEMMs waits for, groups in turn, folds
    in ``order`` (fold_wait_row)."""
    G, Hn = job[J_G], count_true(need_h)
    upto = np.cumsum(need_h.astype(np.int64))
    rows = np.zeros(G * rf * cf, np.int64)
    n_outer = rf if order == 1 else cf
    n_inner = cf if order == 1 else rf
    i = 0
    for g in range(G):
        for o in range(n_outer):
            for q in range(n_inner):
                fr = o if order == 1 else q
                fc = q if order == 1 else o
                rows[i] = g * Hn + fold_wait_row(job, df, R, C, fc, fr, upto)
                i += 1
    return rows


@njit(**NUMBA_FLAGS)
def analytical_jobs(jobs, hw):
    out = np.zeros((jobs.shape[0], NO), np.int64)
    for i in range(jobs.shape[0]):
        analytical_job(jobs[i], hw, out[i])
    return out


# -- the cycle-stepped path -----------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def step_fold(df, R, C, T, ru, cu):
    """Step one fold of the array cycle by cycle; ru x cu of the R x C PEs hold real work.

    Event times (SCALE-Sim's demand matrices): output stationary (os) feeds the row-streamed
    operand's row i with its element k at cycle i+k and the column-streamed one's column j
    at j+k, PE (i, j) does MAC k at i+j+k, and the outputs drain row by row, bottom row first,
    skewed across columns. A stationary input (ws, is) is loaded one array row per cycle (R
    cycles), then the streamed operand's element tau enters array row i at R+tau+i; PE (i, j)
    works at R+tau+i+j and results leave the bottom at 2R-1+tau+j. The fold ends when the last
    of its output slots (also those of idle PEs, which still drain the skew) has left.
    Returns (cycles, MACs, ifmap reads, filter reads, ofmap writes).
    """
    os_like = output_stationary(df)
    slots_total = R * C if os_like else T * C
    slots = 0
    t = 0
    macs = 0
    stream_r = 0
    stat_r = 0
    ofw = 0
    while slots < slots_total:
        if os_like:
            for i in range(R):
                if i < ru:
                    if 0 <= t - i < T:
                        stream_r += 1                         # the row-streamed operand
                    lo = max(0, t - i - T + 1)
                    hi = min(cu - 1, t - i)
                    if hi >= lo:
                        macs += hi - lo + 1
                j = t - (T - 1) - (R - 1 - i)
                if 0 <= j < C:
                    slots += 1
                    if i < ru and j < cu:
                        ofw += 1
            for j in range(cu):
                if 0 <= t - j < T:
                    stat_r += 1                               # the column-streamed one
        else:
            if t < R and R - 1 - t < ru:
                stat_r += cu                                  # preload one stationary row
            for i in range(ru):
                if 0 <= t - R - i < T:
                    stream_r += 1
                lo = max(0, t - R - i - T + 1)
                hi = min(cu - 1, t - R - i)
                if hi >= lo:
                    macs += hi - lo + 1
            for j in range(C):
                if 0 <= t - (2 * R - 1) - j < T:
                    slots += 1
                    if j < cu:
                        ofw += 1
        t += 1
    if ifmap_role(df) == ROW_STREAM:
        return t, macs, stream_r, stat_r, ofw
    return t, macs, stat_r, stream_r, ofw


@njit(**NUMBA_FLAGS)
def share(total, k, n):
    """The k-th of n near-equal integer shares of ``total``."""
    return total * (k + 1) // n - total * k // n


@njit(**NUMBA_FLAGS)
def fetches(rl, fold, kept_whole, fits, order):
    """Whether a streamed operand loads its tile before fold = (fc, fr, ...): when the fold
    enters the tile, and again unless the operand is kept -- all of it fits (``kept_whole``) or,
    in the order that reads the tile back to back, the tile ``fits`` (dram_parts's rule)."""
    if (fold[0] if rl == ROW_STREAM else fold[1]) == 0:
        return True
    return not (kept_whole or (order == (1 if rl == ROW_STREAM else 0) and fits))


@njit(**NUMBA_FLAGS)
def operand_roles(df):
    """(ifmap, filter, ofmap) roles of dataflow ``df``, decoded once for a job's many folds."""
    return ifmap_role(df), filter_role(df), ofmap_role(df)


@njit(**NUMBA_FLAGS)
def fold_traffic(roles, grid, fold, sizes, h, order):
    """(ifmap, filter, ofmap elements loaded before, elements written after) fold = (fc, fr, seq,
    ru, cu), the seq-th of its GEMM, ru x cu PEs busy (ofmap loads are partial sums read back);
    ``roles``: operand_roles. sizes = (Fi, Ff, whether an ifmap tile fits half its SRAM): the
    ifmap's Fi elements come in equal shares per tile, the filter's Ff in exact tiles; a
    streamed tile is fetched once when it stays resident, on every fold that needs it otherwise."""
    Sr, Sc, T, R, C, rf, cf = grid
    fc, fr, seq, ru, cu = fold
    Fi, Ff, ifits = sizes
    rl = roles[0]
    Li = 0
    if rl == STATIONARY:
        Li = share(Fi, seq, rf * cf)
    elif fetches(rl, fold, Fi <= h[0], ifits, order):
        Li = share(Fi, fr, rf) if rl == ROW_STREAM else share(Fi, fc, cf)
    rl = roles[1]
    Lf = 0
    if rl == STATIONARY:
        Lf = ru * cu
    else:
        tile = ru * T if rl == ROW_STREAM else T * cu
        if fetches(rl, fold, Ff <= h[1], tile <= h[1], order):
            Lf = tile
    if roles[2] == STATIONARY:
        return Li, Lf, 0, ru * cu
    # partial sums across the row folds (dram_parts): kept when the outputs alive at once fit
    tile = T * cu
    alive = T * min(C, Sc) if order == 0 else Sc * T
    if rf == 1 or alive <= h[2]:
        return Li, Lf, 0, (tile if fr == rf - 1 else 0)
    return Li, Lf, (tile if fr > 0 else 0), tile


@njit(**NUMBA_FLAGS)
def spu_rows(job, scheme, need_h, in_h, Cin, Wn, run_h, run_w):
    """Walk the needed sum-pool output rows in order; cumulative adds after each row."""
    c, kc, a, b, dh = job[J_C], job[J_KC], job[J_A], job[J_B], job[J_DH]
    H1 = need_h.shape[0]
    done = np.zeros(in_h.shape[0], np.bool_)
    prev = np.full(max(dh, 1), -1, np.int64)
    run_rows = runs(scheme, SC_RUN_ROW) and run_h < count_true(need_h) * (a - 1)
    if scheme & SC_TREE:
        col_row = c * Wn * (kc * a * b - 1)
    else:
        col_row = c * pass_adds(scheme, SC_RUN_COL, Wn * (b - 1), run_w)
    ch_row = Cin * channel_line_cost(c, kc, scheme)
    cum = np.zeros(count_true(need_h), np.int64)
    total = 0
    k = 0
    for y in range(H1):
        if not need_h[y]:
            continue
        if not scheme & SC_TREE:
            for t in range(a):
                yi = y + dh * t
                if not done[yi]:
                    done[yi] = True
                    total += ch_row
            if run_rows:
                r = y % dh
                step = (a - 1) if prev[r] < 0 else 2 * ((y - prev[r]) // dh)
                prev[r] = y
                total += c * Cin * step
            else:
                total += c * Cin * (a - 1)
        total += col_row
        cum[k] = total
        k += 1
    return cum


# The DRAM link's timeline of one job, fold by fold (fold_timeline): the link works in windows --
# the fill before the first fold, one window per fold (carrying the next fold's loads and the
# write-back of the fold before), the drain. A window lasts the longer of its fold and its link
# work; the last fold of every GEMM counts one cycle less (SCALE-Sim's busy - 1), so the windows
# add up to the reported compute time and never to less than the link's busy time.
TL_FIELDS = ("fill", "windows", "link", "link_i", "link_f", "link_o", "drain", "busy")
TL_FILL, TL_WINDOWS, TL_LINK, TL_LINK_I, TL_LINK_F, TL_LINK_O, TL_DRAIN, TL_BUSY = range(len(TL_FIELDS))


@njit(**NUMBA_FLAGS)
def cycle_job(job, hw, out):
    """One job cycle by cycle: the sum-pool unit (cycle_spu), the fold order and each fold's
    ifmap loads (cycle_order), every fold in order on the array and the DRAM link(s)
    (fold_timeline), then the job's time (cycle_times)."""
    df = np.int64(hw[H_DF])
    grid = fold_grid(df, job[J_M], job[J_N], job[J_K], np.int64(hw[H_R]), np.int64(hw[H_C]))
    out[:] = 0
    fused, spu_dram, Fi = cycle_spu(job, hw, out)
    order, iload = cycle_order(job, df, grid, halves(hw), Fi, fused)
    tl, fold_cyc, fold_win = fold_timeline(job, hw, out, grid, order, iload, Fi, fused)
    cycle_times(job, hw, out, tl, (order, fold_cyc, fold_win), fused, spu_dram)
    if np.int64(hw[H_LINKS]) == LK_UNLIMITED:
        out[O_STALL] = 0                     # SCALE-Sim's CALC mode: the links never hold compute up


@njit(**NUMBA_FLAGS)
def cycle_spu(job, hw, out):
    """The sum-pool unit of a structured job, its output row by row (spu_rows): its counts
    (spu_phase) and, not fused, its phase's stall. Returns (fused, its DRAM bytes, the GEMM's
    ifmap elements in DRAM: the job's own ifmap, a spilled map's or 0)."""
    if job[J_SPU] == 0:
        return False, np.int64(0), job[J_IFMAP]
    scheme = np.int64(hw[H_SCHEME])
    geo = spu_geometry(job)
    Hn, Wn, Rin, Cin, run_h, run_w, need_h, _nw, in_h = geo
    cum = spu_rows(job, scheme, need_h, in_h, Cin, Wn, run_h, run_w)
    fused, spu_dram, Fi = spu_phase(job, hw, out, cum[Hn - 1], geo)
    out[O_DRAM_I] += spu_dram
    if not fused:
        out[O_STALL] += max(np.int64(0), xfer(hw, spu_dram, 0, 0) - out[O_SPU])
    return fused, spu_dram, Fi


@njit(**NUMBA_FLAGS)
def cycle_order(job, df, grid, h, Fi, fused):
    """(fold order, the ifmap elements each fold loads -- empty unless they are counted by
    need sets: a dense job's, or a spilled map's read back) of a job's GEMMs."""
    Sr, Sc, T, R, C, rf, cf = grid
    vjob = spill_view(job) if (job[J_SPU] != 0 and Fi > 0) else job
    if not ifmap_counted(vjob, df, R, C, rf, cf, h[0]):
        rows_outer = fused and place(df, AX_M) == ON_ROWS
        return (pick_order(df, job[J_M], job[J_N], job[J_K], R, C, Fi, h[0], h[1], h[2], rows_outer),
                np.zeros(0, np.int64))
    foot = ifmap_footprint(vjob)
    if foot > h[0] and ifmap_role(df) == ROW_STREAM:     # one pass over the row folds
        n_, it_, w_ = row_fold_sets(vjob, df, R, rf, h[0])
        none = np.zeros(0, np.int64)
        order = order_of(vjob, df, R, C, h[0], h[1], h[2], foot,
                         periodic_loads(n_, it_, w_, rf, cf, 0, h[0], none),
                         periodic_loads(n_, it_, w_, rf, cf, 1, h[0], none))[0]
        iload = np.zeros(rf * cf, np.int64)
        periodic_loads(n_, it_, w_, rf, cf, order, h[0], iload)
        return order, iload
    order = dense_order(vjob, df, R, C, rf, cf, h[0], h[1], h[2])[0]
    return order, dense_fold_loads(vjob, df, R, C, rf, cf, order, h[0])


@njit(**NUMBA_FLAGS)
def occupancy(grid, lr, lc):
    """(rows, cols) of the array a fold uses: the last row fold (lr) or column fold (lc) may use fewer."""
    Sr, Sc, T, R, C, rf, cf = grid
    return (Sr - (rf - 1) * R if lr else min(R, Sr)), (Sc - (cf - 1) * C if lc else min(C, Sc))


@njit(**NUMBA_FLAGS)
def fold_shapes(df, grid):
    """step_fold of the (at most four) distinct fold occupancies, [last row fold, last col fold]."""
    shape = np.zeros((2, 2, 5), np.int64)
    for lr in range(2):
        for lc in range(2):
            ru, cu = occupancy(grid, lr, lc)
            r = step_fold(df, grid[3], grid[4], grid[2], ru, cu)
            for k in range(5):
                shape[lr, lc, k] = r[k]
    return shape


@njit(**NUMBA_FLAGS)
def fold_timeline(job, hw, out, grid, order, iload, Fi, fused):
    """Every fold of the job's GEMMs in order, groups in turn: its SRAM events (fold_sram), and
    its loads on the DRAM link(s) (fold_traffic) -- the first fold's are the fill, nothing to
    hide them; a later fold's ride the window of the fold before, with the write-back of the
    fold before that (double buffering). Writes the counts into ``out``; returns the timeline
    (TL_FIELDS) and, fused, each fold's cycles and window."""
    df, bpe, G = np.int64(hw[H_DF]), np.int64(hw[H_BPE]), job[J_G]
    Sr, Sc, T, R, C, rf, cf = grid
    shape, h = fold_shapes(df, grid), halves(hw)
    roles, quirk = operand_roles(df), (R + C if output_stationary(df) else 0)
    sizes = (Fi, job[J_K] * job[J_N], cdiv(Fi, rf if roles[0] == ROW_STREAM else cf) <= h[0])
    nf = G * rf * cf if fused else 0
    fold_cyc, fold_win = np.zeros(nf, np.int64), np.zeros(nf, np.int64)
    n_outer, n_inner = (rf, cf) if order == 1 else (cf, rf)
    fill = windows = link = link_i = link_f = link_o = busy = nb = prev_cyc = w_prev = w_prev2 = 0
    dram_i = dram_f = dram_o = 0
    for _g in range(G):
        for o in range(n_outer):
            for q in range(n_inner):
                fr, fc = (o, q) if order == 1 else (q, o)
                lr, lc = (1 if fr == rf - 1 else 0), (1 if fc == cf - 1 else 0)
                cyc = fold_sram(out, shape, lr, lc, quirk, fused)
                ru, cu = occupancy(grid, lr, lc)
                Li, Lf, Lo, W = fold_traffic(roles, grid, (fc, fr, o * n_inner + q, ru, cu), sizes, h, order)
                if iload.shape[0] > 0:
                    Li = iload[o * n_inner + q]
                dram_i, dram_f, dram_o = dram_i + Li, dram_f + Lf, dram_o + Lo + W
                Bi, Bf, Bo = Li * bpe, Lf * bpe, (Lo + w_prev2) * bpe
                x = xfer(hw, Bi, Bf, Bo)
                if nb == 0:
                    fill = x
                else:
                    win = max(prev_cyc, x)            # the window of the fold before ends
                    windows, link = windows + win, link + x
                    if nf:
                        fold_win[nb - 1] = win
                link_i, link_f = link_i + xfer(hw, Bi, 0, 0), link_f + xfer(hw, 0, Bf, 0)
                link_o += xfer(hw, 0, 0, Bo)
                w_prev2, w_prev = w_prev, W
                if nf:
                    fold_cyc[nb] = cyc
                prev_cyc = cyc - 1 if (o == n_outer - 1 and q == n_inner - 1) else cyc
                nb, busy = nb + 1, busy + cyc
    x = xfer(hw, 0, 0, w_prev2 * bpe)                 # the last window: the write-back before it
    windows, link, link_o = windows + max(prev_cyc, x), link + x, link_o + x
    if nf:
        fold_win[nb - 1] = max(prev_cyc, x)
    drain = xfer(hw, 0, 0, w_prev * bpe)              # then the last outputs drain
    out[O_DRAM_I] += dram_i * bpe
    out[O_DRAM_F] = dram_f * bpe
    out[O_DRAM_O] = dram_o * bpe
    out[O_DRAM] = out[O_DRAM_I] + out[O_DRAM_F] + out[O_DRAM_O]
    return (fill, windows, link, link_i, link_f, link_o + drain, drain, busy), fold_cyc, fold_win


@njit(**NUMBA_FLAGS)
def fold_sram(out, shape, lr, lc, quirk, fused):
    """Add one fold's MACs and SRAM events (``shape[lr, lc]``, fold_shapes) to ``out``; its cycles.
    Fused, the MAC array reads its ifmap from the line buffer; ``quirk``: SCALE-Sim's extra
    ofmap writes a fold (R + C, output stationary)."""
    out[O_MACS] += shape[lr, lc, 1]
    if fused:
        out[O_LB] += shape[lr, lc, 2]
    else:
        out[O_IF_R] += shape[lr, lc, 2]
    out[O_FI_R] += shape[lr, lc, 3]
    out[O_OF_W] += shape[lr, lc, 4] + quirk
    return shape[lr, lc, 0]


@njit(**NUMBA_FLAGS)
def cycle_times(job, hw, out, tl, folds, fused, spu_dram):
    """The job's compute and stall from its timeline: fused, the pipeline (cycle_fused); a
    sequential sum-pool unit's phase (its stall is in already) before the MAC phase; or the
    MAC phase alone. ``folds``: (order, each fold's cycles, each fold's window), fused."""
    G, busy = job[J_G], tl[TL_BUSY]
    mac_total = tl[TL_FILL] + tl[TL_WINDOWS] + tl[TL_DRAIN]      # the MAC phase, stalls included
    out[O_MAC] = busy - G
    if fused:
        cycle_fused(job, hw, out, tl, folds, spu_dram)
    elif job[J_SPU] != 0:
        out[O_COMPUTE] = out[O_SPU] + busy - G
        out[O_STALL] += mac_total - (busy - G)                  # after the sum-pool phase's stall
    else:
        out[O_COMPUTE] = busy - G
        out[O_STALL] = mac_total - (busy - G)


@njit(**NUMBA_FLAGS)
def cycle_fused(job, hw, out, tl, folds, spu_dram):
    """Fused: each fold starts when the one before has ended and the last sum-pool row its demand
    reads is available. Compute: with the input at hand. The layer lasts the longer of the
    pipeline (after the fill, folds timed by their link windows, the sum-pool's rows waiting for
    their input stream; then the drain) and the links' busy time for all of the layer's bytes.
    The stream runs from cycle 0 at the ifmap link's rate (on a shared link as if it had the link
    to itself: the link's total work is bounded by busy_links), so more or wider links are never
    slower."""
    order, fold_cyc, fold_win = folds
    df, G = np.int64(hw[H_DF]), job[J_G]
    R, C = np.int64(hw[H_R]), np.int64(hw[H_C])
    Sr, Sc, T, R, C, rf, cf = fold_grid(df, job[J_M], job[J_N], job[J_K], R, C)
    geo = spu_geometry(job)
    rows = fused_fold_rows(job, df, R, C, rf, cf, order, geo[6])
    out[O_COMPUTE] = fused_end(job, hw, geo, fold_cyc, rows, 0, np.inf) - G
    end_w = fused_end(job, hw, geo, fold_win, rows, tl[TL_FILL], ifmap_bw(hw))
    if np.int64(hw[H_LINKS]) == LK_PER_OP:     # each link's busy time; the ifmap link also streams the input
        busy_links = max(tl[TL_LINK_I] + xfer(hw, spu_dram, 0, 0), tl[TL_LINK_F], tl[TL_LINK_O])
    else:
        # the tiles' transfers take whole cycles one after another, but the stream gets
        # what each one's last cycle leaves: their roundings and the stream's don't add
        busy_links = max(tl[TL_FILL] + tl[TL_LINK] + tl[TL_DRAIN],
                         xfer(hw, out[O_DRAM_I], out[O_DRAM_F], out[O_DRAM_O]))
    out[O_STALL] = max(end_w + tl[TL_DRAIN], busy_links) - out[O_COMPUTE]


@njit(**NUMBA_FLAGS)
def row_inputs(job, hw, cum, need_h):
    """Per needed sum-pool row, groups in turn: (input bytes that must have streamed in before
    it can be summed -- the input map streams groups in turn, rows in order, every channel and
    column of a row -- and its adds)."""
    G, Hn = job[J_G], cum.shape[0]
    H, W, cg, ph = job[J_H], job[J_W], job[J_CG], job[J_PH]
    span = job[J_DH] * (job[J_A] - 1)
    need = np.zeros(G * Hn, np.int64)
    adds = np.zeros(G * Hn, np.int64)
    for g in range(G):
        k = 0
        for y in range(need_h.shape[0]):
            if need_h[y]:
                need[g * Hn + k] = np.int64(hw[H_BPE]) * cg * W * (g * H + max(0, min(H, y + span - ph + 1)))
                adds[g * Hn + k] = cum[k] - (cum[k - 1] if k else 0)
                k += 1
    return need, adds


@njit(**NUMBA_FLAGS)
def stream_ready(job, hw, cum, need_h, depth, lanes, start, bw):
    """Cycle from which each needed sum-pool row (groups in turn) is available when the unit
    waits for its input, streamed (row_inputs) at ``bw`` bytes a cycle (np.inf: at hand) from
    cycle ``start``: a row is summed, rows in order at ``lanes`` adds a cycle, once its input
    has arrived (in the cycle the last byte does), and is available ``depth`` cycles after
    its last add."""
    need, adds = row_inputs(job, hw, cum, need_h)
    rdy = np.zeros(need.shape[0], np.int64)
    done = 0.0
    for r in range(need.shape[0]):
        arrive = start + max(np.int64(0), np.int64(np.ceil(need[r] / bw - 1e-9)) - 1)
        done = max(done, float(arrive)) + adds[r] / lanes
        rdy[r] = depth + np.int64(np.ceil(done - 1e-9))
    return rdy


@njit(**NUMBA_FLAGS)
def fold_pipeline(cycles, rows, rdy, start):
    """End of a run of folds from cycle ``start``: each starts when the one before has ended
    and sum-pool row rows[i] is available (rdy)."""
    end = start
    for i in range(cycles.shape[0]):
        end = max(end, rdy[rows[i]]) + cycles[i]
    return end


@njit(**NUMBA_FLAGS)
def fold_wait_row(job, df, R, C, fc, fr, upto):
    """Index among the needed sum-pool rows of the last one fold (fc, fr) of the small conv
    reads: its last pixel's output row, its last window element's kernel row."""
    p0, p1, j0, j1 = fold_rect(df, fc, fr, R, C, job[J_M], job[J_K])
    kr = ((j1 - 1) // job[J_C]) // job[J_NW]
    v = job[J_SH] * ((p1 - 1) // job[J_WO]) + job[J_DH] * kr
    return upto[min(v, upto.shape[0] - 1)] - 1


@njit(**NUMBA_FLAGS)
def cycle_jobs(jobs, hw):
    out = np.zeros((jobs.shape[0], NO), np.int64)
    for i in range(jobs.shape[0]):
        cycle_job(jobs[i], hw, out[i])
    return out


# -- batch evaluation -----------------------------------------------------------------------
@njit(**NUMBA_FLAGS)
def evaluate_plans(index, cycles_table, energy_table):
    """Sum a (layers x choices) table over each plan (one row of ``index`` per plan)."""
    P, L = index.shape
    cyc = np.zeros(P, np.int64)
    en = np.zeros(P, np.float64)
    for p in range(P):
        c = 0
        e = 0.0
        for l in range(L):
            k = index[p, l]
            c += cycles_table[l, k]
            e += energy_table[l, k]
        cyc[p] = c
        en[p] = e
    return cyc, en


_KERNELS = dict(zip(MODES, (analytical_jobs, cycle_jobs)))
