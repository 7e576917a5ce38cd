"""The pinned SCALE-Sim 3.0.0 CALC goldens (tests/data/scalesim_goldens*.csv) and what a row means to
structconv: the one parser of a golden row, for the tests and benchmarks/bench_sim.py."""
from __future__ import annotations

import csv
from collections import defaultdict

from structconv.core import Layer, Network
from structconv.sim import Accelerator, MacArray, Memory
from tests.support import DATA

# the columns that make a row's accelerator: one SCALE-Sim cfg per distinct value
HW_KEYS = ("array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")


def golden_rows(name: str = "scalesim_goldens.csv") -> list[dict]:
    """The pinned rows of ``tests/data/<name>`` as ``csv.DictReader`` reads them (every value a string)."""
    with open(DATA / name) as f:
        return list(csv.DictReader(f))


def golden_case(r: dict) -> tuple[Layer, Accelerator]:
    """(Layer, Accelerator) of one golden row: what SCALE-Sim's topology row and CALC cfg mean. CALC
    sizes the DRAM links so that they never stall: links unlimited."""
    def i(k):
        return int(r[k])

    layer = Layer.conv2d("layer0", i("channels"), i("num_filters"), (i("filter_h"), i("filter_w")),
                         (i("ifmap_h"), i("ifmap_w")), stride=i("stride"))
    hw = Accelerator("golden", MacArray(i("array_rows"), i("array_cols"), r["dataflow"]),
                     memory=Memory(i("ifmap_sram_kb") * 1024, i("filter_sram_kb") * 1024,
                                   i("ofmap_sram_kb") * 1024, 10.0, links="unlimited"))
    return layer, hw


def golden_network(r: dict) -> tuple[Network, Accelerator]:
    """The row's layer as a one-layer Network, and its Accelerator."""
    layer, hw = golden_case(r)
    return Network("golden", (layer.in_channels, *layer.input_size), (layer,)), hw


def golden_groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """The rows grouped by accelerator (``HW_KEYS``' values), in row order within a group."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in HW_KEYS)].append(r)
    return dict(groups)
