"""Compile one structured layer's sum-pool work into the SPU's micro-op schedule.

This is the unit's control, written out op by op (independently of the simulator's closed
forms): which window sums the MAC array reads, and the adds that make them under the
configured scheme (``structconv.sim.SCHEMES``: what each scheme is, and its pipeline depth) --
- a tree scheme: each needed output sums its kc x a x b window with a balanced adder tree;
- else a channel pass (each of the c channel windows of every input position the later
  passes touch), a row pass (a rows, per needed output row and touched column) and a column
  pass (b columns, per needed output), each a balanced tree -- or, for a pass the scheme
  runs, each line by running sums (first window a tree, then one add and one subtract per
  step along a dilation chain, needed or not) when that is fewer adds than summing the
  line's windows directly (separable runs none, sliding all three).
A value a pass needs that no earlier pass made is computed on demand, so a schedule that
needs more adds than the simulator counts shows up as a mismatch, not as a silent gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from structconv.core import Layer, Structure, shown
from structconv.sim import SCHEMES

from .verilog import MAX_AW


@dataclass(frozen=True)
class Program:
    """A layer's SPU schedule: ops (sub, dst, a, b), hand-off addresses, the line-buffer
    image (inputs; every other word 0), the pipeline depth, and the expected outputs."""

    ops: list
    outputs: list
    image: np.ndarray
    depth: int
    expected: np.ndarray


def _needed(length: int, n_out: int, s: int, d: int, taps: int) -> list[bool]:
    need = [False] * length
    for i in range(n_out):
        for j in range(taps):
            if s * i + d * j < length:
                need[s * i + d * j] = True
    return need


class _Builder:
    """Allocates a fresh line-buffer word per op (single assignment: no write-after-read hazards)."""

    def __init__(self, first_free: int):
        self.next = first_free
        self.ops = []

    def op(self, a: int, b: int, sub: int = 0) -> int:
        if self.next >= 2**MAX_AW:
            raise ValueError(f"the schedule needs more than 2**{MAX_AW} line-buffer words, the largest line "
                             "buffer the unit is built with (structconv.rtl.verilog.MAX_AW)")
        d = self.next
        self.next += 1
        self.ops.append((sub, d, a, b))
        return d

    def tree(self, addrs: list) -> int:
        while len(addrs) > 1:
            nxt = [self.op(addrs[i], addrs[i + 1]) for i in range(0, len(addrs) - 1, 2)]
            addrs = nxt + ([addrs[-1]] if len(addrs) % 2 else [])
        return addrs[0]


def _line(bld: _Builder, value, need: list, d: int, win: int, running: bool) -> dict:
    """Window sums along one line at the needed positions: {position: address}. ``value(p)``
    is the address of the line's element p (computed on demand by the caller)."""
    out = {}
    if win == 1:
        return {y: value(y) for y, n in enumerate(need) if n}
    if not running:
        return {y: bld.tree([value(y + d * t) for t in range(win)]) for y, n in enumerate(need) if n}
    for r in range(d):
        chain = [y for y in range(r, len(need), d) if need[y]]
        if not chain:
            continue
        lo, hi = chain[0], chain[-1]
        s = bld.tree([value(lo + d * t) for t in range(win)])
        out[lo] = s
        for y in range(lo + d, hi + 1, d):
            s = bld.op(bld.op(s, value(y + d * (win - 1))), value(y - d), sub=1)
            if need[y]:
                out[y] = s
    return out


