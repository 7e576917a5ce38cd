"""The batches of one training epoch: forward, task loss + lam * SR, backward, step, and the
epoch's record. Each process sums its own batches; the sums are reduced over the group."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed as D
from .evaluation import NonFiniteError, evaluate, nonfinite_hint


def train_batches(run, loader, epoch: int, phase: int, lam: float) -> list[float]:
    """Train on every batch of ``loader``; returns the group's [loss, task, sr, correct, n] sums."""
    run.net.train()
    sums = torch.zeros(5, dtype=torch.float64, device=run.device)    # loss, task, sr, correct, n
    it = loader
    if run.bar:
        it = tqdm(loader, desc=f"epoch {epoch + 1}/{run.job.cfg.total_epochs} (phase {phase}, lam {lam:g})",
                  leave=False, dynamic_ncols=True)
    for step, (x, y) in enumerate(it):
        loss = train_step(run, x, y, lam, sums, f"epoch {epoch + 1}, step {step + 1}")
        if run.bar and step % 10 == 0:
            it.set_postfix(loss=f"{float(loss):.3f}")
    if run.bar:
        it.close()
    return D.all_reduce_sum(sums.tolist(), run.device)


def train_step(run, x, y, lam: float, sums: torch.Tensor, where: str) -> torch.Tensor:
    """One optimizer step on batch (x, y); its sums are added to ``sums``; returns the loss."""
    x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
    logits = run.net(x)
    task = F.cross_entropy(logits, y)
    sr = run.reg(run.model) if lam > 0 and run.reg is not None and run.reg.terms else None
    loss = task + lam * sr if sr is not None else task
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    check_loss(run, loss, task, sr, where)
    run.opt.step()
    run.sched.step()
    with torch.no_grad():
        sums += batch_sums(loss, task, sr, logits, y, run.device)
    return loss


EXPLOSION = 10.0    # a loss this many times its phase's start has diverged (issue 20)


def check_loss(run, loss, task, sr, where: str) -> None:
    """NonFiniteError in every process when the loss is NaN/inf, or has exploded, in any of them."""
    value = float(loss.detach())
    limit = explosion_limit(run, value, task)
    bad = not math.isfinite(value) or value > limit
    if not D.any_flag(bad, run.device):
        return
    if not bad:
        raise NonFiniteError(f"training diverged: loss became NaN or inf, or exploded, in another process "
                             f"at {where}")
    sr_v = float(sr.detach()) if sr is not None else 0.0
    what = f"became {value:g}" if not math.isfinite(value) else \
        f"rose to {value:g}, over {EXPLOSION:g}x its start ({limit / EXPLOSION:g})"
    raise NonFiniteError(
        f"training diverged: loss {what} at {where} "
        f"(task {float(task.detach()):g}, SR {sr_v:g}, lr {run.sched.get_last_lr()[0]:g}); "
        f"lower the learning rate or check the data for NaN/inf{nonfinite_hint(run.model)}")


def explosion_limit(run, value: float, task) -> float:
    """EXPLOSION x the phase's first loss, and never below EXPLOSION x a uniform guess's loss (log of the
    class count): a model that starts near zero loss may rise far above 10x that without diverging."""
    start = run.start_loss.setdefault(run.opt_phase, value if math.isfinite(value) else math.inf)
    return EXPLOSION * max(start, math.log(max(2, int(getattr(run.bundle, "num_classes", 2) or 2))))


def batch_sums(loss, task, sr, logits, y, device) -> torch.Tensor:
    bs = y.numel()
    zero = torch.zeros((), dtype=torch.float64, device=device)
    return torch.stack([loss.detach().double() * bs, task.detach().double() * bs,
                        (sr.detach().double() if sr is not None else zero) * bs,
                        (logits.argmax(1) == y).sum().double(),
                        torch.tensor(float(bs), dtype=torch.float64, device=device)])


def epoch_record(run, epoch: int, phase: int, lam: float, sums: list[float]) -> dict:
    """The epoch's metrics: means over the group's samples, the SR term, validation accuracy."""
    loss_s, task_s, sr_s, correct, n = sums
    if lam == 0 and run.reg is not None:
        with torch.no_grad():
            sr_epoch = float(run.reg(run.model))
    else:
        sr_epoch = sr_s / n if n else 0.0
    rec = {"epoch": epoch, "phase": phase, "lam": lam, "lr": float(run.opt.param_groups[0]["lr"]),
           "loss": loss_s / n, "task_loss": task_s / n, "sr_loss": sr_epoch, "train_acc": 100.0 * correct / n}
    if run.bundle.val is not None:
        ev = evaluate(run.model, run.bundle.val, batch_size=max(256, run.local_batch), device=run.device,
                      workers=run.job.workers, indices=run.val_shard)
        rec["val_acc"], rec["val_loss"] = ev["acc"], ev["loss"]
    return rec
