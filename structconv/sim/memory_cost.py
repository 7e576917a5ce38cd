"""SRAM energy per access and area as functions of the SRAM's size, at 45 nm: two named models.

``sram_model: horowitz`` (the default; every shipped preset) -- energy: log-log interpolation of
Horowitz's three SRAM points (ISSCC 2014, 45 nm; a 64-bit read of an 8 KB / 32 KB / 1 MB SRAM
costs 10 / 20 / 100 pJ; Han et al., EIE, ISCA 2016 reproduce the table), the 8 KB figure below
8 KB and the 32 KB-1 MB slope above 1 MB; the same figure for reads and writes. Area: a constant
4049 um^2 per KiB (Intel 45 nm 6T cell, 0.346 um^2, Mistry et al. IEDM 2007, x 8192 bits / 0.7
array efficiency) -- no periphery.

``sram_model: cacti-45nm`` -- CACTI 7.0 as shipped in the ``zigzag-dse`` 3.9.1 package, built
from its sources and run by benchmarks/cacti_sram_grid.py with ZigZag's baseline configuration
(itrs-hp, 360 K, single-bank UCA "ram", one read-write port, a 64-bit word, ECC on) at 45 nm over
73 sizes from 256 B to 64 MiB (4 per octave); the answers are pinned in
tests/data/cacti_sram_45nm.json. Per 64-bit access:

    size     read pJ  write pJ  area mm^2      size     read pJ  write pJ  area mm^2
    256 B      1.27     1.62     0.00162      256 KiB    46.0     32.7      0.895
    1 KiB      1.61     3.27     0.00404      1 MiB      77.2     63.9      3.57
    8 KiB      6.05     7.41     0.0294       4 MiB     139.5    126.1     13.9
    32 KiB    17.0     14.5      0.106       16 MiB     264.5    250.8     54.7
    64 KiB    21.2     18.7      0.234       64 MiB     523.8    497.0    208.0

(Horowitz's 8 KB / 32 KB / 1 MB reads, 10 / 20 / 100 pJ, are 1.2-1.7x CACTI's.) The model
interpolates log-log between the power-of-two sizes (the knots: CACTI's answers there rise
strictly with size in read energy, write energy and area). Off the knots CACTI's optimiser
changes the array organisation from one size to the next, so its own answers are not monotone
(48 KiB reads at 22.4 pJ, 56 KiB at 19.2 pJ); the knots' interpolation stays within
-15%..+28% (read), -22%..+13% (write) and -7%..+15% (area) of those 54 answers
(tests/test_sim_memory_cost.py checks these bounds against the pinned file). Below 256 B the
256 B figures are used (an SRAM costs at least the smallest organisation CACTI builds; a
0-byte line buffer has no area); above 64 MiB the last octave's slope is extrapolated.

Per byte, each SRAM takes the access the simulator counts on it: ifmap and filter SRAMs
are read (``sram_ifmap_reads``/``sram_filter_reads``; the ifmap's few sum-pool writes are
charged as reads), the ofmap SRAM is written (``sram_ofmap_writes``), and the line buffer is
written once and read once per element (the mean of the two); each 64-bit figure / 8.
CACTI's standby leakage (itrs-hp cells at 360 K: 11 mW for 8 KiB) is pinned but not used:
leakage is the accelerator's ``leakage_mw``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SRAM_MODELS = ("horowitz", "cacti-45nm")
SRAM_ROLES = ("ifmap", "filter", "ofmap", "line_buffer")
WORD_BYTES = 8                       # both models quote a 64-bit access

# Horowitz SRAM points: (bytes, pJ per byte) = 64-bit read energy / 8.
_HOROWITZ = ((8 * 1024, 10 / 8), (32 * 1024, 20 / 8), (1024 * 1024, 100 / 8))
HOROWITZ_UM2_PER_KIB = 4049.0

_CACTI_45NM = (  # (bytes, read nJ, write nJ, area mm^2) of a 64-bit access: tests/data/cacti_sram_45nm.json
    (256, 0.001271, 0.00161799, 0.00162184),
    (512, 0.00136234, 0.00214587, 0.00243302),
    (1024, 0.00160991, 0.0032665, 0.00403525),
    (2048, 0.00267139, 0.00398158, 0.00843996),
    (4096, 0.0033181, 0.00604183, 0.015032),
    (8192, 0.00604792, 0.00741363, 0.0294029),
    (16384, 0.00890893, 0.0117713, 0.0549288),
    (32768, 0.016998, 0.0144836, 0.106242),
    (65536, 0.0212026, 0.0186882, 0.234013),
    (131072, 0.0374928, 0.0242248, 0.435513),
    (262144, 0.0459623, 0.0326943, 0.894782),
    (524288, 0.0599027, 0.0466347, 1.77514),
    (1048576, 0.0771867, 0.0639187, 3.56541),
    (2097152, 0.104474, 0.0912061, 7.02961),
    (4194304, 0.13948, 0.12605, 13.9468),
    (8388608, 0.194131, 0.180701, 27.5734),
    (16777216, 0.264538, 0.250784, 54.7443),
    (33554432, 0.385896, 0.359494, 104.505),
    (67108864, 0.523756, 0.497031, 208.029),
)
CACTI_KNOTS = tuple(r[0] for r in _CACTI_45NM)


def loglog(size: float, points) -> float:
    """Log-log interpolation of (x, y) ``points`` (x ascending) at ``size``: the first y
    below the first x, the last segment's slope extrapolated past the last x."""
    if size <= points[0][0]:
        return points[0][1]
    i = next((i for i in range(1, len(points)) if size <= points[i][0]), len(points) - 1)
    (s0, e0), (s1, e1) = points[i - 1], points[i]
    t = math.log(size / s0) / math.log(s1 / s0)
    return e0 * (e1 / e0) ** t


