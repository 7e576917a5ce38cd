"""The IDX file format of MNIST-style data sets (LeCun's MNIST, Fashion-MNIST, KMNIST, EMNIST ...).

    magic   2 zero bytes, 1 byte type code, 1 byte number of dimensions d
    dims    d big-endian uint32 sizes
    data    prod(dims) values of the type, big-endian, row-major

Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
A file may be gzip-compressed (recognised by its first bytes, not its name). ``read_idx`` is
strict: an unknown code, a zero-dimensional header, a zero size or a data part of the wrong
length is a one-line ValueError naming the file.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ...core import atomic_write_bytes

#: IDX type code -> big-endian numpy dtype
IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}

#: the largest data part read (16 GiB): a header claiming more is refused before reading
MAX_IDX_BYTES = 1 << 34
_GZIP_MAGIC = b"\x1f\x8b"


def _bad(path, msg: str) -> ValueError:
    return ValueError(f"IDX file {str(path)!r}: {msg}")


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exact(f, n: int, path, what: str) -> bytes:
    try:
        b = f.read(n)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise _bad(path, f"cannot be read ({type(e).__name__}: {e})") from None
    if len(b) != n:
        raise _bad(path, f"{what}: expected {n} bytes, the file ends after {len(b)}")
    return b


def _header(f, path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = _read_exact(f, 4, path, "magic number")
    if magic[0] or magic[1]:
        raise _bad(path, f"magic number 0x{magic.hex()} does not start with two zero bytes (not an IDX file)")
    if magic[2] not in IDX_TYPES:
        raise _bad(path, f"type code 0x{magic[2]:02x} is not one of "
                         f"{[f'0x{c:02x}' for c in IDX_TYPES]}")
    ndim = magic[3]
    if ndim == 0:
        raise _bad(path, "number of dimensions = 0 is out of range [1, 255]")
    dims = tuple(int(d) for d in np.frombuffer(_read_exact(f, 4 * ndim, path, "dimensions"), ">u4"))
    if 0 in dims:
        raise _bad(path, f"dimensions {list(dims)} hold a zero size")
    return IDX_TYPES[magic[2]], dims


def read_idx(path) -> np.ndarray:
    """The array of IDX file ``path`` (gzip-compressed or not), in native byte order."""
    path = Path(path)
    if not path.is_file():
        raise _bad(path, "no such file")
    try:
        f = _open(path)
    except OSError as e:
        raise _bad(path, f"cannot be opened ({e.strerror or e})") from None
    with f:
        dtype, dims = _header(f, path)
        nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize
        if nbytes > MAX_IDX_BYTES:
            raise _bad(path,
                       f"dimensions {list(dims)} need {nbytes} bytes, out of range [1, {MAX_IDX_BYTES}]")
        data = _read_exact(f, nbytes, path, f"data of shape {list(dims)} ({dtype.name})")
        if _read_exact_or_empty(f, path):
            raise _bad(path, f"holds bytes after the data of shape {list(dims)} ({nbytes} bytes)")
    return np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _read_exact_or_empty(f, path) -> bytes:
    try:
        return f.read(1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise _bad(path, f"cannot be read ({type(e).__name__}: {e})") from None


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically; gzip when ``compress`` (default: the name ends in .gz)."""
    a = np.asarray(array)
    code = _CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array dtype {a.dtype} is not one of {[str(d) for d in _CODES]}")
    if not 1 <= a.ndim <= 255 or 0 in a.shape:
        raise ValueError(f"array shape {list(a.shape)} needs 1..255 dimensions, none of size 0")
    path = Path(path)
    raw = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
           + np.ascontiguousarray(a, IDX_TYPES[code]).tobytes())
    if compress if compress is not None else path.name.endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    atomic_write_bytes(path, raw)
    return path


def find_idx(data_dir: Path, stem: str) -> Path:
    """``data_dir/stem`` or ``data_dir/stem.gz``, whichever exists (FileNotFoundError-like ValueError)."""
    for name in (stem, stem + ".gz"):
        p = data_dir / name
        if p.is_file() and os.access(p, os.R_OK):
            return p
    raise ValueError(f"data_dir {str(data_dir)!r} has no readable {stem!r} or {stem + '.gz'!r}")
