"""Sparse-kernel designs of seed 003 ("Penetrating the Fog"): the four final designs
as per-layer Choices, their parameter formulas (Sec. 3.3), and the information
field / design-space reduction (Sec. 3.1, in ``_field``).

A design replaces a standard conv C -> F (groups 1, kernel k x k) by a stack of
plain conv Layers; the first spatial layer keeps the original stride, padding
and dilation, the original bias goes on the last layer, and the channel shuffle
between grouped layers is free (a permutation, no Layer):

    dw_pw       DW(k) C->C, PW C->F                         k*k*C + C*F
    gc_pwg      GC(M) C->C, shuffle, PWG(N) C->F            k*k*C*C/M + C*F/N,  M*N <= C
    pw_dw_pw    PW C->K, DW(k) K->K, PW K->F                K*(C + F + k*k),    K = F//4
    pwg_dw_pwg  PWG(M) C->K, shuffle, DW(k), PWG(N) K->F    K*C/M + k*k*K + K*F/N, M*N <= K

Theorem 1: at a fixed full field the fewest parameters need M*N == C (gc_pwg),
M*N == K (pwg_dw_pwg). Group numbers left None are chosen per layer to minimise
parameters (so the Theorem-1 optimum); K None is max(1, F // 4).
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, fields
from functools import lru_cache
from math import gcd, sqrt

from ._divisors import divisors
from ._field import (
    ALPHABET,
    Candidate,
    Field,
    Kernel,
    Reduction,
    group_assignments,
    has_repeated_pattern,
    information_field,
    parse_kernels,
    reduce_design_space,
    trace,
)
from .checks import int_field, shown
from .choice import Choice, Part, register_choice
from .layer import Layer

__all__ = ["DESIGNS", "DWPW", "GCPWG", "PWDWPW", "PWGDWPWG", "admissible_designs",
           "information_field", "reduce_design_space", "trace", "parse_kernels", "Kernel",
           "Field", "Candidate", "Reduction", "ALPHABET", "group_assignments",
           "has_repeated_pattern", "standard_params", "dw_pw_params", "gc_pwg_params",
           "pw_dw_pw_params", "pwg_dw_pwg_params", "param_ratio", "dw_pw_ratio", "gc_pwg_ratio",
           "pw_dw_pw_ratio", "pwg_dw_pwg_ratio", "gc_pwg_best_N", "pwg_dw_pwg_best_M"]


# -- Sec. 3.3: parameters (no bias) and ratios to the standard conv ----------
def standard_params(C: int, F: int, k: int) -> int:
    return k * k * C * F


def dw_pw_params(C: int, F: int, k: int) -> int:
    return k * k * C + C * F


def gc_pwg_params(C: int, F: int, k: int, M: int, N: int) -> int:
    return k * k * C * (C // M) + F * (C // N)


def pw_dw_pw_params(C: int, F: int, k: int, K: int) -> int:
    return K * (C + F + k * k)


def pwg_dw_pwg_params(C: int, F: int, k: int, M: int, N: int, K: int) -> int:
    return K * (C // M) + k * k * K + F * (K // N)


def param_ratio(params: int, C: int, F: int, k: int) -> float:
    """Parameters after / before: the paper's parameter efficiency."""
    return params / standard_params(C, F, k)


def dw_pw_ratio(C, F, k) -> float:
    return 1 / F + 1 / (k * k)


def gc_pwg_ratio(C, F, k, M, N) -> float:
    return C / (M * F) + 1 / (k * k * N)


def pw_dw_pw_ratio(C, F, k, K) -> float:
    return K * (C + F + k * k) / (k * k * C * F)


def pwg_dw_pwg_ratio(C, F, k, M, N, K) -> float:
    return K / (k * k * M * F) + K / (C * F) + K / (k * k * N * C)


def gc_pwg_best_N(F, k) -> float:
    """With M*N = C the ratio is N/F + 1/(k*k*N), least at N = sqrt(F)/k."""
    return sqrt(F) / k


def pwg_dw_pwg_best_M(C, F, K) -> float:
    """With M*N = K the parameters are K*(C/M + F*M/K + k*k), least at M = sqrt(C*K/F)."""
    return sqrt(C * K / F)


# -- the Choices --------------------------------------------------------------
def _allowed(n: int) -> str:
    """The divisors of ``n`` for a message: all of them, or the first and last few of a long list."""
    d = list(divisors(n))
    return str(d) if len(d) <= 24 else f"{str(d[:10])[:-1]}, ..., {str(d[-2:])[1:]} ({len(d)} divisors)"


def _largest_at_most(values: tuple[int, ...], bound: int) -> int | None:
    """The largest of the ascending ``values`` that is <= ``bound`` (None: none is)."""
    i = bisect_right(values, bound)
    return values[i - 1] if i else None


