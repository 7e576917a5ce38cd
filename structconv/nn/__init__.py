"""structconv.nn: structured layers, Structural Regularization, decomposition, training, export (PyTorch).

This module is nn's public surface: other packages import nn's names from here only. Behind it:
``layers`` (structured layers, the kinds' torch forms, plans on modules, the SR term), ``deploy``
(decompose, save, export), ``training``, ``data``, ``zoo``; at the top, tracing (``trace``), model
references (``model_refs``), weights files (``weights``), devices and one resolver (``resolve``).

* One call per user job: ``train_model(ref, DataSettings(...), TrainSettings(...), plan=)`` (what
  `structconv train` runs) and ``decompose_checkpoint(checkpoint, out, ...)`` (`structconv
  decompose`), over ``resolve_model`` / ``resolve_trained`` -> ``ResolvedModel(name, module,
  network, plan, meta)``: the network traced once, the plan resolved once, both handed down. A
  checkpoint's Python model reference runs only when the caller names it again (``model=``).
* Torch forms of choice kinds (``registry``): ``register_torch_choice(kind, trainable=...,
  deployable=...)``, ``torch_form``, ``torch_forms``; ``structure_``, the SR term,
  ``decompose`` and ``export_onnx(plan=...)`` dispatch through it.
* ``SumPool3d`` / ``sum_pool3d``, ``SumPool1d`` / ``sum_pool1d``: stride-1 sum-pooling over
  (channels per group, rows, cols) with padding and dilation; methods
  'avgpool' | 'separable' | 'cumsum' | 'conv' | 'auto'.
* ``StructuredWeight`` (a parametrization: weight = A alpha), ``StructuredConv2d``,
  ``StructuredLinear``, ``structure_(model, plan)`` / ``unstructure_(model)``.
* ``structural_regularization(model, plan)`` and ``StructuralRegularizer`` (build once, call
  each step): sum of ||(I - A A^+) W||_F / ||W||_F, Kronecker-factored, differentiable.
* ``decompose(model, plan) -> (model, DecompositionReport)``, ``decompose_conv``,
  ``decompose_linear``, ``save_decomposed`` / ``load_decomposed``.
* ``train(model, data, plan, TrainSettings(...)) -> TrainResult`` (or the settings' fields as
  keywords; ``TrainSettings`` checks them once, against bounds the CLI shares), ``evaluate``,
  checkpoints, data sets
  (device names checked by ``check_device``, the memory of a run by ``check_training_memory``
  before anything large is allocated)
  (``load_dataset``, ``load_digits_data``, ``load_fashion_mnist``, ``load_cifar10``, ``load_image_folder``;
  ``read_idx`` / ``write_idx`` for MNIST-format IDX files).
* Sparse-kernel designs: ``DesignConv`` (the plain convs + ``ChannelShuffle`` of a design choice),
  ``distill_design`` (layer-wise least-squares fit to a dense conv), ``effective_kernel``,
  ``design_scope``; ``train(..., design_init=)``, ``structure_(..., init=, calibration=)``,
  ``decompose(..., calibration=)`` build them.
* ``build_module(zoo name | "small_cnn" | Network | spec)``, ``SmallCNN``; ``resolve_network("small_cnn")``
  traces it (structconv.importers' ``small_cnn`` importer).
* ``network_from_module(module, example_input) -> core Network``, ``layer_from_module``.
* ``export_onnx(model, example_input, path)``, ``check_onnx``.
* Your own model: ``network_from_ref("file.py:build")`` / ``load_module_ref`` (Python references, read
  for ``core.resolve_network`` by structconv.importers; ONNX files: ``structconv.importers.load_onnx``);
  ``fold_repeated_calls(plan)`` (``body#1`` -> ``body``), ``with_forward_padding(original, new)``
  (keeps padding a conv applied in its forward when it is replaced).
* ``project``, ``alphas``, ``compose``, ``structural_residual``: torch ports of core.structure.

Plans are taken as core's ``resolve_plan`` takes them (Plan, mapping, preset name such as
"uniform-n2", plan file), resolved against the model's Conv2d/Linear layers; a Plan is taken as
resolved already (``resolve_model`` resolves against the traced network), so a run resolves once.
"""
from .data import (
                   DATASETS,
                   FASHION_CLASSES,
                   FASHION_MNIST_DIR,
                   ArrayDataset,
                   DataBundle,
                   DataSettings,
                   as_bundle,
                   is_split,
                   load_cifar10,
                   load_dataset,
                   load_digits_data,
                   load_fashion_mnist,
                   load_idx_folder,
                   load_image_folder,
                   read_idx,
                   selection_bundle,
                   split_validation,
                   write_idx,
)
from .deploy import (
                   DecomposeRun,
                   DecompositionReport,
                   DeployTarget,
                   LayerDecomposition,
                   OnnxOptions,
                   check_onnx,
                   decompose,
                   decompose_checkpoint,
                   deploy_for,
                   export_onnx,
                   fold_batchnorm,
                   load_decomposed,
                   save_decomposed,
)
from .devices import available_devices, available_memory, check_device, check_training_memory
from .layers import (
                   SUMPOOL_METHODS,
                   Calibration,
                   ChannelShuffle,
                   DecomposedConv2d,
                   DecomposedLinear,
                   DesignConv,
                   Moments,
                   PlanEntry,
                   StructuralRegularizer,
                   StructuredConv2d,
                   StructuredLinear,
                   StructuredWeight,
                   SumPool1d,
                   SumPool3d,
                   TorchForm,
                   alphas,
                   apply_trainable_forms,
                   calibration_inputs,
                   choose_method,
                   compose,
                   decompose_conv,
                   decompose_linear,
                   decompose_module,
                   design_scope,
                   distill_design,
                   effective_kernel,
                   output_error,
                   plan_entries,
                   project,
                   projection_residual,
                   register_torch_choice,
                   resolve_module_plan,
                   structural_regularization,
                   structural_residual,
                   structural_residuals,
                   structure_,
                   structure_module,
                   structured_alpha,
                   sum_pool1d,
                   sum_pool3d,
                   torch_form,
                   torch_forms,
                   unregister_torch_choice,
                   unstructure_,
                   weight_structure,
)
from .model_refs import ImportInfo, is_module_ref, load_module_ref, network_from_ref
from .padding import ForwardPadded, forward_padding, with_forward_padding
from .resolve import ResolvedModel, resolve_model, resolve_trained
from .settings import Bound, SettingError
from .trace import fold_repeated_calls, layer_from_module, module_network, network_from_module
from .training import (
                   CHECKPOINT_KEYS,
                   RECIPES,
                   SCHEDULES,
                   NonFiniteError,
                   TrainConfig,
                   TrainResult,
                   TrainRun,
                   TrainSettings,
                   check_finite,
                   deterministic_mode,
                   evaluate,
                   get_rng_state,
                   load_checkpoint,
                   make_checkpoint,
                   recipe_for,
                   save_checkpoint,
                   seed_everything,
                   set_rng_state,
                   train,
                   train_model,
)
from .weights import read_weights, save_atomic, torch_load
from .zoo import (
                   CLASSIFICATION,
                   SMALL,
                   SmallCNN,
                   build_module,
                   conv_linear_modules,
                   module_from_spec,
                   network_to_module,
)

