"""Layers and choices -> job rows for the kernels (see _kernels for the columns).

Mapping rules (SCALE-Sim semantics on the MAC array):
- conv: GEMM with M = Ho*Wo output pixels, N = C_out/g filters, K = C_in/g*kh*kw;
  padding is applied to the input first (SCALE-Sim's ifmap is already padded).
- grouped / depthwise: each of the g groups is run as its own GEMM, one after the
  other -- what SCALE-Sim does for depthwise ("DP") layers and what its users do
  for grouped ones. A depthwise layer therefore uses one array column per group.
- linear: a 1x1 conv on a 1x1 input (M = 1).
- structured (c, n): the sum-pool unit computes the (kc, a, b) window sums, then
  the MAC array runs the small conv: M = Ho*Wo, N = C_out/g, K = c*nh*nw.
  A structure whose window is 1x1x1 *is* the dense layer and maps to it.
- sparse-kernel designs: ``choice.expand(layer)`` gives plain layers, run in order.
"""
from __future__ import annotations

import numpy as np

from structconv.core.choice import Choice, Dense, Structure
from structconv.core.layer import Layer

from . import _kernels as K
from .accelerator import DATAFLOWS, OVERLAPS, SCHEMES, Accelerator


def hw_vector(hw: Accelerator) -> np.ndarray:
    v = np.zeros(K.NH, np.float64)
    v[K.H_R], v[K.H_C] = hw.mac_array.rows, hw.mac_array.cols
    v[K.H_DF] = DATAFLOWS.index(hw.mac_array.dataflow)
    v[K.H_LANES] = hw.sum_pool.adder_lanes
    v[K.H_SCHEME] = SCHEMES.index(hw.sum_pool.scheme)
    v[K.H_LB] = hw.sum_pool.line_buffer_bytes
    v[K.H_IFS], v[K.H_FIS], v[K.H_OFS] = (hw.memory.ifmap_sram_bytes, hw.memory.filter_sram_bytes,
                                          hw.memory.ofmap_sram_bytes)
    v[K.H_BW] = hw.memory.dram_bytes_per_cycle
    v[K.H_BPE] = hw.bytes_per_element
    v[K.H_OVERLAP] = OVERLAPS.index(hw.overlap)
    return v


def _base(layer: Layer, scalesim_ofmap: bool) -> np.ndarray:
    j = np.zeros(K.NJ, np.int64)
    g = layer.groups
    (H, W), (ph, pw) = layer.input_size, layer.padding
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    if scalesim_ofmap:
        # SCALE-Sim: ofmap = ceil((ifmap - filter + stride) / stride) of the padded ifmap
        ho = -(-(H + 2 * ph - kh + sh) // sh)
        wo = -(-(W + 2 * pw - kw + sw) // sw)
    else:
        ho, wo = layer.output_size
    j[K.J_M], j[K.J_N], j[K.J_G] = ho * wo, layer.out_channels // g, g
    j[K.J_CG], j[K.J_H], j[K.J_W], j[K.J_PH], j[K.J_PW] = layer.group_in_channels, H, W, ph, pw
    j[K.J_SH], j[K.J_SW] = sh, sw
    j[K.J_DH], j[K.J_DW] = layer.dilation
    j[K.J_HO], j[K.J_WO] = ho, wo
    return j


def dense_job(layer: Layer, scalesim_ofmap: bool = False) -> np.ndarray:
    j = _base(layer, scalesim_ofmap)
    kh, kw = layer.kernel
    j[K.J_K] = layer.group_in_channels * kh * kw
    j[K.J_IFMAP] = layer.group_in_channels * layer.input_size[0] * layer.input_size[1]
    j[K.J_C], j[K.J_KC], j[K.J_A], j[K.J_B] = layer.group_in_channels, 1, 1, 1
    j[K.J_NH], j[K.J_NW] = kh, kw
    return j


def structured_job(layer: Layer, s: Structure) -> np.ndarray:
    s.validate(layer)
    if s.is_identity(layer):
        return dense_job(layer)
    j = _base(layer, False)
    kc, a, b = s.window(layer)
    j[K.J_K] = s.c * s.nh * s.nw
    j[K.J_SPU] = 1
    j[K.J_C], j[K.J_KC], j[K.J_A], j[K.J_B], j[K.J_NH], j[K.J_NW] = s.c, kc, a, b, s.nh, s.nw
    return j


def jobs_for(layer: Layer, choice: Choice | None = None, scalesim_ofmap: bool = False) -> list[np.ndarray]:
    """The job rows that run ``layer`` under ``choice`` (dense when None)."""
    if choice is None or isinstance(choice, Dense):
        return [dense_job(layer, scalesim_ofmap)]
    if isinstance(choice, Structure):
        return [structured_job(layer, choice)]
    if not hasattr(choice, "expand"):
        raise ValueError(f"choice {choice!r} for layer {layer.name!r} is neither dense, a Structure "
                         "nor a design with expand()")
    choice.validate(layer)
    return [dense_job(part) for part in choice.expand(layer)]


def layer_key(layer: Layer) -> tuple:
    """Everything about a layer except its name: identical layers share cached results."""
    return (layer.op, layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding,
            layer.dilation, layer.groups, layer.bias, layer.input_size)
