"""Range checks before the kernels: every count a job can produce must fit the kernels' int64.

The kernels count in int64 (Numba), so a layer too large for them would wrap around
silently (negative energy, negative utilisation). ``check_jobs`` bounds, in Python
integers (exact, no overflow), every count and every intermediate product the kernels
form for a job -- for every dataflow and both modes -- and raises a one-line
ValueError naming the layer and the field when one can leave [0, 2**63 - 1].

Counts with closed forms (MACs, the MAC array's SRAM reads and writes, fold cycles)
are computed exactly; the others (sum-pool adds, DRAM traffic, stall cycles) are
upper bounds that follow each kernel formula term by term, at most a small factor
above the value the kernels reach.

It also bounds the work and memory of one kernel call (the loops over folds, rows
and cycles), so a layer the simulator cannot finish in reasonable time fails at
once instead of running for days or allocating terabytes.
"""
from __future__ import annotations

import math

import numpy as np

from . import _kernels as K
from ._algebra import DATAFLOWS, adds_bound
from .accelerator import Accelerator, shown

INT64_MAX = 2**63 - 1
# Work one job may take in a kernel, in units of one PE-cycle iteration of step_fold (~0.2 ns);
# an iteration over folds, bands or sum-pool rows costs _LOOP_COST units (~20 ns). The zoo's
# largest (pspnet101 at 1024x2048, cycle mode on the 256x256 tpu-like array) take about 1e9;
# the bound stops a layer that would run for more than about a minute, not days.
MAX_WORK = 2 * 10**11
_LOOP_COST = 100
# Elements of the arrays one job allocates in a kernel (int64 / bool): 2**28 = 2 GiB of int64.
MAX_ELEMENTS = 2**28
_SLACK = 64                          # the +1s of ceilings and pipeline depths, summed generously


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _gemm(j: dict, hw: Accelerator) -> dict:
    """Exact fold schedule and SRAM counts of one group's GEMM (the dataflow's ``folds``)."""
    R, C = hw.mac_array.rows, hw.mac_array.cols
    f = DATAFLOWS.get(hw.mac_array.dataflow).folds(j["m"], j["n"], j["k"], R, C)
    return dict(rf=f.rf, cf=f.cf, folds=f.folds, flen=f.fold_cycles, if_r=f.ifmap_reads, fi_r=f.filter_reads,
                of_w=f.ofmap_writes, R=R, C=C, T=f.T)


def _spu(j: dict) -> dict:
    """Upper bounds of the sum-pool geometry (``_kernels.spu_geometry``) and its adds per group."""
    Hp, Wp = j["h"] + 2 * j["ph"], j["w"] + 2 * j["pw"]
    c, kc, a, b = j["c"], j["kc"], j["a"], j["b"]
    Hn = max(0, min(Hp - j["dh"] * (a - 1), j["ho"] * j["nh"]))      # needed sum-pool rows
    Wn = max(0, min(Wp - j["dw"] * (b - 1), j["wo"] * j["nw"]))
    Rin, Cin = min(Hp, Hn * a), min(Wp, Wn * b)                      # input rows/cols they touch
    ops = adds_bound(c, kc, a, b, Hn, Wn, Rin, Cin)                  # any scheme
    return dict(Hp=Hp, Wp=Wp, Hn=Hn, Wn=Wn, Rin=Rin, Cin=Cin, ops=ops)


def _dram_elems(j: dict, g: dict, fi: int, df: str) -> int:
    """DRAM elements of one group's GEMM, either fold order (``dram_closed``, ``fold_traffic``):
    each input at most once per read of its elements (the dataflow's ``reads``), the ofmap
    once or, as partial sums, 2 rf - 1 times; a dense job's ifmap counted by need sets
    (``dense_ifmap``) loads at most its need set a fold, at most min(the map, the rectangle of I
    it reads)."""
    flow, rf, cf, R, C = DATAFLOWS.get(df), g["rf"], g["cf"], g["R"], g["C"]
    area = flow.extent("m", R, C, j["m"]) * flow.extent("k", R, C, j["k"])
    need = 0 if j["spu"] else rf * cf * min(fi, area)
    ofm = j["m"] * j["n"] * (1 if flow.role("ofmap") == K.STATIONARY else 2 * rf - 1)
    return max(fi * flow.reads("ifmap", rf, cf), need) + j["k"] * j["n"] * flow.reads("filter", rf, cf) + ofm


