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
                "final": self.final, "out_dir": self.out_dir, "seconds": round(self.seconds, 3)}


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
