"""Named plans: uniform rules and the paper's per-layer configurations.

``list_presets()`` gives name -> description; ``get_preset(name, network)`` builds the Plan
for one network (ValueError when the name is unknown or the preset does not fit the network).

Rule presets (computed from the layer list):

uniform-n2
    Every conv with a kernel larger than 1x1, except the network's first layer, gets
    Structure(c = C/groups, n = k - 1) per axis (a 3x3 becomes a 2x2 sum-pool + 2x2 conv; a
    depthwise 3x3 gets c = 1, n = 2; a 1x7 gets n = (1, 6)). 1x1 convs and linear layers stay
    dense. Applies to any network.

struct-hr-a  (seed 002, A.4 and Table 1; HRNet segmentation networks)
    c = C/groups everywhere (no channel structure); k x k convs get n = k - 1 (3x3 -> n = 2),
    1x1 convs get n = 1, i.e. Structure(C, 1), the dense-equivalent (zero sum-pool adds).
    Left dense: the first two convs (conv1, conv2), the last conv (last_layer.3, the classifier)
    and -- to reproduce Table 1 -- the 3x3 of the stage-1 Bottleneck (layer1.*.conv2). A.4's text
    names only the first two and the last conv, but structuring layer1.0.conv2 as well gives
    23.67e9 mults (Table 1: 24.5e9, -3.4 %) while leaving it dense gives 24.34e9 mults, 24.49e9
    adds and 0.770M params: -0.65 %, -0.44 %, +0.03 %, the same offsets as the dense network
    (-0.62 %, -0.45 %). ``struct-hr-a-literal`` is the text's reading.
    Strided convs (transition and fuse downsample chains) are structured: the sum-pool runs at
    stride 1 and the small conv keeps the stride (A.1.2). HRNet has no grouped convs; for one,
    C means the channels per group.

struct-psp-a  (seed 002, A.4 and Table 2; PSPNet)
    Every k x k conv except the first (layer0.0) -> Structure(C, k - 1), dilated ones included
    (sum-pool and small conv both keep the dilation, A.1.3), the aux head's 3x3 included; the
    pyramid-pooling 1x1 convs (ppm.*) -> Structure(round(2 C / 3), 1); every other 1x1 conv
    (bottleneck conv1/conv3, downsample.0) -> Structure(C, 1), the dense-equivalent; the final
    classifier convs (cls.4 and aux.4) stay dense. A.4's text gives round(2 C / 3) to *every*
    1x1 conv, but that yields 1088e9 mults (Table 2: 1327e9, -18 %), 35.9M params (43.0M, -16 %)
    and sum-pool adds of 281e9 that Table 2's adds (1325e9 < mults) cannot contain; the rule
    above gives 1323.0e9 mults (-0.30 %), 1322.6e9 adds (-0.18 %) on the inference graph
    (aux=False) and 42.96M params (-0.10 %) with the aux head counted, as Table 2 does.
    ``struct-psp-a-literal`` is the text's reading (every 1x1 conv but the classifiers).

Table presets (per-layer {c, n} stored as YAML under structconv/data/presets/):

struct-mv2-a, struct-mv2-b   Tables 6 and 7, torchvision MobileNetV2 (53 rows)
struct-effnet                Table 8, torchvision EfficientNet-B1 (69 rows + classifier: the
                             table's stage repeats [2, 3, 3, 4, 4, 5, 2] are B1's, not B0's);
                             squeeze-and-excitation convs are not in the table and stay dense.

Rows whose (c, n) equal (C, N) are kept as Structure (dense-equivalent, zero sum-pool adds).
"""
from __future__ import annotations

from functools import cache
from importlib import resources

from .checks import shown
from .choice import Choice, Structure
from .layer import Layer, Network
from .plan import Plan
from .readers import parse_yaml

_TABLES = {
    "struct-mv2-a": "struct-mv2-a.yaml",
    "struct-mv2-b": "struct-mv2-b.yaml",
    "struct-effnet": "struct-effnet.yaml",
}

