"""Accelerator descriptions: frozen, validated dataclasses loaded from YAML.

An accelerator is a MAC array (SCALE-Sim semantics), a sum-pool unit, three
double-buffered SRAMs, a DRAM link, a clock, a data type, an energy table
(pJ per event) and an area table (um^2 per unit, 45 nm).

Default energies are Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm
(the table reproduced in Han et al., "EIE", ISCA 2016):
  8b add 0.03 pJ / 36 um^2, 16b add 0.05 / 67, 32b add 0.1 / 137,
  16b FP add 0.4 / 1360, 32b FP add 0.9 / 4184, 8b mult 0.2 / 282,
  32b mult 3.1 / 3495, 16b FP mult 1.1 / 1640, 32b FP mult 3.7 / 7700,
  SRAM 64-bit read 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB),
  DRAM 1.3-2.6 nJ per 64 bits.
The 16-bit integer multiplier is not in that table: INTERPOLATED as the
geometric mean of the 8b and 32b multipliers (energy and area both scale about
quadratically with width: sqrt(0.2*3.1) = 0.79 pJ, sqrt(282*3495) = 993 um^2).
SRAM area per KiB is DERIVED, not measured: Intel 45 nm 6T cell 0.346 um^2
(Mistry et al., IEDM 2007) x 8192 bits / 0.7 array efficiency = 4049 um^2.
``sram_model`` names how each SRAM's energy per byte and area follow its configured size:
``horowitz`` (default; the figures above) or ``cacti-45nm`` (CACTI 7 at 45 nm, pinned); see
memory_cost.py. Numbers set explicitly in the ``energy``/``area`` sections win over the model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from structconv.core import choice_field, int_field, load_data_file, shown

from ._algebra import DATAFLOWS, SCHEMES
from ._kernels import LINKS, OVERLAPS
from .memory_cost import HOROWITZ_UM2_PER_KIB, SRAM_MODELS, SramCost, sram_area_um2, sram_pj_per_byte

DTYPES = ("int8", "int16", "fp16", "fp32")
DTYPE_BYTES = {"int8": 1, "int16": 2, "fp16": 2, "fp32": 4}
DEFAULT_HW = "edge-int8"
# Upper bounds of the sizes: the kernels read the accelerator as float64 and cast back to
# int64, exact only below 2**53; 2**48 bytes (256 TiB) is far beyond any on-chip buffer.
MAX_PES_SIDE = 65536
MAX_BYTES = 2**48

# (mult pJ, accumulator-add pJ): int8/int16 accumulate in int32, fp16/fp32 in fp32.
_ENERGY_PJ = {"int8": (0.2, 0.1), "int16": (0.79, 0.1), "fp16": (1.1, 0.9), "fp32": (3.7, 0.9)}
# (mult um^2, accumulator-add um^2), same accumulator widths as above.
_AREA_UM2 = {"int8": (282.0, 137.0), "int16": (993.0, 137.0), "fp16": (1640.0, 4184.0),
             "fp32": (7700.0, 4184.0)}
_DRAM_PJ_PER_BYTE = 1950.0 / 8      # midpoint of 1.3-2.6 nJ per 64 bits


def _where(path: str) -> str:
    return f"accelerator field {path}"


def _num(name, value, lo=0.0, strict=True, where=None):
    """A positive (or non-negative) real number, or ValueError naming the field."""
    sfx = f" (in {where})" if where else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = " (YAML reads 500e6 as text: write 5.0e+8 or 500000000)"
            except ValueError:
                pass
        rng = f"({lo}, inf)" if strict else f"[{lo}, inf)"
        raise ValueError(f"{name} must be a number in {rng}, got {shown(value)}{hint}{sfx}")
    if (strict and value <= lo) or (not strict and value < lo):
        rng = f"({lo}, inf)" if strict else f"[{lo}, inf)"
        raise ValueError(f"{name} = {value!r} is out of range {rng}{sfx}")
    return float(value)


@dataclass(frozen=True)
class MacArray:
    """A rows x cols systolic array; ``dataflow``: a registered one (DATAFLOWS: SCALE-Sim's os | ws | is)."""

    rows: int
    cols: int
    dataflow: str = "os"

    def __post_init__(self):
        w = "mac_array"
        object.__setattr__(self, "rows", int_field("mac_array.rows", self.rows, 1, MAX_PES_SIDE, w))
        object.__setattr__(self, "cols", int_field("mac_array.cols", self.cols, 1, MAX_PES_SIDE, w))
        choice_field("mac_array.dataflow", self.dataflow, DATAFLOWS, w)


@dataclass(frozen=True)
class SumPoolUnit:
    """Adder lanes (adds per cycle), summation scheme (SCHEMES) and line-buffer size."""

    adder_lanes: int = 16
    scheme: str = "separable"
    line_buffer_bytes: int = 32768

    def __post_init__(self):
        w = "sum_pool"
        object.__setattr__(self, "adder_lanes",
                           int_field("sum_pool.adder_lanes", self.adder_lanes, 1, MAX_BYTES, w))
        choice_field("sum_pool.scheme", self.scheme, SCHEMES, w)
        object.__setattr__(self, "line_buffer_bytes",
                           int_field("sum_pool.line_buffer_bytes", self.line_buffer_bytes, 0, MAX_BYTES, w))


_LINK_BW = ("ifmap_dram_bytes_per_cycle", "filter_dram_bytes_per_cycle", "ofmap_dram_bytes_per_cycle")


@dataclass(frozen=True)
class Memory:
    """Double-buffered SRAMs (half active, half prefetching) and the DRAM link(s).

    ``links``: ``shared`` (default) -- one link of ``dram_bytes_per_cycle`` carries every
    operand; ``per_operand`` -- ifmap, filter and ofmap each have a link of
    ``<operand>_dram_bytes_per_cycle`` (unset: ``dram_bytes_per_cycle``); ``unlimited`` --
    SCALE-Sim's CALC mode: no stalls, and the results report the bandwidth each operand
    needs (``LayerResult.dram_bandwidth_needed``).
    """

    ifmap_sram_bytes: int = 65536
    filter_sram_bytes: int = 65536
    ofmap_sram_bytes: int = 32768
    dram_bytes_per_cycle: float = 8.0
    links: str = "shared"
    ifmap_dram_bytes_per_cycle: float | None = None
    filter_dram_bytes_per_cycle: float | None = None
    ofmap_dram_bytes_per_cycle: float | None = None

    def __post_init__(self):
        w = "memory"
        for f in ("ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes"):
            # 2 bytes minimum: each half of the double buffer must hold something
            object.__setattr__(self, f, int_field(f"memory.{f}", getattr(self, f), 2, MAX_BYTES, w))
        object.__setattr__(self, "dram_bytes_per_cycle",
                           _num("memory.dram_bytes_per_cycle", self.dram_bytes_per_cycle, where=w))
        choice_field("memory.links", self.links, LINKS, w)
        for f in _LINK_BW:
            v = getattr(self, f)
            if v is None:
                continue
            if self.links != "per_operand":
                raise ValueError(f"memory.{f} = {v!r} needs memory.links: per_operand "
                                 f"(links = {self.links!r} does not use it) (in {w})")
            object.__setattr__(self, f, _num(f"memory.{f}", v, where=w))

    def link_bytes_per_cycle(self) -> tuple[float, float, float]:
        """(ifmap, filter, ofmap) bytes per cycle of the operands' links (shared: the one link's)."""
        return tuple(self.dram_bytes_per_cycle if getattr(self, f) is None else getattr(self, f)
                     for f in _LINK_BW)


@dataclass(frozen=True)
class EnergyTable:
    """pJ per event. ``add_pj`` is an accumulator-width add (MAC accumulate and sum-pool add)."""

    mult_pj: float
    add_pj: float
    ifmap_sram_pj_per_byte: float
    filter_sram_pj_per_byte: float
    ofmap_sram_pj_per_byte: float
    line_buffer_pj_per_byte: float
    dram_pj_per_byte: float

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _num(f"energy.{f.name}", getattr(self, f.name),
                                                  strict=False, where="energy"))


