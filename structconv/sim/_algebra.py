"""The hardware algebra, named once: the MAC array's dataflows and the sum-pool unit's schemes.

Each is registered here once (``register_dataflow``, ``register_scheme``) and read from here by
everything else: the accelerator's ``mac_array.dataflow`` and ``sum_pool.scheme`` fields, the
kernels (through an integer code in the HW record, decoded by small helpers in _kernels.py),
``limits`` (the exact-integer twins below), the SCALE-Sim USER-mode port and ``structconv.rtl``.

Dataflow. SCALE-Sim's fold algebra runs a GEMM -- ifmap m x k (m output pixels, k the reduction),
filter k x n (n filters), ofmap m x n -- on a rows x cols systolic array with one GEMM axis on the
array's rows (Sr), one on its columns (Sc) and one in time (T). That placement is the dataflow;
all the rest follows from it:
- an operand whose axes are on rows and cols is *stationary* (held in the PEs, a tile per fold);
  one on rows and time is *row-streamed* (a tile per row fold, read again in every column fold);
  one on cols and time is *column-streamed* (a tile per column fold, read again in every row fold);
- the reduction k runs down the rows (summed through the array) or in time (in place): with k
  in time the output is stationary (SCALE-Sim's os: R + C extra ofmap writes a fold, its quirk);
  with k on the rows an input is stationary, preloaded a row a cycle (ws, is), and the outputs
  are partial sums streamed out per row fold;
- a fold lasts T + R + C - 2 cycles, plus R for the preload.
``Dataflow.code`` is the placement: the time axis in the order k, m, n, plus 3 when rows and
cols take the other two in reverse order. SCALE-Sim's os, ws and is are 0, 1 and 2.

Sum-pool scheme. The unit makes the c window sums (kc channels x a rows x b columns) of every
needed output either with one adder tree over the whole window (``tree``), or in three passes --
channel, row, column -- each summing its windows with adder trees, or, for the passes the scheme
``running`` lists, with running sums (the first window a tree, then one add and one subtract a
step along a dilation chain) where those take fewer adds. The code sets bit 0 for the tree and
one bit per running pass.

A new entry registered here (from this file or any module) runs in both kernel modes, the limits,
the USER-mode port and the RTL generator with no other edit; a dataflow or scheme outside these
descriptions needs its kernel code too (docs/extending.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from . import _kernels as K

OPERANDS = {"ifmap": "mk", "filter": "kn", "ofmap": "mn"}      # the GEMM axes each operand spans
PASSES = {"channel": K.SC_RUN_CH, "row": K.SC_RUN_ROW, "column": K.SC_RUN_COL}


def _role(at: set) -> int:
    """The role of an operand whose axes sit ``at`` (_kernels.role's twin)."""
    if K.ON_TIME not in at:
        return K.STATIONARY
    return K.ROW_STREAM if K.ON_ROWS in at else K.COL_STREAM


def _reads(role: int, rf: int, cf: int) -> int:
    """_kernels.reads_per_element's twin."""
    return 1 if role == K.STATIONARY else (cf if role == K.ROW_STREAM else rf)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _clog2(x: int) -> int:
    return max(0, (x - 1).bit_length())


class Folds(NamedTuple):
    """One GEMM's fold schedule and SCALE-Sim's SRAM counts (exact integers)."""

    Sr: int
    Sc: int
    T: int
    rf: int                 # row folds
    cf: int                 # column folds
    fold_cycles: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int

    @property
    def folds(self) -> int:
        return self.rf * self.cf


@dataclass(frozen=True)
class Dataflow:
    """Where the MAC array puts the GEMM axes: ``rows``, ``cols`` and ``time`` are "m" (output
    pixels), "n" (filters) and "k" (the reduction), each once, k on the rows or in time."""

    name: str
    rows: str
    cols: str
    time: str
    description: str = ""

    def __post_init__(self):
        _check_name("dataflow", self.name)
        if sorted((self.rows, self.cols, self.time)) != sorted(K.AXES):
            raise ValueError(f"dataflow {self.name!r}: rows, cols, time = {self.rows!r}, {self.cols!r}, "
                             f"{self.time!r} must be 'm', 'n' and 'k', each once")
        if self.cols == "k":
            raise ValueError(f"dataflow {self.name!r}: the reduction k must run down the rows or in time, "
                             f"not across the cols")
        # derived once (limits asks for every job), kept out of the fields
        at = {a: i for i, a in enumerate((self.rows, self.cols, self.time))}
        object.__setattr__(self, "_at", at)
        roles = {op: _role({at[a] for a in axes}) for op, axes in OPERANDS.items()}
        object.__setattr__(self, "_roles", roles)
        object.__setattr__(self, "_dims", tuple(K.AXES.index(a) for a in (self.rows, self.cols, self.time)))

    @property
    def code(self) -> int:
        """The kernels' code: the time axis (in the order k, m, n), + SWAPPED for rows/cols reversed."""
        t = K.AXES.index(self.time)
        others = [a for a in K.AXES if a != self.time]
        return t + (K.SWAPPED if self.rows != others[0] else 0)

    def at(self, axis: str) -> int:
        """Where ``axis`` sits: ON_ROWS, ON_COLS or ON_TIME (_kernels.place's twin)."""
        return self._at[axis]

    def role(self, operand: str) -> int:
        """STATIONARY, ROW_STREAM or COL_STREAM: the role of "ifmap", "filter" or "ofmap"."""
        return self._roles[operand]

    def reads(self, operand: str, rf: int, cf: int) -> int:
        """How often the folds read each element of ``operand`` (_kernels.reads_per_element)."""
        return _reads(self._roles[operand], rf, cf)

    def dims(self, m: int, n: int, k: int) -> tuple[int, int, int]:
        """(Sr, Sc, T) of an m x k by k x n GEMM (_kernels.gemm_dims)."""
        size = (k, m, n)                                  # in the order of K.AXES
        r, c, t = self._dims
        return size[r], size[c], size[t]

    def fold_cycles(self, R: int, C: int, T: int) -> int:
        """Cycles of one fold (_kernels.fold_len)."""
        return T + R + C - 2 + (R if self.rows == "k" else 0)

    def folds(self, m: int, n: int, k: int, R: int, C: int) -> Folds:
        """The fold schedule and SRAM counts of one GEMM on an R x C array (_kernels.gemm_closed)."""
        return _folds(self, m, n, k, R, C)

    def extent(self, axis: str, R: int, C: int, size: int) -> int:
        """How much of an axis of ``size`` one fold covers (at most R rows, C cols, all of time)."""
        at = self._at[axis]
        return min(R, size) if at == K.ON_ROWS else (min(C, size) if at == K.ON_COLS else size)


@lru_cache(maxsize=1 << 14)               # limits asks twice a job, and layers repeat their shapes
def _folds(flow: Dataflow, m: int, n: int, k: int, R: int, C: int) -> Folds:
    Sr, Sc, T = flow.dims(m, n, k)
    rf, cf = _cdiv(Sr, R), _cdiv(Sc, C)
    roles = flow._roles
    of_w = m * n * _reads(roles["ofmap"], rf, cf) + (rf * cf * (R + C) if flow.time == "k" else 0)
    return Folds(Sr, Sc, T, rf, cf, flow.fold_cycles(R, C, T), m * k * _reads(roles["ifmap"], rf, cf),
                 k * n * _reads(roles["filter"], rf, cf), of_w)


@dataclass(frozen=True)
class Scheme:
    """How the sum-pool unit adds: ``tree`` (one adder tree over each whole window) or three
    passes, each by adder trees, or by running sums for the passes named in ``running``."""

    name: str
    tree: bool = False
    running: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self):
        _check_name("scheme", self.name)
        object.__setattr__(self, "running", tuple(self.running))
        bad = [p for p in self.running if p not in PASSES]
        if bad:
            raise ValueError(f"scheme {self.name!r}: running = {bad} is not a subset of {list(PASSES)}")
        if self.tree and self.running:
            raise ValueError(f"scheme {self.name!r}: a tree over the whole window has no passes to run")

    @property
    def code(self) -> int:
        """The kernels' code: SC_TREE, or the SC_RUN_* bits of the running passes."""
        return K.SC_TREE if self.tree else sum(PASSES[p] for p in set(self.running))

    def runs(self, pass_: str) -> bool:
        """Whether the pass ("channel", "row", "column") may use running sums."""
        return pass_ in self.running

    def depth(self, kc: int, a: int, b: int) -> int:
        """Pipeline fill of the adder datapath (_kernels.spu_depth)."""
        if self.tree:
            return _clog2(kc * a * b)
        return sum((1 if w > 1 else 0) if self.runs(p) else _clog2(w)
                   for p, w in zip(PASSES, (kc, a, b)))