def _run_cost(need: list, d: int, win: int) -> int:
    total = 0
    for r in range(d):
        chain = [y for y in range(r, len(need), d) if need[y]]
        if chain:
            total += (win - 1) + 2 * ((chain[-1] - chain[0]) // d)
    return total


class _Group:
    """One group's passes, memoised so each partial sum is made once, when first needed."""

    def __init__(self, bld, base, x, layer, s, scheme):
        self.bld, self.base, self.tree = bld, base, scheme.tree
        self.cg, self.hp, self.wp = x.shape
        self.kc, self.a, self.b = s.window(layer)
        self.c = s.c
        self.dh, self.dw = layer.dilation
        (ho, wo), (sh, sw) = layer.output_size, layer.stride
        self.need_h = _needed(self.hp - self.dh * (self.a - 1), ho, sh, self.dh, s.nh)
        self.need_w = _needed(self.wp - self.dw * (self.b - 1), wo, sw, self.dw, s.nw)
        self.run_ch = scheme.runs("channel") and (self.kc - 1) + 2 * (self.c - 1) < self.c * (self.kc - 1)
        hn, wn = sum(self.need_h), sum(self.need_w)
        self.run_h = scheme.runs("row") and _run_cost(self.need_h, self.dh, self.a) < hn * (self.a - 1)
        self.run_w = scheme.runs("column") and _run_cost(self.need_w, self.dw, self.b) < wn * (self.b - 1)
        self.ch, self.rows = {}, {}

    def inp(self, k, y, x):
        return self.base + (k * self.hp + y) * self.wp + x

    def channel(self, j, y, x):
        if (y, x) not in self.ch:
            need = [True] * self.c
            self.ch[(y, x)] = _line(self.bld, partial(self.inp, y=y, x=x), need, 1, self.kc, self.run_ch)
        return self.ch[(y, x)][j]

    def row(self, j, y, x):
        if (j, x) not in self.rows:
            self.rows[(j, x)] = _line(self.bld, lambda p: self.channel(j, p, x), self.need_h, self.dh, self.a,
                                      self.run_h)
        line = self.rows[(j, x)]
        if y not in line:                               # a column pass asks for an unneeded row
            line[y] = self.bld.tree([self.channel(j, y + self.dh * t, x) for t in range(self.a)])
        return line[y]

    def outputs(self) -> list:
        ys = [y for y, n in enumerate(self.need_h) if n]
        xs = [x for x, n in enumerate(self.need_w) if n]
        if self.tree:
            return [self.bld.tree([self.inp(j + k, y + self.dh * t, x + self.dw * u) for k in range(self.kc)
                                   for t in range(self.a) for u in range(self.b)])
                    for j in range(self.c) for y in ys for x in xs]
        out = []
        for j in range(self.c):
            for y in ys:
                line = _line(self.bld, partial(self.row, j, y), self.need_w, self.dw, self.b, self.run_w)
                out += [line[x] for x in xs]
        return out


def reference_sums(x: np.ndarray, layer: Layer, s: Structure) -> np.ndarray:
    """The needed sum-pool outputs of one group's padded input ``x`` (Cg x Hp x Wp), numpy."""
    kc, a, b = s.window(layer)
    dh, dw = layer.dilation
    (ho, wo), (sh, sw) = layer.output_size, layer.stride
    cg, hp, wp = x.shape
    ys = [y for y, n in enumerate(_needed(hp - dh * (a - 1), ho, sh, dh, s.nh)) if n]
    xs = [v for v, n in enumerate(_needed(wp - dw * (b - 1), wo, sw, dw, s.nw)) if n]
    return np.array([x[j:j + kc, y:y + dh * (a - 1) + 1:dh, v:v + dw * (b - 1) + 1:dw].sum()
                     for j in range(s.c) for y in ys for v in xs], dtype=np.int64)


def compile_sumpool(layer: Layer, s: Structure, scheme: str, seed: int = 0) -> Program:
    """The SPU schedule of ``layer`` under structure ``s`` (all groups, in turn) and sum-pool
    scheme ``scheme`` (a name in SCHEMES), with random small integer inputs (zero padding) and
    the outputs numpy computes from them."""
    s.validate(layer)
    sc = SCHEMES.get(scheme)
    rng = np.random.default_rng(seed)
    (h, w), (ph, pw) = layer.input_size, layer.padding
    cg, groups = layer.group_in_channels, layer.groups
    hp, wp = h + 2 * ph, w + 2 * pw
    if groups * cg * hp * wp > 2**MAX_AW:      # the line buffer holds the whole padded input
        raise ValueError(f"layer {shown(layer.name)}: its padded input of {groups * cg * hp * wp:,} words "
                         f"does not fit the largest line buffer the unit is built with (2**{MAX_AW} words)")
    xs = np.zeros((groups, cg, hp, wp), np.int64)
    xs[:, :, ph:ph + h, pw:pw + w] = rng.integers(-8, 9, (groups, cg, h, w))
    bld = _Builder(xs.size)
    outputs, expected = [], []
    for g in range(groups):
        outputs += _Group(bld, g * cg * hp * wp, xs[g], layer, s, sc).outputs()
        expected.append(reference_sums(xs[g], layer, s))
    depth = sc.depth(*s.window(layer))
    image = np.zeros(bld.next, np.int64)
    image[:xs.size] = xs.reshape(-1)
    return Program(bld.ops, outputs, image, depth, np.concatenate(expected))
