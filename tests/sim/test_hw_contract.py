"""The hardware algebra's contract: a dataflow and a sum-pool scheme registered *in this file*
run through the whole stack -- the accelerator fields, mapping, both kernel modes, the limits,
``simulate``, the CLI and the report, the SCALE-Sim USER-mode port, and for the scheme the RTL
generator -- with no edit to the package (docs/extending.md says so; this shows it).

- ``os_nm``: output stationary with filters on the array's rows and pixels on its columns, the
  transposition of SCALE-Sim's os. On a 1x1 conv (an exact GEMM: m pixels x k, k x n filters) it
  must give every count os gives on the transposed GEMM (n pixels, m filters), the ifmap's and
  the filter's parts swapped -- also the DRAM traffic and the stall, with the two SRAMs and the
  two links swapped.
- ``rowslide``: channel and column passes by adder trees, the row pass by running sums. On a
  5x5 conv its adds and cycles are a hand count.
Registration is undone after the module (and by ``registered`` below), so no other test sees them.
"""
from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from structconv.cli import main
from structconv.core import Layer, Network, Structure
from structconv.rtl import IcarusSpu, compile_sumpool, sumpool_verilog, tools_missing
from structconv.sim import (
    DATAFLOWS,
    SCHEMES,
    Accelerator,
    Dataflow,
    MacArray,
    Memory,
    Scheme,
    SumPoolUnit,
    limits,
    register_dataflow,
    register_scheme,
    simulate,
    simulate_layer,
    simulate_scalesim_user,
    unregister_dataflow,
    unregister_scheme,
)
from structconv.sim._tier import twin
from structconv.sim.mapping import dense_fields, hw_record, jobs_for, structured_fields

K = twin()  # the Numba-compiled kernels (the interpreted tier is the same source: test_sim_tiers.py)

FLOW = Dataflow("os_nm", rows="n", cols="m", time="k", description="os with filters on the rows")
SCHEME = Scheme("rowslide", running=("row",), description="rows by running sums, the rest by trees")
SWAP = {"sram_ifmap_reads": "sram_filter_reads", "sram_filter_reads": "sram_ifmap_reads",
        "dram_ifmap_bytes": "dram_filter_bytes", "dram_filter_bytes": "dram_ifmap_bytes"}


@contextlib.contextmanager
def registered(*entries):
    """Register dataflows and schemes for the duration of a block."""
    added = []
    try:
        for e in entries:
            (register_dataflow if isinstance(e, Dataflow) else register_scheme)(e)
            added.append(e)
        yield
    finally:
        for e in reversed(added):
            (unregister_dataflow if isinstance(e, Dataflow) else unregister_scheme)(e.name)


@pytest.fixture(scope="module", autouse=True)
def new_hardware():
    with registered(FLOW, SCHEME):
        yield


# -- registration -------------------------------------------------------------------------------
def test_registered_names_are_everywhere_names_are_read():
    assert list(DATAFLOWS) == ["os", "ws", "is", "os_nm"] and list(SCHEMES)[-1] == "rowslide"
    hw = Accelerator("n", MacArray(4, 6, "os_nm"), SumPoolUnit(4, "rowslide"))
    rec = hw_record(hw)
    assert (rec["dataflow"][0], rec["scheme"][0]) == (FLOW.code, SCHEME.code) == (3, K.SC_RUN_ROW)
    # SCALE-Sim's own keep the codes that are their places in DATAFLOWS (the kernels' tests use them)
    assert [DATAFLOWS.get(n).code for n in ("os", "ws", "is")] == [0, 1, 2]


def test_registration_is_checked_and_undone():
    with pytest.raises(ValueError, match="the same as the registered 'os'"):
        register_dataflow(Dataflow("os_again", "m", "n", "k"))
    with pytest.raises(ValueError, match="reduction k must run down the rows or in time"):
        Dataflow("k_across", "m", "k", "n")
    with pytest.raises(ValueError, match="already registered"):
        register_scheme(Scheme("rowslide", running=("column",)))
    with pytest.raises(ValueError, match="built in"):
        unregister_dataflow("ws")
    with registered(Scheme("colslide", running=("column",))):
        assert SumPoolUnit(2, "colslide").scheme == "colslide"
    assert "colslide" not in SCHEMES
    with pytest.raises(ValueError, match=r"sum_pool.scheme = 'colslide' is not one of"):
        SumPoolUnit(2, "colslide")


