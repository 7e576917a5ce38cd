"""`structconv zoo`: list networks, plan presets (a rule from the layer list, or a table for one network),
accelerators, and with --hw each accelerator's SRAMs under every SRAM model."""
from __future__ import annotations

from structconv.core import list_networks, list_presets, preset_kind

from ._output import print_json
from ._table import render


def register(sub) -> None:
    p = sub.add_parser("zoo", help="list zoo networks, plan presets and accelerator presets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--hw", nargs="*", metavar="PRESET_OR_YAML",
                   help="show each accelerator's SRAMs (every preset, or those named): size, pJ per byte "
                        "and area as simulated, beside what each sram_model (horowitz, cacti-45nm) gives")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.hw is not None:
        return _srams(args.hw, args.json)
    nets, presets, hws = list_networks(), list_presets(), _accelerators()
    if args.json:
        print_json({"networks": nets, "presets": presets,
                    "preset_kinds": {k: preset_kind(k) for k in presets}, "accelerators": hws})
        return 0
    rows = [[name, "rule (from the layer list)" if preset_kind(name) == "rule" else "table (one network)",
             text] for name, text in presets.items()]
    print(render(["networks", "description"], [[k, v] for k, v in nets.items()], "ll") + "\n")
    print(render(["presets", "kind", "description"], rows, "lll") + "\n")
    if hws:
        print(render(["accelerators", "description"], [[k, v] for k, v in hws.items()], "ll") + "\n")
    return 0


def _accelerators() -> dict:
    try:
        from structconv.sim import list_accelerators  # numba: loaded only when listing
    except ImportError:
        return {}
    return list_accelerators()


def _srams(refs, as_json: bool) -> int:
    from structconv.sim import compare_sram_models, list_accelerators, load_accelerator  # numba: when asked

    hws = [load_accelerator(ref) for ref in refs or list(list_accelerators())]
    report = {hw.name: compare_sram_models(hw) for hw in hws}
    if as_json:
        print_json({"accelerators": report})
        return 0
    heads = ["accelerator", "sram", "KiB", "sram_model", "pJ/B", "pJ/64b", "mm^2",
             "horowitz pJ/B", "cacti-45nm pJ/B", "horowitz mm^2", "cacti-45nm mm^2"]
    print(render(heads, [row for name, r in report.items() for row in _sram_rows(name, r)], "llrl" + "r" * 7))
    print("\npJ/B, pJ/64b, mm^2: as simulated (sram_model, or numbers the YAML sets); the last four: each "
          "model at that size (45 nm; cacti-45nm: CACTI 7 via zigzag-dse, ofmap = write energy, line "
          "buffer = mean of read and write). Set `sram_model: cacti-45nm` in the YAML to simulate with "
          "CACTI.")
    return 0


def _sram_rows(name: str, r: dict) -> list[list[str]]:
    rows = []
    for d in r["srams"]:
        h, c = d["horowitz"], d["cacti-45nm"]
        rows.append([name, d["sram"], f"{d['bytes'] / 1024:g}", r["sram_model"], f"{d['pj_per_byte']:.3f}",
                     f"{d['pj_per_64bit_access']:.2f}", f"{d['area_um2'] / 1e6:.4f}",
                     f"{h['pj_per_byte']:.3f}", f"{c['pj_per_byte']:.3f}", f"{h['area_um2'] / 1e6:.4f}",
                     f"{c['area_um2'] / 1e6:.4f}"])
    return rows
