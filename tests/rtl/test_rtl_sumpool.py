"""The sum-pool unit in Verilog (structconv.rtl), simulated with Icarus Verilog, against the
simulator's model: on random small structured layers, the RTL's counted cycles and lane firings
equal the model's spu_cycles and spu_adds (both modes), its hand-off equals the sum-pool map
the model writes, and the values it hands off are the window sums numpy computes."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from structconv.core import Layer, Structure
from structconv.rtl import IcarusSpu, compile_sumpool, sumpool_verilog, synth_lanes, tools_missing
from structconv.sim import SCHEMES, Accelerator, MacArray, SumPoolUnit, simulate_layer

pytestmark = pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
LANES = (1, 2, 3, 5, 16)
N_LAYERS = 60


def _random_case(rng):
    """A random small structured layer (not the identity window), its structure and a scheme."""
    while True:
        groups = int(rng.choice([1, 1, 2]))
        cg = int(rng.integers(1, 6))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        try:
            layer = Layer.conv2d("l", cg * groups, groups * int(rng.integers(1, 3)), (kh, kw),
                                 (int(rng.integers(3, 9)), int(rng.integers(3, 9))),
                                 stride=int(rng.integers(1, 4)),
                                 padding=int(rng.integers(0, 2)), dilation=int(rng.integers(1, 3)),
                                 groups=groups)
            ho, wo = layer.output_size
        except ValueError:                  # the kernel does not fit the input: draw again
            continue
        s = Structure(int(rng.integers(1, cg + 1)),
                      (int(rng.integers(1, kh + 1)), int(rng.integers(1, kw + 1))))
        if ho > 0 and wo > 0 and s.window(layer) != (1, 1, 1):
            return layer, s, SCHEMES[int(rng.integers(0, 3))], LANES[int(rng.integers(0, len(LANES)))]


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    def hw(lanes):
        return Accelerator("t", MacArray(4, 4), SumPoolUnit(lanes, "separable", 1 << 20))

    return {l: IcarusSpu(sumpool_verilog(hw(l), aw=16), l, workdir=tmp_path_factory.mktemp(f"spu{l}"))
            for l in LANES}


def test_rtl_counts_equal_the_model_on_random_layers(units):
    rng = np.random.default_rng(14)
    cases = [_random_case(rng) for _ in range(N_LAYERS)]
    assert {sc for _, _, sc, _ in cases} == set(SCHEMES) and len({l for *_, l in cases}) == len(LANES)
    bad = []
    for i, (layer, s, scheme, lanes) in enumerate(cases):
        hw = Accelerator("t", MacArray(4, 4), SumPoolUnit(lanes, scheme, 1 << 20), overlap="sequential")
        prog = compile_sumpool(layer, s, scheme, seed=i)
        rtl = units[lanes].run(prog)
        assert np.array_equal(rtl.outputs, prog.expected), (i, layer, s, scheme)   # real sums, handed off
        for mode in ("analytical", "cycle"):
            m = simulate_layer(layer, s, hw, mode)
            if (rtl.cycles, rtl.adds, rtl.handoff) != (m.spu_cycles, m.spu_adds, m.sram_ifmap_writes):
                bad.append((i, mode, layer, s, scheme, lanes, (rtl.cycles, rtl.adds, rtl.handoff),
                            (m.spu_cycles, m.spu_adds, m.sram_ifmap_writes)))
    assert not bad, bad[:3]


def test_rtl_counts_firings_not_a_formula(units):
    """Fewer ops than lanes: the adds counted are the ops that fired, the cycles the issue slots
    plus the pipeline; an empty schedule costs nothing."""
    layer = Layer.conv2d("l", 2, 1, (1, 2), (1, 2))           # one output: kc=2, b=2 -> 3 adds (tree)
    prog = compile_sumpool(layer, Structure(1, (1, 1)), "tree")
    rtl = units[16].run(prog)
    assert (rtl.adds, rtl.cycles, rtl.handoff) == (3, 1 + 2, 1)
    assert rtl.max_chain == 2                                  # the tree's two levels, forwarded in one cycle
    rtl1 = units[1].run(prog)
    assert (rtl1.adds, rtl1.cycles, rtl1.max_chain) == (3, 3 + 2, 1)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (Debian package yosys)")
def test_adder_lanes_synthesize_to_gates_that_scale_with_lanes():
    one, four = synth_lanes(1, 32), synth_lanes(4, 32)
    assert one.get("$_DFFE_PP_", 0) == 32 and four.get("$_DFFE_PP_", 0) == 128   # registered outputs

    def logic(c):
        return sum(v for k, v in c.items() if "DFF" not in k)

    # a 32-bit add/sub per lane (more than one gate per bit), lanes independent: ~4x the gates
    assert logic(one) > 2 * 32 and abs(logic(four) - 4 * logic(one)) <= 0.02 * 4 * logic(one)