_DESCRIPTIONS = {
    "uniform-n2": "every k x k conv (k > 1) but the first layer: c = C/groups, n = k - 1 (any network)",
    "struct-hr-a": "Struct-HR-A (seed 002 A.4, Table 1): c = C, n = 2 on 3x3; dense: conv1, conv2, "
                   "layer1.*.conv2, last_layer.3 (HRNet)",
    "struct-hr-a-literal": "A.4's text for HRNet: c = C, n = 2 on every 3x3 but conv1, conv2 and "
                           "last_layer.3 (HRNet)",
    "struct-psp-a": "Struct-PSP-A (seed 002 A.4, Table 2): 3x3 -> c = C, n = 2; PPM 1x1 -> "
                    "c = round(2C/3); dense: layer0.0, cls.4, aux.4 (PSPNet)",
    "struct-psp-a-literal": "A.4's text for PSPNet: 3x3 -> c = C, n = 2; every 1x1 -> c = round(2C/3); "
                            "dense: layer0.0, cls.4, aux.4 (PSPNet)",
    "struct-mv2-a": "Struct-MV2-A: per-layer {c, n} of Table 6 (seed 002) (mobilenet_v2)",
    "struct-mv2-b": "Struct-MV2-B: per-layer {c, n} of Table 7 (seed 002) (mobilenet_v2)",
    "struct-effnet": "Struct-EffNet: per-layer {c, n} of Table 8 (seed 002) (efficientnet_b1: the "
                     "table has B1's 69 layers)",
}


def list_presets() -> dict[str, str]:
    """Name -> one-line description of every preset."""
    return dict(_DESCRIPTIONS)


def preset_kind(name: str) -> str:
    """'rule' (computed from any network's layer list) or 'table' (per-layer rows for one network)."""
    if name not in _DESCRIPTIONS:
        raise ValueError(f"preset = {shown(name)} is not one of {sorted(_DESCRIPTIONS)}")
    return "table" if name in _TABLES else "rule"


def presets_for(network: Network) -> dict[str, Plan]:
    """name -> Plan of every preset that applies to ``network`` (those that do not are left out)."""
    out = {}
    for name in _DESCRIPTIONS:
        try:
            out[name] = get_preset(name, network)
        except ValueError:
            continue
    return out


# -- the YAML tables ------------------------------------------------------------
def _parse_dim(value, where: str) -> tuple[int, int, int, int]:
    parts = str(value).lower().replace(" ", "").split("x")
    try:
        dim = tuple(int(p) for p in parts)
    except ValueError:
        dim = ()
    if len(dim) != 4 or min(dim) < 1:
        raise ValueError(f"dim = {value!r} is not C_out x C x N x N with positive integers ({where})")
    return dim


@cache
def _load_table(name: str) -> tuple[str, tuple[dict, ...]]:
    fname = _TABLES[name]
    source = f"structconv/data/presets/{fname}"
    text = resources.files("structconv").joinpath("data", "presets", fname).read_text(encoding="utf-8")
    data = parse_yaml(text)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or "network" not in data:
        raise ValueError(f"{source}: a preset table is a mapping with 'network' and a 'rows' list")
    rows = []
    for i, row in enumerate(data["rows"], start=1):
        where = f"{source}, entry {i}"
        if not isinstance(row, dict) or set(row) != {"idx", "dim", "c", "n", "layer"}:
            raise ValueError(f"entry must have exactly the fields idx, dim, c, n, layer ({where}), "
                             f"got {row!r}")
        for k in ("c", "n"):
            if isinstance(row[k], bool) or not isinstance(row[k], int) or row[k] < 1:
                raise ValueError(f"{k} = {row[k]!r} must be a positive integer ({where})")
        rows.append({"idx": row["idx"], "dim": _parse_dim(row["dim"], where), "c": row["c"],
                     "n": row["n"], "layer": str(row["layer"])})
    return str(data["network"]), tuple(rows)


def preset_table(name: str) -> list[dict]:
    """The rows of a table preset: dicts with idx, dim (C_out, C, N, N), c, n, layer."""
    if name not in _TABLES:
        raise ValueError(f"preset = {shown(name)} is not a table preset; choose one of {sorted(_TABLES)}")
    return [dict(r) for r in _load_table(name)[1]]


