"""Attention products (``matmul`` layers) on the MAC array (issue 19): one SCALE-Sim GEMM per head and
window, M x K by K x N, with its memory traffic; the slow twin is tests/support/sim_reference.py's
demand-matrix GEMM."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.cli import main
from structconv.core import Layer, Network, count_network, count_ops
from structconv.sim import (
    DATAFLOWS,
    Accelerator,
    MacArray,
    Memory,
    load_accelerator,
    simulate,
    simulate_layer,
)
from structconv.sim.mapping import job_fields
from tests.support.sim_reference import scalesim_gemm

products = st.tuples(st.sampled_from(DATAFLOWS), st.integers(1, 6), st.integers(1, 30), st.integers(1, 30),
                     st.integers(1, 30), st.integers(1, 9), st.integers(1, 9))


@settings(max_examples=120)
@given(products)
def test_a_product_runs_one_scalesim_gemm_per_head(case):
    df, heads, M, Kw, N, R, C = case
    hw = Accelerator("a", MacArray(R, C, df), memory=Memory(4096, 4096, 4096, 2.0), leakage_mw=0.0)
    layer = Layer.matmul("attn.matmul0", heads, M, Kw, N)
    (job,) = job_fields(layer)
    assert (job["m"], job["k"], job["n"], job["groups"]) == (M, Kw, N, heads)
    got = simulate_layer(layer, hw=hw)
    ref = scalesim_gemm(df, M, N, Kw, R, C)
    assert got.cycles_compute == heads * ref["total_cycles"]
    assert (got.sram_ifmap_reads, got.sram_filter_reads, got.sram_ofmap_writes) == \
        (heads * ref["ifmap_reads"], heads * ref["filter_reads"], heads * ref["ofmap_writes"])
    assert got.macs == heads * M * Kw * N == count_ops(layer).mults
    # both operands come in from DRAM and the product goes out, at least once each
    assert got.dram_bytes >= heads * (M * Kw + Kw * N + M * N) * hw.bytes_per_element


def _vit_like(T=197, E=64, H=4) -> Network:
    """A ViT encoder layer as the tracer builds it: projections on T tokens, two products per head."""
    tokens = (1, T)
    layers = (Layer.conv2d("patch", 3, E, 16, (224, 224), stride=16, bias=True),
              Layer.conv2d("attn.in_proj", E, 3 * E, 1, tokens, bias=True),
              Layer.matmul("attn.matmul0", H, T, E // H, T),
              Layer.matmul("attn.matmul1", H, T, T, E // H),
              Layer.conv2d("attn.out_proj", E, E, 1, tokens, bias=True),
              Layer.linear("head", E, 10))
    return Network("vit_like", (3, 224, 224), layers)


def test_simulate_lists_the_products_and_mac_energy_is_counted_macs_times_pj_per_mac():
    net = _vit_like()
    hw = load_accelerator("tpu-like")
    res = simulate(net, hw=hw)
    rows = {r.name: r for r in res.layers}
    for name in ("attn.matmul0", "attn.matmul1"):
        assert rows[name].cycles_compute > 0 and rows[name].dram_bytes > 0
        assert rows[name].macs == count_ops(net[name]).mults == 4 * 197 * 197 * 16
    macs = count_network(net).original.mults
    assert sum(r.macs for r in res.layers) == macs
    assert res.energy_pj.mac == pytest.approx(macs * (hw.energy.mult_pj + hw.energy.add_pj), rel=1e-12)


MODEL = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        return self.head(self.attn(t, t, t)[0].mean(1))

def build():
    return Net()
'''


def test_the_simulate_command_lists_the_attention_products_with_cycles(tmp_path, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "attn_model.py"
    path.write_text(MODEL)
    assert main(["simulate", f"{path}:build", "--input-shape", "1,3,16,16", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["layers"]}
    assert list(rows) == ["patch", "attn.in_proj", "attn.matmul0", "attn.matmul1", "attn.out_proj", "head"]
    assert all(rows[n]["cycles_compute"] > 0 for n in ("attn.matmul0", "attn.matmul1"))
    assert main(["simulate", f"{path}:build", "--input-shape", "1,3,16,16"]) == 0
    listing = capsys.readouterr().out
    assert "attn.matmul0" in listing and "attn.matmul1" in listing
