"""Model references for the CLI and ``core.resolve_network``: a Python function that builds a torch
module (``path/to/file.py:build`` or ``package.module:build``), traced at an input shape.

``network_from_ref(ref, input_shape=(1, 3, 224, 224))`` reads them for the ``python`` importer
(structconv.importers); ``load_module_ref(ref)`` gives the module itself (train, decompose). Every bad
reference is a one-line ValueError: a missing file or module, a missing function, a function that
fails or does not return an ``nn.Module``, an input shape the model rejects.
"""
from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path

from ..core import ImportInfo, Network, check_input_shape, is_module_ref, shown
from .user_code import home_of, user_code

DEFAULT_INPUT_SHAPE = (1, 3, 224, 224)


def _split(ref: str) -> tuple[str, str]:
    target, sep, fn = ref.rpartition(":")
    return target, fn


def _load_file(path: str, ref: str):
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"model {shown(ref)}: file {shown(path)} does not exist")
    mod_name = f"structconv_user_model_{abs(hash(str(p.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:                                  # the user's code: any failure is their input's
        raise ValueError(f"model {shown(ref)}: running {shown(path)} failed: "
                         f"{type(e).__name__}: {_first(e)}") from e
    return module


def _first(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _load_package(target: str, ref: str):
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise ValueError(f"model {shown(ref)}: no module named {shown(e.name or target)}") from e
    except Exception as e:
        raise ValueError(f"model {shown(ref)}: importing {shown(target)} failed: "
                         f"{type(e).__name__}: {_first(e)}") from e


def load_module_ref(ref: str):
    """The ``nn.Module`` the function named by ``ref`` returns (called with no arguments), run inside
    the fence of user_code.py (its prints to stderr, its ``sys.exit`` a ValueError, ``sys.path`` kept)."""
    if not is_module_ref(ref):
        raise ValueError(f"model {shown(ref)} is not a Python reference: give path/to/file.py:function "
                         f"or package.module:function")
    target, fn = _split(ref)
    with user_code(ref, "loaded", home_of(ref)):    # the file's own imports of its neighbours work meanwhile
        module = _load_file(target, ref) if target.lower().endswith(".py") else _load_package(target, ref)
        return _built(module, ref, target, fn)


def _built(module, ref: str, target: str, fn: str):
    from torch import nn

    builder = getattr(module, fn, None)
    if builder is None:
        raise ValueError(f"model {shown(ref)}: {shown(target)} has no function {shown(fn)}")
    if not callable(builder):
        raise ValueError(f"model {shown(ref)}: {shown(fn)} is a {type(builder).__name__}, not a function")
    if isinstance(builder, nn.Module):
        return builder
    try:
        model = builder()
    except Exception as e:
        raise ValueError(f"model {shown(ref)}: calling {fn}() failed: {type(e).__name__}: {_first(e)}") from e
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {shown(ref)}: {fn}() returned a {type(model).__name__}, "
                         "not a torch.nn.Module")
    return model


def confirmed_reference(name: str, given: str | None, source: str) -> str:
    """``name``, unless it is a Python reference that only ``source`` (a checkpoint, a saved model)
    records: a file does not get to run code; the caller confirms by naming it again (``given``)."""
    if is_module_ref(name) and given != name:
        raise ValueError(f"{source} records model reference {shown(name)}; it is not run from a file: "
                         f"pass --model {shown(name)} (in Python: model={shown(name)}) to confirm")
    return name


def network_from_ref(ref: str, input_shape=None, name: str | None = None, input_size=None,
                     in_channels: int | None = None, module=None) -> Network:
    """The Network of the module ``ref`` builds, traced on zeros of ``input_shape`` (default 1,3,224,224).

    ``input_size`` (H, W) and ``in_channels`` adjust the default shape (what a training checkpoint
    records); ``module`` is the built module when the caller has it already.
    """
    import torch

    from .devices import check_input_memory, check_trace_memory
    from .trace import trace_module

    shape = list(check_input_shape(input_shape or DEFAULT_INPUT_SHAPE))
    if input_size is not None and len(shape) == 4:
        shape[2:] = [int(v) for v in input_size]
    if in_channels is not None and len(shape) >= 3:
        shape[1] = int(in_channels)
    check_input_memory(shape)                       # before the user's code runs or anything is allocated
    model = load_module_ref(ref) if module is None else module
    try:
        dtype = next(model.parameters()).dtype
    except StopIteration:
        raise ValueError(f"model {shown(ref)}: the module has no parameters") from None
    with user_code(ref, "traced", home_of(ref)):
        check_trace_memory(model, shape, dtype)
        try:
            net, notes = trace_module(model, torch.zeros(shape, dtype=dtype), name or _default_name(ref))
        except Exception as e:                       # the user's forward: any failure is about their input
            kind = "" if isinstance(e, ValueError) else f"{type(e).__name__}: "
            raise ValueError(f"model {shown(ref)} at input shape {','.join(map(str, shape))}: {kind}"
                             f"{_first(e)}") from e
    for msg in notes:
        warnings.warn(f"{name or _default_name(ref)}: {msg}", UserWarning, stacklevel=2)
    info = ImportInfo(str(ref), "python", {}, tuple(notes))
    return Network(net.name, net.input_shape, net.layers, net.extra_params, spec=info)


def _default_name(ref: str) -> str:
    target, fn = _split(ref)
    stem = Path(target).stem if target.lower().endswith(".py") else target.rsplit(".", 1)[-1]
    return f"{stem}:{fn}"
