"""Read and write SCALE-Sim topology CSV files.

Conv topology (SCALE-Sim 2/3)::

    Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
    conv1, 230, 230, 7, 7, 3, 64, 2,

Every row ends with a comma: SCALE-Sim splits a row on ',' and drops the last field, so a row
without the trailing comma silently loses its stride. ``read_topology`` therefore requires the
trailing comma; text after it is accepted only when empty or a '#' comment (SCALE-Sim ignores it).
An optional ninth column ``Sparsity`` (``N:M``) is accepted only as ``1:1`` (dense).

GEMM topology (SCALE-Sim's ``mnk`` mode), header ``Layer, M, N, K,``: an (M x K) by (K x N)
product becomes a 1x1 conv with K input channels and N filters on an M x 1 input, the same
(ofmap pixels, filters, window) = (M, N, K) SCALE-Sim derives from it.

Semantics of a conv row, read into a :class:`Layer`:

* SCALE-Sim's ifmap is already padded, so padding is 0 and input_size is the ifmap.
* One stride column: the same stride along both axes.
* A row with a 1x1 ifmap and a 1x1 filter (SCALE-Sim's FC rows) becomes a linear layer (no bias).
* A layer name containing ``DP`` is depthwise to SCALE-Sim (it runs the row once per channel
  with Channels = 1): it becomes a conv with groups = Channels, in = Channels and
  out = Channels x Num Filter.
* SCALE-Sim computes ofmap = ceil((ifmap - filter + stride) / stride); when
  (ifmap - filter) % stride != 0 that is one more row/column than PyTorch's floor formula our
  Layer uses (SCALE-Sim adds a window hanging off the input). The Layer keeps PyTorch's count;
  ``write_topology`` never produces such rows (see below).

``write_topology`` is the reverse: the ifmap written is the padded input, H + 2p, trimmed to
(Ho - 1) * s + k when the last rows/columns of padding are never read (otherwise SCALE-Sim's ceil
would simulate one extra output row/column); with that trim SCALE-Sim's ofmap equals the layer's
output size. SCALE-Sim cannot express dilation or unequal strides (``ValueError``), nor bias or
BatchNorm (not written). Groups: a depthwise layer (one input channel per group) is written as
one ``DP`` row (``_DP`` appended to its name when the name lacks it), which SCALE-Sim splits
per channel; a grouped conv is written as one row per group (``<name>.g<i>``, Channels = C/g,
Num Filter = C_out/g) with ``groups='split'`` (default) or raises with ``groups='raise'``.
A layer with more than one input channel per group whose name contains ``DP`` (SCALE-Sim would
split it per channel), or a name containing a comma, raises.
"""
from __future__ import annotations

from pathlib import Path

from .files import atomic_write_text
from .layer import Layer, Network
from .readers import read_text

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                "Channels", "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer", "M", "N", "K")
SPARSITY_COLUMN = "Sparsity"


def _norm(s: str) -> str:
    return " ".join(s.strip().lower().split())


def _split_row(text: str, where: str) -> list[str]:
    """Fields of one CSV row, checking SCALE-Sim's trailing comma."""
    fields = text.split(",")
    tail = fields[-1].strip()
    if len(fields) < 2 or (tail and not tail.startswith("#")):
        raise ValueError(f"{where}: the row must end with a comma (SCALE-Sim drops the field after "
                         f"the last comma), got {text.strip()!r}")
    return [f.strip() for f in fields[:-1]]


def _int(value: str, column: str, where: str, lo: int = 1) -> int:
    try:
        v = int(value)
    except ValueError:
        raise ValueError(f"{where}, column {column!r}: value {value!r} is not an integer") from None
    if v < lo:
        raise ValueError(f"{where}, column {column!r}: value {v} must be >= {lo}")
    return v


def read_topology(path, name: str | None = None) -> Network:
    """Parse a SCALE-Sim topology CSV (conv or GEMM format) into a Network.

    Strict: a malformed row raises ValueError naming the file, the row (its 1-based line number
    in the file), the column and the value.
    """
    path = Path(path)
    lines = read_text(path, "topology file").splitlines()
    header_no, gemm = _header(lines, path)
    columns = GEMM_COLUMNS if gemm else CONV_COLUMNS
    layers: list[Layer] = []
    seen: dict[str, int] = {}
    for i in range(header_no + 1, len(lines)):
        if lines[i].strip():
            layers.append(_row_layer(lines[i], columns, gemm, seen, f"{path}: row {i + 1}"))
            seen[layers[-1].name] = i + 1
    if not layers:
        raise ValueError(f"{path}: the topology file has a header but no layer rows")
    first = layers[0]
    return Network(name or path.stem, (first.in_channels, *first.input_size), tuple(layers))


def _header(lines: list[str], path: Path) -> tuple[int, bool]:
    """(line index of the header, whether it is the GEMM format)."""
    header_no = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_no is None:
        raise ValueError(f"{path}: the topology file is empty")
    header = [_norm(h) for h in lines[header_no].split(",")]
    while header and header[-1] == "":
        header.pop()
    if header[:8] == [_norm(c) for c in CONV_COLUMNS] and header[8:] in ([], [_norm(SPARSITY_COLUMN)]):
        return header_no, False
    if header == [_norm(c) for c in GEMM_COLUMNS]:
        return header_no, True
    raise ValueError(f"{path}: row {header_no + 1}: header {lines[header_no].strip()!r} is neither the "
                     f"conv header {', '.join(CONV_COLUMNS)}, nor the GEMM header {', '.join(GEMM_COLUMNS)}")


