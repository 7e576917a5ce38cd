"""Report inputs whose every user-controlled name is hostile, for ``test_report_hostile``.

Each payload, if it ever ran, would set ``window.__pwned`` to its own number. The names reach the report
through the files a user may receive from someone else: an ONNX file (its name, its layer names), an
accelerator YAML (``name:``), a plan file (``name:``), training run directories and their summaries, a
search directory (study name, metric names, trial sources and attributes, the best plan's file name),
baseline plans and the accuracy benchmark's results.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from tests.support import ROOT

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '"><img src=x onerror=window.__pwned=2>'
SVG = "'><svg onload=window.__pwned=3>"
LINK = '<a href="javascript:window.__pwned=4">click</a>'
MD_LINK = "[x](javascript:window.__pwned=5)"
BIDI = "\u202eevil"
PIPE = "a|b"
PLOTLY = "<b>bold</b><br><i>x</i>"
HTML_BLOCK = "<div onmouseover=window.__pwned=6>"
PAYLOADS = (SCRIPT, IMG, SVG, LINK, MD_LINK, BIDI, PIPE, PLOTLY, HTML_BLOCK)
# a file name holds no "/": the payloads that fit in one
NO_SLASH = f'{IMG}{BIDI}{MD_LINK}|{SVG}'
HOSTILE = "".join(PAYLOADS)


def name(i: int) -> str:
    """A distinct hostile name (unique layer and metric names)."""
    return f"{PAYLOADS[i % len(PAYLOADS)]}#{i}"


def onnx_model(path: Path) -> tuple[Path, list[str]]:
    """A 3-conv + linear ONNX net whose file stem and layer names are hostile: (file, layer names)."""
    from onnx import TensorProto, helper, numpy_helper, save

    layers = [name(0), name(1), name(3) + BIDI, MD_LINK + PIPE]
    shapes = [(8, 3, 3, 3), (8, 8, 3, 3), (8, 8, 3, 3), (10, 8)]
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), f"{n}.weight") for n, s in zip(layers, shapes)]
    nodes, x = [], "x"
    for i, n in enumerate(layers[:3]):
        nodes.append(helper.make_node("Conv", [x, f"{n}.weight"], [f"c{i}"], pads=[1, 1, 1, 1], name=HOSTILE))
        x = f"c{i}"
    nodes += [helper.make_node("GlobalAveragePool", [x], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("Gemm", ["f", f"{layers[3]}.weight"], ["y"], transB=1, name=HOSTILE)]
    io = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
          helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, HOSTILE, io[:1], io[1:], inits)
    out = path / f"{NO_SLASH}.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name=HOSTILE)
    save(model, str(out))
    return out, layers


def accelerator_file(path: Path) -> Path:
    from structconv.sim import load_accelerator

    d = load_accelerator("edge-int8").to_dict()
    for derived in ("area_mm2", "srams"):
        d.pop(derived, None)
    d.update(name=HOSTILE, description=HOSTILE)
    out = path / "accel.yaml"
    out.write_text(yaml.safe_dump(d, allow_unicode=True))
    return out


def plan_file(path: Path, net, file_name: str = "plan.yaml", model: str | None = None) -> Path:
    from structconv.core import get_preset

    d = {**get_preset("uniform-n2", net).to_dict(), "name": HOSTILE, "model": model or net.name}
    out = path / file_name
    out.write_text(yaml.safe_dump(d, allow_unicode=True))
    return out


def run_dirs(path: Path, net, recorded_model: str) -> list[Path]:
    """Two finished runs: a hostile directory name recording a Python reference, and one recording a
    hostile model name; each with a plan of a hostile name."""
    from structconv.core import get_preset

    plan = {**get_preset("uniform-n2", net).to_dict(), "name": HOSTILE}
    runs = []
    for i, (d, model) in enumerate(((NO_SLASH, recorded_model), ("lam0.5", HOSTILE))):
        run = path / "runs" / d
        run.mkdir(parents=True)
        recs = [{"epoch": e, "phase": 1 if e == 0 else 2, "lam": 0.1 * (i + 1), "lr": 0.1,
                 "loss": 1.0 / (e + 1), "task_loss": 0.8 / (e + 1), "sr_loss": 2.0 / (e + 1),
                 "train_acc": 60.0 + e, "val_acc": 55.0 + e} for e in range(3)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        (run / "summary.json").write_text(json.dumps({"model": model, "config": {"lam": 0.1 * (i + 1)},
                                                      "plan": plan, "epochs_trained": 3, "acc_before": 91.5,
                                                      "acc_after": 91.25 - i}))
        runs.append(run)
    return runs


METRICS = (name(2) + " proxy", name(1) + " cycles")


def search_dir(path: Path, net, accel_name: str, recorded_model: str) -> Path:
    """A search directory as someone else could hand it over: an Optuna journal whose study, metric,
    source and attribute names are hostile, and a front.yaml whose best plan file has a hostile name
    (recording a Python model reference)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    d = path / "search"
    d.mkdir()
    storage = JournalStorage(JournalFileBackend(str(d / "study.journal")))
    study = optuna.create_study(study_name=HOSTILE, storage=storage, directions=["minimize", "minimize"])
    study.set_metric_names(list(METRICS))
    study.set_user_attr("structconv_config", {"model": net.name, "hw": accel_name,
                                              "objectives": list(METRICS), "budgets": {"cycles_total": 0.8}})
    dist = {layer.name: CategoricalDistribution([0, 1]) for layer in net.layers}
    for t in range(8):
        source = (HOSTILE, f"preset:{NO_SLASH}", "search", f"uniform:{SVG}")[t % 4]
        study.add_trial(optuna.trial.create_trial(
            params={k: t % 2 for k in dist}, distributions=dist, values=[float(8 - t), float(t + 1)],
            user_attrs={"source": source, HOSTILE: HOSTILE, "breakdown": {name(t): {"ratios": 0.5}}},
            system_attrs={"constraints": [-1.0]}))
    best = plan_file(d, net, f"{NO_SLASH}.yaml", model=recorded_model)
    front = {"mode": HOSTILE, "best": {"trial": 7, "plan_file": best.name},
             "front": [{"trial": 7, "plan_file": best.name, "name": HOSTILE, HOSTILE: HOSTILE}]}
    (d / "front.yaml").write_text(yaml.safe_dump(front, allow_unicode=True))
    return d


def baselines():
    from structconv.analysis import baselines_frame

    return baselines_frame([{"name": HOSTILE, "evaluation": {"values": [3.0, 4.0], "cycles_total": 1.0,
                                                              "feasible": True}}], metrics=METRICS)


def ground_truth_file(path: Path) -> Path:
    """The committed accuracy benchmark's results with hostile plan ids, sources and proxy names."""
    data = json.loads((ROOT / "benchmarks" / "results" / "accuracy_cpu.json").read_text())
    data["config"]["name"] = HOSTILE
    for i, row in enumerate(data["rows"][:6]):
        row["id"], row["source"] = name(i), name(i + 1)
    corr = data["analysis"]["held-out"]["corr"]
    corr[HOSTILE] = dict(corr["mults"])
    out = path / "accuracy.json"
    out.write_text(json.dumps(data))
    return out


def payload_module(path: Path) -> tuple[str, Path]:
    """A Python model reference that leaves a marker file if it is ever run: (reference, marker)."""
    marker = path / "payload-ran"
    code = (f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
            "def build():\n    raise SystemExit(3)\n")
    (path / "payload.py").write_text(code)
    return f"{path / 'payload.py'}:build", marker

