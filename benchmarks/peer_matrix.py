"""Peer matrix for "bring your own model": torchvision and timm models counted by fvcore and torchinfo.

Writes ``tests/data/peer_matrix.json`` (the pinned PEER numbers) and
``tests/data/peer_models/<model>.onnx`` (each model's graph, weights stripped), which
``tests/nn/test_peer_matrix.py`` checks ``structconv`` against without torchvision, timm or
network access. Nothing here imports structconv.

Run (creates or reuses its own venv, then re-executes itself inside it):

    python3 benchmarks/peer_matrix.py            # all models
    python3 benchmarks/peer_matrix.py --only convnext_tiny,mixnet_s   # a subset (merged into the JSON)

The venv (``benchmarks/peer_venv``, git-ignored) gets torch from the CPU wheel pinned in
constraints.txt (any looser spec makes pip fetch several GB of CUDA wheels), then
torchvision and timm without their dependencies, so pip cannot pull CUDA:

    python3 -m venv benchmarks/peer_venv
    benchmarks/peer_venv/bin/pip install -c constraints.txt torch==2.13.0 torchinfo fvcore onnx \
        numpy pyyaml safetensors huggingface_hub
    benchmarks/peer_venv/bin/pip install --no-deps torchvision==0.28.0 timm==1.0.29

torchvision 0.28's compiled ops are linked against CUDA libtorch and do not load with the
CPU torch; ``torchvision._meta_registrations`` then fails at import (``operator
torchvision::nms does not exist``). The model definitions are pure Python, so the script
stubs that one module before importing torchvision (as benchmarks/reference_counts.py does).

Per model (same conventions as benchmarks/reference_counts.py):
  totals.mults    fvcore ``FlopCountAnalysis.by_operator()`` summed over the conv, linear,
                  addmm and matmul operators (fvcore counts one multiply-add as one flop,
                  bias excluded): the docs/design.md "mults" of the dense network.
  totals.params   torchinfo ``summary(...).total_params`` (weights, biases, norm affine
                  parameters, layer scales).
  layers          every Conv2d / Linear module (``named_modules`` order): ``mults`` is
                  fvcore's ``by_module()`` count of that module, ``params`` torchinfo's
                  per-layer num_params; input/output shapes from torchinfo; ``onnx_nodes``
                  the ONNX nodes computing it and ``onnx_weight`` their weight initializer.
                  The script asserts the layers' mults sum to totals.mults (so no conv /
                  matmul runs outside a Conv2d / Linear module) and that every Conv / Gemm /
                  MatMul node of the ONNX graph belongs to exactly one layer.

ONNX files: opset 17, the TorchScript exporter (``dynamo=False``), the model in eval mode
exported with ``training=PRESERVE`` so BatchNormalization stays a node (EVAL mode would fold
it into the conv and change parameter counts), at the model's default input size (the crop
size of its torchvision weights' transforms, timm's ``pretrained_cfg['input_size']``),
batch 1. Every parameter and buffer is first filled with distinct random values: the
exporter merges initializers whose values are equal (fresh zero biases, unit norm weights),
which would hide parameters behind Identity nodes. Then weights are stripped: every
floating-point initializer with at least ``STRIP_MIN`` elements keeps its name, dtype and
dims but its data moves to EXTERNAL storage (``<model>.weights.bin``) that is not written.
Small and integer initializers (Reshape shapes, Pad amounts, scalars) stay inline, so ONNX
shape inference still gives every static shape. Read such a file with
``onnx.load(path, load_external_data=False)``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "benchmarks" / "peer_venv"
OUT_JSON = ROOT / "tests" / "data" / "peer_matrix.json"
OUT_DIR = ROOT / "tests" / "data" / "peer_models"
OPSET = 17
STRIP_MIN = 16
PINS = ["torch==2.13.0", "torchinfo==1.8.0", "fvcore==0.1.5.post20221221", "onnx==1.23.2",
        "numpy", "pyyaml", "safetensors", "huggingface_hub"]
NO_DEPS = ["torchvision==0.28.0", "timm==1.0.29"]

# name -> (library, builder, keyword arguments). Input size: see input_size().
MODELS = {
    "convnext_tiny": ("torchvision", "convnext_tiny", {}),
    "tf_efficientnet_b0": ("timm", "tf_efficientnet_b0", {}),
    "tf_mobilenetv3_small_100": ("timm", "tf_mobilenetv3_small_100", {}),
    "regnet_y_400mf": ("torchvision", "regnet_y_400mf", {}),
    "regnet_x_400mf": ("torchvision", "regnet_x_400mf", {}),
    "densenet121": ("torchvision", "densenet121", {}),
    "shufflenet_v2_x1_0": ("torchvision", "shufflenet_v2_x1_0", {}),
    "mobilenet_v3_small": ("torchvision", "mobilenet_v3_small", {}),
    "mobilenet_v3_large": ("torchvision", "mobilenet_v3_large", {}),
    "resnext50_32x4d": ("torchvision", "resnext50_32x4d", {}),
    "efficientnet_v2_s": ("torchvision", "efficientnet_v2_s", {}),
    # aux_logits=False: the auxiliary heads do not run in eval mode, so fvcore never sees them
    # while torchinfo would count their parameters.
    "googlenet": ("torchvision", "googlenet", {"aux_logits": False, "init_weights": False}),
    "squeezenet1_0": ("torchvision", "squeezenet1_0", {}),
    "mnasnet1_0": ("torchvision", "mnasnet1_0", {}),
    "ghostnet_100": ("timm", "ghostnet_100", {}),
    "mixnet_s": ("timm", "mixnet_s", {}),
}
COUNTED_OPS = ("conv", "linear", "addmm", "matmul")
COMPUTE_NODES = ("Conv", "ConvTranspose", "Gemm", "MatMul")


# -- venv ---------------------------------------------------------------------------------
def in_peer_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> Path:
    """Create benchmarks/peer_venv with the pinned peers unless it already imports them."""
    py = VENV / "bin" / "python"
    probe = "import torch, torchvision, timm, fvcore, torchinfo, onnx"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if py.exists() and subprocess.run([str(py), "-c", _stub_code() + probe], env=env,
                                      capture_output=True).returncode == 0:
        return py
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["-c", str(ROOT / "constraints.txt")] + PINS, check=True)
    subprocess.run(pip + ["--no-deps"] + NO_DEPS, check=True)
    return py


def _stub_code() -> str:
    return ("import sys, types; sys.modules.setdefault('torchvision._meta_registrations', "
            "types.ModuleType('torchvision._meta_registrations'));")


def import_torchvision():
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torchvision
    return torchvision


# -- models -------------------------------------------------------------------------------
def build(name: str):
    lib, fn, kwargs = MODELS[name]
    import torch
    tv = import_torchvision()       # timm imports torchvision: stub its meta registrations first
    torch.manual_seed(0)
    if lib == "timm":
        import timm
        model = timm.create_model(fn, pretrained=False, **kwargs)
        size = tuple(model.pretrained_cfg["input_size"])
    else:
        model = getattr(tv.models, fn)(weights=None, **kwargs)
        weights = tv.models.get_model_weights(fn).DEFAULT
        crop = weights.transforms().crop_size      # builds the transform only; no download
        size = (3, crop[0], crop[0])
    model.eval()
    randomize(model)
    return model, (1, *size)


def randomize(model) -> None:
    """Distinct random values everywhere, so the exporter merges no two initializers."""
    import torch
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)


def conv_linear(model) -> dict:
    import torch
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.ConvTranspose2d)
    return {n: m for n, m in model.named_modules() if isinstance(m, kinds)}


# -- peers --------------------------------------------------------------------------------
def measure(model, shape) -> tuple[dict, list[dict]]:
    import torch
    from fvcore.nn import FlopCountAnalysis
    from torchinfo import summary

    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    fl = FlopCountAnalysis(model, x)
    fl.unsupported_ops_warnings(False)
    fl.uncalled_modules_warnings(False)
    by_module, by_op = fl.by_module(), fl.by_operator()
    info = summary(model, input_data=x, verbose=0, depth=1000)
    first, calls = {}, {}
    for li in info.summary_list:
        first.setdefault(id(li.module), li)
        calls[id(li.module)] = calls.get(id(li.module), 0) + 1

    layers = [layer_row(name, m, first, calls, by_module) for name, m in conv_linear(model).items()]
    totals = {"mults": sum(int(v) for k, v in by_op.items() if k in COUNTED_OPS),
              "params": int(info.total_params),
              "fvcore_by_operator": {k: int(v) for k, v in sorted(by_op.items())},
              "fvcore_all": int(fl.total()), "torchinfo_mult_adds": int(info.total_mult_adds)}
    assert totals["mults"] == sum(r["mults"] for r in layers), \
        (totals["mults"], "conv/matmul outside a layer")
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    return totals, layers


def layer_row(name, m, first, calls, by_module) -> dict:
    import torch
    assert id(m) in first, f"module {name} is never called"
    li = first[id(m)]
    row = {"name": name, "type": type(m).__name__, "calls": calls[id(m)],
           "input_shape": list(li.input_size), "output_shape": list(li.output_size)}
    if isinstance(m, torch.nn.Linear):
        row.update(in_channels=m.in_features, out_channels=m.out_features, bias=m.bias is not None)
    else:
        row.update(in_channels=m.in_channels, out_channels=m.out_channels, kernel=list(m.kernel_size),
                   stride=list(m.stride), padding=list(m.padding) if not isinstance(m.padding, str)
                   else m.padding, dilation=list(m.dilation), groups=m.groups, bias=m.bias is not None)
    own = sum(p.numel() for p in m.parameters())
    assert li.num_params == own, (name, li.num_params, own)
    row.update(mults=int(by_module[name]), params=int(li.num_params), torchinfo_mult_adds=int(li.macs))
    return row


# -- ONNX ---------------------------------------------------------------------------------
def export(model, shape, path: Path) -> None:
    import torch
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), opset_version=OPSET, dynamo=False,
                          do_constant_folding=True, training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["input"], output_names=["output"])


def fingerprint(arr) -> str:
    import numpy as np
    return hashlib.sha1(np.ascontiguousarray(arr, dtype=np.float32).tobytes()).hexdigest()


def map_nodes(onnx_model, model, layers: list[dict]) -> None:
    """Give each layer the ONNX nodes computing it, matching weights by value (W or W^T)."""
    from onnx import numpy_helper
    by_print = {}
    for name, m in conv_linear(model).items():
        w = m.weight.detach().numpy()
        by_print[fingerprint(w)] = name
        if w.ndim == 2:
            by_print[fingerprint(w.T)] = name
    inits = {t.name: t for t in onnx_model.graph.initializer}
    rows = {r["name"]: r for r in layers}
    for node in onnx_model.graph.node:
        if node.op_type not in COMPUTE_NODES:
            continue
        w = inits.get(node.input[1])
        assert w is not None, f"{node.op_type} node {node.name}: weight {node.input[1]} is not an initializer"
        owner = by_print.get(fingerprint(numpy_helper.to_array(w)))
        assert owner is not None, f"node {node.name}: weight {w.name} matches no Conv2d/Linear"
        rows[owner].setdefault("onnx_nodes", []).append(node.name)
        prev = rows[owner].setdefault("onnx_weight", w.name)
        assert prev == w.name, (owner, prev, w.name)
    for r in layers:
        assert len(r.get("onnx_nodes", ())) == r["calls"], (r["name"], r.get("onnx_nodes"), r["calls"])


def strip(onnx_model, stem: str) -> int:
    """Move large float initializers to external storage that is not written; returns how many."""
    from onnx import TensorProto, numpy_helper
    floats = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
    n, offset = 0, 0
    for t in onnx_model.graph.initializer:
        size = 1
        for d in t.dims:
            size *= d
        if t.data_type not in floats or size < STRIP_MIN:
            continue
        nbytes = numpy_helper.to_array(t).nbytes
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.ClearField("double_data")
        t.ClearField("int32_data")
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in (("location", f"{stem}.weights.bin"), ("offset", str(offset)), ("length", str(nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        offset += nbytes
        n += 1
    onnx_model.doc_string = (f"benchmarks/peer_matrix.py: weights stripped ({n} float initializers of >= "
                             f"{STRIP_MIN} elements are EXTERNAL data that is not shipped); "
                             "load with onnx.load(path, load_external_data=False)")
    return n


def fold_constants(onnx_model):
    """A copy whose nodes computed from constants and static shapes alone are initializers.

    timm's Conv2dSame computes its Pad amounts in ``forward`` (math.ceil on the input's
    size); the exporter writes that as Shape -> Gather -> Ceil -> Sub -> Clip -> ... -> Pad
    chains that ONNX shape inference (even with data_prop) does not evaluate, leaving later
    shapes unknown. Shape inference and folding alternate until nothing changes. Only this
    check uses the folded copy: the shipped file keeps the chains as exported.
    """
    import numpy as np
    import onnx
    folded = onnx.ModelProto()
    folded.CopyFrom(onnx_model)
    while True:
        shapes = static_shapes(onnx.shape_inference.infer_shapes(folded))
        if not fold_pass(folded.graph, shapes, folded.opset_import, np):
            return folded


def static_shapes(model) -> dict:
    g = model.graph
    out = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        if v.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            out[v.name] = [d.dim_value for d in dims]
    out.update({t.name: list(t.dims) for t in g.initializer})
    return out


def fold_pass(g, shapes: dict, opsets, np) -> bool:
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer
             if t.data_location != TensorProto.EXTERNAL}
    keep, changed = [], False
    for node in g.node:
        if node.op_type == "Shape" and node.input[0] in shapes and not node.attribute:
            outs = [np.array(shapes[node.input[0]], dtype=np.int64)]
        elif node.op_type not in COMPUTE_NODES and all(i in known for i in node.input if i):
            feeds = {i: known[i] for i in node.input if i}
            ins = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                   for i, v in feeds.items()]
            sub = helper.make_graph([node], "fold", ins, [helper.make_tensor_value_info(o, 0, None)
                                                          for o in node.output])
            outs = ReferenceEvaluator(helper.make_model(sub, opset_imports=opsets)).run(None, feeds)
        else:
            keep.append(node)
            continue
        changed = True
        for o, v in zip(node.output, outs):
            known[o] = np.asarray(v)
            g.initializer.append(numpy_helper.from_array(np.asarray(v), o))
    del g.node[:]
    g.node.extend(keep)
    return changed


def check_shapes(onnx_model, layers: list[dict]) -> None:
    """ONNX shape inference on the stripped graph gives every layer torchinfo's output shape."""
    import onnx
    inferred = onnx.shape_inference.infer_shapes(fold_constants(onnx_model), strict_mode=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    outputs = {n.name: n.output[0] for n in inferred.graph.node}
    for r in layers:
        for node in r["onnx_nodes"]:
            got = shapes.get(outputs[node])
            assert got == r["output_shape"], (r["name"], node, got, r["output_shape"])


def make(name: str) -> dict:
    import onnx
    model, shape = build(name)
    totals, layers = measure(model, shape)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.onnx"
    tmp = OUT_DIR / f".{name}.full.onnx"
    export(model, shape, tmp)
    proto = onnx.load(str(tmp))
    tmp.unlink()
    onnx.checker.check_model(proto)      # the checker insists on external files: check before stripping
    map_nodes(proto, model, layers)
    stripped = strip(proto, name)
    check_shapes(proto, layers)
    onnx.save(proto, str(path))
    lib, fn, kwargs = MODELS[name]
    return {"library": lib, "builder": fn, "kwargs": kwargs, "input_shape": list(shape),
            "onnx": {"file": f"peer_models/{name}.onnx", "bytes": path.stat().st_size, "opset": OPSET,
                     "stripped_initializers": stripped,
                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
            "totals": totals, "layers": layers}


# -- output -------------------------------------------------------------------------------
def dump(doc: dict) -> str:
    """Indented JSON with one line per layer, so diffs stay readable."""
    rows = []
    skeleton = {**doc, "models": {}}
    for name, net in doc["models"].items():
        tokens = []
        for row in net["layers"]:
            tokens.append(f"@@row{len(rows)}@@")
            rows.append(json.dumps(row))
        skeleton["models"][name] = {**net, "layers": tokens}
    text = json.dumps(skeleton, indent=1)
    for i, flat in enumerate(rows):
        text = text.replace(f'"@@row{i}@@"', flat, 1)
    assert json.loads(text) == doc
    return text + "\n"


def versions() -> dict:
    from importlib.metadata import version
    return {p: version(p) for p in ("torch", "torchvision", "timm", "fvcore", "torchinfo", "onnx")}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated model names (merged into the existing JSON)")
    args = ap.parse_args(argv)
    if not in_peer_venv():
        py = ensure_venv()
        raise SystemExit(subprocess.run([str(py), __file__, *sys.argv[1:]]).returncode)
    names = args.only.split(",") if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"--only: unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    import_torchvision()
    old = json.loads(OUT_JSON.read_text()) if args.only and OUT_JSON.exists() else {"models": {}}
    doc = {"_source": ("benchmarks/peer_matrix.py: torchvision/timm models counted by fvcore (mults = "
                       "conv+linear+addmm+matmul MACs; per layer by_module) and torchinfo (params); "
                       "ONNX graphs in peer_models/ with weights stripped"),
           "_versions": versions(), "models": dict(old["models"])}
    for name in names:
        doc["models"][name] = make(name)
        m = doc["models"][name]
        print(f"{name:26s} {str(m['input_shape']):18s} mults {m['totals']['mults']:>15,}  params "
              f"{m['totals']['params']:>11,}  layers {len(m['layers']):4d}  onnx {m['onnx']['bytes']:>8,} B",
              flush=True)
    doc["models"] = {n: doc["models"][n] for n in MODELS if n in doc["models"]}
    OUT_JSON.write_text(dump(doc))
    print(f"wrote {OUT_JSON}")


if __name__ == "__main__":
    main()
