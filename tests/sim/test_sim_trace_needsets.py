"""The need-set counts without marks (products of row and column sets, structconv/sim/_kernels.py
``union_pair``) against plain counting: Python sets of the addresses the windows touch, and the
kernels' own stamp-array marking.

Run ``python -m tests.sim.test_sim_trace_needsets`` to print ResNet-50's coverage and speed.
"""
from __future__ import annotations

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from structconv.core import Layer
from structconv.sim._tier import twin
from structconv.sim.mapping import dense_job

K = twin()  # the Numba-compiled kernels (the interpreted tier is the same source: test_sim_tiers.py)


@st.composite
def layers(draw):
    kh, kw = draw(st.sampled_from((1, 2, 3, 5))), draw(st.sampled_from((1, 2, 3, 5)))
    s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p = draw(st.integers(0, min(kh, kw) // 2 + 1))
    h = draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), 13))
    w = draw(st.integers(max(1, d * (kw - 1) + 1 - 2 * p), 13))
    return Layer.conv2d("l", draw(st.integers(1, 6)), 4, (kh, kw), (h, w), stride=s, padding=p, dilation=d)


def _rect(draw, M, Kk):
    p0 = draw(st.integers(0, M - 1))
    j0 = draw(st.integers(0, Kk - 1))
    return (p0, draw(st.integers(p0 + 1, M)), j0, draw(st.integers(j0 + 1, Kk)))


def plain_need(layer, r):
    """The input elements (channel, y, x) rectangle r = (p0, p1, j0, j1) of the ifmap operand
    reads, as a Python set: every pixel, every window element, padding skipped."""
    (H, W), (ph, pw) = layer.input_size, layer.padding
    (_, kw), (sh, sw), (dh, dw) = layer.kernel, layer.stride, layer.dilation
    cg, Wo = layer.group_in_channels, layer.output_size[1]
    out = set()
    for p in range(r[0], r[1]):
        oh, ow = divmod(p, Wo)
        for j in range(r[2], r[3]):
            o, ch = divmod(j, cg)
            kr, kc = divmod(o, kw)
            y, x = oh * sh + kr * dh - ph, ow * sw + kc * dw - pw
            if 0 <= y < H and 0 <= x < W:
                out.add((ch, y, x))
    return out


@settings(max_examples=300, deadline=None)
@given(st.data(), layers())
def test_product_counts_equal_the_plain_sets(data, layer):
    """|A|, |B| and |A & B| of two random rectangles (any pixels, any window elements): the
    product count (no stamp array) equals Python sets of the touched input elements, and so does
    the stamp-array marking it replaces."""
    job = K.as_plain(dense_job(layer))[0]
    M, Kk = int(job[K.J_M]), int(job[K.J_K])
    a = tuple(np.int64(v) for v in _rect(data.draw, M, Kk))
    b = tuple(np.int64(v) for v in _rect(data.draw, M, Kk))
    A, B = plain_need(layer, a), plain_need(layer, b)
    want = (len(A), len(B), len(A & B))
    sid = np.zeros(1, np.int64)
    assert K.rect_pair(job, a, b, np.zeros(0, np.int32), sid) == want                  # products only
    assert K.rect_pair(job, a, b, np.full(int(job[K.J_H] * job[K.J_W]), -1, np.int32), sid) == want


@settings(max_examples=100, deadline=None)
@given(layers(), st.sampled_from(("os", "ws", "is")), st.integers(1, 9), st.integers(1, 9), st.integers(0, 1),
       st.sampled_from((0, 8, 64, 512)))
