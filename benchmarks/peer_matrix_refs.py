"""The peer matrix through Python model references: `structconv cost FILE.py:build --json` per model.

Needs benchmarks/peer_venv (made by benchmarks/peer_matrix.py: torchvision 0.28, timm 1.0.29 on the
CPU torch 2.13). Writes a module with one builder per matrix model, runs the `structconv` CLI of
this checkout's .venv on each with the peer venv's site-packages on PYTHONPATH (same torch build),
and compares every layer's mults and params with tests/data/peer_matrix.json (fvcore, torchinfo).

    .venv/bin/python benchmarks/peer_matrix_refs.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "tests" / "data" / "peer_matrix.json"
STUB = ("import sys, types\n"
        "sys.modules.setdefault('torchvision._meta_registrations', "
        "types.ModuleType('torchvision._meta_registrations'))\n"
        "import timm, torchvision\n")


def builders(models: dict) -> str:
    out = [STUB]
    for name, m in models.items():
        call = (f"timm.create_model({name!r}, **{m.get('kwargs') or {}!r})" if m["library"] == "timm"
                else f"torchvision.models.{m.get('builder') or name}(**{m.get('kwargs') or {}!r})")
        out.append(f"def {name}():\n    return {call}\n")
    return "\n".join(out)


def compare(name: str, m: dict, ours: dict) -> list[str]:
    by_name = {l["name"]: l for l in ours["layers"]}
    diffs = [f"{l['name']}: mults {by_name.get(l['name'], {}).get('orig_mults')} vs {l['mults']}, params "
             f"{by_name.get(l['name'], {}).get('orig_params')} vs {l['params']}" for l in m["layers"]
             if (by_name.get(l["name"], {}).get("orig_mults"), by_name.get(l["name"], {}).get("orig_params"))
             != (l["mults"], l["params"])]
    if len(by_name) != len(m["layers"]):
        diffs.append(f"{len(by_name)} layers vs the peers' {len(m['layers'])}")
    return diffs


def main() -> int:
    models = json.loads(MATRIX.read_text())["models"]
    site = next((ROOT / "benchmarks" / "peer_venv" / "lib").glob("python3*/site-packages"), None)
    if site is None:
        print("benchmarks/peer_venv is missing: run benchmarks/peer_matrix.py first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "peer_models.py").write_text(builders(models))
        env = {"PYTHONPATH": f"{tmp}:{site}", "PATH": "/usr/bin:/bin"}
        failed = 0
        for name, m in models.items():
            t0 = time.perf_counter()
            shape = ",".join(map(str, m["input_shape"]))
            r = subprocess.run([str(ROOT / ".venv" / "bin" / "structconv"), "cost", f"peer_models.py:{name}",
                                "--input-shape", shape, "--json"], capture_output=True, text=True, env=env,
                               cwd=tmp)
            diffs = [r.stderr.strip()] if r.returncode else compare(name, m, json.loads(r.stdout))
            failed += bool(diffs)
            print(f"{name:26s} {'equal' if not diffs else 'DIFFERENT'} ({time.perf_counter() - t0:.1f} s)"
                  + "".join(f"\n    {d}" for d in diffs[:5]))
    print(f"{len(models) - failed} of {len(models)} models equal the peers on every layer")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
