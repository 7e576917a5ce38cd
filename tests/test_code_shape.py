"""The shape issue 17 asks of the code: short command modules, short functions, few parameters.

Parameters are counted as written, ``self``/``cls`` excluded and ``*args``/``**kwargs`` one each.
Record and settings constructors may take more (they name their fields); they are listed here. Numba
kernels (``@njit``) take plain arrays and scalars, so they are held to the line limit only.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "structconv"
MAX_LINES, MAX_PARAMS, MAX_CLI_MODULE = 80, 8, 120
# record factories: Layer.conv2d takes nn.Conv2d's arguments plus the layer's name and input size
RECORD_CONSTRUCTORS = {"core/layer.py:Layer.conv2d"}


def _functions(source: str, filename: str = "<source>"):
    """(qualified name, node) of every function in ``source``, methods as Class.name."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
    yield from walk(ast.parse(source, filename), "")


def _params(fn) -> int:
    a = fn.args
    named = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
    return len(named) + (a.vararg is not None) + (a.kwarg is not None)


def _shaped_functions():
    for path in sorted(ROOT.rglob("*.py")):
        for name, fn in _functions(path.read_text(), str(path)):
            yield f"{path.relative_to(ROOT).as_posix()}:{name}", fn


def _is_kernel(fn) -> bool:
    """A Numba kernel: decorated with njit / jit, called or not."""
    def name(d):
        d = d.func if isinstance(d, ast.Call) else d
        return d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
    return any(name(d) in ("njit", "jit") for d in fn.decorator_list)


def test_no_function_over_80_lines():
    long = [f"{where}: {fn.end_lineno - fn.lineno + 1} lines" for where, fn in _shaped_functions()
            if fn.end_lineno - fn.lineno + 1 > MAX_LINES]
    assert long == []


def test_no_function_over_8_parameters_but_record_constructors():
    many = [f"{where}: {_params(fn)} parameters" for where, fn in _shaped_functions()
            if _params(fn) > MAX_PARAMS and where not in RECORD_CONSTRUCTORS and not _is_kernel(fn)]
    assert many == []


def test_the_allowances_are_still_needed():
    """An allowance whose function went or got short is stale: the list says only what is true."""
    counts = {where: _params(fn) for where, fn in _shaped_functions()}
    assert {w for w in RECORD_CONSTRUCTORS if counts.get(w, 0) > MAX_PARAMS} == RECORD_CONSTRUCTORS


@pytest.mark.parametrize("path", sorted((ROOT / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_modules_are_short(path):
    assert len(path.read_text().splitlines()) <= MAX_CLI_MODULE


def test_the_scan_sees_a_long_function_and_a_wide_one():
    """The checks can fail: the scan counts a made-up long, wide function."""
    src = "class C:\n    def f(self, a, b, c, d, e, f, g, h, *i, **j):\n" + "        x = 1\n" * 90
    ((name, fn),) = list(_functions(src))
    assert name == "C.f" and _params(fn) == 10 and fn.end_lineno - fn.lineno + 1 == 91
    assert not _is_kernel(fn)


def test_the_scan_tells_a_numba_kernel():
    src = ("@njit(**FLAGS)\ndef k(a):\n    pass\n@numba.njit\ndef j(a):\n    pass\n"
           "@cache\ndef p(a):\n    pass\n")
    assert [_is_kernel(fn) for _, fn in _functions(src)] == [True, True, False]


def test_the_scan_covers_every_package():
    """The limits hold for the whole package, the Numba kernels and the commands included."""
    where = {w.split("/")[0] for w, _ in _shaped_functions()}
    assert {"analysis", "cli", "core", "importers", "nn", "rtl", "search", "sim"} <= where
