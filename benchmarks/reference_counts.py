"""Peer op counts for the classification zoo: torchvision models measured by fvcore and torchinfo.

Writes ``tests/data/reference_counts.json``, the pinned numbers that
``tests/core/test_zoo_classification.py`` checks ``structconv.core.zoo`` against. Nothing
here imports structconv: these are PEER numbers, from torchvision's own model
definitions and two independent counters.

Per network:
  totals.mults        fvcore ``FlopCountAnalysis`` by-operator counts of the conv and
                      linear operators only (fvcore counts one multiply-add as one flop,
                      bias excluded): the DESIGN.md "mults" of a dense network.
  totals.params       torchinfo ``summary(...).total_params`` (weights, biases and
                      BatchNorm affine parameters).
  totals.fvcore_all   fvcore's total over every operator it supports (adds BatchNorm
                      and adaptive pooling), for information only.
  totals.torchinfo_mult_adds  torchinfo's total "mult-adds" (adds BatchNorm and bias
                      terms), for information only.
Per Conv2d / Linear module (``named_modules`` order, which is also execution order
for these networks):
  name, type, in/out channels, kernel, stride, padding, dilation, groups, bias (from
  the torchvision module), input_size (H, W of the module's input, from torchinfo;
  [1, 1] for Linear), mults (fvcore by-module count of that module), params (torchinfo
  per-layer num_params), torchinfo_mult_adds (torchinfo per-layer MACs, which add
  C_out*Ho*Wo for a bias; the script asserts torchinfo - bias term == fvcore).

How to recreate the environment (torch from PyPI's CPU wheel as pinned in
constraints.txt; torchvision without its dependencies so pip cannot pull CUDA):

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -c constraints.txt torch==2.13.0 torchinfo fvcore
    .venv-peers/bin/pip install --no-deps torchvision==0.28.0
    .venv-peers/bin/python benchmarks/reference_counts.py

torchvision 0.28.0 is the release paired with torch 2.13. Its compiled ops (``_C.so``)
are linked against CUDA libtorch and do not load with the CPU torch, and
``torchvision._meta_registrations`` then fails at import (``operator torchvision::nms
does not exist``). The model definitions are pure Python and do not need those ops,
so the script stubs that one module before importing torchvision.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_counts.json"

# name -> (torchvision builder, input H = W)
NETWORKS = {
    "resnet18": ("resnet18", 224),
    "resnet34": ("resnet34", 224),
    "resnet50": ("resnet50", 224),
    "resnet101": ("resnet101", 224),
    "mobilenet_v2": ("mobilenet_v2", 224),
    "efficientnet_b0": ("efficientnet_b0", 224),
    "efficientnet_b1": ("efficientnet_b1", 240),
    "vgg16": ("vgg16", 224),
}


def _import_torchvision():
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torchvision
    return torchvision


def measure(torchvision, fn: str, size: int) -> dict:
    import torch
    from fvcore.nn import FlopCountAnalysis
    from torchinfo import summary

    torch.manual_seed(0)
    model = getattr(torchvision.models, fn)(num_classes=1000).eval()
    x = torch.zeros(1, 3, size, size)

    fl = FlopCountAnalysis(model, x)
    fl.unsupported_ops_warnings(False)
    fl.uncalled_modules_warnings(False)
    by_module = fl.by_module()
    by_op = fl.by_operator()

    info = summary(model, input_data=x, verbose=0, depth=100)
    by_id = {}
    for li in info.summary_list:
        by_id.setdefault(id(li.module), li)      # first call of a module

    layers = []
    for name, m in model.named_modules():
        if not isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            continue
        li = by_id[id(m)]
        mults = int(by_module[name])
        out = list(li.output_size)
        if isinstance(m, torch.nn.Conv2d):
            row = {"name": name, "type": "Conv2d", "in_channels": m.in_channels,
                   "out_channels": m.out_channels, "kernel": list(m.kernel_size),
                   "stride": list(m.stride), "padding": list(m.padding),
                   "dilation": list(m.dilation), "groups": m.groups, "bias": m.bias is not None,
                   "input_size": list(li.input_size[2:])}
            bias_term = m.out_channels * out[2] * out[3] if m.bias is not None else 0
        else:
            row = {"name": name, "type": "Linear", "in_channels": m.in_features,
                   "out_channels": m.out_features, "kernel": [1, 1], "stride": [1, 1],
                   "padding": [0, 0], "dilation": [1, 1], "groups": 1,
                   "bias": m.bias is not None, "input_size": [1, 1]}
            bias_term = m.out_features if m.bias is not None else 0
        own = sum(p.numel() for p in m.parameters())
        assert li.num_params == own, (name, li.num_params, own)
        assert li.macs - bias_term == mults, (name, li.macs, bias_term, mults)
        row.update(mults=mults, params=int(li.num_params), torchinfo_mult_adds=int(li.macs))
        layers.append(row)

    conv_linear = {k: int(v) for k, v in by_op.items() if k in ("conv", "linear", "addmm")}
    totals = {"mults": sum(conv_linear.values()), "params": int(info.total_params),
              "fvcore_by_operator": {k: int(v) for k, v in sorted(by_op.items())},
              "fvcore_all": int(fl.total()), "torchinfo_mult_adds": int(info.total_mult_adds)}
    assert totals["mults"] == sum(r["mults"] for r in layers), fn
    assert totals["params"] == sum(p.numel() for p in model.parameters()), fn
    return {"torchvision_builder": fn, "input_shape": [3, size, size], "totals": totals,
            "layers": layers}


def _dump(doc: dict) -> str:
    """Indented JSON with one line per layer, so diffs stay readable."""
    rows = []
    skeleton = {**doc, "networks": {}}
    for name, net in doc["networks"].items():
        tokens = []
        for row in net["layers"]:
            tokens.append(f"@@row{len(rows)}@@")
            rows.append(json.dumps(row))
        skeleton["networks"][name] = {**net, "layers": tokens}
    text = json.dumps(skeleton, indent=1)
    for i, flat in enumerate(rows):
        text = text.replace(f'"@@row{i}@@"', flat, 1)
    assert json.loads(text) == doc
    return text + "\n"


def main() -> None:
    import fvcore  # noqa: F401
    import torch
    import torchinfo  # noqa: F401  (both peers present before any work)

    tv = _import_torchvision()
    from importlib.metadata import version

    doc = {
        "_source": ("benchmarks/reference_counts.py: torchvision model definitions counted by fvcore "
                    "(mults = conv + linear MACs, per-module by_module) and torchinfo (params)"),
        "_versions": {"torch": torch.__version__, "torchvision": tv.__version__,
                      "fvcore": version("fvcore"), "torchinfo": version("torchinfo")},
        "networks": {},
    }
    for name, (fn, size) in NETWORKS.items():
        doc["networks"][name] = measure(tv, fn, size)
        t = doc["networks"][name]["totals"]
        print(f"{name:16s} {size:4d}  mults {t['mults']:>15,}  params {t['params']:>12,}  "
              f"layers {len(doc['networks'][name]['layers'])}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(_dump(doc))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