def layer_dim(layer: Layer) -> tuple[int, int, int, int]:
    """(C_out, C/groups, kh, kw): the 'Dimension' column of the paper's tables."""
    return (layer.out_channels, layer.group_in_channels, layer.kernel[0], layer.kernel[1])


def _table_choices(name: str, net: Network) -> dict[str, Choice] | str:
    target, rows = _load_table(name)
    names = set(net.layer_names)
    out = {}
    for r in rows:
        if r["layer"] not in names:
            return (f"it is for {target}: table row {r['idx']} maps to layer {r['layer']!r}, which the "
                    f"network does not have")
        dim = layer_dim(net[r["layer"]])
        if dim != r["dim"]:
            return (f"it is for {target}: table row {r['idx']} is {'x'.join(map(str, r['dim']))} but "
                    f"layer {r['layer']!r} is {'x'.join(map(str, dim))}")
        out[r["layer"]] = Structure(r["c"], r["n"])
    return out


# -- rule presets ---------------------------------------------------------------
def _spatial_n(layer: Layer) -> tuple[int, int]:
    kh, kw = layer.kernel
    return (max(kh - 1, 1), max(kw - 1, 1))


def _is_kxk(layer: Layer) -> bool:
    return layer.op == "conv2d" and max(layer.kernel) > 1


def _uniform_n2(net: Network):
    return {l.name: Structure(l.group_in_channels, _spatial_n(l))
            for l in net.layers[1:] if _is_kxk(l)}


def _missing(net: Network, required, target: str) -> str | None:
    names = set(net.layer_names)
    lack = [n for n in required if n not in names]
    return f"it is for {target} and the network has no layer {lack[0]!r}" if lack else None


def _hr_a(net: Network, literal: bool):
    why = _missing(net, ("conv1", "conv2", "last_layer.3"),
                   "HRNet segmentation networks (hrnet_w18_small_v1)")
    if why:
        return why
    dense = {net.layers[0].name, net.layers[1].name, net.layers[-1].name}
    out = {}
    for l in net.layers:
        if l.name in dense or l.op != "conv2d":
            continue
        if _is_kxk(l):
            if not literal and l.name.startswith("layer1."):
                continue                                   # stage-1 Bottleneck 3x3: dense in Table 1
            out[l.name] = Structure(l.group_in_channels, _spatial_n(l))
        else:
            out[l.name] = Structure(l.group_in_channels, 1)     # c = C, n = 1: dense-equivalent
    return out


def _psp_a(net: Network, literal: bool):
    why = _missing(net, ("layer0.0", "cls.4"), "PSPNet (pspnet101)")
    if why:
        return why
    dense = {net.layers[0].name, "cls.4", "aux.4"}
    out = {}
    for l in net.layers:
        if l.name in dense or l.op != "conv2d":
            continue
        C = l.group_in_channels
        if _is_kxk(l):
            out[l.name] = Structure(C, _spatial_n(l))
        elif literal or l.name.startswith("ppm."):
            out[l.name] = Structure(max(1, round(2 * C / 3)), 1)
        else:
            out[l.name] = Structure(C, 1)                       # dense-equivalent
    return out


_RULES = {
    "uniform-n2": _uniform_n2,
    "struct-hr-a": lambda net: _hr_a(net, literal=False),
    "struct-hr-a-literal": lambda net: _hr_a(net, literal=True),
    "struct-psp-a": lambda net: _psp_a(net, literal=False),
    "struct-psp-a-literal": lambda net: _psp_a(net, literal=True),
}


def get_preset(name: str, network: Network) -> Plan:
    """The Plan of preset ``name`` for ``network`` (validated against it)."""
    if name not in _DESCRIPTIONS:
        raise ValueError(f"preset = {shown(name)} is not one of {sorted(_DESCRIPTIONS)}")
    if not isinstance(network, Network):
        raise ValueError(f"get_preset needs a Network, got {type(network).__name__}")
    choices = _table_choices(name, network) if name in _TABLES else _RULES[name](network)
    if isinstance(choices, str):
        raise ValueError(f"preset {shown(name)} does not apply to network {shown(network.name)}: {choices}")
    plan = Plan(choices, name=name, model=network.name)
    plan.validate(network)
    return plan