__all__ = [
    "TorchForm", "register_torch_choice", "unregister_torch_choice", "torch_form", "torch_forms",
    "weight_structure",
    "SumPool3d", "SumPool1d", "sum_pool3d", "sum_pool1d", "choose_method", "SUMPOOL_METHODS",
    "StructuredWeight", "StructuredConv2d", "StructuredLinear", "structure_", "unstructure_",
    "structure_module", "structured_alpha", "plan_entries", "PlanEntry", "resolve_module_plan",
    "structural_regularization", "StructuralRegularizer", "structural_residuals",
    "decompose", "decompose_conv", "decompose_linear", "decompose_module", "projection_residual",
    "DecomposedConv2d", "DecomposedLinear", "DecompositionReport", "LayerDecomposition",
    "save_decomposed", "load_decomposed", "decompose_checkpoint", "DecomposeRun", "OnnxOptions",
    "deploy_for", "DeployTarget", "fold_batchnorm",
    "ResolvedModel", "resolve_model", "resolve_trained", "Bound", "SettingError",
    "train_model", "TrainRun", "TrainSettings", "DataSettings",
    "train", "TrainResult", "TrainConfig", "RECIPES", "SCHEDULES", "recipe_for", "NonFiniteError",
    "evaluate", "check_finite", "deterministic_mode", "seed_everything",
    "available_devices", "available_memory", "check_device", "check_training_memory",
    "CHECKPOINT_KEYS", "load_checkpoint", "save_checkpoint", "make_checkpoint", "read_weights", "torch_load",
    "save_atomic", "get_rng_state", "set_rng_state",
    "DATASETS", "DataBundle", "ArrayDataset", "load_dataset", "load_digits_data", "load_cifar10",
    "load_image_folder", "as_bundle", "load_fashion_mnist", "load_idx_folder", "FASHION_MNIST_DIR",
    "FASHION_CLASSES", "read_idx", "write_idx", "split_validation", "selection_bundle", "is_split",
    "DesignConv", "ChannelShuffle", "distill_design", "effective_kernel", "design_scope", "Calibration",
    "Moments", "calibration_inputs", "output_error", "apply_trainable_forms",
    "CLASSIFICATION", "SMALL", "build_module", "network_to_module", "module_from_spec", "conv_linear_modules",
    "SmallCNN", "network_from_module", "layer_from_module", "module_network", "export_onnx", "check_onnx",
    "project", "alphas", "compose", "structural_residual",
    "network_from_ref", "load_module_ref", "is_module_ref", "ImportInfo",
    "fold_repeated_calls", "ForwardPadded", "forward_padding", "with_forward_padding",
]
