"""Devices and memory: a device name checked against what this machine has, and the memory a
training run would take, estimated before anything large is allocated."""
from __future__ import annotations

import math
import os

import torch
from torch import nn

from ..core import FieldError


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
    """Bytes free for a run on ``device`` (host: MemAvailable, or the container's cgroup limit less its
    use when that is lower), or None when unknown."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except (RuntimeError, AssertionError):
            return None
    host = _host_available()
    group = _cgroup_available()
    known = [v for v in (host, group) if v is not None]
    return min(known) if known else None


def _host_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: (limit, usage) files of a container's memory cgroup: v2, then v1 (both as mounted inside the container)
CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _cgroup_available() -> int | None:
    """The container's memory limit less its use; None without a limit (or a limit beyond 2^60 bytes)."""
    for limit_file, usage_file in CGROUP_FILES:
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:
            return None
        return max(0, int(limit) - used)
    return None


def _output_bytes(model: nn.Module, input_shape, batch: int) -> list[int] | None:
    """Bytes of each leaf module's output in one forward pass at (batch, *input_shape), found on the
    meta device (nothing allocated); None when the model cannot run there."""
    shapes = {n: torch.empty(p.shape, dtype=p.dtype, device="meta")
              for n, p in list(model.named_parameters()) + list(model.named_buffers())}
    sizes: list[int] = []

    def hook(_m, _args, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                sizes.append(t.numel() * t.element_size())

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
    return sizes


def activation_bytes(model: nn.Module, input_shape, batch: int) -> int | None:
    """Bytes of every module output of one forward pass at (batch, *input_shape), found on the
    meta device (nothing allocated); None when the model cannot run there."""
    sizes = _output_bytes(model, input_shape, batch)
    return None if sizes is None else sum(sizes)


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


def check_input_memory(shape, itemsize: int = 4, field: str = "input_shape") -> None:
    """FieldError naming ``field`` when a tensor of ``shape`` (``itemsize`` bytes each) alone exceeds the
    free host memory: checked before a model is built or anything is allocated."""
    free = available_memory("cpu")
    need = math.prod(int(v) for v in shape) * itemsize
    if free is not None and need > free:
        raise _memory_error(field, shape, need, free, "for the input tensor alone")


def check_trace_memory(model: nn.Module, shape, dtype=torch.float32, field: str = "input_shape") -> None:
    """FieldError naming ``field`` when tracing ``model`` on zeros of ``shape`` would not fit in free host
    memory: the input and twice the largest activation (a layer's input and output), sized on the meta
    device before anything is allocated. The model runs there: call it inside the user-code fence."""
    free = available_memory("cpu")
    if free is None:
        return
    item = torch.empty((), dtype=dtype).element_size()
    need = math.prod(int(v) for v in shape) * item
    sizes = _output_bytes(model, tuple(shape[1:]), int(shape[0])) if need <= free else None
    need += 2 * max(sizes or [0])
    if need > free:
        raise _memory_error(field, shape, need, free, "to trace (the input and its largest activation)")


def _memory_error(field: str, shape, need: int, free: int, what: str) -> FieldError:
    shown_shape = ",".join(str(int(v)) for v in shape)
    return FieldError((field, f" = {shown_shape} needs about {human_bytes(need)} {what}, more than the "
                              f"{human_bytes(free)} of free memory: give a smaller "), (field, ""))
