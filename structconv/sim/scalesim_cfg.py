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

from ._kernels import DATAFLOWS
from .accelerator import Accelerator, MacArray, Memory

_SECTION = "architecture_presets"


def _read(path: Path, src: str) -> configparser.ConfigParser:
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
    return cp


def _number(sec, src: str, key: str, kind=int, lo=1):
    """Field ``key`` of the section (its first value when it lists several), at least ``lo``."""
    if key.lower() not in sec:
        raise ValueError(f"{src}: missing field [{_SECTION}] {key}")
    raw = sec[key].split(",")[0].strip()
    try:
        v = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{src}: field {key} = {sec[key]!r} is not {what}") from None
    if v < lo:
        raise ValueError(f"{src}: field {key} = {v} is out of range [{lo}, inf]")
    return v


def read_scalesim_config(path) -> Accelerator:
    path = Path(path)
    src = f"SCALE-Sim config {str(path)!r}"
    cp = _read(path, src)
    sec = cp[_SECTION]
    df = sec.get("dataflow", "").strip().lower()
    if df not in DATAFLOWS:
        raise ValueError(f"{src}: field Dataflow = {sec.get('dataflow')!r} is not one of {sorted(DATAFLOWS)}")
    name = cp.get("general", "run_name", fallback=path.stem).strip() or path.stem
    bw = _number(sec, src, "Bandwidth", float, 1e-9) if "bandwidth" in sec else 10.0
    mac_array = MacArray(_number(sec, src, "ArrayHeight"), _number(sec, src, "ArrayWidth"), df)
    sram = (_number(sec, src, key) * 1024 for key in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB"))
    return Accelerator(name=name, description=f"from {path.name}", mac_array=mac_array, memory=Memory(*sram, bw))
