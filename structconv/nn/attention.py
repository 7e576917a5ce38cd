"""Attention as core layers: ``nn.MultiheadAttention`` calls, ``F.scaled_dot_product_attention`` and the
products of two activations (``q @ k.transpose(-2, -1)``, ``attn @ v``) the tracer sees.

What torch runs is what is counted (torch/nn/functional.py, ``multi_head_attention_forward``):
* the in-projection: one packed ``in_proj`` Linear (E -> 3E) when query, key and value are one tensor;
  ``q_proj`` and ``kv_proj`` (E -> 2E) when only key and value are; else ``q_proj``, ``k_proj``, ``v_proj``;
* per head, q.k^T ((Tq, E/H) x (E/H, Tk)) and attn.v ((Tq, Tk) x (Tk, E/H)): ``matmul`` layers, named
  ``<module>.matmul<i>`` in the order they run, as every activation product of a module is;
* ``out_proj``, a Linear E -> E on the Tq tokens.
Softmax, scaling, masks and dropout have no multiplies in the convention: not counted (as everywhere).
The ONNX importer names the same layers the same way (importers/_onnx_names.py).
"""
from __future__ import annotations

import torch
from torch import nn

from ..core import Layer, linear_layer, matmul_layer

#: torch functions that multiply two tensors, by ``__name__`` (``__matmul__`` is reported as matmul)
PRODUCT_OPS = ("matmul", "mm", "bmm", "addmm", "baddbmm", "scaled_dot_product_attention")


def _arg(args, kwargs, i: int, key: str, default=None):
    return args[i] if len(args) > i else kwargs.get(key, default)


def products(name: str, args, kwargs) -> tuple[tuple, ...]:
    """((a_shape, b_shape), ...): the activation products one call of torch function ``name`` runs."""
    if name == "scaled_dot_product_attention":
        q, k, v = (tuple(_arg(args, kwargs, i, key).shape) for i, key in enumerate(("query", "key", "value")))
        scores = q[:-1] + (k[-2],)
        return ((q, k[:-2] + (k[-1], k[-2])), (scores, v))
    first = 1 if name in ("addmm", "baddbmm") else 0        # addmm(bias, a, b)
    a, b = _arg(args, kwargs, first, "mat1"), _arg(args, kwargs, first + 1, "mat2")
    return ((tuple(a.shape), tuple(b.shape)),)


def weight_operand(name: str, args, kwargs, params: dict):
    """The parameter a matmul/mm/addmm multiplies by on the right (a Linear written as ``x @ self.w``)."""
    if name not in ("matmul", "mm", "addmm"):
        return None
    first = 1 if name == "addmm" else 0
    b = _arg(args, kwargs, first + 1, "mat2")
    a = _arg(args, kwargs, first, "mat1")
    ok = isinstance(b, nn.Parameter) and id(b) in params and b.dim() == 2 and not isinstance(a, nn.Parameter)
    return b if ok else None


def matmul_layers(base: str, start: int, shapes, batch: int) -> list[Layer]:
    """The matmul layers ``<base>.matmul<start>``, ... of activation products ``shapes``."""
    prefix = f"{base}." if base else ""
    return [matmul_layer(f"{prefix}matmul{start + i}", a, b, batch) for i, (a, b) in enumerate(shapes)]


def attention_inputs(mod: nn.MultiheadAttention, args, kwargs) -> tuple:
    """(query, key, value) of one ``nn.MultiheadAttention`` call, as given."""
    return tuple(_arg(args, kwargs, i, key) for i, key in enumerate(("query", "key", "value")))


def _tokens(x: torch.Tensor, batch_first: bool) -> tuple:
    """(leading shape with the token axis last, features) of an attention input."""
    shape = tuple(x.shape)
    if x.dim() == 3 and not batch_first:                  # (T, N, E): tokens first
        shape = (shape[1], shape[0], shape[2])
    return shape[:-1], shape[-1]


def _projections(mod, q, k, v) -> list[tuple[str, torch.Tensor, int]]:
    """(role, input, out features) of each in-projection torch runs for this call."""
    e = mod.embed_dim
    if mod._qkv_same_embed_dim and q is k and k is v:
        return [("in_proj", q, 3 * e)]
    if mod._qkv_same_embed_dim and k is v:
        return [("q_proj", q, e), ("kv_proj", k, 2 * e)]
    return [("q_proj", q, e), ("k_proj", k, e), ("v_proj", v, e)]


def attention_layers(qname: str, mod: nn.MultiheadAttention, inputs, batch: int, matmul_start: int) -> list:
    """The layers of one ``nn.MultiheadAttention`` call (see the module doc)."""
    q, k, v = inputs
    prefix = f"{qname}." if qname else ""
    bias = mod.in_proj_bias is not None
    layers = []
    for role, x, out in _projections(mod, q, k, v):
        lead, features = _tokens(x, mod.batch_first)
        layers.append(linear_layer(prefix + role, features, out, lead + (features,), bias, batch))
    q_lead, _ = _tokens(q, mod.batch_first)
    k_lead, _ = _tokens(k, mod.batch_first)
    heads, head_dim = mod.num_heads, mod.embed_dim // mod.num_heads
    tk = k_lead[-1] + (mod.bias_k is not None) + bool(mod.add_zero_attn)
    rows = q_lead[:-1] + (heads, q_lead[-1])
    scores = rows + (tk,)
    shapes = ((rows + (head_dim,), rows[:-1] + (head_dim, tk)), (scores, rows[:-1] + (tk, head_dim)))
    layers += matmul_layers(qname, matmul_start, shapes, batch)
    out_bias = mod.out_proj.bias is not None
    layers.append(linear_layer(prefix + "out_proj", mod.embed_dim, mod.embed_dim, q_lead + (mod.embed_dim,),
                               out_bias, batch))
    return layers


def attention_params(mod: nn.MultiheadAttention) -> list[nn.Parameter]:
    """The parameters the layers of ``mod`` hold (bias_k / bias_v are not in a layer: extra_params)."""
    names = ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight")
    own = [getattr(mod, n) for n in names if getattr(mod, n, None) is not None]
    return own + [p for p in mod.out_proj.parameters()]
