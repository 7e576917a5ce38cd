"""Devices and memory: a device name checked against what this machine has, and the memory a
training run would take, estimated before anything large is allocated."""
from __future__ import annotations

import os

import torch
from torch import nn


def available_devices() -> list[str]:
    """'cpu', then 'cuda:0' .. 'cuda:N-1' of this build and machine."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i}" for i in range(n)]


def _unavailable(device, why: str) -> ValueError:
    return ValueError(f"device = {device!r} {why}; available: {', '.join(available_devices())}")


def check_device(device) -> str:
    """The canonical name of ``device`` (None: 'cuda' when available, else 'cpu'), or a one-line
    ValueError naming it and the devices there are."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise _unavailable(device, "is not a device name")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise _unavailable(device, "is not a device name") from None
    if dev.type == "cpu":
        return str(dev)
    if dev.type != "cuda":
        raise _unavailable(device, f"is a {dev.type} device, which structconv does not train on")
    if not torch.cuda.is_available():
        raise _unavailable(device, "is not available: this torch build or machine has no CUDA device")
    n = torch.cuda.device_count()
    if dev.index is not None and dev.index >= n:
        raise _unavailable(device, f"is not available: this machine has {n} CUDA device(s)")
    return str(dev)


# -- memory --------------------------------------------------------------------------------
def available_memory(device: str) -> int | None:
    """Bytes free for a run on ``device`` (host: MemAvailable), or None when unknown."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def activation_bytes(model: nn.Module, input_shape, batch: int) -> int | None:
    """Bytes of every module output of one forward pass at (batch, *input_shape), found on the
    meta device (nothing allocated); None when the model cannot run there."""
    shapes = {n: torch.empty(p.shape, dtype=p.dtype, device="meta")
              for n, p in list(model.named_parameters()) + list(model.named_buffers())}
    total = [0]

    def hook(_m, _args, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not any(True for _ in m.children())]
    was_training = model.training
    try:
        model.eval()
        x = torch.empty((batch, *input_shape), device="meta")
        with torch.no_grad():
            torch.func.functional_call(model, shapes, (x,), strict=False)
    except Exception:                 # an op without a meta kernel, a model that needs more inputs
        return None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


def check_training_memory(model: nn.Module, input_shape, batch: int, device: str) -> None:
    """ValueError when a training batch at ``input_shape`` cannot fit in ``device``'s free memory.

    Estimate: weights, gradients and momentum (3x the parameters) plus every module's output
    kept for the backward pass and its gradient (2x the activations)."""
    free = available_memory(device)
    act = activation_bytes(model, tuple(input_shape), batch) if free is not None else None
    if act is None:
        return
    weights = 3 * sum(p.numel() * p.element_size() for p in model.parameters())
    need = weights + 2 * act
    if need <= free:
        return
    side = _largest_side(input_shape, max(0, free - weights) / max(1, 2 * act))
    raise ValueError(
        f"input_shape = {list(input_shape)} with batch_size = {batch} needs about {human_bytes(need)} "
        f"to train on {device}, more than the {human_bytes(free)} free; "
        f"allowed: an input side of at most about {side} at this batch size (or a smaller batch_size)")


def _largest_side(input_shape, fraction: float) -> int:
    """The image side at which activations (which grow with H x W) shrink by ``fraction``."""
    dims = [int(d) for d in tuple(input_shape)[1:]] or [1]
    return max(1, int(max(dims) * fraction ** (1 / max(1, len(dims)))))


def check_image_side(field: str, side: int, lo: int, channels: int, count: int) -> None:
    """ValueError when ``count`` float32 images of ``channels`` x side x side would take more than
    half the free host memory: names the field, the value and the allowed range."""
    free = available_memory("cpu")
    if free is None:
        return
    per_pixel = 4 * max(1, channels) * max(1, count)
    need = per_pixel * side * side
    if need <= free // 2:
        return
    hi = max(lo, int((free // 2 / per_pixel) ** 0.5))
    raise ValueError(f"{field} = {side} is out of range [{lo}, {hi}]: "
                     f"{count} image(s) of {channels} x {side} x {side} would need {human_bytes(need)}, "
                     f"more than half the {human_bytes(free)} of free memory")