@dataclass(frozen=True)
class AreaTable:
    """um^2 per multiplier, per accumulator adder (PE and sum-pool lane) and per KiB of SRAM
    (``sram_um2_per_kib`` None: each SRAM's area follows its size, ``sram_model: cacti-45nm``)."""

    mult_um2: float
    add_um2: float
    sram_um2_per_kib: float | None = None

    def __post_init__(self):
        for f in fields(self):
            if getattr(self, f.name) is not None or f.name != "sram_um2_per_kib":
                object.__setattr__(self, f.name, _num(f"area.{f.name}", getattr(self, f.name),
                                                      strict=False, where="area"))


def sram_sizes(memory: Memory, spu: SumPoolUnit) -> dict[str, int]:
    """Bytes of each SRAM, by role (memory_cost.SRAM_ROLES)."""
    return {"ifmap": memory.ifmap_sram_bytes, "filter": memory.filter_sram_bytes,
            "ofmap": memory.ofmap_sram_bytes, "line_buffer": spu.line_buffer_bytes}


def default_energy(dtype: str, memory: Memory, spu: SumPoolUnit, sram_model: str = "horowitz") -> EnergyTable:
    mult, add = _ENERGY_PJ[dtype]
    sram = {r: sram_pj_per_byte(sram_model, r, b) for r, b in sram_sizes(memory, spu).items()}
    return EnergyTable(mult, add, sram["ifmap"], sram["filter"], sram["ofmap"], sram["line_buffer"],
                       _DRAM_PJ_PER_BYTE)