def job_bounds(j: dict, hw: Accelerator, mode: str) -> tuple[dict[str, tuple[int, bool]], dict[str, int]]:
    """(count field -> (value or upper bound, exact), intermediate -> upper bound) of one job in ``mode``."""
    g, G, bpe = _gemm(j, hw), j["groups"], hw.bytes_per_element
    out = {"macs": (G * j["m"] * j["n"] * j["k"], True),
           "mac_cycles": (G * g["folds"] * g["flen"], True),
           "sram_filter_reads": (G * g["fi_r"], True),
           "sram_ofmap_writes": (G * g["of_w"], True)}
    fi = j["ifmap"]
    spu_dram, spu_cycles, extra = 0, 0, {}
    if j["spu"]:
        s = _spu(j)
        inter = j["c"] * s["Hn"] * s["Wn"]
        fi = inter                                     # a spilled intermediate map is the GEMM's ifmap
        spu_dram = G * bpe * (j["cg"] * j["h"] * j["w"] + inter)
        spu_cycles = _cdiv(G * s["ops"], hw.sum_pool.adder_lanes) + _SLACK
        out["spu_adds"] = (G * s["ops"], False)
        out["spu_cycles"] = (spu_cycles, False)
        out["sram_ifmap_reads"] = (G * (j["cg"] * s["Rin"] * s["Cin"] * j["a"] + g["if_r"]), False)
        out["sram_ifmap_writes"] = (G * inter, False)
        out["line_buffer_accesses"] = (G * (s["ops"] + j["c"] * s["Rin"] * s["Cin"]
                                            + j["c"] * s["Hn"] * s["Cin"]
                                            + inter + g["if_r"]), False)
        # products formed on the way: the analytical fused pipeline's ops x rows, the cycle
        # path's per-row running sums, the line-buffer sizing
        extra["spu_adds x rows"] = (s["ops"] * max(s["Hn"], s["Rin"], j["a"] * j["dh"])
                                    if mode == "analytical"
                                    else j["c"] * s["Cin"] * 2 * s["Hp"])
        extra["line_buffer_need"] = (bpe * max(j["cg"], j["c"]) * (j["dh"] * (j["a"] - 1) + 1 + s["Hp"])
                                     * s["Wp"])
    else:
        out["sram_ifmap_reads"] = (G * g["if_r"], True)
    dram = G * bpe * _dram_elems(j, g, fi, hw.mac_array.dataflow) + spu_dram
    out["dram_bytes"] = (dram, False)
    if mode == "cycle":                                # share(): total * (k + 1) before the division
        shares = {K.STATIONARY: g["folds"], K.ROW_STREAM: g["rf"], K.COL_STREAM: g["cf"]}
        extra["ifmap share"] = fi * shares[DATAFLOWS.get(hw.mac_array.dataflow).role("ifmap")]
    slowest = min(hw.memory.dram_bytes_per_cycle, *hw.memory.link_bytes_per_cycle())
    link = dram / slowest * (1 + 1e-9)                 # DRAM cycles, float as in the kernels
    stall = (math.ceil(link) if link < 4 * INT64_MAX else 4 * INT64_MAX) + _SLACK
    out["cycles_total"] = (G * g["folds"] * (g["flen"] + 4) + spu_cycles + 2 * stall + _SLACK, False)
    return out, extra


def job_work(j: dict, hw: Accelerator, mode: str) -> tuple[int, int]:
    """(work units, array elements) of one job's kernel call, upper bounds (see MAX_WORK)."""
    g, G = _gemm(j, hw), j["groups"]
    work = elems = 0
    if j["spu"]:
        s = _spu(j)
        elems = 4 * (s["Hp"] + s["Wp"])
        # needed/touched masks and running sums, spu_rows' row loop, stream_ready's rows of
        # every group (two arrays: one entry per group and row), and the fused pipeline fold
        # by fold (both modes: per-fold arrays of the cycles, windows and rows waited for)
        elems += 2 * G * s["Hp"] + 3 * G * g["folds"]
        work = 4 * (j["ho"] * j["nh"] + j["wo"] * j["nw"] + (s["Hp"] + s["Wp"]) * (j["a"] + j["b"] + 4))
        work += _LOOP_COST * (s["Hp"] + 2 * G * s["Hp"] + 2 * G * g["folds"])
    if mode == "cycle":
        work += 4 * g["flen"] * (g["R"] + g["C"]) + _LOOP_COST * G * g["folds"]   # step_fold x 4, every fold
        elems += 3 * G * max(g["rf"], g["cf"])                                    # per-band arrays
    return work, elems


