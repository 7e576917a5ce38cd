"""A small helper the zoo definitions use to emit Layers and count BatchNorm params."""
from __future__ import annotations

from ..layer import Layer, Network


def input_hw(input_size, where: str) -> tuple[int, int]:
    """``input_size`` as (H, W): an int means square."""
    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(hw) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in hw):
        raise ValueError(f"input_size = {input_size!r} must be an int >= 1 or a pair of them (in {where})")
    return hw


class NetBuilder:
    """Collects layers in execution order; ``conv`` returns the Layer so callers chain sizes."""

    def __init__(self, name: str, input_shape: tuple[int, int, int]):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.layers: list[Layer] = []
        self.extra_params = 0

    def conv(self, name, cin, cout, kernel, size, *, bn=True, **geometry) -> Layer:
        """Append a conv; ``geometry``: ``Layer.conv2d``'s stride, padding, dilation, groups and bias, where
        ``padding`` defaults to 'same'-style dilation*(k-1)//2 instead; ``bn`` adds 2*cout params."""
        if geometry.get("padding") is None:
            k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
            d = geometry.get("dilation", 1)
            d = d if isinstance(d, tuple) else (d, d)
            geometry["padding"] = (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
        layer = Layer.conv2d(name, cin, cout, kernel, size, **geometry)
        self.layers.append(layer)
        if bn:
            self.extra_params += 2 * cout
        return layer

    def linear(self, name, fin, fout, bias=True) -> Layer:
        layer = Layer.linear(name, fin, fout, bias=bias)
        self.layers.append(layer)
        return layer

    def add_params(self, n: int) -> None:
        self.extra_params += int(n)

    def build(self, spec=None) -> Network:
        return Network(self.name, self.input_shape, tuple(self.layers), self.extra_params, spec)
