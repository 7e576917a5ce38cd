"""Read a SCALE-Sim .cfg file into an Accelerator (so SCALE-Sim users switch without rewriting).

Mapped: [general] run_name -> name; [architecture_presets] ArrayHeight/ArrayWidth -> MAC
array rows/cols, Dataflow -> dataflow, Ifmap/Filter/OfmapSramSzkB -> SRAM bytes (x 1024).
SCALE-Sim's word is one byte (int8); a key listing several values gives its first.

DRAM, by [run_presets] InterfaceBandwidth (SCALE-Sim's two memory semantics):
- CALC (SCALE-Sim's default, also when the key is absent): no stalls; SCALE-Sim reports the
  bandwidth each operand needs. -> memory.links = "unlimited" (cycles_stall = 0, so
  cycles_total is SCALE-Sim's Total Cycles; ``dram_bandwidth_needed`` per operand).
  Bandwidth, if given, is kept as dram_bytes_per_cycle but times nothing.
- USER: a link per operand, as SCALE-Sim 3.0.0 runs it: the ifmap and filter read rates
  are [layout] IfmapSRAMBankBandwidth and FilterSRAMBankBandwidth, the ofmap drain is
  [architecture_presets] Bandwidth (required). -> memory.links = "per_operand" with those
  bytes per cycle (a missing bank bandwidth falls back to Bandwidth).
  This reads SCALE-Sim's link rates; its USER-mode stall numbers come from its own
  prefetch policy, which this simulator does not copy.
SCALE-Sim has no data type, clock, sum-pool unit or energy model: the accelerator is int8
with this package's defaults for those. Other keys are ignored.

Every error names the file, the section and the cfg key (SCALE-Sim's names, not the
accelerator YAML's) and the allowed range, in one line. The file is read with the size cap
and UTF-8 check of ``structconv.core.read_text``; values are taken literally (no ``%``
interpolation: SCALE-Sim's own reader does not interpolate either).
"""
from __future__ import annotations

import configparser
import math
import re
from pathlib import Path

from structconv.core import read_text

from ._algebra import DATAFLOWS
from .accelerator import MAX_BYTES, MAX_PES_SIDE, Accelerator, MacArray, Memory, shown

_SECTION = "architecture_presets"
_INT_KEYS = {"ArrayHeight": MAX_PES_SIDE, "ArrayWidth": MAX_PES_SIDE, "IfmapSramSzkB": MAX_BYTES // 1024,
             "FilterSramSzkB": MAX_BYTES // 1024, "OfmapSramSzkB": MAX_BYTES // 1024}
_BW_RANGE = (1e-9, math.inf)      # bytes per cycle: finite and positive
_INTERFACES = ("CALC", "USER")


def _rng(lo, hi) -> str:
    return f"[{lo}, {hi}]" if math.isfinite(hi) else f"[{lo:g}, inf)"


def _read(path: Path, src: str) -> configparser.ConfigParser:
    text = read_text(path, "SCALE-Sim config")
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text, source=str(path))
    except (configparser.DuplicateOptionError, configparser.DuplicateSectionError) as e:
        raise ValueError(f"{src} is not a valid config file: {_repeated(text, e)}") from None
    except configparser.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{src} is not a valid config file: {shown(first, 160)[1:-1]}") from None
    if not cp.has_section(_SECTION):
        raise ValueError(f"{src}: missing section [{_SECTION}]")
    return cp


_HEADER = re.compile(r"\s*\[(.*)\]\s*$")
_KEY = re.compile(r"\s*([^=:\s][^=:]*?)\s*[=:]")


def _first(text: str, section: str, option: str | None) -> tuple[int | None, str]:
    """(line, spelling) of the first ``section`` header, or of its key ``option`` (lower case)."""
    current = None
    for no, line in enumerate(text.splitlines(), 1):
        head, key = _HEADER.match(line), _KEY.match(line)
        if head:
            current = head.group(1)
            if option is None and current == section:
                return no, section
        elif key and option is not None and current == section and key.group(1).lower() == option:
            return no, key.group(1)
    return None, option or section