def test_python_twins_equal_the_kernels_for_every_registered_entry():
    rng = np.random.default_rng(3)
    for name in DATAFLOWS:
        flow = DATAFLOWS.get(name)
        for _ in range(200):
            M, N, Kk, R, C = (int(v) for v in rng.integers(1, 40, 5))
            f = flow.folds(M, N, Kk, R, C)
            assert K.gemm_closed(flow.code, M, N, Kk, R, C) == (f.fold_cycles, f.folds, f.rf, f.cf,
                                                                f.ifmap_reads, f.filter_reads, f.ofmap_writes)
            assert K.gemm_dims(flow.code, M, N, Kk) == flow.dims(M, N, Kk)
        assert (K.ifmap_role(flow.code), K.filter_role(flow.code), K.ofmap_role(flow.code)) == \
            tuple(flow.role(op) for op in ("ifmap", "filter", "ofmap"))
    for name in SCHEMES:
        sc = SCHEMES.get(name)
        assert all(K.spu_depth(sc.code, kc, a, b) == sc.depth(kc, a, b)
                   for kc in range(1, 7) for a in range(1, 7) for b in range(1, 7))


# -- the new dataflow is os transposed ------------------------------------------------------------
GEMMS = [(20, 12, 16, (5, 4), (3, 4)), (27, 10, 7, (3, 9), (2, 5)), (36, 6, 40, (6, 6), (2, 3)),
         (9, 35, 3, (3, 3), (5, 7))]              # (m, n, k, input of m pixels, input of n pixels)
ARRAYS = [(4, 6), (8, 3), (5, 5), (16, 2)]
MEMORIES = [(64, 256, 32, dict(links="shared", dram_bytes_per_cycle=2.0)),
            (4096, 48, 64, dict(links="per_operand", dram_bytes_per_cycle=2.0, ifmap_dram_bytes_per_cycle=1.0,
                                filter_dram_bytes_per_cycle=3.0)),
            (1 << 16, 1 << 16, 1 << 15, dict(links="unlimited")),
            (24, 24, 16, dict(links="per_operand", dram_bytes_per_cycle=1.5, ifmap_dram_bytes_per_cycle=4.0,
                              filter_dram_bytes_per_cycle=1.0))]


def _swapped(i, f, o, links: dict) -> Memory:
    """The memory with the ifmap's and the filter's SRAMs and links exchanged."""
    links = dict(links)
    if links["links"] == "per_operand":
        links["ifmap_dram_bytes_per_cycle"], links["filter_dram_bytes_per_cycle"] = \
            links["filter_dram_bytes_per_cycle"], links["ifmap_dram_bytes_per_cycle"]
    return Memory(f, i, o, **links)


def _transposed(m, n, k, pix_m, pix_n):
    """A 1x1 conv running the m x k by k x n GEMM, and one running its transpose."""
    return Layer.conv2d("a", k, n, 1, pix_m), Layer.conv2d("b", k, m, 1, pix_n)


@pytest.mark.parametrize("mode", ["analytical", "cycle"])
def test_the_transposed_dataflow_counts_what_os_counts_on_the_transposed_gemm(mode):
    checked = 0
    for m, n, k, pix_m, pix_n in GEMMS:
        a, b = _transposed(m, n, k, pix_m, pix_n)
        for R, C in ARRAYS:
            for i, f, o, links in MEMORIES:
                new = Accelerator("t", MacArray(R, C, "os_nm"), memory=Memory(i, f, o, **links))
                old = Accelerator("o", MacArray(R, C, "os"), memory=_swapped(i, f, o, links))
                got = K.run_jobs(jobs_for(a), hw_record(new), mode)[0]
                want = K.run_jobs(jobs_for(b), hw_record(old), mode)[0]
                for field in K.COUNT_FIELDS:
                    assert got[field] == want[SWAP.get(field, field)], (m, n, k, R, C, links["links"], field)
                checked += int(got["dram_bytes"] > m * k + k * n + m * n)      # some refetch
    assert checked >= 10                            # the small memories do make tiles go and come back


def _shares_job(m, n, k, ifmap):
    """A JOB of the m x k by k x n GEMM whose ifmap operand is ``ifmap`` elements in equal shares
    (its field is not the layer's own input map, 2m x 1 at stride 2, so no need sets count it)."""
    fields = dense_fields(Layer.conv2d("g", k, n, 1, (2 * m, 1), stride=2))
    return K.record(K.JOB, **dict(fields, ifmap=ifmap))


