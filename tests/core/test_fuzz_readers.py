"""Fuzzing the file readers (issue 10): random bytes and random YAML give a valid result or a clean error.

"Clean" means a ValueError or TypeError whose message is one non-empty line of bounded length;
anything else (KeyError, AttributeError, OverflowError, RecursionError, configparser's errors,
a hang) fails. Readers: ``Plan.load``, ``sim.load_accelerator`` on a file, ``core.read_topology``
and ``sim.read_scalesim_config``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structconv.core import Network, Plan, read_topology
from tests.support import scalesim_inputs

sim = pytest.importorskip("structconv.sim")

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow], database=None)
MAX_MESSAGE = 2000
VALID: dict = {}                 # reader -> how many fuzzed inputs it accepted (a fuzzer that never gets
                                 # past the first check tests little; see test_fuzzers_reach_valid_inputs)

# -- strategies -----------------------------------------------------------------------------------
odd_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", "0", "-1", "1e9", "nan", "inf", "os", "ws", "is", "dense", "dw_pw", "\u202e", "%", "%(x)s", "a,b",
     "#"])
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.integers(-3, 70)
           | st.floats(allow_nan=True, allow_infinity=True) | odd_text)
keys = odd_text | st.sampled_from(["name", "layers", "c", "n", "design", "kind", "model", "mac_array", "rows",
                                   "cols",
                                   "dataflow", "memory", "sum_pool", "dtype", "clock_hz", "overlap", "energy",
                                   "area", "layer1.0.conv1", "conv1", "fc"])
values = st.recursive(scalars,
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                      max_leaves=25)

choices = st.one_of(
    scalars,
    st.fixed_dictionaries({}, optional={"c": scalars, "n": scalars | st.lists(scalars, max_size=3),
                                        "bogus": scalars}),
    st.fixed_dictionaries({"design": st.sampled_from(["dw_pw", "gc_pw_g", "pw_dw_pw", "nodesign"])
                           | odd_text},
                          optional={"groups": scalars, "expansion": scalars, "kernel": scalars}),
)
plans = st.fixed_dictionaries(
    {"layers": st.dictionaries(keys, choices, max_size=4) | values},
    optional={"name": scalars, "model": scalars})


VALID_HW = {"name": "fuzz", "description": "d", "clock_hz": 500000000, "dtype": "int8", "overlap": "fused",
            "leakage_mw": 10.0, "mac_array": {"rows": 16, "cols": 16, "dataflow": "os"},
            "sum_pool": {"adder_lanes": 16, "scheme": "separable", "line_buffer_bytes": 32768},
            "memory": {"ifmap_sram_bytes": 65536, "filter_sram_bytes": 65536, "ofmap_sram_bytes": 32768,
                       "dram_bytes_per_cycle": 8}}
HW_PATHS = [(k,) for k in VALID_HW] + [(k, f) for k, v in VALID_HW.items() if isinstance(v, dict) for f in v]


@st.composite
def accelerators(draw):
    """A valid accelerator with up to three fields replaced, removed or added: mostly near-valid files."""
    d = json.loads(json.dumps(VALID_HW))
    for path in draw(st.lists(st.sampled_from(HW_PATHS), max_size=3, unique=True)):
        parent = d
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent.get(k), dict) else {}
        action = draw(st.sampled_from(["replace", "replace", "delete", "sibling"]))
        if action == "delete":
            parent.pop(path[-1], None)
        elif action == "sibling":
            parent[draw(keys)] = draw(scalars)
        else:
            parent[path[-1]] = draw(st.integers(0, 5) | st.sampled_from(["os", "ws", "is", "tree", "sliding",
                                                                         "fp16", "sequential"]) | values)
    return d


TOPO_HEADER = scalesim_inputs.TOPO_HEADER.rstrip("\n")
cells = (st.integers(-2, 80).map(str) | st.integers(0, 10**12).map(str)
         | odd_text.filter(lambda s: "\n" not in s and "\r" not in s))
sane_rows = st.tuples(
    st.text("abcxyz_.0123456789", min_size=1, max_size=8) | st.sampled_from(["conv_DP", "fc", "DPx"]),
    st.integers(1, 40), st.integers(1, 40), st.integers(1, 5), st.integers(1, 5), st.integers(1, 32),
    st.integers(1, 32), st.integers(1, 3),
).map(lambda r: ", ".join(map(str, r)) + ",")
odd_rows = st.lists(cells, min_size=6, max_size=10).map(
    lambda fs: ", ".join(fs) + ("," if len(fs) % 3 else ""))
gemm_rows = st.tuples(st.text("abc", min_size=1, max_size=4), st.integers(0, 50), st.integers(0, 50),
                      st.integers(0, 50)).map(lambda r: ", ".join(map(str, r)) + ",")


@st.composite
def topologies(draw):
    gemm = draw(st.integers(0, 4)) == 0
    header = "Layer, M, N, K," if gemm else draw(st.sampled_from([TOPO_HEADER] * 6
                                                                 + [TOPO_HEADER + " Sparsity,",
                                                                                      "a, b,", ""]))
    rows = draw(st.lists(gemm_rows if gemm else (sane_rows | sane_rows | sane_rows | odd_rows), max_size=5))
    return "\n".join([header, *rows]) + "\n"


cfg_values = cells | st.sampled_from(["32", "os", "ws", "is", "64", "10", "1,2,3", "%", "%(x)s", "100%", "x"])
VALID_CFG = {"ArrayHeight": "32", "ArrayWidth": "32", "IfmapSramSzkB": "64", "FilterSramSzkB": "64",
             "OfmapSramSzkB": "64", "Dataflow": "ws", "Bandwidth": "10"}


@st.composite
def cfgs(draw):
    """A valid SCALE-Sim cfg with up to three keys replaced or removed, sometimes a bad run_name or
    section."""
    fields = dict(VALID_CFG)
    for key in draw(st.lists(st.sampled_from(sorted(VALID_CFG)), max_size=3, unique=True)):
        if draw(st.booleans()):
            fields[key] = draw(cfg_values)
        else:
            del fields[key]
    run_name = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=10))
    section = draw(st.sampled_from(["architecture_presets"] * 5 + ["ARCHITECTURE_PRESETS", "other"]))
    return (f"[general]\nrun_name = {run_name}\n\n" if draw(st.booleans()) else "") + f"[{section}]\n" + \
        "".join(f"{k} = {v}\n" for k, v in fields.items())


# -- the check ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _write(path: Path, data) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return path


def _clean(read, path: Path, kind):
    """``read(path)`` returns a ``kind`` or raises a one-line ValueError/TypeError; nothing else."""
    try:
        result = read(path)
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert msg.strip(), f"{type(e).__name__} with an empty message"
        assert "\n" not in msg.strip(), msg
        assert len(msg) <= MAX_MESSAGE, f"message of {len(msg)} characters"
        return None
    assert isinstance(result, kind), type(result)
    VALID[read.__name__] = VALID.get(read.__name__, 0) + 1
    return result


def _yaml(data) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# -- plan reader ----------------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=600))
def test_plan_load_random_bytes(workdir, data):
    _clean(Plan.load, _write(workdir / "p.yaml", data), Plan)


@FUZZ
@given(data=plans | values)
def test_plan_load_random_yaml(workdir, data):
    plan = _clean(Plan.load, _write(workdir / "p.yaml", _yaml(data)), Plan)
    if plan is not None:                            # a plan read back saves and reloads to the same plan
        assert Plan.load(plan.save(workdir / "again.yaml")).to_dict() == plan.to_dict()


@FUZZ
@given(data=plans)
def test_plan_load_random_json(workdir, data):
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError):
        return
    _clean(Plan.load, _write(workdir / "p.json", text), Plan)


# -- accelerator reader ---------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=600))
def test_accelerator_random_bytes(workdir, data):
    _clean(sim.load_accelerator, _write(workdir / "hw.yaml", data), sim.Accelerator)


@FUZZ
@given(data=accelerators() | values)
def test_accelerator_random_yaml(workdir, data):
    hw = _clean(sim.load_accelerator, _write(workdir / "hw.yaml", _yaml(data)), sim.Accelerator)
    if hw is not None:
        assert hw.mac_array.rows >= 1 and hw.mac_array.cols >= 1
        assert all(math.isfinite(v) and v >= 0 for v in (hw.clock_hz, hw.memory.dram_bytes_per_cycle))


# -- topology reader ------------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=600))
def test_topology_random_bytes(workdir, data):
    _clean(read_topology, _write(workdir / "t.csv", data), Network)


@FUZZ
@given(text=topologies())
def test_topology_random_rows(workdir, text):
    net = _clean(read_topology, _write(workdir / "t.csv", text), Network)
    if net is not None:
        assert all(layer.output_size[0] >= 1 and layer.output_size[1] >= 1 for layer in net)


# -- SCALE-Sim cfg reader -------------------------------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=600))
def test_scalesim_config_random_bytes(workdir, data):
    _clean(sim.read_scalesim_config, _write(workdir / "c.cfg", data), sim.Accelerator)


@FUZZ
@given(text=cfgs())
def test_scalesim_config_random_fields(workdir, text):
    hw = _clean(sim.read_scalesim_config, _write(workdir / "c.cfg", text), sim.Accelerator)
    if hw is not None:
        assert hw.mac_array.rows >= 1 and hw.mac_array.dataflow in sim.DATAFLOWS


def test_fuzzers_reach_valid_inputs():
    """The structured strategies produce some inputs each reader accepts (run after the fuzz tests)."""
    if not VALID:
        pytest.skip(f"run with the fuzz tests above ({VALID})")
    assert len(VALID) == 4 and all(n > 0 for n in VALID.values()), VALID