def default_area(dtype: str, sram_model: str = "horowitz") -> AreaTable:
    mult, add = _AREA_UM2[dtype]
    return AreaTable(mult, add, HOROWITZ_UM2_PER_KIB if sram_model == "horowitz" else None)


@dataclass(frozen=True)
class Accelerator:
    """Everything the simulator needs to know about the hardware."""

    name: str
    mac_array: MacArray
    sum_pool: SumPoolUnit = field(default_factory=SumPoolUnit)
    memory: Memory = field(default_factory=Memory)
    clock_hz: float = 500e6
    dtype: str = "int8"
    overlap: str = "fused"
    energy: EnergyTable | None = None
    leakage_mw: float = 0.0
    area: AreaTable | None = None
    description: str = ""
    sram_model: str = "horowitz"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {shown(self.name)} (in accelerator)")
        if self.description is None:                 # `description:` left empty in YAML
            object.__setattr__(self, "description", "")
        if not isinstance(self.description, str):
            raise ValueError(f"description must be a string, got {shown(self.description)} (in accelerator)")
        for f, cls in (("mac_array", MacArray), ("sum_pool", SumPoolUnit), ("memory", Memory)):
            if not isinstance(getattr(self, f), cls):
                raise ValueError(f"{f} must be a {cls.__name__}, got {type(getattr(self, f)).__name__}")
        object.__setattr__(self, "clock_hz", _num("clock_hz", self.clock_hz, where="accelerator"))
        choice_field("dtype", self.dtype, DTYPES, "accelerator")
        choice_field("overlap", self.overlap, OVERLAPS, "accelerator")
        object.__setattr__(self, "leakage_mw", _num("leakage_mw", self.leakage_mw, strict=False,
                                                    where="accelerator"))
        choice_field("sram_model", self.sram_model, SRAM_MODELS, "accelerator")
        if self.energy is None:
            object.__setattr__(self, "energy", default_energy(self.dtype, self.memory, self.sum_pool,
                                                              self.sram_model))
        if self.area is None:
            object.__setattr__(self, "area", default_area(self.dtype, self.sram_model))

    @property
    def bytes_per_element(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def num_pes(self) -> int:
        return self.mac_array.rows * self.mac_array.cols

    def srams(self) -> tuple[SramCost, ...]:
        """Each SRAM (ifmap, filter, ofmap, line buffer) as charged: bytes, pJ per byte, um^2."""
        e = self.energy
        pj = {"ifmap": e.ifmap_sram_pj_per_byte, "filter": e.filter_sram_pj_per_byte,
              "ofmap": e.ofmap_sram_pj_per_byte, "line_buffer": e.line_buffer_pj_per_byte}
        return tuple(SramCost(r, b, pj[r], sram_area_um2(self.area.sram_um2_per_kib, b))
                     for r, b in sram_sizes(self.memory, self.sum_pool).items())

    def area_mm2(self) -> float:
        """Datapath + SRAM area: PEs (mult + accumulator), sum-pool lanes, SRAMs and line buffer."""
        a = self.area
        pes = self.num_pes * (a.mult_um2 + a.add_um2)
        lanes = self.sum_pool.adder_lanes * a.add_um2
        return (pes + lanes + sum(s.area_um2 for s in self.srams())) / 1e6

    def with_(self, **changes) -> Accelerator:
        """A copy with top-level fields replaced; derived tables are recomputed unless given."""
        if "energy" not in changes and {"dtype", "memory", "sum_pool", "sram_model"} & set(changes):
            changes["energy"] = None
        if "area" not in changes and {"dtype", "sram_model"} & set(changes):
            changes["area"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict:
        def dc(obj):
            return {f.name: getattr(obj, f.name) for f in fields(obj)}
        return {"name": self.name, "description": self.description, "clock_hz": self.clock_hz,
                "dtype": self.dtype, "overlap": self.overlap, "leakage_mw": self.leakage_mw,
                "sram_model": self.sram_model, "mac_array": dc(self.mac_array), "sum_pool": dc(self.sum_pool),
                "memory": dc(self.memory),
                "energy": dc(self.energy), "area": dc(self.area), "area_mm2": self.area_mm2(),
                "srams": [s.to_dict() for s in self.srams()]}


# -- loading -------------------------------------------------------------------
_TOP = {"name", "description", "clock_hz", "dtype", "overlap", "leakage_mw", "sram_model", "mac_array",
        "sum_pool", "memory", "energy", "area"}


def _section(d: dict, key: str, cls, required: bool, src: str):
    if key not in d:
        if required:
            raise ValueError(f"{src}: missing field {key!r}")
        return None
    sec = d[key]
    if not isinstance(sec, dict):
        raise ValueError(f"{src}: field {key!r} must be a mapping, got {type(sec).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = set(sec) - names
    if unknown:
        raise ValueError(f"{src}: unknown field(s) {_names(f'{key}.{u}' for u in unknown)}; "
                         f"allowed: {sorted(names)}")
    return sec


def _names(keys) -> str:
    """Unknown keys (of any YAML type), sorted and shortened for a message."""
    return "[" + ", ".join(sorted(shown(str(k), 40) for k in keys)[:10]) + "]"


def _units(d: dict, source: str) -> tuple[MacArray, SumPoolUnit, Memory]:
    mac = _section(d, "mac_array", MacArray, True, source)
    for req in ("rows", "cols"):
        if req not in mac:
            raise ValueError(f"missing field 'mac_array.{req}'")
    spu = _section(d, "sum_pool", SumPoolUnit, False, source)
    mem = _section(d, "memory", Memory, False, source)
    return (MacArray(**mac), SumPoolUnit(**spu) if spu is not None else SumPoolUnit(),
            Memory(**mem) if mem is not None else Memory())


def _tables(d: dict, dtype: str, memory: Memory, sum_pool: SumPoolUnit, model: str, source: str):
    """(energy, area) tables: the model's with the file's fields overriding them, or None (the model's)."""
    energy = area = None
    if "energy" in d:
        energy = replace(default_energy(dtype, memory, sum_pool, model),
                         **_section(d, "energy", EnergyTable, False, source))
    if "area" in d:
        area = replace(default_area(dtype, model), **_section(d, "area", AreaTable, False, source))
    return energy, area


def accelerator_from_dict(d, source: str = "accelerator") -> Accelerator:
    """Build and validate an Accelerator from a plain mapping (as read from YAML)."""
    if not isinstance(d, dict):
        raise ValueError(f"{source}: an accelerator file is a mapping, got {type(d).__name__}")
    unknown = set(d) - _TOP
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {_names(unknown)}; allowed: {sorted(_TOP)}")
    for req in ("name", "mac_array"):
        if req not in d:
            raise ValueError(f"{source}: missing field {req!r}")
    try:
        mac_array, sum_pool, memory = _units(d, source)
        kw = {k: d[k] for k in ("name", "description", "clock_hz", "dtype", "overlap", "leakage_mw",
                                "sram_model") if k in d}
        dtype, model = kw.get("dtype", "int8"), kw.get("sram_model", "horowitz")
        choice_field("dtype", dtype, DTYPES, "accelerator")
        choice_field("sram_model", model, SRAM_MODELS, "accelerator")
        energy, area = _tables(d, dtype, memory, sum_pool, model, source)
        return Accelerator(mac_array=mac_array, sum_pool=sum_pool, memory=memory, energy=energy,
                           area=area, **kw)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if msg.startswith(source) else f"{source}: {msg}") from None


# Presets that were renamed because the old name claimed something the model does not do.
RENAMED_PRESETS = {"eyeriss-like": "renamed 'small-os-168pe' (it has Eyeriss's PE count and buffer but runs "
                                   "output-stationary, not Eyeriss's row-stationary dataflow)"}


def _preset_dir():
    return resources.files("structconv").joinpath("data", "hw")


def _description(path) -> str:
    try:
        data = load_data_file(path, "accelerator preset")
    except ValueError:
        return "(unreadable preset)"
    return str(data.get("description", "")) if isinstance(data, dict) else ""


def list_accelerators() -> dict[str, str]:
    """Shipped accelerator presets: name -> one-line description (iterate it for the names)."""
    return {p.name[:-5]: _description(p) for p in sorted(_preset_dir().iterdir(), key=lambda p: p.name)
            if p.name.endswith(".yaml")}


def load_accelerator(name_or_path=DEFAULT_HW) -> Accelerator:
    """An Accelerator from a preset name, a YAML path, a mapping, or an Accelerator (returned as is)."""
    if isinstance(name_or_path, Accelerator):
        return name_or_path
    if isinstance(name_or_path, dict):
        return accelerator_from_dict(name_or_path)
    if name_or_path is None:
        name_or_path = DEFAULT_HW
    key = str(name_or_path)
    if key in RENAMED_PRESETS:
        raise ValueError(f"hw = {shown(key)}: {RENAMED_PRESETS[key]}")
    preset = _preset_dir().joinpath(f"{key}.yaml")
    if "/" not in key and not key.endswith((".yaml", ".yml")) and preset.is_file():
        path, what = preset, "accelerator preset"
    else:
        path, what = Path(key), "accelerator file"
        if not path.is_file():
            raise ValueError(f"hw = {shown(key)} is neither a preset {sorted(list_accelerators())} "
                             f"nor a readable YAML file")
    data = load_data_file(path, what)
    src = f"{what} {shown(key)}"
    return accelerator_from_dict(data, src)