def adds_bound(c: int, kc: int, a: int, b: int, hn: int, wn: int, rin: int, cin: int) -> int:
    """An upper bound of the adds of one group under *any* scheme these descriptions express
    (hn x wn needed outputs, rin x cin input positions they touch): the tree's c*hn*wn*(kc*a*b - 1)
    is below the first term; the passes' direct channel, row and column adds (running sums only
    take fewer) are below the second, third and first."""
    return c * hn * wn * kc * a * b + rin * cin * c * kc + c * cin * hn * a


def _check_name(what: str, name) -> None:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"a {what}'s name must be a non-empty string without surrounding spaces, "
                         f"got {name!r}")


class Registry(Sequence):
    """Entries by name, in registration order; as a sequence, the names (a live view: what is
    registered later is in it too)."""

    def __init__(self, what: str, field: str):
        self._what, self._field = what, field
        self._entries: dict = {}
        self._builtin: set = set()

    def __getitem__(self, i):
        return tuple(self._entries)[i]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(tuple(self._entries))

    def __contains__(self, name) -> bool:
        try:
            return name in self._entries
        except TypeError:                   # an unhashable value is no name
            return False

    def __repr__(self) -> str:
        return repr(tuple(self._entries))

    def get(self, name):
        """The entry registered as ``name``; ValueError naming the field otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"{self._field} = {name!r} is not one of {sorted(self)}") from None

    def add(self, entry, builtin: bool = False):
        if entry.name in self._entries:
            raise ValueError(f"{self._what} {entry.name!r} is already registered")
        same = [e.name for e in self._entries.values() if e.code == entry.code]
        if same:
            raise ValueError(f"{self._what} {entry.name!r} is the same as the registered {same[0]!r}")
        self._entries[entry.name] = entry
        if builtin:
            self._builtin.add(entry.name)
        _changed()
        return entry

    def remove(self, name: str) -> None:
        if name in self._builtin:
            raise ValueError(f"{self._what} {name!r} is built in; only registered ones can be removed")
        self.get(name)
        del self._entries[name]
        _changed()


_GENERATION = [0]


def _changed() -> None:
    _GENERATION[0] += 1


def generation() -> int:
    """A number that changes whenever an entry is registered or removed (the engine's cache key)."""
    return _GENERATION[0]


DATAFLOWS = Registry("dataflow", "mac_array.dataflow")
SCHEMES = Registry("scheme", "sum_pool.scheme")


def register_dataflow(flow: Dataflow) -> Dataflow:
    """Add a dataflow; from then on ``mac_array.dataflow: <name>`` works everywhere."""
    if not isinstance(flow, Dataflow):
        raise TypeError(f"register_dataflow takes a Dataflow, got {type(flow).__name__}")
    return DATAFLOWS.add(flow)


def register_scheme(scheme: Scheme) -> Scheme:
    """Add a sum-pool scheme; from then on ``sum_pool.scheme: <name>`` works everywhere."""
    if not isinstance(scheme, Scheme):
        raise TypeError(f"register_scheme takes a Scheme, got {type(scheme).__name__}")
    return SCHEMES.add(scheme)


def unregister_dataflow(name: str) -> None:
    DATAFLOWS.remove(name)


def unregister_scheme(name: str) -> None:
    SCHEMES.remove(name)


for _flow in (Dataflow("os", "m", "n", "k", "output stationary: pixels on rows, filters on cols"),
              Dataflow("ws", "k", "n", "m", "weight stationary: filters held, pixels stream in time"),
              Dataflow("is", "k", "m", "n", "input stationary: pixels held, filters stream in time")):
    DATAFLOWS.add(_flow, builtin=True)
for _scheme in (Scheme("tree", tree=True, description="one adder tree over each whole window"),
                Scheme("separable", description="channel, row and column passes of adder trees"),
                Scheme("sliding", running=tuple(PASSES), description="the three passes by running sums")):
    SCHEMES.add(_scheme, builtin=True)
