"""The two tiers of the kernels (structconv/sim/_tier.py): interpreted and Numba-compiled give the
same counts; a small call runs interpreted and loads no Numba (nor torch or optuna); compiling says
so on stderr, a warm cache says nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structconv.core import get_network, get_preset
from structconv.sim import _kernels as K
from structconv.sim import _tier, load_accelerator
from structconv.sim.mapping import hw_record, jobs_for
from tests.support.scalesim_inputs import cases, write_inputs
from tests.support.sim_reference import accelerators, layers, structures

ROOT = Path(__file__).resolve().parents[2]


def _both(jobs: np.ndarray, rec: np.ndarray, mode: str = "analytical") -> tuple[np.ndarray, np.ndarray]:
    plain, hw = K.as_plain(jobs), K.as_plain(rec).reshape(K.NH)
    return K._KERNELS[mode](plain, hw), _tier.twin()._KERNELS[mode](plain, hw)


@pytest.mark.parametrize("name, preset", [("resnet18", "uniform-n2"), ("mobilenet_v2", "struct-mv2-b")])
def test_the_tiers_agree_on_zoo_networks(name, preset):
    net = get_network(name, input_size=(48, 48))
    plan = get_preset(preset, net)
    jobs = K.concat([jobs_for(l, c) for l in net.layers for c in (None, plan.choice_for(l.name))])
    for hw in ("edge-int8", "small-os-168pe"):
        interpreted, compiled = _both(jobs, hw_record(load_accelerator(hw)))
        np.testing.assert_array_equal(interpreted, compiled)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), mode=st.sampled_from(["analytical", "cycle"]))
def test_the_tiers_agree_on_random_layers_and_accelerators(data, mode):
    layer = data.draw(layers(max_channels=12, max_size=10))
    s = data.draw(structures(layer))
    hw = data.draw(accelerators())
    jobs = K.concat([jobs_for(layer, None), jobs_for(layer, s)])
    interpreted, compiled = _both(jobs, hw_record(hw), mode)
    np.testing.assert_array_equal(interpreted, compiled)


def test_small_calls_run_interpreted_and_big_ones_compiled(monkeypatch):
    monkeypatch.delenv("STRUCTCONV_KERNELS", raising=False)
    monkeypatch.setitem(_tier._state, "spent_s", 0.0)
    monkeypatch.setitem(_tier._state, "twin", None)                    # a process that compiled nothing yet
    small = K.as_plain(jobs_for(get_network("resnet18").layers[1]))
    hw = K.as_plain(hw_record(load_accelerator("edge-int8")))[0]
    assert _tier.estimate_s(small) < _tier.WARM_BUDGET_S
    assert _tier._interpreted("analytical", small, hw)
    assert not _tier._interpreted("cycle", small, hw)                  # cycle mode: always compiled
    huge = np.repeat(small, int(_tier.COLD_BUDGET_S / _tier.estimate_s(small)) + 2, axis=0)
    assert not _tier._interpreted("analytical", huge, hw)
    monkeypatch.setitem(_tier._state, "spent_s", _tier.COLD_BUDGET_S)    # a process that kept calling
    assert not _tier._interpreted("analytical", small, hw)
    monkeypatch.setenv("STRUCTCONV_KERNELS", "interpreted")
    assert _tier._interpreted("analytical", huge, hw)


def _python(code: str, env: dict, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=cwd)


def test_simulate_on_a_scalesim_topology_loads_no_torch_optuna_or_numba(tmp_path):
    topo, _, cfg = write_inputs(cases()[0], str(tmp_path))
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from structconv.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = main(["simulate", "--scalesim-topology", {topo!r}, "--scalesim-config", {cfg!r}, "--json"])
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "optuna", "numba", "scipy"}})
        cycles = json.loads(out.getvalue())["totals"]["cycles_total"]
        print(json.dumps({{"rc": rc, "heavy": heavy, "cycles": cycles}}))
    """)
    got = _python(code, {"STRUCTCONV_KERNELS": "auto"})
    assert got.returncode == 0, got.stderr
    res = json.loads(got.stdout.splitlines()[-1])
    assert res["rc"] == 0 and res["heavy"] == [] and res["cycles"] > 0
    assert got.stderr == ""


def test_compiling_prints_one_notice_and_a_warm_cache_none(tmp_path):
    (tmp_path / "tiny_kernel.py").write_text(textwrap.dedent("""
        from structconv.sim._numba import NUMBA_FLAGS, compiled_njit
        @compiled_njit(**NUMBA_FLAGS)
        def add(a, b):
            return a + b
    """))
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, ".")
        from structconv.sim._tier import compile_notice
        import tiny_kernel
        with compile_notice("a test kernel"):
            assert tiny_kernel.add(2, 3) == 5
    """)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": f"{ROOT}"}
    first, second = (_python(code, env, cwd=tmp_path) for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout == ""
    notes = [l for l in first.stderr.splitlines() if l.strip()]
    assert len(notes) == 2 and all("compiling a test kernel once" in l for l in notes)
    assert "1 functions" in notes[-1]
    assert second.stderr == ""                                        # the cache was warm: quiet