def test_fold_loads_equal_the_plain_replay(layer, df, R, C, order, half):
    """Every fold's ifmap loads (the footprint forced not to fit: need set minus the previous
    fold's when that fits ``half``), as the kernels count them (products, marks and the is memo
    mixed as their cost rule picks), equal a replay on Python sets."""
    job = K.as_plain(dense_job(layer))[0]
    dfi = K.DATAFLOWS.index(df)
    M, Kk = int(job[K.J_M]), int(job[K.J_K])
    Sr, Sc, _ = K.gemm_dims(dfi, M, int(job[K.J_N]), Kk)
    rf, cf = -(-Sr // R), -(-Sc // C)
    got = np.zeros(rf * cf, np.int64)
    K.ifmap_schedule(job, dfi, R, C, rf, cf, order, half, half + 1, got)
    want, prev = [], None
    for o in range(rf if order else cf):
        for q in range(cf if order else rf):
            fr, fc = (o, q) if order else (q, o)
            need = plain_need(layer, K.fold_rect(dfi, fc, fr, R, C, M, Kk))
            keep = prev if prev is not None and len(prev) <= half else set()
            want.append(len(need - keep))
            prev = need
    assert got.tolist() == want
    # the totals alone (the analytical mode's call; is skips what translation repeats)
    assert K.ifmap_schedule(job, dfi, R, C, rf, cf, order, half, half + 1,
                            np.zeros(0, np.int64))[0] == sum(want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.integers(9, 40), st.integers(9, 40),
       st.integers(1, 8), st.integers(1, 6), st.integers(0, 1), st.sampled_from((0, 16, 256)))
def test_is_totals_skip_only_what_repeats(k, s, p, h, w, R, C, order, half):
    """is on maps large enough for runs of regular pixel blocks: the totals with whole periods
    skipped (is_totals) equal the fold-by-fold loads summed."""
    layer = Layer.conv2d("l", 3, 4, k, (h, w), stride=s, padding=min(p, k // 2))
    job = K.as_plain(dense_job(layer))[0]
    dfi = K.DATAFLOWS.index("is")
    M, Kk = int(job[K.J_M]), int(job[K.J_K])
    rf, cf = -(-Kk // R), -(-M // C)
    per = np.zeros(rf * cf, np.int64)
    K.ifmap_schedule(job, dfi, R, C, rf, cf, order, half, half + 1, per)
    got = K.ifmap_schedule(job, dfi, R, C, rf, cf, order, half, half + 1, np.zeros(0, np.int64))
    assert got == (per.sum(), per[0])


def resnet50_report():
    """ResNet-50: dense layers counted by need sets on a 16x16 array, and the time of
    simulate() (cold cache) and of the search table build, per dataflow."""
    from structconv.core.zoo import get_network
    from structconv.sim import BatchSimulator, MacArray, engine, simulate
    from structconv.sim.accelerator import load_accelerator
    from tests.support.menus import search_space

    def best(f, n=5):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return min(ts)

    net, base = get_network("resnet50"), load_accelerator()
    choices = search_space(net)
    for df in K.DATAFLOWS:
        hw = base.with_(mac_array=MacArray(16, 16, df))
        half_i = hw.memory.ifmap_sram_bytes // (2 * hw.bytes_per_element)
        dfi, counted = K.DATAFLOWS.index(df), 0
        for layer in net.layers:
            job = K.as_plain(dense_job(layer))[0]
            Sr, Sc, _ = K.gemm_dims(dfi, job[K.J_M], job[K.J_N], job[K.J_K])
            counted += bool(K.ifmap_counted(job, dfi, 16, 16, -(-Sr // 16), -(-Sc // 16), half_i))
        BatchSimulator(net, hw, choices)
        tb = best(lambda hw=hw: (engine._CACHE.clear(), BatchSimulator(net, hw, choices)))
        ts = {m: best(lambda hw=hw, m=m: (engine._CACHE.clear(), simulate(net, hw=hw, mode=m)))
              for m in ("analytical", "cycle")}
        print(f"{df}: need sets {counted}/{len(net.layers)} layers; table build {tb * 1e3:.1f} ms; "
              f"simulate analytical {ts['analytical'] * 1e3:.1f} ms, cycle {ts['cycle'] * 1e3:.1f} ms")


if __name__ == "__main__":
    resnet50_report()