def _cheapest_pairs(Ms: tuple[int, ...], Ns: tuple[int, ...], total: int) -> list[tuple[int, int]]:
    """Per N, (the largest M with M * N <= total, N): with M dividing the channels the cost falls as M
    grows, so the cheapest pair is among these, found without trying all |Ms| x |Ns| pairs."""
    return [(M, N) for N in Ns if (M := _largest_at_most(Ms, total // N)) is not None]


# Divisor pairs kept per design and bottleneck K. A layer of up to 10**5 channels has at most 128
# divisors, so real layers never reach it; one that claims 10**12 channels (an ONNX file can) has
# thousands, each pair a stack of layers to build and count.
MAX_PAIRS = 1024


def _pairs_within(Ms: tuple[int, ...], Ns: tuple[int, ...], total: int, exact: bool, layer: Layer) -> list:
    """(M, N) with M * N == total (``exact``) or <= total, M outer and N inner, both ascending; the work
    grows with the pairs found, not with |Ms| x |Ns| (refused past MAX_PAIRS**2 when not ``exact``)."""
    if exact:
        members = set(Ns)
        return [(M, total // M) for M in Ms if total % M == 0 and total // M in members]
    if len(Ms) * len(Ns) > MAX_PAIRS**2:
        raise ValueError(f"efficient_only=False would list up to {len(Ms) * len(Ns):,} designs of "
                         f"{_where(layer)} (over {MAX_PAIRS**2:,}); use efficient_only=True")
    return [(M, N) for M in Ms for N in Ns[:bisect_right(Ns, total // M)]]


def _cheapest(pairs: list, cost) -> list:
    """``pairs`` in their order, thinned to the MAX_PAIRS cheapest by ``cost`` (then by the pair)."""
    if len(pairs) <= MAX_PAIRS:
        return pairs
    kept = set(sorted(pairs, key=lambda p: (cost(p), p))[:MAX_PAIRS])
    return [p for p in pairs if p in kept]


def _where(layer: Layer) -> str:
    return f"layer {shown(layer.name)}"


def _need_divides(name: str, value: int, n: int, what: str, layer: Layer) -> None:
    if n % value:
        raise ValueError(f"{name} = {value} must divide {what} = {n}; allowed {_allowed(n)} "
                         f"(in {_where(layer)})")


def _need_full_field(M: int, N: int, channels: int, what: str, layer: Layer) -> None:
    if M * N > channels:
        raise ValueError(f"M*N = {M * N} is out of range [1, {channels}] ({what}): the channel "
                         f"information field would be partial (in {_where(layer)})")


def _spatial(layer: Layer, suffix: str, channels: int, groups: int) -> Layer:
    return Layer.conv2d(layer.name + suffix, channels, channels, layer.kernel, layer.input_size,
                        layer.stride, layer.padding, layer.dilation, groups)


def _point(layer: Layer, suffix: str, cin: int, cout: int, groups: int, size, last: bool) -> Layer:
    return Layer.conv2d(layer.name + suffix, cin, cout, 1, size, groups=groups,
                        bias=layer.bias and last)


class _Design(Choice):
    """Shared parts: applicability, serialisation, the kernel sequence of the field."""

    def _check_layer(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(f"design {self.kind!r} needs a Layer, got {type(layer).__name__}")
        sfx = f"design {self.kind!r} replaces a standard conv (in {_where(layer)})"
        if layer.op != "conv2d":
            raise ValueError(f"op = {layer.op!r} is not one of ['conv2d']: {sfx}")
        if layer.groups != 1:
            raise ValueError(f"groups = {layer.groups} is out of range [1, 1]: {sfx}")
        if layer.kernel == (1, 1):
            raise ValueError(f"kernel = (1, 1) has no spatial part (needs a side > 1): {sfx}")

    def _check_params(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                int_field(f.name, v, 1, None, f"design {self.kind!r}")

    def __post_init__(self):
        self._check_params()

    def to_dict(self) -> dict:
        return {"design": self.kind, **self._fields()}

    @property
    def label(self) -> str:
        args = ",".join(f"{f.name}={getattr(self, f.name) if getattr(self, f.name) is not None else 'auto'}"
                        for f in fields(self))
        return self.kind + (f"({args})" if args else "")

    def parts(self, layer: Layer) -> tuple[Part, ...]:
        return tuple(Part(p) for p in self.expand(layer))

    @classmethod
    def options(cls, layer: Layer, rule) -> tuple[Choice, ...]:
        """This design's share of ``admissible_designs(layer, rule.max_designs)`` when ``rule.designs``."""
        if getattr(rule, "dense_only", False) or not getattr(rule, "designs", False) or rule.max_designs == 0:
            return ()
        return tuple(d for d in _admissible(layer, rule.max_designs) if d.kind == cls.kind)

    def information_field(self, layer: Layer) -> Field:
        """Field of the expanded stack on this layer (kernel kh used for both axes)."""
        return information_field(self.kernels(layer), layer.in_channels, layer.kernel[0])


def _bottleneck(K, layer: Layer) -> int:
    return max(1, layer.out_channels // 4) if K is None else K


@register_choice
@dataclass(frozen=True)
class DWPW(_Design):
    """Depthwise k x k on C channels, then pointwise C -> F (MobileNet, Sec. 3.2)."""

    kind = "dw_pw"

    def validate(self, layer: Layer) -> None:
        self._check_layer(layer)

    def kernels(self, layer: Layer) -> tuple[Kernel, ...]:
        return (Kernel("DW"), Kernel("PW", out=layer.out_channels))

    def expand(self, layer: Layer) -> tuple[Layer, ...]:
        self.validate(layer)
        dw = _spatial(layer, ".dw", layer.in_channels, layer.in_channels)
        return dw, _point(layer, ".pw", layer.in_channels, layer.out_channels, 1, dw.output_size, True)


@register_choice
@dataclass(frozen=True)
class GCPWG(_Design):
    """Group conv GC(M) C -> C, channel shuffle, pointwise group conv PWG(N) C -> F."""

    M: int | None = None
    N: int | None = None

    kind = "gc_pwg"

    def validate(self, layer: Layer) -> None:
        self._check_layer(layer)
        C, F, w = layer.in_channels, layer.out_channels, _where(layer)
        if self.M is not None:
            int_field("M", self.M, 1, C, w)
            _need_divides("M", self.M, C, "in_channels", layer)
        if self.N is not None:
            int_field("N", self.N, 1, C, w)
            _need_divides("N", self.N, gcd(C, F), "gcd(in_channels, out_channels)", layer)
        if self.M is not None and self.N is not None:
            _need_full_field(self.M, self.N, C, f"C = {C}, the GC output channels", layer)

    def resolved(self, layer: Layer) -> GCPWG:
        """M and N filled in: the fewest parameters among the admissible values."""
        self.validate(layer)
        C, F, k2 = layer.in_channels, layer.out_channels, layer.kernel[0] * layer.kernel[1]
        Ms = divisors(C) if self.M is None else (self.M,)
        Ns = divisors(gcd(C, F)) if self.N is None else (self.N,)
        M, N = min(_cheapest_pairs(Ms, Ns, C), key=lambda p: (k2 * C * (C // p[0]) + F * (C // p[1]), p))
        return GCPWG(M, N)

    def kernels(self, layer: Layer) -> tuple[Kernel, ...]:
        r = self.resolved(layer)
        return (Kernel("GC", r.M), Kernel("SHUFFLE"), Kernel("PWG", r.N, out=layer.out_channels))

    def expand(self, layer: Layer) -> tuple[Layer, ...]:
        r = self.resolved(layer)
        gc = _spatial(layer, ".gc", layer.in_channels, r.M)
        return gc, _point(layer, ".pwg", layer.in_channels, layer.out_channels, r.N, gc.output_size, True)


@register_choice
@dataclass(frozen=True)
class PWDWPW(_Design):
    """Pointwise C -> K, depthwise k x k on K, pointwise K -> F (bottleneck K = F//4)."""

    K: int | None = None

    kind = "pw_dw_pw"

    def validate(self, layer: Layer) -> None:
        self._check_layer(layer)

    def kernels(self, layer: Layer) -> tuple[Kernel, ...]:
        K = _bottleneck(self.K, layer)
        return (Kernel("PW", out=K), Kernel("DW"), Kernel("PW", out=layer.out_channels))

    def expand(self, layer: Layer) -> tuple[Layer, ...]:
        self.validate(layer)
        K = _bottleneck(self.K, layer)
        pw1 = _point(layer, ".pw1", layer.in_channels, K, 1, layer.input_size, False)
        dw = _spatial(layer, ".dw", K, K)
        return pw1, dw, _point(layer, ".pw2", K, layer.out_channels, 1, dw.output_size, True)


@register_choice
@dataclass(frozen=True)
class PWGDWPWG(_Design):
    """PWG(M) C -> K, channel shuffle, depthwise k x k on K, PWG(N) K -> F (ShuffleNet-like)."""

    M: int | None = None
    N: int | None = None
    K: int | None = None

    kind = "pwg_dw_pwg"

    def validate(self, layer: Layer) -> None:
        self._check_layer(layer)
        C, F, K, w = layer.in_channels, layer.out_channels, _bottleneck(self.K, layer), _where(layer)
        if self.M is not None:
            int_field("M", self.M, 1, K, w)
            _need_divides("M", self.M, gcd(C, K), f"gcd(in_channels, K = {K})", layer)
        if self.N is not None:
            int_field("N", self.N, 1, K, w)
            _need_divides("N", self.N, gcd(K, F), f"gcd(K = {K}, out_channels)", layer)
        if self.M is not None and self.N is not None:
            _need_full_field(self.M, self.N, K, f"K = {K}, the bottleneck channels", layer)

    def resolved(self, layer: Layer) -> PWGDWPWG:
        self.validate(layer)
        C, F, K = layer.in_channels, layer.out_channels, _bottleneck(self.K, layer)
        Ms = divisors(gcd(C, K)) if self.M is None else (self.M,)
        Ns = divisors(gcd(K, F)) if self.N is None else (self.N,)
        M, N = min(_cheapest_pairs(Ms, Ns, K), key=lambda p: (K * (C // p[0]) + F * (K // p[1]), p))
        return PWGDWPWG(M, N, K)

    def kernels(self, layer: Layer) -> tuple[Kernel, ...]:
        r = self.resolved(layer)
        return (Kernel("PWG", r.M, out=r.K), Kernel("SHUFFLE"), Kernel("DW"),
                Kernel("PWG", r.N, out=layer.out_channels))

    def expand(self, layer: Layer) -> tuple[Layer, ...]:
        r = self.resolved(layer)
        C, F, K = layer.in_channels, layer.out_channels, r.K
        pwg1 = _point(layer, ".pwg1", C, K, r.M, layer.input_size, False)
        dw = _spatial(layer, ".dw", K, K)
        return pwg1, dw, _point(layer, ".pwg2", K, F, r.N, dw.output_size, True)


DESIGNS: dict[str, type[Choice]] = {"dw_pw": DWPW, "gc_pwg": GCPWG, "pw_dw_pw": PWDWPW,
                                    "pwg_dw_pwg": PWGDWPWG}


@lru_cache(maxsize=4096)
def _admissible(layer: Layer, max_options) -> tuple[Choice, ...]:
    return tuple(admissible_designs(layer, max_options))


def admissible_designs(layer: Layer, max_options: int | None = None, efficient_only: bool = True,
                       bottlenecks=(2, 4, 8)) -> list[Choice]:
    """Every admissible design for ``layer`` (full field, divisor group numbers), fewest
    parameters first, one per distinct layer stack; [] when no design applies.

    efficient_only keeps M*N == C (gc_pwg) and M*N == K (pwg_dw_pwg): by Theorem 1
    the others have more parameters and mults for the same field. GC(1), a full
    standard conv, is left out. K = F // r for r
    in ``bottlenecks``. ``max_options`` keeps that many: the cheapest of each design,
    then the others evenly spaced by parameters. Of each design (and K) the MAX_PAIRS cheapest
    group-number pairs are considered: real layers have fewer.
    """
    if max_options is not None:
        max_options = int_field("max_options", max_options, 1, None)
    try:
        DWPW().validate(layer)
    except ValueError:
        return []
    C, F, k2 = layer.in_channels, layer.out_channels, layer.kernel[0] * layer.kernel[1]
    Ks = sorted({max(1, F // int_field("bottleneck ratio", r, 1)) for r in bottlenecks})
    opts: list[Choice] = [DWPW()]
    gc = _pairs_within(divisors(C)[1:], divisors(gcd(C, F)), C, efficient_only, layer)   # GC(1) = CONV
    gc = _cheapest(sorted(gc, key=lambda p: (p[1], p[0])), lambda p: k2 * C * (C // p[0]) + F * (C // p[1]))
    opts += [GCPWG(M, N) for M, N in gc]
    for K in Ks:
        opts.append(PWDWPW(K))
        pwg = _pairs_within(divisors(gcd(C, K)), divisors(gcd(K, F)), K, efficient_only, layer)
        opts += [PWGDWPWG(M, N, K)
                 for M, N in _cheapest(pwg, lambda p, K=K: K * (C // p[0]) + F * (K // p[1]))]
    seen, out = set(), []
    for _params, choice in sorted(((sum(p.out_channels * p.group_in_channels * p.kernel[0] * p.kernel[1]
                                       for p in c.expand(layer)), c) for c in opts),
                                 key=lambda t: t[0]):
        sig = tuple((p.in_channels, p.out_channels, p.kernel, p.groups) for p in choice.expand(layer))
        if sig not in seen:           # e.g. GCPWG(C, 1) is DWPW, PWGDWPWG(1, 1, K) is PWDWPW(K)
            seen.add(sig)
            out.append(choice)
    if max_options is not None and len(out) > max_options:
        keep = []
        for c in out:                               # the cheapest of every design first
            if c.kind not in {x.kind for x in keep}:
                keep.append(c)
        keep = keep[:max_options]
        rest, want = [c for c in out if c not in keep], max_options - len(keep)
        keep += [rest[round(i * (len(rest) - 1) / max(1, want - 1))] for i in range(want)]
        out = [c for c in out if c in keep]
    return out
