"""Layer names of ONNX nodes, the ones nn's tracer gives the same torch model (one plan serves both).

Where a torch exporter leaves the module a node ran in:
* the dynamo exporter: node metadata ``pkg.torch.onnx.name_scopes``, e.g. ``['', 'mlp', 'mlp.0', 'linear_2']``
  (the root, the qualified module names, the aten op last); ``namespace`` (``: Net/mlp: Sequential/mlp.0:
  Linear/linear_2: aten.linear.default``) when the first is missing;
* the TorchScript exporter: the node's name, ``/blocks/blocks.0/attn/MatMul`` (attribute names, qualified
  inside containers only, separated by '/').
A weighted layer is named by its weight less ``.weight`` (or ``_weight``: MultiheadAttention's
``in_proj_weight``), else its bias less ``.bias`` / ``_bias``, else a parameter used as is, else the module
it ran in: exporters rename weights they transpose or fold (``val_12``, ``onnx::MatMul_183``); inside a module
that runs as nn.MultiheadAttention does (projections, two products, a projection), by the projection's role
(``in_proj``, ``out_proj``...). A product of two activations is ``<module>.matmul<i>``, the i-th in that
module, as the tracer counts them.
"""
from __future__ import annotations

import math
import re

#: initializers an exporter made (folded or lifted constants), not the torch model's parameters
EXPORTER_MADE = re.compile(r"val_[0-9]+|onnx::.*|(c_)?lifted_tensor_[0-9]+|_tensor_constant[0-9]+")

#: longest name-scope metadata read (a longer one is not a torch exporter's)
MAX_SCOPE_CHARS = 4096
#: the dynamo exporter's scope list, ``['', 'blocks', 'blocks.0', 'linear']``: quoted names, no quotes inside
_SCOPE_ITEM = re.compile(r"'([^'\\]*)'")
_SCOPE_LIST = re.compile(r"\[\s*(?:'[^'\\]*'\s*,\s*)*(?:'[^'\\]*'\s*)?\]")


def _metadata(node) -> dict:
    return {p.key: p.value for p in getattr(node, "metadata_props", ())}


def _dynamo_scopes(meta: dict) -> list[str] | None:
    text = meta.get("pkg.torch.onnx.name_scopes")
    if text is not None and len(text) <= MAX_SCOPE_CHARS and _SCOPE_LIST.fullmatch(text):
        return _SCOPE_ITEM.findall(text)             # read as text: nothing in a file is evaluated
    text = meta.get("namespace")
    if text is not None and len(text) <= MAX_SCOPE_CHARS:
        return [part.split(":")[0].strip() for part in text.split("/")]
    return None


def node_scope(node) -> str | None:
    """The qualified name of the module ``node`` ran in ('' for the model's own forward), None when the
    file does not say."""
    scopes = _dynamo_scopes(_metadata(node))
    if scopes is None and node.name.startswith("/"):
        scopes = node.name.split("/")
    if scopes is None or len(scopes) < 2:
        return None
    return _qualified(re.sub(r"@[0-9]+$", "", v) for v in scopes[1:-1])


def _qualified(scopes) -> str:
    """The module's qualified name from its scopes: dynamo's are qualified already (``blocks``, ``blocks.0``,
    ``blocks.0.attn``); TorchScript's are attribute names, qualified inside containers only (``blocks``,
    ``blocks.0``, ``attn``)."""
    name = ""
    for part in scopes:
        name = part if not name or part.startswith(name + ".") else f"{name}.{part}"
    return name


def is_exporter_made(name: str) -> bool:
    return bool(EXPORTER_MADE.fullmatch(name))


#: the dynamo exporter's record of which inputs of the exported program were parameters
SIGNATURE_KEY = "pkg.torch.export.ExportedProgram.graph_signature"
MAX_SIGNATURE_CHARS = 1 << 24


def exported_parameters(model) -> set[str] | None:
    """Names of the torch model's parameters, from the graph signature the dynamo exporter stores (its
    constants folded into scalars get other names: ``clone``, ``sum_1``); None without one."""
    for p in list(model.graph.metadata_props) + list(model.metadata_props):
        if p.key == SIGNATURE_KEY and len(p.value) <= MAX_SIGNATURE_CHARS:
            return set(re.findall(r": PARAMETER target='([^'\n]*)'", p.value))
    return None


def is_made_scalar(name: str, dims, parameters: set[str] | None) -> bool:
    """A one-element initializer an exporter made, not a parameter: not among the signature's parameters,
    or (no signature) named as exporters name what they make (``lifted_tensor_3``, ``val_75``)."""
    if math.prod(dims) > 1:
        return False
    return name not in parameters if parameters is not None else is_exporter_made(name)


def param_base(name: str | None, suffix: str) -> str | None:
    """``name`` less ``.<suffix>`` or ``_<suffix>`` (a module's, or MultiheadAttention's in_proj_<suffix>)."""
    for end in (f".{suffix}", f"_{suffix}"):
        if name and name.endswith(end) and len(name) > len(end):
            return name[: -len(end)]
    return None


def weighted_name(node, weight: str | None, bias: str | None, params, roles: dict) -> str | None:
    """The layer name of a node with a weight, None when nothing names it (see the module doc)."""
    for base in (param_base(weight, "weight"), param_base(bias, "bias")):
        if base:
            return base
    if weight in params and not is_exporter_made(weight):
        return weight                          # a parameter used functionally (F.conv2d(x, self.w))
    scope = node_scope(node)
    if id(node) in roles:
        return f"{scope}.{roles[id(node)]}" if scope else roles[id(node)]
    return scope or None


#: nn.MultiheadAttention's in-projections, by how many torch runs (nn/attention.py names them alike)
IN_PROJECTIONS = {1: ("in_proj",), 2: ("q_proj", "kv_proj"), 3: ("q_proj", "k_proj", "v_proj")}


def attention_roles(products: list) -> dict[int, str]:
    """{id(node): role} of the unnamed projections of one attention call: in a module scope whose weighted
    products (kind 'w') and activation products ('p') run as nn.MultiheadAttention's do, in-projections,
    q.k^T, attn.v, out_proj. ``products``: (kind, node) of every MatMul/Gemm in file order."""
    by_scope: dict[str, list] = {}
    for kind, node in products:
        scope = node_scope(node)
        if scope:
            by_scope.setdefault(scope, []).append((kind, node))
    roles = {}
    for seq in by_scope.values():
        kinds = "".join(k for k, _ in seq)
        names = IN_PROJECTIONS.get(len(kinds) - 3)
        if names and kinds == "w" * len(names) + "ppw":
            roles.update((id(n), role) for (_, n), role in zip(seq, names + ("", "", "out_proj")) if role)
    return roles


def product_name(node, counts: dict) -> str | None:
    """``<module>.matmul<i>`` of a product of two activations (``counts``: products named per module)."""
    scope = node_scope(node)
    if scope is None:
        return None
    i = counts.get(scope, 0)
    counts[scope] = i + 1
    return f"{scope}.matmul{i}" if scope else f"matmul{i}"
