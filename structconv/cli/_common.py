"""The helpers commands share, under one name for the commands that import them from here.

Each lives in the module of its concept: ``_errors`` (the one error path), ``_args`` (shared
arguments), ``_inputs`` (model, plan and accelerator from the arguments), ``_paths`` (output
locations checked before work) and ``_output`` (JSON, safe names).
"""
from __future__ import annotations

from structconv.core import shown

from ._args import (
                    HW_HELP,
                    MODEL_HELP,
                    add_hw_arg,
                    add_input_shape_arg,
                    add_model_args,
                    add_plan_args,
                    parse_input_shape,
                    plan_ref,
)
from ._errors import (
                    MAX_MESSAGE,
                    CLIError,
                    StdoutError,
                    as_flags,
                    flag,
                    guarded_stdout,
                    one_line,
                    os_error_line,
                    user_input,
)
from ._inputs import import_info, is_zoo_name, load_hw_arg, resolve_model, resolve_plan_arg
from ._output import plain, print_json
from ._paths import check_out_dir, check_out_file

__all__ = ["HW_HELP", "MODEL_HELP", "add_hw_arg", "add_input_shape_arg", "add_model_args", "add_plan_args",
           "parse_input_shape", "plan_ref", "MAX_MESSAGE", "CLIError", "StdoutError", "as_flags", "flag",
           "guarded_stdout", "one_line", "os_error_line", "user_input", "import_info", "is_zoo_name",
           "load_hw_arg", "resolve_model", "resolve_plan_arg", "plain", "print_json", "check_out_dir",
           "check_out_file", "shown"]
