"""The built-in importers; pyproject.toml's entry points name them, core's resolver loads them."""
from __future__ import annotations

from ..core import Importer, is_module_ref, read_topology
from .onnx import is_onnx_ref, load_onnx


def _is_topology(ref: str) -> bool:
    return ref.lower().endswith(".csv")


def _python_reader():
    from ..nn import network_from_ref  # torch, only once a Python reference is read
    return network_from_ref


def _small_cnn_reader():
    from ..nn.zoo import small_cnn_network  # torch, only once small_cnn is read
    return small_cnn_network


ONNX = Importer("onnx", is_onnx_ref, lambda: load_onnx)
SCALESIM_TOPOLOGY = Importer("scalesim-topology", _is_topology, lambda: read_topology)
PYTHON_REFERENCE = Importer("python", is_module_ref, _python_reader)
SMALL_CNN = Importer("small_cnn", lambda ref: ref == "small_cnn", _small_cnn_reader)
