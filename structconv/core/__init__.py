"""structconv.core: the data model, the Choice protocol, exact op counting and the one way in.

numpy, pyyaml and the standard library only: no torch, optuna or plotly here.
Other packages import core only through this module (and the ``core.zoo`` package).
"""
from .checks import FieldError, choice_field, int_field, pair_field, printable, shown, where_suffix
from .choice import Choice, Dense, Part, Structure, choice_from_dict, choice_kinds, register_choice
from .counting import LayerCost, NetworkCost, count_network, count_ops
from .designs import DESIGNS, DWPW, GCPWG, PWDWPW, PWGDWPWG, admissible_designs
from .files import (
                    atomic_path,
                    atomic_write_bytes,
                    atomic_write_text,
                    dumps_json,
                    remove_orphans,
                    to_jsonable,
                    umask,
                    write_data_file,
)
from .layer import Layer, Network
from .layer_shapes import conv_layer, linear_layer, matmul_layer, tf_same_pads, transposed_layer
from .ops import OpCount, dense_ops, structured_ops, sumpool_output_size
from .paper import compare_paper_tables
from .pareto import pareto_mask
from .plan import Plan
from .presets import get_preset, layer_dim, list_presets, preset_kind, preset_table, presets_for
from .readers import load_data_file, parse_json, parse_yaml, read_jsonl, read_text
from .refs import ImportInfo, check_input_shape, is_module_ref
from .resolve import Importer, importers, register_importer, resolve_network, resolve_plan
from .scalesim_csv import read_topology, write_topology
from .structure import alphas, basis_matrix, compose, project, structural_residual
from .zoo import get_network, list_networks

__all__ = [
    "Choice", "Dense", "Structure", "Part", "choice_from_dict", "choice_kinds", "register_choice",
    "DESIGNS", "DWPW", "GCPWG", "PWDWPW", "PWGDWPWG", "admissible_designs",
    "Layer", "Network", "Plan", "OpCount", "LayerCost", "NetworkCost", "count_ops", "count_network",
    "dense_ops", "structured_ops", "sumpool_output_size",
    "resolve_network", "resolve_plan", "register_importer", "importers", "Importer",
    "ImportInfo", "check_input_shape", "is_module_ref",
    "conv_layer", "transposed_layer", "linear_layer", "matmul_layer", "tf_same_pads",
    "get_network", "list_networks", "get_preset", "list_presets", "preset_kind", "presets_for",
    "preset_table", "layer_dim", "compare_paper_tables", "read_topology", "write_topology", "pareto_mask",
    "basis_matrix", "project", "alphas", "compose", "structural_residual",
    "atomic_write_text", "atomic_write_bytes", "atomic_path", "load_data_file", "read_text", "read_jsonl",
    "to_jsonable", "dumps_json", "write_data_file", "umask", "parse_yaml", "parse_json", "remove_orphans",
    "FieldError", "int_field", "pair_field", "choice_field", "where_suffix", "shown", "printable",
]
