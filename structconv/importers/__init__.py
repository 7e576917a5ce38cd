"""structconv.importers: the model references that become core Networks, one ``Importer`` each.

pyproject.toml names each of them in the ``structconv.importers`` entry point group, which
``core.resolve_network`` reads (a plugin package adds its own the same way, docs/extending.md):

* ``ONNX``: ``*.onnx`` files, read by ``load_onnx`` (onnx and numpy, no torch);
* ``SCALESIM_TOPOLOGY``: SCALE-Sim topology ``*.csv`` files (core's ``read_topology``);
* ``PYTHON_REFERENCE``: ``path/to/file.py:build`` or ``package.module:build``, a function that builds
  a torch module, which nn traces;
* ``SMALL_CNN``: ``small_cnn``, nn's small network of our own, traced the same way.

Importing this package imports neither torch nor onnx: matching a reference is string work, and an
importer's reader imports what it needs (onnx, or nn and torch) only when it reads a reference.
"""
from .builtin import ONNX, PYTHON_REFERENCE, SCALESIM_TOPOLOGY, SMALL_CNN
from .onnx import is_onnx_ref, load_onnx

__all__ = ["ONNX", "PYTHON_REFERENCE", "SCALESIM_TOPOLOGY", "SMALL_CNN", "load_onnx", "is_onnx_ref"]
