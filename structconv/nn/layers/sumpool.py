"""Sum-pooling over channels x rows x cols: the first half of a decomposed layer.

Window (kc, a, b), stride 1, padding p and dilation d in the two spatial dims,
no padding in the channel dim. For a grouped convolution the channel window
slides inside each group's Cg channels and yields c = Cg - kc + 1 channels per
group, group-major: the output has groups*c channels, which is exactly the input
layout the small grouped convolution of the decomposition expects.

Several interchangeable implementations (all return the same numbers; the
channel window is summed first, then the spatial one):

``avgpool``    torch's avg_pool2d with divisor_override=1 (exact sums in one
               optimized pass; avg * window-size while exporting to ONNX, which
               has no divisor override), avg_pool1d * kc over channels; dilation
               through a polyphase split, since avg_pool has none.
``separable``  running sums: one axis at a time, shifted adds (binary doubling
               for wide windows), dilation native.
``cumsum``     integral image: prefix sums per axis, taken in steps of the
               dilation, so a dilated window is a difference of two prefix sums.
``conv``       convolution with an all-ones kernel (depthwise conv2d spatially,
               conv1d over channels).
``auto``       picks one per shape and memory format (``choose_method``).

While exporting to ONNX every method traces the same export form (``_export_sum``), a few standard
ops that runtimes optimise: the channel window as shifted adds (Slice + Add, kc <= 4) or a prefix
sum (Pad + CumSum + two Slices + Sub) along the channel axis itself (no Transpose, no ScatterND),
and the spatial window as a depthwise all-ones Conv (its padding inside the Conv).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core import choice_field, int_field, pair_field

METHODS = ("auto", "avgpool", "separable", "cumsum", "conv")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# -- helpers ----------------------------------------------------------------------
def _pad4(padding, where=None) -> tuple[int, int, int, int]:
    """Padding as F.pad's (left, right, top, bottom) from an int, an (ph, pw) pair or
    a 4-tuple (top, bottom, left, right)."""
    if isinstance(padding, (list, tuple)) and len(padding) == 4:
        t, b, l, r = (int_field("padding", v, 0, None, where) for v in padding)
        return (l, r, t, b)
    ph, pw = pair_field("padding", padding, 0, None, where)
    return (pw, pw, ph, ph)


def _shift_sum(x: torch.Tensor, dim: int, w: int, d: int) -> torch.Tensor:
    """out[i] = sum_{t<w} x[i + d*t] along ``dim`` (valid part only): running sums."""
    n = x.shape[dim]
    n_out = n - d * (w - 1)
    if w == 1:
        return x
    if w <= 4:
        out = x.narrow(dim, 0, n_out)
        for t in range(1, w):
            out = out + x.narrow(dim, d * t, n_out)
        return out
    # binary doubling: P holds window sums of width 2^j; add the ones w's bits select
    out, off, P, width = None, 0, x, 1
    rem = w
    while rem:
        if rem & 1:
            term = P.narrow(dim, off, n_out)
            out = term if out is None else out + term
            off += d * width
        rem >>= 1
        if rem:
            m = P.shape[dim] - d * width
            P = P.narrow(dim, 0, m) + P.narrow(dim, d * width, m)
            width *= 2
    return out


def _cumsum_sum(x: torch.Tensor, dim: int, w: int, d: int) -> torch.Tensor:
    """The same windowed sum from prefix sums taken in steps of d (integral image):
    out[i] = S[i + d*(w-1)] - S[i - d], S[j] = x[j] + x[j-d] + ... (S[<0] = 0)."""
    if w == 1:
        return x
    n = x.shape[dim]
    n_out = n - d * (w - 1)
    if d == 1:
        S = torch.cumsum(x, dim)
    else:                                   # cumsum over the phase-folded axis
        y = x.movedim(dim, -1)
        q = -(-n // d)
        yp = F.pad(y, (0, q * d - n)) if q * d != n else y
        S = torch.cumsum(yp.reshape(y.shape[:-1] + (q, d)), dim=-2).reshape(y.shape[:-1] + (q * d,))
        S = S[..., :n].movedim(-1, dim)
    out = S.narrow(dim, d * (w - 1), n_out).clone()
    if n_out > d:
        out.narrow(dim, d, n_out - d).sub_(S.narrow(dim, 0, n_out - d))
    return out


def _polyphase(x5: torch.Tensor, dh: int, dw: int, fn) -> torch.Tensor:
    """Apply an undilated stride-1 window op ``fn`` with dilation (dh, dw) by splitting
    rows and cols into dh x dw phases (folded into dim 1), pooling each, interleaving."""
    N, G, C, H, W = x5.shape
    Hq, Wq = -(-H // dh) * dh, -(-W // dw) * dw
    if (Hq, Wq) != (H, W):
        x5 = F.pad(x5, (0, Wq - W, 0, Hq - H))
    y = x5.reshape(N, G, C, Hq // dh, dh, Wq // dw, dw).permute(0, 1, 4, 6, 2, 3, 5)
    y = fn(y.reshape(N, G * dh * dw, C, Hq // dh, Wq // dw))
    c, h, w = y.shape[2:]
    y = y.reshape(N, G, dh, dw, c, h, w).permute(0, 1, 4, 5, 2, 6, 3).reshape(N, G, c, h * dh, w * dw)
    return y


# -- the implementations ------------------------------------------------------------
def _exporting() -> bool:
    # avg_pool's divisor_override (exact sums, no extra multiply pass) is mis-exported to
    # ONNX (AveragePool has no such attribute), so an export traces avg * window instead.
    return torch.compiler.is_exporting()


def _box_avgpool(x4: torch.Tensor, a: int, b: int, padding=(0, 0)) -> torch.Tensor:
    """Stride-1 (a, b) box sums of a 4-D tensor with avg_pool2d (symmetric zero padding it accepts)."""
    if _exporting():
        return F.avg_pool2d(x4, (a, b), stride=1, padding=padding, count_include_pad=True) * float(a * b)
    return F.avg_pool2d(x4, (a, b), stride=1, padding=padding, count_include_pad=True, divisor_override=1)


def _channel_avgpool(x: torch.Tensor, dim: int, w: int) -> torch.Tensor:
    """Window sums of width w along ``dim`` with avg_pool1d (the axis made the last one)."""
    y = x.movedim(dim, -1)
    shape = y.shape
    out = F.avg_pool1d(y.reshape(-1, 1, shape[-1]), w, stride=1) * float(w)
    return out.reshape(shape[:-1] + (shape[-1] - w + 1,)).movedim(-1, dim)


def _channel_conv(x: torch.Tensor, dim: int, w: int) -> torch.Tensor:
    """Window sums of width w along ``dim`` with a ones-kernel conv1d."""
    y = x.movedim(dim, -1)
    shape = y.shape
    ones = torch.ones((1, 1, w), dtype=x.dtype, device=x.device)
    out = F.conv1d(y.reshape(-1, 1, shape[-1]), ones)
    return out.reshape(shape[:-1] + (shape[-1] - w + 1,)).movedim(-1, dim)


_CHANNEL = {"avgpool": _channel_avgpool, "separable": lambda x, dim, w: _shift_sum(x, dim, w, 1),
            "cumsum": lambda x, dim, w: _cumsum_sum(x, dim, w, 1), "conv": _channel_conv}


def _spatial(x4: torch.Tensor, a: int, b: int, dh: int, dw: int, method: str) -> torch.Tensor:
    """Unpadded stride-1 (a, b) window sums with dilation (dh, dw) of a 4-D tensor."""
    if (a, b) == (1, 1):
        return x4
    N, C, H, W = x4.shape
    H1, W1 = H - dh * (a - 1), W - dw * (b - 1)
    if method == "avgpool":
        if (dh, dw) == (1, 1):
            return _box_avgpool(x4, a, b)

        def pool(t):  # (N, G', 1, h, w) -> undilated box sums per phase
            n, g, _, h, w = t.shape
            return _box_avgpool(t.reshape(n, g, h, w), a, b).reshape(n, g, 1, h - a + 1, w - b + 1)

        y = _polyphase(x4.reshape(N, C, 1, H, W), dh, dw, pool)
        return y[..., :H1, :W1].reshape(N, C, H1, W1)
    if method == "separable":
        return _shift_sum(_shift_sum(x4, 2, a, dh), 3, b, dw)
    if method == "cumsum":
        return _cumsum_sum(_cumsum_sum(x4, 2, a, dh), 3, b, dw)
    ones = torch.ones((C, 1, a, b), dtype=x4.dtype, device=x4.device)    # conv: depthwise ones
    return F.conv2d(x4, ones, dilation=(dh, dw), groups=C)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def choose_method(window, dilation=(1, 1), channels_last: bool = False) -> str:
    """The ``auto`` rule, from benchmarks/bench_decomposed.py's per-shape table on CPU.

    * No channel window, no dilation: in channels-last memory avg_pool2d (one fused,
      vectorized pass; divisor_override makes it write exact sums) is fastest; in
      NCHW memory torch's stride-1 avg_pool2d is 5-8x slower than a padded copy plus
      one shifted add per axis ('separable'), so that is used there.
    * Dilated windows: shifted adds (avg_pool has no dilation; its polyphase split
      costs two copies).
    * A channel window (the pointwise layers of Struct-MV2, kc up to 481): prefix
      sums along channels (cost independent of kc; contiguous in channels-last),
      shifted adds when only a few channels wide.
    """
    kc, a, b = window
    dh, dw = dilation
    if kc > 1:
        return "separable" if kc <= 3 and max(a, b) <= 3 else "cumsum"
    if (dh, dw) == (1, 1) and channels_last:
        return "avgpool"
    return "separable"


def _export_channel_sum(x: torch.Tensor, dim: int, w: int) -> torch.Tensor:
    """Window sums of width w along ``dim`` in ONNX-friendly ops: shifted adds when narrow, else the
    difference of two slices of one zero-led prefix sum taken along ``dim`` (no axis moves)."""
    if w <= 4:
        return _shift_sum(x, dim, w, 1)
    pad = [0, 0] * (x.dim() - 1 - dim) + [1, 0]
    S = torch.cumsum(F.pad(x, pad), dim)                 # S[j] = x[0] + ... + x[j-1], S[0] = 0
    n = x.shape[dim] - w + 1
    return S.narrow(dim, w, n) - S.narrow(dim, 0, n)


def _export_sum(x, window, groups, pad4, dilation, padding_mode) -> torch.Tensor:
    """``sum_pool3d`` as traced for ONNX export (the module docstring says which ops)."""
    kc, a, b = window
    N, Ctot, H, W = x.shape
    if kc > 1:
        Cg = Ctot // groups
        x = _export_channel_sum(x.reshape(N, groups, Cg, H, W), 2, kc)
        x = x.reshape(N, groups * (Cg - kc + 1), H, W)
    pl, pr, pt, pb = pad4
    symmetric = padding_mode == "zeros" and pl == pr and pt == pb
    if not symmetric and (pl or pr or pt or pb):
        x = F.pad(x, (pl, pr, pt, pb), mode="constant" if padding_mode == "zeros" else padding_mode)
        pt = pl = 0
    if (a, b) == (1, 1) and not (pt or pl):
        return x
    C = x.shape[1]
    ones = torch.ones((C, 1, a, b), dtype=x.dtype, device=x.device)
    return F.conv2d(x, ones, padding=(pt, pl), dilation=dilation, groups=C)


def sum_pool3d(x: torch.Tensor, window, groups: int = 1, padding=0, dilation=1, method: str = "auto",
               padding_mode: str = "zeros") -> torch.Tensor:
    """Sum over a (kc, a, b) window of (channels-in-group, rows, cols), stride 1.

    ``x``: (N, groups*Cg, H, W) -> (N, groups*(Cg-kc+1), H + pt + pb - dh*(a-1), W + pl + pr - dw*(b-1)).
    The channel sum runs first (it shrinks the tensor), then the spatial one; both
    keep the input's memory format where torch allows (channels-last stays so).
    """
    if x.dim() != 4:
        raise ValueError(f"sum_pool3d input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    kc, a, b = window
    choice_field("method", method, METHODS)
    N, Ctot, H, W = x.shape
    if Ctot % groups:
        raise ValueError(f"groups = {groups} must divide the input's {Ctot} channels")
    Cg = Ctot // groups
    if not 1 <= kc <= Cg:
        raise ValueError(f"channel window kc = {kc} is out of range [1, {Cg}] (channels per group)")
    dh, dw = pair_field("dilation", dilation, 1)
    pl, pr, pt, pb = _pad4(padding)
    H1, W1 = H + pt + pb - dh * (a - 1), W + pl + pr - dw * (b - 1)
    if H1 < 1 or W1 < 1:
        raise ValueError(f"sum-pool window ({a}, {b}) with dilation ({dh}, {dw}) does not fit the padded "
                         f"input of size ({H + pt + pb}, {W + pl + pr})")
    if _exporting():
        return _export_sum(x, (kc, a, b), groups, (pl, pr, pt, pb), (dh, dw), padding_mode)
    if method == "auto":
        method = choose_method((kc, a, b), (dh, dw), _is_channels_last(x))
    c = Cg - kc + 1
    if kc > 1:
        if groups == 1:
            x = _CHANNEL[method](x, 1, kc)
        else:
            x = _CHANNEL[method](x.reshape(N, groups, Cg, H, W), 2, kc).reshape(N, groups * c, H, W)
    padded = bool(pl or pr or pt or pb)
    if (a, b) == (1, 1) and not padded:
        return x
    zeros = padding_mode == "zeros"
    if zeros and pl == pr and pt == pb:
        # let the pooling / conv kernel pad by itself where it can (no padded copy)
        if method == "avgpool" and (dh, dw) == (1, 1) and 2 * pt <= a and 2 * pl <= b:
            return _box_avgpool(x, a, b, (pt, pl))
        if method == "conv" and (a, b) != (1, 1):
            C = x.shape[1]
            ones = torch.ones((C, 1, a, b), dtype=x.dtype, device=x.device)
            return F.conv2d(x, ones, padding=(pt, pl), dilation=(dh, dw), groups=C)
    if padded:
        x = F.pad(x, (pl, pr, pt, pb), mode="constant" if zeros else padding_mode)
    return _spatial(x, a, b, dh, dw, method)


class SumPool3d(nn.Module):
    """Sum-pooling with window (kc, a, b) over (channels per group, rows, cols).

    Stride 1; ``padding`` (int, (ph, pw) or (top, bottom, left, right)) and
    ``dilation`` apply to rows and cols only; ``groups`` splits the channels as the
    convolution being decomposed does. No parameters, so it never changes a state dict.
    """

    def __init__(self, in_channels: int, window, groups: int = 1, padding=0, dilation=1,
                 method: str = "auto", padding_mode: str = "zeros"):
        super().__init__()
        self.in_channels = int_field("in_channels", in_channels, 1)
        self.groups = int_field("groups", groups, 1)
        if in_channels % groups:
            raise ValueError(f"groups = {groups} must divide in_channels = {in_channels}")
        if not isinstance(window, (list, tuple)) or len(window) != 3:
            raise ValueError(f"window must be a triple (kc, a, b), got {window!r}")
        kc = int_field("kc", window[0], 1, in_channels // groups)
        a = int_field("a", window[1], 1)
        b = int_field("b", window[2], 1)
        self.window = (kc, a, b)
        self.padding = _pad4(padding)
        self.dilation = pair_field("dilation", dilation, 1)
        self.method = choice_field("method", method, METHODS)
        self.padding_mode = choice_field("padding_mode", padding_mode, PADDING_MODES)

    @property
    def out_channels(self) -> int:
        return self.groups * (self.in_channels // self.groups - self.window[0] + 1)

    def resolved_method(self, channels_last: bool = False) -> str:
        """The implementation ``forward`` runs (for 'auto': on NCHW or channels-last input)."""
        return (choose_method(self.window, self.dilation, channels_last) if self.method == "auto"
                else self.method)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SumPool3d expects input (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        l, r, t, b = self.padding
        return sum_pool3d(x, self.window, self.groups, (t, b, l, r), self.dilation, self.method,
                          self.padding_mode)

    def extra_repr(self) -> str:
        l, r, t, b = self.padding
        pad = (t, l) if (t, l) == (b, r) else (t, b, l, r)
        return (f"{self.in_channels}, window={self.window}, groups={self.groups}, padding={pad}, "
                f"dilation={self.dilation}, method={self.method!r}")


def sum_pool1d(x: torch.Tensor, window: int, method: str = "auto") -> torch.Tensor:
    """Sliding sums of width ``window`` over the last dim: (..., F) -> (..., F - window + 1)."""
    choice_field("method", method, METHODS)
    Fdim = x.shape[-1]
    if not 1 <= window <= Fdim:
        raise ValueError(f"window = {window} is out of range [1, {Fdim}] (features)")
    if window == 1:
        return x
    if _exporting():
        return _export_channel_sum(x, x.dim() - 1, window)
    if method == "auto":
        method = "separable" if window <= 3 else "cumsum"
    return _CHANNEL[method](x, x.dim() - 1, window)


class SumPool1d(nn.Module):
    """Feature-wise sliding sums for a structured linear layer: (..., F) -> (..., c)."""

    def __init__(self, in_features: int, window: int, method: str = "auto"):
        super().__init__()
        self.in_features = int_field("in_features", in_features, 1)
        self.window = int_field("window", window, 1, in_features)
        self.method = choice_field("method", method, METHODS)

    @property
    def out_features(self) -> int:
        return self.in_features - self.window + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"SumPool1d expects (..., {self.in_features}), got {tuple(x.shape)}")
        return sum_pool1d(x, self.window, self.method)

    def extra_repr(self) -> str:
        return f"{self.in_features}, window={self.window}, method={self.method!r}"
