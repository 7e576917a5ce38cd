"""Information fields of sparse-kernel sequences and the design-space reduction of
seed 003 ("Penetrating the Fog", Sec. 3.1). Standard library only.

The channel part of a field is computed exactly: every output channel carries a
bitset (a Python int) of the *input* channels it depends on, and each kernel
ORs the bitsets of the channels in its group. The field is (h, w, c) with
h = w the receptive field (stride and dilation respected) and c the smallest
bitset size over the output channels (the guaranteed channel extent).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from itertools import combinations, product
from math import gcd
from typing import NamedTuple

from ._divisors import divisors
from .checks import choice_field, int_field

KINDS = ("CONV", "GC", "DW", "PW", "PWG", "SHUFFLE")
SPATIAL = frozenset({"CONV", "GC", "DW"})
GROUPED = frozenset({"GC", "PWG"})
_ALIASES = {"GCONV": "GC", "PWGCONV": "PWG", "DWCONV": "DW", "PWCONV": "PW", "STD": "CONV",
            "S": "SHUFFLE", "CS": "SHUFFLE"}
#: The paper's alphabet: its four sparse kernels. CONV is what they replace; channel
#: permutation is "allowed" (footnote 1), so it is implicit, not a letter.
ALPHABET = ("GC", "DW", "PW", "PWG")
PAPER_DESIGNS = {"DW+PW": "dw_pw", "GC+PWG": "gc_pwg", "PW+DW+PW": "pw_dw_pw",
                 "PWG+DW+PWG": "pwg_dw_pwg"}
REPEATED = re.compile(r"(.+?)\1+")   # Sec. 3.1, matched against the whole word


class Field(NamedTuple):
    """Information field (h, w, channels): compares equal to a plain tuple."""

    h: int
    w: int
    c: int


@dataclass(frozen=True)
class Kernel:
    """One kernel of a sequence: CONV(k), GC(M), DW(k), PW, PWG(N) or SHUFFLE(g).

    ``groups``: GC/PWG group number (required to evaluate a field); SHUFFLE's
    group count (None: that of the last grouped kernel). ``out``: output
    channels (None keeps the count; a bottleneck sets it). ``k``: spatial size
    (None: the k given to ``information_field``).
    """

    kind: str
    groups: int | None = None
    out: int | None = None
    k: int | None = None
    stride: int = 1
    dilation: int = 1

    def __post_init__(self):
        kind = str(self.kind).upper()
        kind = _ALIASES.get(kind, kind)
        choice_field("kind", kind, KINDS)
        object.__setattr__(self, "kind", kind)
        where = f"kernel {kind}"
        for name, ok in (("groups", kind in GROUPED or kind == "SHUFFLE"),
                         ("out", kind not in ("DW", "SHUFFLE")), ("k", kind in SPATIAL)):
            v = getattr(self, name)
            if v is not None:
                if not ok:
                    raise ValueError(f"{name} = {v!r} is not allowed on {kind} (in {where})")
                int_field(name, v, 1, None, where)
        for name in ("stride", "dilation"):
            int_field(name, getattr(self, name), 1, 1 if kind == "SHUFFLE" else None, where)

    def __str__(self) -> str:
        args = [] if self.groups is None else [str(self.groups)]
        args += [f"{n}={v}" for n, v, d in (("out", self.out, None), ("k", self.k, None),
                                           ("stride", self.stride, 1), ("dilation", self.dilation, 1))
                 if v != d]
        return self.kind + (f"({','.join(args)})" if args else "")


_TOKEN = re.compile(r"\s*([A-Za-z]+)\s*(?:\(([^()]*)\))?\s*")
_KEYS = ("groups", "out", "k", "stride", "dilation")


def _parse_one(tok: str) -> Kernel:
    m = _TOKEN.fullmatch(tok)
    if not m:
        raise ValueError(f"kernel = {tok!r} is not NAME or NAME(args) with NAME in {list(KINDS)}")
    kw = {}
    for i, arg in enumerate(a.strip() for a in (m.group(2) or "").split(",") if a.strip()):
        key, _, val = arg.rpartition("=")
        key = key.strip() or ("groups" if i == 0 else "")
        if key not in _KEYS:
            raise ValueError(f"kernel argument {arg!r} in {tok!r}: use a group number first, then "
                             f"key=value with key in {list(_KEYS)}")
        try:
            kw[key] = int(val)
        except ValueError:
            raise ValueError(f"{key} = {val.strip()!r} must be an integer (in kernel {tok!r})") from None
    return Kernel(m.group(1), **kw)


def parse_kernels(sequence) -> tuple[Kernel, ...]:
    """'GC(4)+SHUFFLE+PWG(4)', a Kernel, or an iterable of Kernels/strings -> tuple of Kernels."""
    if isinstance(sequence, Kernel):
        return (sequence,)
    if isinstance(sequence, str):
        if not sequence.strip():
            raise ValueError("kernel sequence = '' is empty")
        return tuple(_parse_one(t) for t in sequence.split("+"))
    out = tuple(k for item in sequence for k in parse_kernels(item))
    if not out:
        raise ValueError("kernel sequence is empty")
    return out


def format_kernels(sequence) -> str:
    return "+".join(str(k) for k in parse_kernels(sequence))


# -- channel dependency bitsets ---------------------------------------------
def _grouped(deps: tuple, groups: int, out: int) -> tuple:
    gin, gout = len(deps) // groups, out // groups
    unions = []
    for g in range(groups):
        u = 0
        for d in deps[g * gin:(g + 1) * gin]:
            u |= d
        unions.append(u)
    return tuple(unions[j // gout] for j in range(out))


def _shuffle(deps: tuple, g: int) -> tuple:
    """ShuffleNet's channel shuffle: view (g, n/g), transpose, flatten."""
    per = len(deps) // g
    return tuple(deps[(p % g) * per + p // g] for p in range(len(deps)))


def _apply(state, kind, groups, out, ksize, stride, dilation, implicit_shuffle):
    """One kernel on state (rf, jump, deps, last_groups); ValueError if the groups do not fit."""
    rf, jump, deps, last = state
    n = len(deps)
    if kind == "SHUFFLE":
        g = groups or last
        if g > 1:
            if n % g:
                raise ValueError(f"SHUFFLE groups = {g} must divide the {n} channels it permutes")
            deps = _shuffle(deps, g)
        return rf, jump, deps, last
    out = n if out is None or kind == "DW" else _channels_traced(out, f"{kind} out")
    g = {"CONV": 1, "PW": 1, "DW": n}.get(kind, groups)
    if g is None:
        raise ValueError(f"{kind} needs a group number, e.g. '{kind}(4)' "
                         "(group_assignments() tries every one)")
    if n % g or out % g:
        raise ValueError(f"{kind} groups = {g} must divide its input channels = {n} and "
                         f"output channels = {out}")
    if kind in SPATIAL:
        rf += (ksize - 1) * dilation * jump
    deps = _grouped(deps, g, out)
    if implicit_shuffle and kind in GROUPED and g > 1:
        deps = _shuffle(deps, g)
    return rf, jump * stride, deps, (last if kind == "DW" else g)


def _field_of(state) -> Field:
    rf, _, deps, _ = state
    return Field(rf, rf, min(d.bit_count() for d in deps))


# The trace keeps one C-bit set per channel (C**2 bits): 2**14 channels are 32 MiB; the paper's
# analysis needs 16 to 64, and the widest layers of the zoo have 4096.
MAX_TRACE_CHANNELS = 2**14


def _channels_traced(n: int, what: str) -> int:
    return int_field(what, n, 1, MAX_TRACE_CHANNELS, "the exact field trace: a C-bit set per channel")


def _start(C: int):
    C = _channels_traced(C, "C")
    return (1, 1, tuple(1 << i for i in range(C)), 1)


def trace(sequence, C: int, k: int = 3, shuffle: bool = False) -> list[tuple[Kernel, Field, tuple]]:
    """Per kernel: (kernel, field after it, input-channel bitset of every output channel).

    ``shuffle=True`` adds the paper's implicit channel permutation after every
    grouped kernel (GC/PWG): a ShuffleNet shuffle with that kernel's groups.
    """
    C = int_field("C", C, 1)
    k = int_field("k", k, 1)
    state, rows = _start(C), []
    for i, kern in enumerate(parse_kernels(sequence)):
        try:
            state = _apply(state, kern.kind, kern.groups, kern.out, kern.k or k, kern.stride,
                           kern.dilation, shuffle)
        except ValueError as e:
            raise ValueError(f"{e} (at position {i}, {kern})") from None
        rows.append((kern, _field_of(state), state[2]))
    return rows


def information_field(sequence, C: int, k: int = 3, shuffle: bool = False) -> Field:
    """(h, w, c) of input that one output of ``sequence`` depends on; start (1, 1, 1).

    >>> information_field("GC(4)+SHUFFLE+PWG(4)", C=16)
    Field(h=3, w=3, c=16)
    """
    return trace(sequence, C, k, shuffle)[-1][1]


def group_options(kind: str, n_in: int, n_out: int) -> tuple:
    """Group numbers tried for one kernel: non-trivial divisors 1 < g < n_in of both
    channel counts (g = 1 is CONV/PW; GC(n) is DW). (None,) for other kernels."""
    if kind not in GROUPED:
        return (None,)
    return tuple(g for g in divisors(gcd(n_in, n_out)) if 2 <= g <= n_in - 1)


def group_assignments(sequence, C: int):
    """Every concrete version of ``sequence`` with its unset group numbers filled in."""
    kerns = parse_kernels(sequence)
    chans, n = [], C
    for kern in kerns:
        out = n if kern.out is None or kern.kind in ("DW", "SHUFFLE") else kern.out
        chans.append((n, out))
        n = out
    opts = [(kern.groups,) if kern.groups is not None or kern.kind not in GROUPED
            else group_options(kern.kind, *io) for kern, io in zip(kerns, chans)]
    for gs in product(*opts):
        yield tuple(Kernel(kern.kind, g, kern.out, kern.k, kern.stride, kern.dilation)
                    for kern, g in zip(kerns, gs))


def has_repeated_pattern(word) -> bool:
    """Sec. 3.1 composition rule: the whole word is one unit repeated (regex (.+?)\\1+).

    ``word``: a string of one-letter symbols ('ABAB'), or a sequence of symbols or
    kernel names (['GC', 'PWG', 'GC', 'PWG']), each distinct item one letter.
    """
    if not isinstance(word, str):
        letters: dict = {}
        word = "".join(letters.setdefault(x, chr(65 + len(letters))) for x in word)
    return REPEATED.fullmatch(word) is not None


# -- design-space reduction --------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A surviving pattern: ``modes`` it survives in ('plain', 'bottleneck'), one
    passing group assignment per mode, its ``family`` (DW read as GC(C), PW as
    PWG(1)), and the paper design key when it is one of the four final designs."""

    pattern: str
    modes: tuple[str, ...]
    examples: tuple[str, ...]
    family: str
    paper: str

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "modes": list(self.modes), "examples": list(self.examples),
                "family": self.family, "paper": self.paper}


class Reduction(list):
    """The surviving Candidates (a list) plus ``stats``: counts at every stage."""

    def __init__(self, survivors, stats: dict):
        super().__init__(survivors)
        self.stats = stats

    @property
    def patterns(self) -> list[str]:
        return [c.pattern for c in self]

    def to_dict(self) -> dict:
        return {"stats": self.stats, "survivors": [c.to_dict() for c in self]}


def _channels(kinds: tuple, C: int, K: int, bottleneck: bool) -> list[tuple[int, int]]:
    n = len(kinds)
    if not bottleneck:
        return [(C, C)] * n
    return [(C if i == 0 else K, C if i == n - 1 else K) for i in range(n)]


@cache
def _search(kinds: tuple, C: int, k: int, K: int, bottleneck: bool, early_stop: bool):
    """First group assignment (tuple) whose field ends at (k, k, C), or None.

    early_stop: every kernel must grow the field and never pass (k, k, C) (so no
    prefix may already reach it); under a bottleneck the last (expanding) kernel
    is exempt from growing: it is there to restore the width.
    """
    target, chans, n = Field(k, k, C), _channels(kinds, C, K, bottleneck), len(kinds)
    dead = set()

    def dfs(i, state, chosen):
        if i == n:
            return chosen if _field_of(state) == target else None
        if (i, state) in dead:
            return None
        before = _field_of(state)
        for g in group_options(kinds[i], *chans[i]):
            nxt = _apply(state, kinds[i], g, chans[i][1], k, 1, 1, True)
            f = _field_of(nxt)
            if f.h > target.h or (early_stop and f == before and not (bottleneck and i == n - 1)):
                continue
            found = dfs(i + 1, nxt, chosen + (g,))
            if found is not None:
                return found
        dead.add((i, state))
        return None

    return dfs(0, _start(C), ())


def _redundant(kinds: tuple, C: int, k: int, K: int, bottleneck: bool) -> bool:
    """Efficiency case 2 read literally: a proper subset of the kernels (keeping a
    bottleneck's two ends) already reaches (k, k, C) with some group numbers."""
    n = len(kinds)
    inner = range(1, n - 1) if bottleneck else range(n)
    for r in range(1, len(inner) + 1):
        for drop in combinations(inner, r):
            sub = tuple(x for i, x in enumerate(kinds) if i not in drop)
            if sub and _search(sub, C, k, K, bottleneck, False) is not None:
                return True
    return False


def _pattern(kinds) -> str:
    return "+".join(kinds)


def _example(kinds, groups) -> str:
    return "+".join(x if g is None else f"{x}({g})" for x, g in zip(kinds, groups))


def _classify(kinds, mode: str, C: int, k: int, K: int, stats: dict, found: dict) -> None:
    """One word under one mode: count which stage removes it, or record it as a survivor."""
    bn = mode == "bottleneck"
    if bn and (len(kinds) < 3 or kinds[0] not in ("PW", "PWG") or kinds[-1] not in ("PW", "PWG")):
        return
    s = stats[mode]
    s["considered"] += 1
    if _search(kinds, C, k, K, bn, False) is None:
        s["field_removed"] += 1
        return
    groups = _search(kinds, C, k, K, bn, True)
    if groups is None:
        s["early_stop_removed"] += 1
    elif _redundant(kinds, C, k, K, bn):
        s["fraction_removed"] += 1
    else:
        s["survivors"] += 1
        found.setdefault(kinds, []).append((mode, _example(kinds, groups)))


def reduce_design_space(max_length: int = 6, C: int = 16, k: int = 3, K: int | None = None,
                        bottleneck: bool = True, alphabet=ALPHABET) -> Reduction:
    """Sec. 3.1 on every sequence of ``alphabet`` of length 1..max_length.

    Stages (counts in ``stats``): composition (drop words matching (.+?)\\1+);
    performance (keep a sequence when *some* non-trivial group numbers, with a
    channel shuffle after every grouped kernel, give the field (k, k, C) of the
    standard conv); efficiency (the early-stop: each kernel must grow the field
    and never exceed it; then case 2 read literally: no proper subset of the
    kernels may already reach it). Bottleneck consideration: sequences whose
    ends are pointwise are also tried as C -> K ... K -> C (K = C // 4 by
    default), the last kernel exempt from growing and both ends from removal.

    Findings (C=16, k=3, K=4, length <= 6, 5460 words): composition removes 104;
    of the 5356 left, 9 survive plainly and 8 with the bottleneck (PWG+DW+PWG in
    both): 16 patterns in 5 families (C=32 gives the same 16). The four paper designs are
    all there: DW+PW and GC+PWG (plain), PWG+DW+PWG (plain and bottleneck) and
    PW+DW+PW (bottleneck only: without it the last PW cannot grow the field, as
    the paper says). The paper's manual step drops the rest: GC+PW is GC+PWG
    with N=1; PW+DW, PW+GC, PWG+GC mirror the first two (same params when
    C == F); DW+PWG+PWG and PWG+PWG+DW move the DW of PWG+DW+PWG (same params
    without a bottleneck, more with it: Sec. 3.2 puts DW on the K channels); the
    bottleneck mixes (PW+DW+PWG, PWG+GC+PW, ...) are group-number special cases
    of PWG(M)+DW+PWG(N), with DW in the middle because it has the same field as
    any GC (Sec. 4.2). With a larger alphabet (e.g. CONV) or C, more survive.
    """
    max_length = int_field("max_length", max_length, 1, 8)
    C = int_field("C", C, 2)
    k = int_field("k", k, 2)
    K = int_field("K", C // 4 if K is None else K, 1, C)
    alphabet = tuple(Kernel(a).kind for a in alphabet)
    if any(a == "SHUFFLE" for a in alphabet):
        raise ValueError("alphabet must not contain SHUFFLE: channel permutation is implicit")
    letters = {a: chr(65 + i) for i, a in enumerate(alphabet)}
    stats = {"alphabet": list(alphabet), "C": C, "k": k, "K": K, "max_length": max_length,
             "total": sum(len(alphabet) ** n for n in range(1, max_length + 1)),
             "composition_removed": 0}
    modes = ("plain", "bottleneck") if bottleneck else ("plain",)
    for m in modes:
        stats[m] = {"considered": 0, "field_removed": 0, "early_stop_removed": 0,
                    "fraction_removed": 0, "survivors": 0}
    found: dict = {}
    for n in range(1, max_length + 1):
        for kinds in product(alphabet, repeat=n):
            if REPEATED.fullmatch("".join(letters[x] for x in kinds)):
                stats["composition_removed"] += 1
                continue
            for m in modes:
                _classify(kinds, m, C, k, K, stats, found)
    stats["after_composition"] = stats["total"] - stats["composition_removed"]
    out = []
    for kinds, hits in found.items():
        fam = tuple("GC" if x == "DW" else "PWG" if x == "PW" else x for x in kinds)
        out.append(Candidate(_pattern(kinds), tuple(m for m, _ in hits), tuple(e for _, e in hits),
                             _pattern(fam), PAPER_DESIGNS.get(_pattern(kinds), "")))
    out.sort(key=lambda c: (c.family, len(c.pattern), c.pattern))
    stats["survivors"] = len(out)
    stats["families"] = sorted({c.family for c in out})
    stats["paper_designs_found"] = sorted(c.paper for c in out if c.paper)
    return Reduction(out, stats)