@pytest.mark.parametrize("mode", ["analytical", "cycle"])
def test_the_transposed_dataflow_in_equal_shares_too(mode):
    """The closed forms of a column-streamed ifmap (equal shares, no need sets) against os's
    exactly tiled column-streamed filter on the transposed GEMM: equal where the shares are the
    tiles (the pixels a whole number of column folds, the filters of row folds)."""
    differs = 0
    for (m, n, k), (R, C) in (((24, 8, 16), (4, 6)), ((18, 15, 7), (5, 3)), ((32, 6, 9), (3, 8))):
        a, b = _shares_job(m, n, k, m * k), _shares_job(n, m, k, n * k)
        assert not K.ifmap_counted(K.as_plain(a)[0], FLOW.code, R, C, -(-n // R), -(-m // C), 1 << 20)
        for i, f, o, links in MEMORIES:
            new = hw_record(Accelerator("t", MacArray(R, C, "os_nm"), memory=Memory(i, f, o, **links)))
            old = hw_record(Accelerator("o", MacArray(R, C, "os"), memory=_swapped(i, f, o, links)))
            got, want = K.run_jobs(a, new, mode)[0], K.run_jobs(b, old, mode)[0]
            for field in K.COUNT_FIELDS:
                assert got[field] == want[SWAP.get(field, field)], (m, n, k, R, C, links["links"], field)
            as_os = hw_record(Accelerator("o", MacArray(R, C, "os"), memory=Memory(i, f, o, **links)))
            differs += int(K.run_jobs(a, as_os, mode)[0]["cycles_compute"] != got["cycles_compute"])
    assert differs > 0                                  # os_nm is not os under another name


def test_the_transposed_dataflow_runs_structured_layers_in_both_modes_alike():
    """A structured layer on os_nm: both modes agree on every count (as tests/test_sim_modes.py
    asks of SCALE-Sim's dataflows), fused or sequential, and a fused layer really ran fused."""
    layer, s = Layer.conv2d("s", 8, 12, 3, (9, 11), padding=1), Structure(2, (1, 1))
    fused = 0
    for overlap in ("fused", "sequential"):
        for scheme in ("separable", "rowslide"):
            hw = Accelerator("t", MacArray(4, 6, "os_nm"), SumPoolUnit(4, scheme, 1 << 14), overlap=overlap)
            ra, rc = (simulate_layer(layer, s, hw, mode) for mode in ("analytical", "cycle"))
            for field in ("cycles_compute", "mac_cycles", "spu_cycles", "macs", "spu_adds",
                          "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
                          "line_buffer_accesses", "dram_bytes", "fused"):
                assert getattr(ra, field) == getattr(rc, field), (overlap, scheme, field)
            assert rc.cycles_stall >= ra.cycles_stall
            fused += bool(ra.fused)
    assert fused == 2


def test_the_usermode_port_runs_the_transposed_dataflow_as_os_on_the_transposed_gemm():
    for m, n, k, pix_m, pix_n in GEMMS[:2]:
        a, b = _transposed(m, n, k, pix_m, pix_n)
        links = dict(links="per_operand", dram_bytes_per_cycle=2.0, ifmap_dram_bytes_per_cycle=1.0,
                     filter_dram_bytes_per_cycle=3.0)
        new = Accelerator("t", MacArray(4, 3, "os_nm"), memory=Memory(96, 160, 64, **links))
        old = Accelerator("o", MacArray(4, 3, "os"), memory=_swapped(96, 160, 64, links))
        got, want = simulate_scalesim_user(a, new), simulate_scalesim_user(b, old)
        assert (got.cycles_total, got.cycles_stall, got.dram_ofmap_writes) == \
            (want.cycles_total, want.cycles_stall, want.dram_ofmap_writes)
        for x, y in (("dram_ifmap_reads", "dram_filter_reads"), ("sram_ifmap_reads", "sram_filter_reads")):
            assert (getattr(got, x), getattr(got, y)) == (getattr(want, y), getattr(want, x))


# -- the new scheme: a hand count ---------------------------------------------------------------------
def test_the_new_scheme_adds_what_the_hand_count_says_in_both_modes():
    """5x5 conv, 6 -> 8 channels, 12 x 9 input, padding 2; structure c = 2, 1x1: windows of
    kc = a = b = 5 over every position (stride 1): Hn x Wn = 12 x 9 outputs, Rin x Cin = 16 x 13
    input positions. Channel pass (trees): 16*13 * 2*(5-1) = 1664. Row pass (running sums, the
    first window 4 adds, then 2 a step: 4 + 2*11 = 26 < 12*4 per column): 2*13*26 = 676. Column
    pass (trees): 2*12*9*(5-1) = 864. Depth: ceil(log2 5) + 1 + ceil(log2 5) = 7."""
    layer, s = Layer.conv2d("s", 6, 8, 5, (12, 9), padding=2), Structure(2, (1, 1))
    adds = 16 * 13 * 2 * 4 + 2 * 13 * (4 + 2 * 11) + 2 * 12 * 9 * 4
    assert adds == 3204
    for overlap in ("fused", "sequential"):
        hw = Accelerator("t", MacArray(8, 8), SumPoolUnit(16, "rowslide", 1 << 16), overlap=overlap)
        for mode in ("analytical", "cycle"):
            r = simulate_layer(layer, s, hw, mode)
            assert (r.spu_adds, r.spu_cycles) == (adds, -(-adds // 16) + 7), (overlap, mode)
    others = {sc: simulate_layer(layer, s, Accelerator("t", MacArray(8, 8), SumPoolUnit(16, sc))).spu_adds
              for sc in ("separable", "sliding")}
    assert others == {"separable": 1664 + 2 * 13 * 12 * 4 + 864, "sliding": 2404}    # rowslide sits between


def test_limits_bound_the_new_entries():
    layer, s = Layer.conv2d("s", 6, 8, 5, (12, 9), padding=2), Structure(2, (1, 1))
    for mode in ("analytical", "cycle"):
        for choice, fields in ((None, dense_fields(layer)), (s, structured_fields(layer, s))):
            hw = Accelerator("t", MacArray(4, 6, "os_nm"), SumPoolUnit(4, "rowslide", 1 << 14),
                             Memory(256, 256, 128, 2.0))
            bounds, _ = limits.job_bounds(fields, hw, mode)
            r = simulate_layer(layer, choice, hw, mode)
            for name, (v, exact) in bounds.items():
                got = r.cycles_total if name == "cycles_total" else getattr(r, name)
                assert (got == v) if exact and name != "mac_cycles" else got <= v, (mode, name, got, v)
    huge = Layer.conv2d("huge", 100000, 100000, 3, (100000, 100000))
    with pytest.raises(ValueError, match="layer 'huge': macs = 9.0e\\+20"):
        simulate_layer(huge, None, Accelerator("t", MacArray(8, 8, "os_nm")))


# -- the stack above the kernels ------------------------------------------------------------------
def _net():
    return Network("two", (6, 12, 9), (Layer.conv2d("c1", 6, 8, 5, (12, 9), padding=2),
                                       Layer.conv2d("c2", 8, 16, 3, (12, 9), padding=1, stride=2)))


def test_simulate_the_cli_and_the_report_run_the_new_entries(tmp_path, capsys):
    plan = {"c1": {"c": 2, "n": [1, 1]}, "c2": {"c": 4, "n": [1, 1]}}
    hw = Accelerator("newhw", MacArray(4, 6, "os_nm"), SumPoolUnit(8, "rowslide", 1 << 14))
    res = simulate(_net(), plan, hw)
    layers = [simulate_layer(layer, Structure(c, (1, 1)), hw) for layer, c in zip(_net().layers, (2, 4))]
    assert [r.to_dict() for r in res.layers] == [r.to_dict() for r in layers]
    assert res.cycles_total == sum(r.cycles_total for r in layers) and min(r.spu_adds for r in layers) > 0
    yaml = tmp_path / "newhw.yaml"
    yaml.write_text("name: newhw\nmac_array: {rows: 4, cols: 6, dataflow: os_nm}\n"
                    "sum_pool: {adder_lanes: 8, scheme: rowslide, line_buffer_bytes: 16384}\n")
    assert main(["simulate", "resnet20", "--preset", "uniform-n2", "--hw", str(yaml), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = simulate("resnet20", "uniform-n2", hw).to_dict()
    assert out["hw"] == "newhw" and out["layers"] == want["layers"] and out["totals"] == want["totals"]
    from structconv.analysis import build_report
    rep = build_report(_net(), hw=hw, plan=plan, paper=False)
    assert "4x6 os_nm array, 8-lane rowslide sum-pool unit" in rep.section("summary").text[0]
    assert rep.summary["cycles_total"] == res.cycles_total
    assert rep.frames["layers"]["spu_cycles"].tolist() == [r.spu_cycles for r in layers]


def test_the_rtl_generator_runs_the_new_scheme(tmp_path):
    """The compiled schedule has the hand count's adds and depth, its ops really make the window
    sums, and (with Icarus Verilog) the generated unit counts the model's cycles and adds."""
    layer, s = Layer.conv2d("s", 6, 8, 5, (12, 9), padding=2), Structure(2, (1, 1))
    prog = compile_sumpool(layer, s, "rowslide", seed=5)
    assert (len(prog.ops), prog.depth) == (3204, 7)
    mem = prog.image.copy()
    for sub, d, x, y in prog.ops:
        mem[d] = mem[x] - mem[y] if sub else mem[x] + mem[y]
    assert np.array_equal(mem[prog.outputs], prog.expected)
    hw = Accelerator("t", MacArray(4, 4), SumPoolUnit(3, "rowslide", 1 << 20), overlap="sequential")
    text = sumpool_verilog(hw, aw=16)
    assert "(rowslide schedules)" in text
    if tools_missing() is not None:
        pytest.skip(tools_missing())
    rtl = IcarusSpu(text, 3, workdir=tmp_path).run(prog)
    model = simulate_layer(layer, s, hw, "cycle")
    assert np.array_equal(rtl.outputs, prog.expected)
    assert (rtl.cycles, rtl.adds, rtl.handoff) == (model.spu_cycles, model.spu_adds, model.sram_ifmap_writes)