def _cacti(column: int):
    return tuple((r[0], r[column]) for r in _CACTI_45NM)


_CACTI_READ_PJ = tuple((s, nj * 1e3) for s, nj in _cacti(1))
_CACTI_WRITE_PJ = tuple((s, nj * 1e3) for s, nj in _cacti(2))
_CACTI_AREA_UM2 = tuple((s, mm2 * 1e6) for s, mm2 in _cacti(3))


def horowitz_pj_per_byte(size_bytes: int) -> float:
    """Horowitz's SRAM access energy for ``size_bytes``, per byte (reads and writes alike)."""
    return loglog(size_bytes, _HOROWITZ)


def cacti_read_pj(size_bytes: int) -> float:
    """CACTI 45 nm energy of one 64-bit read of an SRAM of ``size_bytes``."""
    return loglog(size_bytes, _CACTI_READ_PJ)


def cacti_write_pj(size_bytes: int) -> float:
    """CACTI 45 nm energy of one 64-bit write of an SRAM of ``size_bytes``."""
    return loglog(size_bytes, _CACTI_WRITE_PJ)


def cacti_area_um2(size_bytes: int) -> float:
    """CACTI 45 nm area of an SRAM of ``size_bytes`` (0 bytes: no SRAM, no area)."""
    return 0.0 if size_bytes <= 0 else loglog(size_bytes, _CACTI_AREA_UM2)


def sram_pj_per_byte(model: str, role: str, size_bytes: int) -> float:
    """pJ per byte accessed of the ``role`` SRAM (see SRAM_ROLES) of ``size_bytes`` under ``model``."""
    if model == "horowitz":
        return horowitz_pj_per_byte(size_bytes)
    if model != "cacti-45nm":
        raise ValueError(f"sram_model = {model!r} is not one of {list(SRAM_MODELS)}")
    if role == "ofmap":
        return cacti_write_pj(size_bytes) / WORD_BYTES
    if role == "line_buffer":
        return (cacti_read_pj(size_bytes) + cacti_write_pj(size_bytes)) / (2 * WORD_BYTES)
    return cacti_read_pj(size_bytes) / WORD_BYTES


def sram_area_um2(um2_per_kib: float | None, size_bytes: int) -> float:
    """Area of one SRAM: ``um2_per_kib`` x KiB where the area table sets it, else CACTI's."""
    if um2_per_kib is not None:
        return size_bytes / 1024 * um2_per_kib
    return cacti_area_um2(size_bytes)


@dataclass(frozen=True)
class SramCost:
    """One SRAM of an accelerator as the simulator charges it: size, pJ per byte, area."""

    role: str
    bytes: int
    pj_per_byte: float
    area_um2: float

    @property
    def pj_per_access(self) -> float:
        """pJ of one 64-bit (8-byte) access: the unit both models quote."""
        return self.pj_per_byte * WORD_BYTES

    def to_dict(self) -> dict:
        return {"sram": self.role, "bytes": self.bytes, "pj_per_byte": self.pj_per_byte,
                "pj_per_64bit_access": self.pj_per_access, "area_um2": self.area_um2}
