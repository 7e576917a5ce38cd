"""structconv.core: the data model, the structure math and exact op counting.

numpy, pyyaml and the standard library only: no torch, optuna or plotly here.
"""
from .choice import Choice, Dense, Structure, choice_from_dict
from .counting import LayerCost, NetworkCost, OpCount, count_network, count_ops, sumpool_output_size
from .layer import Layer, Network
from .files import atomic_path, atomic_write_bytes, atomic_write_text
from .plan import Plan
from .structure import alphas, basis_matrix, compose, project, structural_residual

__all__ = [
    "Choice", "Dense", "Structure", "choice_from_dict", "Layer", "Network", "Plan", "OpCount",
    "LayerCost", "NetworkCost", "count_ops", "count_network", "sumpool_output_size",
    "basis_matrix", "project", "alphas", "compose", "structural_residual", "atomic_write_text", "atomic_write_bytes", "atomic_path",
]