def _repeated(text: str, e) -> str:
    """A repeated key or section with both its lines (configparser names only the second)."""
    option = getattr(e, "option", None)
    line, spelled = _first(text, e.section, option)
    where = f"(lines {line} and {e.lineno})"
    section = f"[{shown(e.section, 40)[1:-1]}]"
    if option is None:
        return f"section {section} appears twice {where}"
    return f"key {shown(spelled, 40)} appears twice in section {section} {where}"


def _value(sec, src: str, key: str, kind, lo, hi, section: str = _SECTION):
    """Key ``key`` of the section (its first value when it lists several), in [lo, hi]."""
    what = "an integer" if kind is int else "a number"
    if key.lower() not in sec:
        raise ValueError(f"{src}: missing field [{section}] {key} ({what} in {_rng(lo, hi)})")
    raw = sec[key.lower()].split(",")[0].strip()
    try:
        v = kind(raw)
    except ValueError:
        raise ValueError(f"{src}: [{section}] {key} = {shown(sec[key.lower()])} is not {what} "
                         f"in {_rng(lo, hi)}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{src}: [{section}] {key} = {shown(str(v), 40)[1:-1]} is out of range "
                         f"{_rng(lo, hi)}")
    return v


def _dataflow(sec, src: str) -> str:
    if "dataflow" not in sec:
        raise ValueError(f"{src}: missing field [{_SECTION}] Dataflow (one of {sorted(DATAFLOWS)})")
    df = sec["dataflow"].strip().lower()
    if df not in DATAFLOWS:
        raise ValueError(f"{src}: [{_SECTION}] Dataflow = {shown(sec.get('dataflow'))} is not one of "
                         f"{sorted(DATAFLOWS)}")
    return df


def _interface(cp, src: str) -> str:
    """[run_presets] InterfaceBandwidth: 'CALC' (also when absent) or 'USER'."""
    raw = cp.get("run_presets", "InterfaceBandwidth", fallback="CALC")
    mode = raw.split(",")[0].strip().upper()
    if mode not in _INTERFACES:
        raise ValueError(f"{src}: [run_presets] InterfaceBandwidth = {shown(raw)} is not one of "
                         f"{list(_INTERFACES)}")
    return mode


def _links(cp, sec, src: str) -> dict:
    """The Memory fields of the DRAM link(s) (see the module docstring)."""
    mode = _interface(cp, src)
    if mode == "CALC":
        bw = _value(sec, src, "Bandwidth", float, *_BW_RANGE, _SECTION) if "bandwidth" in sec else 10.0
        return dict(dram_bytes_per_cycle=bw, links="unlimited")
    bw = _value(sec, src, "Bandwidth", float, *_BW_RANGE, _SECTION)
    lay = cp["layout"] if cp.has_section("layout") else {}
    per = {f: (_value(lay, src, key, float, *_BW_RANGE, "layout") if key.lower() in lay else bw)
           for f, key in (("ifmap_dram_bytes_per_cycle", "IfmapSRAMBankBandwidth"),
                          ("filter_dram_bytes_per_cycle", "FilterSRAMBankBandwidth"))}
    return dict(dram_bytes_per_cycle=bw, links="per_operand", ofmap_dram_bytes_per_cycle=bw, **per)


def read_scalesim_config(path) -> Accelerator:
    path = Path(path)
    src = f"SCALE-Sim config {shown(str(path))}"
    cp = _read(path, src)
    sec = cp[_SECTION]
    df = _dataflow(sec, src)
    name = cp.get("general", "run_name", fallback=path.stem).strip() or path.stem
    rows, cols, *kib = (_value(sec, src, key, int, 1, hi) for key, hi in _INT_KEYS.items())
    memory = Memory(*(k * 1024 for k in kib), **_links(cp, sec, src))
    return Accelerator(name=name, description=f"from {path.name}", mac_array=MacArray(rows, cols, df),
                       memory=memory)
