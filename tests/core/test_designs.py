"""Sparse-kernel designs (seed 003): information field, design-space reduction,
the four final designs as Choices, Sec. 3.3 formulas and Theorem 1."""
from __future__ import annotations

import json
from math import gcd

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import Layer, Plan, choice_from_dict, count_network, count_ops
from structconv.core._field import REPEATED, format_kernels
from structconv.core.designs import (
    DESIGNS,
    DWPW,
    GCPWG,
    PWDWPW,
    PWGDWPWG,
    Kernel,
    admissible_designs,
    dw_pw_params,
    dw_pw_ratio,
    gc_pwg_best_N,
    gc_pwg_params,
    gc_pwg_ratio,
    group_assignments,
    has_repeated_pattern,
    information_field,
    param_ratio,
    parse_kernels,
    pw_dw_pw_params,
    pw_dw_pw_ratio,
    pwg_dw_pwg_best_M,
    pwg_dw_pwg_params,
    pwg_dw_pwg_ratio,
    reduce_design_space,
    standard_params,
    trace,
)
from structconv.core.layer import Network
from tests.support.core_reference import dense_conv_counted

FAST = settings(deadline=None)     # example count from the conftest profile


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


# -- slow, obviously-correct references ---------------------------------------
def ref_field(kernels, C, k=3):
    """Channels: boolean connectivity matrices multiplied out; spatial: the set of
    input positions output position 0 reads, propagated back kernel by kernel."""
    A, last = np.eye(C, dtype=int), 1
    for kern in kernels:
        n = A.shape[0]
        if kern.kind == "SHUFFLE":
            g = kern.groups or last
            A = A[np.arange(n).reshape(g, n // g).T.ravel()]
            continue
        out = n if kern.out is None or kern.kind == "DW" else kern.out
        g = {"CONV": 1, "PW": 1, "DW": n}.get(kern.kind, kern.groups)
        conn = np.zeros((out, n), dtype=int)
        for j in range(out):
            gi = j // (out // g)
            conn[j, gi * (n // g):(gi + 1) * (n // g)] = 1
        A = ((conn @ A) > 0).astype(int)
        last = last if kern.kind == "DW" else g
    pos = {0}
    for kern in reversed(kernels):
        if kern.kind == "SHUFFLE":
            continue
        taps = range(kern.k or k) if kern.kind in ("CONV", "GC", "DW") else range(1)
        pos = {p * kern.stride + t * kern.dilation for p in pos for t in taps}
    rf = max(pos) - min(pos) + 1
    return (rf, rf, int(A.sum(axis=1).min())), A


@st.composite
def kernel_sequences(draw, C=12):
    """Random sequences over every kernel kind with valid group numbers (channels kept)."""
    n = draw(st.integers(1, 5))
    seq = []
    for _ in range(n):
        kind = draw(st.sampled_from(["CONV", "GC", "DW", "PW", "PWG", "SHUFFLE"]))
        groups = draw(st.sampled_from(divisors(C))) if kind in ("GC", "PWG", "SHUFFLE") else None
        if kind in ("CONV", "GC", "DW"):
            seq.append(Kernel(kind, groups, k=draw(st.sampled_from([1, 3, 5])),
                              stride=draw(st.integers(1, 2)), dilation=draw(st.integers(1, 2))))
        else:
            seq.append(Kernel(kind, groups))
    return seq


@FAST
@given(kernel_sequences())
def test_field_matches_matrix_reference(seq):
    rows = trace(seq, 12)
    want, A = ref_field(seq, 12)
    assert rows[-1][1] == want
    bits = rows[-1][2]
    assert [[(b >> i) & 1 for i in range(12)] for b in bits] == A.tolist()


def test_single_kernels():
    assert information_field("CONV", 16) == (3, 3, 16)
    assert information_field("CONV(k=5)", 16) == (5, 5, 16)
    assert information_field("DW", 16) == (3, 3, 1)
    assert information_field("PW", 16) == (1, 1, 16)
    assert information_field("GC(4)", 16) == (3, 3, 4)
    assert information_field("PWG(8)", 16) == (1, 1, 2)
    assert information_field("DW(stride=2)+DW", 8) == (7, 7, 1)
    assert information_field("DW(dilation=2)", 8) == (5, 5, 1)
    assert information_field("DW+DW", 8, k=5) == (9, 9, 1)


@pytest.mark.parametrize("C", [8, 12, 16, 24, 36])
def test_gc_shuffle_pwg_full_iff_mn_le_c(C):
    for M in divisors(C):
        for N in divisors(C):
            f = information_field(f"GC({M})+SHUFFLE+PWG({N})", C)
            assert (f == (3, 3, C)) == (M * N <= C), (M, N, f)
            assert information_field(f"GC({M})+PWG({N})", C, shuffle=True) == f
            if 1 < M and 1 < N:        # without the permutation the field stays partial
                assert information_field(f"GC({M})+PWG({N})", C).c < C


def test_parse_and_format():
    ks = parse_kernels("gconv(4) + s + PWGConv(4, out=32)")
    assert [k.kind for k in ks] == ["GC", "SHUFFLE", "PWG"] and ks[2].out == 32
    assert format_kernels(ks) == "GC(4)+SHUFFLE+PWG(4,out=32)"
    assert parse_kernels("GC+PWG") == (Kernel("GC"), Kernel("PWG"))
    assert len(list(group_assignments("GC+PWG", 16))) == 9        # {2, 4, 8} x {2, 4, 8}
    for bad, field in [("FOO", "kind"), ("GC(x)", "groups"), ("DW(4)", "groups"),
                       ("PW(k=3)", "k"), ("GC(2,bogus=1)", "bogus"), ("", "empty")]:
        with pytest.raises(ValueError, match=field):
            parse_kernels(bad)
    with pytest.raises(ValueError, match="group number"):
        information_field("GC+PWG", 16)
    with pytest.raises(ValueError, match="must divide"):
        information_field("GC(3)", 16)


# -- Sec. 3.1 reduction --------------------------------------------------------
def test_repeated_pattern_regex():
    assert REPEATED.pattern == r"(.+?)\1+"
    for word in ["AAAAAA", "ABABAB", "ABCABC", "AA", ["GC", "PWG", "GC", "PWG"]]:
        assert has_repeated_pattern(word)
    for word in ["ABCAB", "A", "AB", "ABA", "AAB", ["DW", "PW"], ["PW", "DW", "PW"]]:
        assert not has_repeated_pattern(word)


def test_reduction_finds_the_paper_designs():
    r = reduce_design_space()
    assert isinstance(r, list) and r.stats["total"] == 4 + 16 + 64 + 256 + 1024 + 4096
    # periodic words of length n over 4 letters: 4^n minus the primitive ones (Moebius)
    primitive = {1: 4, 2: 12, 3: 60, 4: 240, 5: 1020, 6: 4020}
    assert r.stats["composition_removed"] == 5460 - sum(primitive.values())
    plain = r.stats["plain"]
    assert plain["considered"] == plain["field_removed"] + plain["early_stop_removed"] + \
        plain["fraction_removed"] + plain["survivors"]
    assert r.stats["paper_designs_found"] == ["dw_pw", "gc_pwg", "pw_dw_pw", "pwg_dw_pwg"]
    by = {c.pattern: c for c in r}
    assert set(by) == {"DW+PW", "GC+PW", "GC+PWG", "PW+DW", "PW+GC", "PWG+GC", "DW+PWG+PWG",
                       "PWG+PWG+DW", "PWG+DW+PWG", "PW+DW+PW", "PW+DW+PWG", "PW+GC+PW",
                       "PW+GC+PWG", "PWG+DW+PW", "PWG+GC+PW", "PWG+GC+PWG"}
    assert by["PW+DW+PW"].modes == ("bottleneck",)           # needs the bottleneck
    assert by["PWG+DW+PWG"].modes == ("plain", "bottleneck")
    assert by["DW+PW"].family == by["GC+PWG"].family == "GC+PWG"
    json.dumps(r.to_dict())
    for c in r:                                               # every example really is full
        if "plain" in c.modes:
            assert information_field(c.examples[0], 16, shuffle=True) == (3, 3, 16)


def test_reduction_without_bottleneck_and_rules():
    r = reduce_design_space(max_length=4, bottleneck=False)
    assert "PW+DW+PW" not in r.patterns and "PWG+DW+PWG" in r.patterns
    assert "PWG+PW+DW" not in r.patterns          # PW+DW, a fraction, already reaches the field
    assert "DW+DW+PW" not in r.patterns           # spatial field 5 > 3
    assert reduce_design_space(max_length=1).stats["survivors"] == 0
    with pytest.raises(ValueError, match="max_length"):
        reduce_design_space(max_length=0)


# -- the Choices ----------------------------------------------------------------
@st.composite
def layers(draw):
    C = draw(st.sampled_from([4, 6, 8, 12, 16, 24, 32, 48, 64]))
    F = draw(st.sampled_from([4, 8, 12, 16, 32, 64, 96]))
    k = draw(st.sampled_from([3, 5]))
    s = draw(st.integers(1, 2))
    d = draw(st.integers(1, 2))
    H = draw(st.integers(d * (k - 1) + 1, 20))
    return Layer.conv2d("L", C, F, k, (H, H + 1), stride=s, padding=draw(st.integers(0, 2)),
                        dilation=d, bias=draw(st.booleans()))


def no_bias(layer):
    return Layer.conv2d(layer.name, layer.in_channels, layer.out_channels, layer.kernel,
                        layer.input_size, layer.stride, layer.padding, layer.dilation)


def formula(choice, layer):
    C, F, k = layer.in_channels, layer.out_channels, layer.kernel[0]
    r = choice.resolved(layer) if hasattr(choice, "resolved") else choice
    if isinstance(r, DWPW):
        return dw_pw_params(C, F, k)
    if isinstance(r, GCPWG):
        return gc_pwg_params(C, F, k, r.M, r.N)
    if isinstance(r, PWDWPW):
        return pw_dw_pw_params(C, F, k, r.K if r.K else max(1, F // 4))
    return pwg_dw_pwg_params(C, F, k, r.M, r.N, r.K)


@FAST
@given(layers())
def test_params_formula_equals_count_ops(layer):
    opts = admissible_designs(layer, efficient_only=False) + [GCPWG(), PWDWPW(), PWGDWPWG()]
    for choice in opts:
        plain = no_bias(layer)
        assert count_ops(plain, choice).params == formula(choice, layer), choice
        assert count_ops(layer, choice).params == formula(choice, layer) + layer.bias * layer.out_channels
        assert information_field(choice.kernels(layer), layer.in_channels, layer.kernel[0]) == \
            (layer.kernel[0],) * 2 + (layer.in_channels,)


@FAST
@given(layers())
def test_expand_stacks(layer):
    for choice in admissible_designs(layer) + [GCPWG(), PWGDWPWG()]:
        parts = choice.expand(layer)
        spatial = [p for p in parts if p.kernel != (1, 1)]
        assert len(spatial) == 1 and spatial[0].kernel == layer.kernel
        assert (spatial[0].stride, spatial[0].padding, spatial[0].dilation) == \
            (layer.stride, layer.padding, layer.dilation)
        assert parts[0].in_channels == layer.in_channels and parts[-1].out_channels == layer.out_channels
        assert parts[-1].output_size == layer.output_size
        assert [p.bias for p in parts] == [False] * (len(parts) - 1) + [layer.bias]
        for a, b in zip(parts, parts[1:]):
            assert a.out_channels == b.in_channels and a.output_size == b.input_size
        suffixes = {"dw_pw": [".dw", ".pw"], "gc_pwg": [".gc", ".pwg"],
                    "pw_dw_pw": [".pw1", ".dw", ".pw2"], "pwg_dw_pwg": [".pwg1", ".dw", ".pwg2"]}
        assert [p.name for p in parts] == [layer.name + s for s in suffixes[choice.kind]]
        convs = [k for k in choice.kernels(layer) if k.kind != "SHUFFLE"]   # the field's kernels
        assert [p.groups for p in parts] == [p.in_channels if k.kind == "DW" else (k.groups or 1)
                                             for p, k in zip(parts, convs)]


@st.composite
def small_layers(draw):
    """Layers small enough to run the expanded stack literally, value by value."""
    C = draw(st.sampled_from([4, 6, 8, 12]))
    F = draw(st.sampled_from([4, 6, 8, 12]))
    k = draw(st.sampled_from([3, 5]))
    s = draw(st.integers(1, 2))
    d = draw(st.integers(1, 2))
    H = draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 4))
    return Layer.conv2d("L", C, F, k, (H, H + 1), stride=s, padding=draw(st.integers(0, 2)),
                        dilation=d, bias=draw(st.booleans())), draw(st.integers(0, 2**31))


@settings(deadline=None, max_examples=30)
@given(small_layers())
def test_count_ops_of_a_design_equals_running_its_stack(case):
    """Each expanded part is run as a literal, instrumented dense convolution on the previous
    part's output (the channel shuffle moves values, no arithmetic); the adds and mults it
    performs are count_ops' numbers, and the last output has the layer's shape."""
    layer, seed = case
    rng = np.random.default_rng(seed)
    for choice in admissible_designs(layer) + [GCPWG(), PWDWPW(), PWGDWPWG()]:
        x = rng.normal(size=(layer.in_channels, *layer.input_size))
        adds = mults = params = 0
        for p in choice.expand(layer):
            W = rng.normal(size=(p.out_channels, p.group_in_channels, *p.kernel))
            bias = rng.normal(size=p.out_channels) if p.bias else None
            x, a, m = dense_conv_counted(x, W, bias, p)
            adds, mults, params = adds + a, mults + m, params + W.size + (0 if bias is None else bias.size)
        assert x.shape == (layer.out_channels, *layer.output_size), choice
        ops = count_ops(layer, choice)
        assert (ops.mults, ops.adds, ops.sumpool_adds, ops.params) == (mults, adds, 0, params), choice


@FAST
@given(st.sampled_from([4, 8, 12, 16, 24, 32, 36, 48, 64]), st.integers(1, 96), st.sampled_from([1, 3, 5]))
def test_ratios(C, F, k):
    std = standard_params(C, F, k)
    assert param_ratio(dw_pw_params(C, F, k), C, F, k) == pytest.approx(dw_pw_ratio(C, F, k))
    for M in divisors(C):
        for N in divisors(gcd(C, F)):
            assert gc_pwg_params(C, F, k, M, N) / std == pytest.approx(gc_pwg_ratio(C, F, k, M, N))
    for K in divisors(C):
        assert pw_dw_pw_params(C, F, k, K) / std == pytest.approx(pw_dw_pw_ratio(C, F, k, K))
        for M in divisors(K):
            for N in divisors(gcd(K, F)):
                assert pwg_dw_pwg_params(C, F, k, M, N, K) / std == \
                    pytest.approx(pwg_dw_pwg_ratio(C, F, k, M, N, K))


def test_continuous_optima():
    grid = np.linspace(0.2, 40, 20000)
    F, k, C, K = 128, 3, 64, 32
    assert grid[np.argmin(grid / F + 1 / (k * k * grid))] == pytest.approx(gc_pwg_best_N(F, k), rel=1e-2)
    assert grid[np.argmin(C / grid + F * grid / K)] == pytest.approx(pwg_dw_pwg_best_M(C, F, K), rel=1e-2)


def _admissible(choice, layer):
    try:
        choice.validate(layer)
        return True
    except ValueError:
        return False


@FAST
@given(st.integers(2, 96), st.integers(1, 128), st.sampled_from([3, 5]))
def test_theorem1_gc_pwg(C, F, k):
    layer = Layer.conv2d("L", C, F, k, (8, 8))
    params = {(M, N): count_ops(layer, GCPWG(M, N)).params
              for M in range(1, C + 1) for N in range(1, C + 1) if _admissible(GCPWG(M, N), layer)}
    assert all(information_field(GCPWG(M, N).kernels(layer), C, k) == (k, k, C) for M, N in params)
    best = min(params.values())
    assert {M * N for (M, N), p in params.items() if p == best} == {C}
    assert count_ops(layer, GCPWG()).params == best              # auto picks the optimum


@FAST
@given(st.integers(1, 24), st.integers(1, 4), st.integers(1, 96), st.sampled_from([3, 5]))
def test_theorem1_pwg_dw_pwg(K, a, F, k):
    C = K * a                                   # K | C, so M = K / N is always available
    layer = Layer.conv2d("L", C, F, k, (8, 8))
    params = {(M, N): count_ops(layer, PWGDWPWG(M, N, K)).params
              for M in range(1, K + 1) for N in range(1, K + 1) if _admissible(PWGDWPWG(M, N, K), layer)}
    assert all(information_field(PWGDWPWG(M, N, K).kernels(layer), C, k) == (k, k, C) for M, N in params)
    best = min(params.values())
    assert {M * N for (M, N), p in params.items() if p == best} == {K}


@pytest.mark.parametrize("C", [16, 24, 32, 48])
def test_final_designs_field_and_minimality(C):
    full = (3, 3, C)
    K = C // 4
    seqs = {"dw_pw": ["DW", "PW"],
            "gc_pwg": ["GC(2)", "SHUFFLE", f"PWG({C // 2})"],
            "pwg_dw_pwg": [f"PWG(2,out={K})", "SHUFFLE", "DW", f"PWG({K // 2},out={C})"]}
    for name, seq in seqs.items():
        assert information_field("+".join(seq), C) == full, name
        for i, kern in enumerate(seq):
            if kern == "SHUFFLE":
                continue
            rest = seq[:i] + seq[i + 1:]
            try:
                f = information_field("+".join(rest), C)
            except ValueError:
                continue                                  # the channel counts no longer fit
            assert f != full, (name, rest)
    # M*N > C (or > K) breaks the field
    assert information_field(f"GC(4)+SHUFFLE+PWG({C // 2})", C) != full
    assert information_field(f"PWG(2,out={K})+SHUFFLE+DW+PWG({K},out={C})", C) != full
    # PW+DW+PW: dropping a PW keeps the field; only the bottleneck justifies it (Sec. 3.2)
    assert information_field(f"PW(out={K})+DW+PW(out={C})", C) == full
    assert information_field(f"PW(out={K})+DW", C) == full


def test_validation_messages():
    L = Layer.conv2d("conv1", 64, 128, 3, (16, 16))
    cases = [(GCPWG(3, 1), "M = 3 must divide in_channels = 64"),
             (GCPWG(1, 3), "N = 3 must divide"),
             (GCPWG(16, 8), r"M\*N = 128 is out of range \[1, 64\]"),
             (GCPWG(128, 1), r"M = 128 is out of range \[1, 64\]"),
             (PWGDWPWG(8, 8, 32), r"M\*N = 64 is out of range \[1, 32\]"),
             (PWGDWPWG(3, 1, 32), "M = 3 must divide"),
             (PWGDWPWG(1, 3, 33), "N = 3 must divide")]
    for choice, msg in cases:
        with pytest.raises(ValueError, match=msg):
            count_ops(L, choice)
    for bad in [lambda: PWDWPW(0), lambda: GCPWG(M=0), lambda: PWGDWPWG(K=True), lambda: GCPWG(M=2.5)]:
        with pytest.raises(ValueError, match="must be an integer|out of range"):
            bad()
    for layer, field in [(Layer.linear("fc", 64, 10), "op"),
                         (Layer.conv2d("dw", 64, 64, 3, (8, 8), groups=64), "groups"),
                         (Layer.conv2d("pw", 64, 64, 1, (8, 8)), "kernel")]:
        for cls in DESIGNS.values():
            with pytest.raises(ValueError, match=f"{field} = .*'{layer.name}'"):
                cls().validate(layer)
        assert admissible_designs(layer) == []


def test_serialization_and_plans():
    assert set(DESIGNS) == {"dw_pw", "gc_pwg", "pw_dw_pw", "pwg_dw_pwg"}
    for key, cls in DESIGNS.items():
        assert cls.kind == key
    L = Layer.conv2d("c1", 32, 64, 3, (16, 16), padding=1)
    for choice in [DWPW(), GCPWG(4, 8), GCPWG(), PWDWPW(), PWDWPW(8), PWGDWPWG(2, 4, 8), PWGDWPWG()]:
        d = choice.to_dict()
        assert d["design"] == choice.kind and choice_from_dict(json.loads(json.dumps(d))) == choice
        assert choice.label.startswith(choice.kind)
    assert GCPWG(4, 8).label == "gc_pwg(M=4,N=8)" and DWPW().label == "dw_pw"
    assert choice_from_dict("pwg_dw_pwg") == PWGDWPWG()
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['Q'\] for 'gc_pwg'; allowed: M, N"):
        choice_from_dict({"design": "gc_pwg", "Q": 1})
    net = Network("n", (32, 16, 16), (L, Layer.linear("fc", 64, 10)))
    plan = Plan({"c1": {"design": "gc_pwg", "M": 4, "N": 8}})
    cost = count_network(net, plan)
    assert cost.layers[0].structured.params == gc_pwg_params(32, 64, 3, 4, 8)


def test_admissible_designs_options():
    L = Layer.conv2d("c", 64, 128, 3, (28, 28), stride=2, padding=1)
    opts = admissible_designs(L)
    params = [count_ops(L, c).params for c in opts]
    assert params == sorted(params) and len(opts) > 10
    sigs = {tuple((p.in_channels, p.out_channels, p.groups) for p in c.expand(L)) for c in opts}
    assert len(sigs) == len(opts)
    assert DWPW() in opts and GCPWG(64, 1) not in opts and GCPWG(1, 64) not in opts
    for c in opts:
        assert c.information_field(L) == (3, 3, 64)
        if isinstance(c, GCPWG):
            assert c.M * c.N == 64
        if isinstance(c, PWGDWPWG):
            assert c.M * c.N == c.K
    assert len(admissible_designs(L, efficient_only=False)) > len(opts)
    for m in (4, 6, 9):
        few = admissible_designs(L, max_options=m)
        assert len(few) == m and few[0] == opts[0] and all(c in opts for c in few)
        assert {c.kind for c in few} == set(DESIGNS)       # every design represented
        assert [count_ops(L, c).params for c in few] == sorted(count_ops(L, c).params for c in few)
    assert admissible_designs(L, max_options=1) == opts[:1]
    with pytest.raises(ValueError, match="max_options"):
        admissible_designs(L, max_options=0)
