"""What ``train`` returns (``TrainResult``; its ``to_dict()`` is summary.json) and the
end-of-run measurement of the decomposed model."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ...core import to_jsonable
from ..deploy import decompose
from ..layers import plan_entries
from .evaluation import evaluate


@dataclass
class TrainResult:
    """What ``train`` returns; ``to_dict()`` is what summary.json holds."""

    model: nn.Module = field(repr=False)
    model_name: str
    config: dict
    plan: dict | None
    history: list[dict]
    start_epoch: int                       # first epoch this call trained (> 0 after a resume)
    acc_before: float | None = None        # validation accuracy (%) of the trained model
    acc_after: float | None = None         # ... after decompose(model, plan)
    loss_before: float | None = None
    loss_after: float | None = None
    residuals: dict = field(default_factory=dict)     # layer -> ||(I - AA+)W|| / ||W|| at the end
    decomposition: object = None           # decompose()'s report, as a dict when it has to_dict()
    decomposed_model: nn.Module | None = field(default=None, repr=False)
    out_dir: str | None = None
    seconds: float = 0.0
    eval_split: str = "val"
    distillation: dict = field(default_factory=dict)  # design layer -> relative output error of its fit
    chance_acc: float | None = None        # 100 / number of classes, when measured

    @property
    def warnings(self) -> list[str]:
        """What the numbers say went wrong: an accuracy near chance is not a result (issue 20)."""
        chance = f"near chance ({self.chance_acc:.2f}%)" if self.chance_acc else ""
        if near_chance(self.acc_before, self.chance_acc):
            return [f"the trained model's {self.eval_split} accuracy {self.acc_before:.2f}% is {chance}: "
                    f"training did not work; try a lower --lr, more --epochs or trained --weights"]
        if near_chance(self.acc_after, self.chance_acc):
            return [f"the decomposed model's {self.eval_split} accuracy {self.acc_after:.2f}% is {chance}: "
                    f"the plan's layers did not reach their structure; train longer or with a larger --lam"]
        return []

    @property
    def gap(self) -> float | None:
        """acc_before - acc_after, in percentage points."""
        if self.acc_before is None or self.acc_after is None:
            return None
        return self.acc_before - self.acc_after

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def to_dict(self) -> dict:
        return {"model": self.model_name, "config": self.config, "plan": self.plan,
                "epochs_trained": len(self.history), "start_epoch": self.start_epoch,
                "eval_split": self.eval_split,
                "acc_before": self.acc_before, "acc_after": self.acc_after, "gap": self.gap,
                "loss_before": self.loss_before, "loss_after": self.loss_after,
                "residuals": self.residuals, "distillation": self.distillation,
                "decomposition": to_jsonable(self.decomposition),
                "final": self.final, "out_dir": self.out_dir, "seconds": round(self.seconds, 3),
                "chance_acc": self.chance_acc, "warnings": self.warnings}


NEAR_CHANCE = 1.5      # an accuracy at most this many times chance (15 % on 10 classes) is near chance


def near_chance(acc: float | None, chance: float | None) -> bool:
    return acc is not None and chance is not None and acc <= NEAR_CHANCE * chance


def measure_decomposition(result: TrainResult, model: nn.Module, plan, dataset, device, workers: int) -> None:
    """Accuracy of the trained model and of decompose(model, plan), plus per-layer residuals."""
    ev = evaluate(model, dataset, device=device, workers=workers)
    result.acc_before, result.loss_before = ev["acc"], ev["loss"]
    if plan is None or not plan_entries(model, plan):
        result.acc_after, result.loss_after = result.acc_before, result.loss_before
        return
    decomposed, report = decompose(model, plan)          # a deep copy; ``model`` stays as trained
    decomposed.to(device)
    ev = evaluate(decomposed, dataset, device=device, workers=workers)
    result.acc_after, result.loss_after = ev["acc"], ev["loss"]
    result.decomposition = to_jsonable(report)
    result.residuals = {l.name: l.residual for l in report.layers if l.residual is not None}
    result.decomposed_model = decomposed
