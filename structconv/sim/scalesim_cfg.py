"""Read a SCALE-Sim .cfg file into an Accelerator (so SCALE-Sim users switch without rewriting).

Mapped: [general] run_name -> name; [architecture_presets] ArrayHeight/ArrayWidth -> MAC
array rows/cols, Dataflow -> dataflow, Ifmap/Filter/OfmapSramSzkB -> SRAM bytes (x 1024),
Bandwidth -> DRAM bytes per cycle (SCALE-Sim's word is one byte; the first value when it
lists several). SCALE-Sim has no data type, clock, sum-pool unit or energy model: the
accelerator is int8 with this package's defaults for those. Other keys are ignored.
"""
from __future__ import annotations

import configparser
from pathlib import Path

from .accelerator import Accelerator, MacArray, Memory

_SECTION = "architecture_presets"


def read_scalesim_config(path) -> Accelerator:
    path = Path(path)
    src = f"SCALE-Sim config {str(path)!r}"
    cp = configparser.ConfigParser()
    try:
        with open(path) as f:
            cp.read_file(f)
    except OSError as e:
        raise ValueError(f"{src} cannot be read: {e.strerror}") from None
    except configparser.Error as e:
        raise ValueError(f"{src} is not a valid config file: {str(e).splitlines()[0]}") from None
    if not cp.has_section(_SECTION):
        raise ValueError(f"{src}: missing section [{_SECTION}]")
    sec = cp[_SECTION]

    def get(key: str, kind=int, lo=1):
        if key.lower() not in sec:
            raise ValueError(f"{src}: missing field [{_SECTION}] {key}")
        raw = sec[key].split(",")[0].strip()
        try:
            v = kind(raw)
        except ValueError:
            raise ValueError(f"{src}: field {key} = {sec[key]!r} is not {'an integer' if kind is int else 'a number'}") from None
        if v < lo:
            raise ValueError(f"{src}: field {key} = {v} is out of range [{lo}, inf]")
        return v

    df = sec.get("dataflow", "").strip().lower()
    if df not in ("os", "ws", "is"):
        raise ValueError(f"{src}: field Dataflow = {sec.get('dataflow')!r} is not one of ['is', 'os', 'ws']")
    name = cp.get("general", "run_name", fallback=path.stem).strip() or path.stem
    bw = get("Bandwidth", float, 1e-9) if "bandwidth" in sec else 10.0
    return Accelerator(
        name=name, description=f"from {path.name}",
        mac_array=MacArray(get("ArrayHeight"), get("ArrayWidth"), df),
        memory=Memory(get("IfmapSramSzkB") * 1024, get("FilterSramSzkB") * 1024,
                      get("OfmapSramSzkB") * 1024, bw))