# what the kernels' job fields mean, for messages
_JOB_WORDS = {"m": "output pixels (m)", "n": "filters per group (n)", "k": "reduction length (k)",
              "ifmap": "ifmap elements per group", "h": "input height", "w": "input width"}


def layer_where(name) -> str:
    return f"layer {shown(name)}"


def _fmt(v) -> str:
    return f"{v:.1e}" if v >= 1e6 else f"{v:,}"


def _over(where: str, name: str, v: int, exact: bool) -> ValueError:
    how = f"= {_fmt(v)} is" if exact else f"could reach {_fmt(v)},"
    return ValueError(f"{where}: {name} {how} out of range [0, {INT64_MAX:.1e}] "
                      f"for the simulator's 64-bit counters")


def check_jobs(jobs: list[dict], hw: Accelerator, mode: str, where: str) -> None:
    """ValueError (naming ``where`` and the field) unless every count of these jobs -- the
    parts of one choice, whose counts are added up -- and every product the ``mode`` kernel
    forms on the way fits the kernels' int64, and the kernel's work and memory are bounded."""
    for name, v in ((f, j[f]) for j in jobs for f in j):
        if not 0 <= v <= INT64_MAX:
            raise _over(where, _JOB_WORDS.get(name, name), v, True)
    totals: dict[str, list] = {}
    extras: dict[str, int] = {}
    for j in jobs:
        counts, extra = job_bounds(j, hw, mode)
        for name, (v, exact) in counts.items():
            t = totals.setdefault(name, [0, True])
            t[0] += v
            t[1] = t[1] and exact
        for name, v in extra.items():
            extras[name] = max(extras.get(name, 0), v)
    for name, (v, exact) in totals.items():
        if v > INT64_MAX:
            raise _over(where, name, v, exact)
    _check_work(jobs, hw, mode, where)
    for name, v in extras.items():
        if v > INT64_MAX:
            raise _over(where, f"the {mode} kernel's {name}", v, False)


def _check_work(jobs: list[dict], hw: Accelerator, mode: str, where: str) -> None:
    work = [job_work(j, hw, mode) for j in jobs]
    steps, elems = sum(w for w, _ in work), sum(e for _, e in work)
    hint = "; use mode='analytical'" if mode == "cycle" else ""
    if steps > MAX_WORK:
        raise ValueError(f"{where}: the {mode} kernel would take {_fmt(steps)} work units (about "
                         f"{steps * 2e-10:.2g} s), out of range [0, {MAX_WORK:.0e}]{hint}")
    if elems > MAX_ELEMENTS:
        raise ValueError(f"{where}: the {mode} kernel would allocate {_fmt(elems)} array elements, "
                         f"out of range [0, {MAX_ELEMENTS:.1e}]{hint}")

def check_energy(energy: np.ndarray, names: list) -> None:
    """ValueError naming the layer and component unless every energy (ENERGY records) is a
    finite non-negative number (a huge pJ table times a huge count overflows float64)."""
    for key in energy.dtype.names:
        col = energy[key]
        bad = ~(np.isfinite(col) & (col >= 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{layer_where(names[i])}: energy_pj.{key} = {col[i]:.3g} is out of range "
                             f"[0, {np.finfo(np.float64).max:.1e}]; lower the accelerator's energy table")


def check_plan_sum(cycles_table: np.ndarray, network_name: str) -> None:
    """ValueError unless any plan's total cycles (summed in int64 by evaluate_plans) fits."""
    worst = sum(int(v) for v in cycles_table.max(axis=1)) if cycles_table.size else 0
    if worst > INT64_MAX:
        raise ValueError(f"network {shown(network_name)}: cycles_total of a plan could reach {_fmt(worst)}, "
                         f"out of range [0, {INT64_MAX:.1e}] for the simulator's 64-bit counters")