def _row_layer(raw: str, columns, gemm: bool, seen: dict, where: str) -> Layer:
    fields = _split_row(raw, where)
    if not (len(columns) <= len(fields) <= len(columns) + (0 if gemm else 1)):
        raise ValueError(f"{where}: expected {len(columns)} fields ({', '.join(columns)}) before the "
                         f"trailing comma, got {len(fields)}: {raw.strip()!r}")
    lname = fields[0]
    if not lname:
        raise ValueError(f"{where}, column {columns[0]!r}: value '' is empty; every layer needs a name")
    if lname in seen:
        raise ValueError(f"{where}, column {columns[0]!r}: value {lname!r} repeats the name "
                         f"of row {seen[lname]}")
    if gemm:
        m, n, k = (_int(fields[j], columns[j], where) for j in (1, 2, 3))
        return Layer.conv2d(lname, k, n, 1, (m, 1))
    if len(fields) == 9 and fields[8].replace(" ", "") != "1:1":
        raise ValueError(f"{where}, column {SPARSITY_COLUMN!r}: value {fields[8]!r} is not supported; "
                         f"only dense layers (1:1) can be read")
    h, w, fh, fw, ch, nf, s = (_int(fields[j], columns[j], where) for j in range(1, 8))
    if fh > h:
        raise ValueError(f"{where}, column 'Filter Height': value {fh} is larger than IFMAP Height = {h}")
    if fw > w:
        raise ValueError(f"{where}, column 'Filter Width': value {fw} is larger than IFMAP Width = {w}")
    if "DP" in lname:                                   # SCALE-Sim's depthwise convention
        return Layer.conv2d(lname, ch, ch * nf, (fh, fw), (h, w), stride=s, groups=ch)
    if (h, w, fh, fw, s) == (1, 1, 1, 1, 1):
        return Layer.linear(lname, ch, nf, bias=False)
    return Layer.conv2d(lname, ch, nf, (fh, fw), (h, w), stride=s)


def _ifmap_extent(size: int, pad: int, kernel: int, stride: int, out: int) -> int:
    """Padded input length, trimmed to the part the ``out`` windows read."""
    return min(size + 2 * pad, (out - 1) * stride + kernel)


MAX_ROWS = 100_000      # SCALE-Sim simulates row by row; the zoo networks it can take have at most 116


def topology_rows(network: Network, groups: str = "split") -> list[tuple]:
    """(name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filter, stride) per SCALE-Sim row."""
    if groups not in ("split", "raise"):
        raise ValueError(f"groups = {groups!r} is not one of ['raise', 'split']")
    rows = []
    for l in network.layers:
        where = f"layer {l.name!r} of network {network.name!r}"
        if "," in l.name or "\n" in l.name:
            raise ValueError(f"{where}: a SCALE-Sim layer name cannot contain a comma or a newline")
        if l.op == "linear":
            rows.append((l.name, 1, 1, 1, 1, l.in_channels, l.out_channels, 1))
            continue
        if l.dilation != (1, 1):
            raise ValueError(f"{where}: dilation = {l.dilation} cannot be written; SCALE-Sim has no dilation")
        if l.stride[0] != l.stride[1]:
            raise ValueError(f"{where}: stride = {l.stride} cannot be written; SCALE-Sim has one stride "
                             f"for both axes")
        s = l.stride[0]
        (H, W), (ph, pw), (kh, kw) = l.input_size, l.padding, l.kernel
        ho, wo = l.output_size
        ih, iw = _ifmap_extent(H, ph, kh, s, ho), _ifmap_extent(W, pw, kw, s, wo)
        if l.groups == 1:
            if "DP" in l.name and l.in_channels > 1:   # one channel: SCALE-Sim's split is a no-op
                raise ValueError(f"{where}: SCALE-Sim treats a name containing 'DP' as depthwise; "
                                 "rename the layer")
            rows.append((l.name, ih, iw, kh, kw, l.in_channels, l.out_channels, s))
        elif l.is_depthwise:
            name = l.name if "DP" in l.name else f"{l.name}_DP"
            rows.append((name, ih, iw, kh, kw, l.in_channels, l.out_channels // l.groups, s))
        elif groups == "raise":
            raise ValueError(f"{where}: groups = {l.groups} cannot be written as one SCALE-Sim row; "
                             f"use groups='split' to write one row per group")
        else:
            if "DP" in l.name:
                raise ValueError(f"{where}: SCALE-Sim treats a name containing 'DP' as depthwise; "
                                 "rename the layer")
            if len(rows) + l.groups > MAX_ROWS:
                raise ValueError(f"{where}: groups = {l.groups} would make the topology longer than "
                                 f"{MAX_ROWS:,} rows (one per group); SCALE-Sim runs a row at a time")
            for g in range(l.groups):
                rows.append((f"{l.name}.g{g}", ih, iw, kh, kw, l.group_in_channels,
                             l.out_channels // l.groups, s))
    names = [r[0] for r in rows]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"network {network.name!r}: SCALE-Sim row name {dup!r} would appear twice")
    return rows


def write_topology(network: Network, path, groups: str = "split") -> Path:
    """Write ``network`` as a SCALE-Sim conv topology CSV (trailing comma on every row)."""
    lines = [", ".join(CONV_COLUMNS) + ","]
    lines += [", ".join(str(v) for v in row) + "," for row in topology_rows(network, groups)]
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
