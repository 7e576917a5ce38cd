"""Helpers shared by CLI commands: plan arguments, JSON output and the one error path."""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from structconv.core import dumps_json, shown

MAX_MESSAGE = 1000          # a message is one terminal line or a few: a safety net behind shown()


class CLIError(Exception):
    """A user error the CLI reports as one line (exit 2)."""


class StdoutError(OSError):
    """Standard output cannot be written (``> /dev/full``): reported as one line, not at interpreter exit."""


def add_plan_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="a named plan (see `structconv zoo`); rule presets such as uniform-n2 "
                                    "fit any network")
    g.add_argument("--plan", help="a plan file (YAML or JSON)")


MODEL_HELP = ("model: a zoo network (see `structconv zoo`), an ONNX file (model.onnx) or a Python reference "
              "(path/to/file.py:function or package.module:function returning a torch nn.Module)")


def add_model_args(p, help: str = MODEL_HELP, nargs=None) -> None:
    p.add_argument("model", help=help, **({"nargs": nargs} if nargs else {}))
    add_input_shape_arg(p)


def add_input_shape_arg(p) -> None:
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="input shape a Python model reference is traced at (default 1,3,224,224), or the "
                        "dimensions of an ONNX file whose input has symbolic ones")


def parse_input_shape(text) -> tuple[int, ...] | None:
    """--input-shape N,C,H,W: 2 to 5 positive integers."""
    if text is None:
        return None
    parts = [t.strip() for t in str(text).split(",")]
    if not 2 <= len(parts) <= 5 or not all(t.isdigit() and 1 <= int(t) <= 65536 for t in parts):
        raise CLIError(f"--input-shape = {shown(str(text))} must be 2 to 5 integers in [1, 65536], such as 1,3,224,224")
    return tuple(int(t) for t in parts)


def is_zoo_name(ref) -> bool:
    from structconv.core import list_networks

    return isinstance(ref, str) and ref in list_networks()


def resolve_model(ref, input_shape=None):
    """``core.resolve_network(ref)`` with --input-shape for a file or Python reference; the importer's
    warnings (compute it cannot count) as one 'structconv: warning:' line each on stderr."""
    from structconv.core import resolve_network

    shape = parse_input_shape(input_shape)
    options = {}
    if shape is not None:
        if is_zoo_name(ref):
            raise CLIError(f"--input-shape applies to ONNX files and Python references, not to zoo network {shown(ref)}")
        options["input_shape"] = shape
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = resolve_network(ref, **options)
    said = set()
    for w in seen:
        msg = one_line(w.message) if isinstance(w.message, BaseException) else str(w.message)
        if issubclass(w.category, UserWarning) and msg not in said:
            said.add(msg)
            print(f"structconv: warning: {_printable(msg)}", file=sys.stderr)
    return net


def import_info(net) -> dict:
    """What an imported model's counts leave out (``uncounted_ops``, notes), for --json; {} for zoo networks."""
    spec = getattr(net, "spec", None)
    if spec is None or not hasattr(spec, "uncounted_ops"):
        return {}
    return {"uncounted_ops": {k: list(v) for k, v in spec.uncounted_ops.items()}, "import_notes": list(spec.notes)}


def plan_ref(args):
    """The plan reference --preset/--plan give (None: dense), for ``core.resolve_plan``."""
    return getattr(args, "preset", None) or getattr(args, "plan", None)


def print_json(obj) -> None:
    sys.stdout.write(dumps_json(obj) + "\n")


def plain(value, limit: int = 60) -> str:
    """A name for a table or a heading: as is when short and printable, else ``shown()`` (quoted, escaped,
    cut), so a U+202E cannot reorder a line and a 100 kB name cannot flood the terminal."""
    text = str(value)
    return text if len(text) <= limit and text.isprintable() else shown(text, limit)


# -- the one error path ---------------------------------------------------------------------------
def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(e: BaseException) -> str:
    """The first line of an error's message, control characters escaped, capped at MAX_MESSAGE."""
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
    msg = _printable(msg)
    return msg if len(msg) <= MAX_MESSAGE else msg[:MAX_MESSAGE - 1] + "…"


def os_error_line(e: OSError) -> str:
    """'PATH': reason (-> 'PATH2') for an OSError, whichever call raised it."""
    reason = e.strerror or one_line(e)
    if e.filename is None:
        return reason
    line = f"{shown(os.fsdecode(e.filename))}: {reason}"
    return line + (f" (-> {shown(os.fsdecode(e.filename2))})" if e.filename2 is not None else "")


@contextmanager
def guarded_stdout():
    """Turn a failed write to stdout into StdoutError, so it is told apart from an unwritable output file."""
    real = sys.stdout
    sys.stdout = _GuardedStream(real)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _GuardedStream):
            sys.stdout = real


class _GuardedStream:
    def __init__(self, stream):
        self._stream = stream

    def _call(self, name, *a):
        try:
            return getattr(self._stream, name)(*a)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise StdoutError(e.errno, e.strerror) from None

    def write(self, s):
        return self._call("write", s)

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


# -- output locations, checked before any work so a bad one costs nothing and leaves nothing ------
def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(flag: str, path, target: Path) -> None:
    """``target`` (a directory to create or write in) can be made: its nearest existing ancestor is a
    writable directory."""
    anc = _nearest_existing(target.absolute())
    if not anc.is_dir():
        raise CLIError(f"{flag} {shown(str(path))}: {shown(str(anc))} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {shown(str(path))}: directory {shown(str(anc))} is not writable")


def check_out_dir(flag: str, path) -> None:
    """An output directory: an existing directory, or one that can be created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CLIError(f"{flag} {shown(str(path))} exists and is not a directory")
    _check_creatable(flag, path, p)


def check_out_file(flag: str, path) -> None:
    """An output file: not a directory, writable if it exists, in a directory that can be created."""
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{flag} {shown(str(path))} is a directory; give a file name")
    if p.exists() and not p.is_file():      # /dev/null: an atomic write would replace the device node
        raise CLIError(f"{flag} {shown(str(path))} exists and is not a regular file")
    if p.exists() and not os.access(p, os.W_OK):
        raise CLIError(f"{flag} {shown(str(path))} exists and is not writable")
    _check_creatable(flag, path, p.parent)


@contextmanager
def user_input(what: str):
    """Calls that read a user's file or value: the library's TypeErrors there are input errors (a list
    where a mapping belongs), not bugs, so they become one-line ValueErrors naming ``what``."""
    try:
        yield
    except TypeError as e:
        raise ValueError(f"{what}: {one_line(e)}") from e
