"""Read a SCALE-Sim .cfg file into an Accelerator (so SCALE-Sim users switch without rewriting).

Mapped: [general] run_name -> name; [architecture_presets] ArrayHeight/ArrayWidth -> MAC
array rows/cols, Dataflow -> dataflow, Ifmap/Filter/OfmapSramSzkB -> SRAM bytes (x 1024),
Bandwidth -> DRAM bytes per cycle (SCALE-Sim's word is one byte; the first value when it
lists several). SCALE-Sim has no data type, clock, sum-pool unit or energy model: the
accelerator is int8 with this package's defaults for those. Other keys are ignored.

Every error names the file, the section and the cfg key (SCALE-Sim's names, not the
accelerator YAML's) and the allowed range, in one line. The file is read with the size cap
and UTF-8 check of ``structconv.core.read_text``; values are taken literally (no ``%``
interpolation: SCALE-Sim's own reader does not interpolate either).
"""
from __future__ import annotations

import configparser
import math
from pathlib import Path

from structconv.core import read_text

from ._kernels import DATAFLOWS
from .accelerator import MAX_BYTES, MAX_PES_SIDE, Accelerator, MacArray, Memory, shown

_SECTION = "architecture_presets"
_INT_KEYS = {"ArrayHeight": MAX_PES_SIDE, "ArrayWidth": MAX_PES_SIDE, "IfmapSramSzkB": MAX_BYTES // 1024,
             "FilterSramSzkB": MAX_BYTES // 1024, "OfmapSramSzkB": MAX_BYTES // 1024}
_BW_RANGE = (1e-9, math.inf)      # bytes per cycle: finite and positive


def _rng(lo, hi) -> str:
    return f"[{lo}, {hi}]" if math.isfinite(hi) else f"[{lo:g}, inf)"


def _read(path: Path, src: str) -> configparser.ConfigParser:
    text = read_text(path, "SCALE-Sim config")
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text, source=str(path))
    except configparser.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{src} is not a valid config file: {shown(first, 160)[1:-1]}") from None
    if not cp.has_section(_SECTION):
        raise ValueError(f"{src}: missing section [{_SECTION}]")
    return cp


def _value(sec, src: str, key: str, kind, lo, hi):
    """Key ``key`` of the section (its first value when it lists several), in [lo, hi]."""
    what = "an integer" if kind is int else "a number"
    if key.lower() not in sec:
        raise ValueError(f"{src}: missing field [{_SECTION}] {key} ({what} in {_rng(lo, hi)})")
    raw = sec[key].split(",")[0].strip()
    try:
        v = kind(raw)
    except ValueError:
        raise ValueError(f"{src}: [{_SECTION}] {key} = {shown(sec[key])} is not {what} "
                         f"in {_rng(lo, hi)}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{src}: [{_SECTION}] {key} = {shown(str(v), 40)[1:-1]} is out of range {_rng(lo, hi)}")
    return v


def _dataflow(sec, src: str) -> str:
    if "dataflow" not in sec:
        raise ValueError(f"{src}: missing field [{_SECTION}] Dataflow (one of {sorted(DATAFLOWS)})")
    df = sec["dataflow"].strip().lower()
    if df not in DATAFLOWS:
        raise ValueError(f"{src}: [{_SECTION}] Dataflow = {shown(sec.get('dataflow'))} is not one of "
                         f"{sorted(DATAFLOWS)}")
    return df


def read_scalesim_config(path) -> Accelerator:
    path = Path(path)
    src = f"SCALE-Sim config {shown(str(path))}"
    cp = _read(path, src)
    sec = cp[_SECTION]
    df = _dataflow(sec, src)
    name = cp.get("general", "run_name", fallback=path.stem).strip() or path.stem
    bw = _value(sec, src, "Bandwidth", float, *_BW_RANGE) if "bandwidth" in sec else 10.0
    rows, cols, *kib = (_value(sec, src, key, int, 1, hi) for key, hi in _INT_KEYS.items())
    return Accelerator(name=name, description=f"from {path.name}", mac_array=MacArray(rows, cols, df),
                       memory=Memory(*(k * 1024 for k in kib), bw))
