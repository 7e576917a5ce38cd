"""Training with Structural Regularization: settings (``settings``, ``recipes``), the run (``run``: one
process, K spawned, or torchrun's), one process's loop (``loop``, ``epoch``), checkpoints, history and the
result with its end-of-run measurement (``results``, ``evaluation``); ``job``: the whole
`structconv train` run from a model reference (``train_model``)."""
from .checkpoint import (
                         CHECKPOINT_KEYS,
                         get_rng_state,
                         load_checkpoint,
                         make_checkpoint,
                         save_checkpoint,
                         set_rng_state,
)
from .evaluation import NonFiniteError, check_finite, deterministic_mode, evaluate, seed_everything
from .job import TrainRun, train_model
from .recipes import RECIPES, SCHEDULES, TrainConfig, recipe_for
from .results import TrainResult
from .run import train
from .settings import BOUNDS, TrainSettings

__all__ = ["CHECKPOINT_KEYS", "get_rng_state", "load_checkpoint", "make_checkpoint", "save_checkpoint",
           "set_rng_state", "NonFiniteError", "check_finite", "deterministic_mode", "evaluate",
           "seed_everything", "RECIPES", "SCHEDULES", "TrainConfig", "recipe_for", "TrainResult", "train",
           "TrainRun", "train_model", "BOUNDS", "TrainSettings"]
