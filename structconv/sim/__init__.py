"""structconv.sim: cycles and energy of a network on a sum-pool unit + MAC-array accelerator.

    simulate(model, plan=None, hw="edge-int8", mode="analytical") -> NetworkResult
    simulate_layer(layer, choice=None, hw=..., mode=...)        -> LayerResult
    BatchSimulator(model, hw, choices_per_layer).evaluate(index) -> (cycles, energy_pj)
    load_accelerator(name_or_path), list_accelerators(), read_scalesim_config(path)
    simulate_scalesim_user(layer_or_network, hw, double_count=True) -> SCALE-Sim 3.0.0's USER-mode numbers
        (a port of its read/write buffers, quirks included, for compatibility; not this project's model)
    DATAFLOWS, SCHEMES, OVERLAPS, LINKS, MODES: the names the accelerator fields and modes take
    register_dataflow(Dataflow(name, rows, cols, time)), register_scheme(Scheme(name, ...)): add one
        (the hardware algebra, _algebra.py: every mode, the limits, the USER-mode port and rtl read it)

``model`` is a Network or a zoo name, ``plan`` anything ``structconv.core.resolve_plan``
reads (None = dense, a Plan, a mapping, a preset such as "uniform-n2", a plan file).
Every kind of choice runs as its ``parts(layer)`` (mapping.py).

Model, in short (details: mapping.py, _algebra.py, _kernels.py):
- MAC array: SCALE-Sim 3.0.0's fold schedule; dense layers reproduce its "Total
  Cycles" and SRAM access counts exactly. Groups run one GEMM each, in turn. A
  dataflow is where the array puts the GEMM's axes (os, ws, is, or a registered one).
- Sum-pool unit: adder lanes run a tree (core's naive count), separable (channel,
  row, column passes) or sliding (running sums) scheme, or a registered one. Only the sum-pool outputs
  the small conv reads are computed; core's count assumes the full stride-1 map,
  so at stride > 1 (or dilation wider than the output) the unit does less work.
- Overlap: fused pipelines the sum-pool unit into the MAC array through the line
  buffer (falls back to sequential when the rows it needs do not fit there);
  sequential writes the sum-pool output to SRAM (DRAM if it does not fit) first.
- Memory: double-buffered SRAMs (half active); each fold loads the input its windows
  read (its need set) less what the previous fold left when the map does not fit in
  half the SRAM, filter tiles are re-fetched unless they fit, with the cheaper of the
  two fold orders (checked against tests/trace_reference.py); stalls
  are DRAM time the compute cannot hide (first fill and last drain included), over
  one shared link (default), a link per operand, or none (``unlimited``: SCALE-Sim's
  CALC mode, no stalls, each operand's needed bandwidth reported).
- Energy: event counts x the accelerator's pJ table (Horowitz 45 nm defaults)
  plus leakage x latency, computed in numpy outside the kernels.
- Limits (limits.py): before the kernels, every count of a layer is bounded in Python
  integers; one that could pass int64 (or a kernel that would run for days) is a
  one-line ValueError naming the layer and the field, never a wrapped-around number.
"""
from ._algebra import (
                       DATAFLOWS,
                       SCHEMES,
                       Dataflow,
                       Scheme,
                       register_dataflow,
                       register_scheme,
                       unregister_dataflow,
                       unregister_scheme,
)
from ._kernels import LINKS, MODES, OVERLAPS
from ._numba import numba_kernel  # the one place of Numba's flags and cache directory (search's kernels too)
from .accelerator import (
                       DEFAULT_HW,
                       DTYPES,
                       Accelerator,
                       AreaTable,
                       EnergyTable,
                       MacArray,
                       Memory,
                       SumPoolUnit,
                       list_accelerators,
                       load_accelerator,
)
from .batch import BatchSimulator
from .engine import simulate, simulate_layer
from .memory_cost import SRAM_MODELS, SRAM_ROLES, SramCost
from .results import ENERGY_KEYS, Energy, LayerResult, NetworkResult
from .scalesim_cfg import read_scalesim_config
from .scalesim_user import ScaleSimUserResult, simulate_scalesim_user
from .sram_compare import compare_sram_models

__all__ = ["Accelerator", "MacArray", "SumPoolUnit", "Memory", "EnergyTable", "AreaTable", "DEFAULT_HW",
           "load_accelerator", "list_accelerators", "read_scalesim_config", "simulate", "simulate_layer",
           "BatchSimulator", "MODES", "DATAFLOWS", "LINKS", "SCHEMES", "OVERLAPS", "DTYPES", "ENERGY_KEYS",
           "Energy", "LayerResult", "NetworkResult", "SRAM_MODELS", "SRAM_ROLES", "SramCost",
           "ScaleSimUserResult", "simulate_scalesim_user", "compare_sram_models", "Dataflow", "Scheme",
           "register_dataflow", "register_scheme", "unregister_dataflow", "unregister_scheme",
           "numba_kernel"]
