"""Layers and choices -> JOB records for the kernels (fields: ``_kernels.JOB_FIELDS``).

Mapping rules (SCALE-Sim semantics on the MAC array):
- conv: GEMM with m = Ho*Wo output pixels, n = C_out/g filters, k = C_in/g*kh*kw;
  padding is applied to the input first (SCALE-Sim's ifmap is already padded).
- grouped / depthwise: each of the g groups is run as its own GEMM, one after the
  other -- what SCALE-Sim does for depthwise ("DP") layers and what its users do
  for grouped ones. A depthwise layer therefore uses one array column per group.
- linear: a 1x1 conv on a 1x1 input (m = 1).
- a choice runs as its parts (``choice.parts(layer)``), in order: a Part without a
  structure is a plain layer on the MAC array; a Part with a structure (c, n) has the
  sum-pool unit compute the (kc, a, b) window sums, then the MAC array runs the small
  conv: m = Ho*Wo, n = C_out/g, k = c*nh*nw. Dense, structures, the sparse-kernel
  designs and plug-in kinds all take this one path.
"""
from __future__ import annotations

import numpy as np

from structconv.core import Choice, Dense, Layer, Part, Structure

from . import _kernels as K
from ._algebra import DATAFLOWS, SCHEMES
from .accelerator import Accelerator


def hw_record(hw: Accelerator) -> np.ndarray:
    """The accelerator as one HW record (dataflow and scheme as their codes, the other names as
    indices into OVERLAPS and LINKS)."""
    mac, spu, mem = hw.mac_array, hw.sum_pool, hw.memory
    return K.record(K.HW, rows=mac.rows, cols=mac.cols, dataflow=DATAFLOWS.get(mac.dataflow).code,
                     lanes=spu.adder_lanes, scheme=SCHEMES.get(spu.scheme).code,
                     line_buffer_bytes=spu.line_buffer_bytes, ifmap_sram_bytes=mem.ifmap_sram_bytes,
                     filter_sram_bytes=mem.filter_sram_bytes, ofmap_sram_bytes=mem.ofmap_sram_bytes,
                     dram_bytes_per_cycle=mem.dram_bytes_per_cycle, bytes_per_element=hw.bytes_per_element,
                     overlap=K.OVERLAPS.index(hw.overlap), links=K.LINKS.index(mem.links),
                     **dict(zip(("ifmap_bw", "filter_bw", "ofmap_bw"), mem.link_bytes_per_cycle())))


def _geometry(layer: Layer, scalesim_ofmap: bool) -> dict:
    """The job fields every part of ``layer`` shares: GEMM m and n, groups, input, stride, output."""
    (H, W), (ph, pw) = layer.input_size, layer.padding
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    if scalesim_ofmap:
        # SCALE-Sim: ofmap = ceil((ifmap - filter + stride) / stride) of the padded ifmap
        ho, wo = -(-(H + 2 * ph - kh + sh) // sh), -(-(W + 2 * pw - kw + sw) // sw)
    else:
        ho, wo = layer.output_size
    dh, dw = layer.dilation
    return dict(m=ho * wo, n=layer.out_channels // layer.groups, groups=layer.groups,
                cg=layer.group_in_channels, h=H, w=W, ph=ph, pw=pw, sh=sh, sw=sw, dh=dh, dw=dw, ho=ho, wo=wo)


def dense_fields(layer: Layer, scalesim_ofmap: bool = False) -> dict:
    """The JOB fields (Python ints) of ``layer`` as it is, on the MAC array."""
    (kh, kw), cg = layer.kernel, layer.group_in_channels
    return dict(_geometry(layer, scalesim_ofmap), k=cg * kh * kw,
                ifmap=cg * layer.input_size[0] * layer.input_size[1], spu=0, c=cg, kc=1, a=1, b=1,
                nh=kh, nw=kw)


def structured_fields(layer: Layer, s: Structure) -> dict:
    """The JOB fields of the sum-pool unit, then the small conv of structure ``s`` on the MAC array."""
    kc, a, b = s.window(layer)
    return dict(_geometry(layer, False), k=s.c * s.nh * s.nw, ifmap=0, spu=1,
                c=s.c, kc=kc, a=a, b=b, nh=s.nh, nw=s.nw)


def dense_job(layer: Layer, scalesim_ofmap: bool = False) -> np.ndarray:
    """One JOB record: ``layer`` as it is, on the MAC array."""
    return K.record(K.JOB, **dense_fields(layer, scalesim_ofmap))


def structured_job(layer: Layer, s: Structure) -> np.ndarray:
    """One JOB record: the sum-pool unit, then the small conv of structure ``s`` on the MAC array."""
    return K.record(K.JOB, **structured_fields(layer, s))


def part_fields(part: Part, scalesim_ofmap: bool = False) -> dict:
    """The JOB fields of one Part of a choice."""
    if part.structure is None:
        return dense_fields(part.layer, scalesim_ofmap)
    return structured_fields(part.layer, part.structure)


def job_fields(layer: Layer, choice: Choice | None = None, scalesim_ofmap: bool = False) -> list[dict]:
    """The JOB fields (Python ints, not yet range-checked) that run ``layer`` under ``choice``
    (dense when None), one dict per part.

    ``scalesim_ofmap`` applies to the layer as given (a SCALE-Sim topology's layer), not to
    layers a choice derives from it. The callers' entry points have validated the choice.
    """
    parts = (Dense() if choice is None else choice).parts(layer)
    return [part_fields(p, scalesim_ofmap and p.layer is layer) for p in parts]


def as_jobs(fields: list[dict]) -> np.ndarray:
    """JOB records of job field dicts (``limits.check_jobs`` has checked they fit)."""
    return K.concat([K.record(K.JOB, **f) for f in fields])


def jobs_for(layer: Layer, choice: Choice | None = None, scalesim_ofmap: bool = False) -> np.ndarray:
    """The JOB records that run ``layer`` under ``choice`` (dense when None), one per part."""
    return as_jobs(job_fields(layer, choice, scalesim_ofmap))


def layer_key(layer: Layer) -> tuple:
    """Everything about a layer except its name: identical layers share cached results."""
    return (layer.op, layer.in_channels, layer.out_channels, layer.kernel, layer.stride, layer.padding,
            layer.dilation, layer.groups, layer.bias, layer.input_size)
