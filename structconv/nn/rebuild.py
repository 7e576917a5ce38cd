"""Building the model a weights file describes, checked against those weights before anything is allocated.

A checkpoint or decomposed model records the zoo name it was trained as and, in its meta, the class and
input-channel counts to build it with. Those counts are data from a file: a forged ``num_classes`` of
10**9 would allocate a 256 GB classifier before the weights could disagree. So the model is first built
on the meta device (no memory), compared with the saved weights wherever both hold a tensor, and sized
against free memory; only then is it built for real.
"""
from __future__ import annotations

import torch
from torch import nn

from .devices import available_memory, human_bytes
from .zoo import build_module


def build_for_weights(name: str, state_dict: dict, where: str, num_classes=None,
                      in_channels=None) -> nn.Module:
    """``build_module(name, num_classes, in_channels)`` once a meta-device twin agrees with ``state_dict``
    on every tensor both hold and fits in half the free memory; else a one-line ValueError naming
    ``where`` (the file)."""
    kwargs = {"num_classes": num_classes, "in_channels": in_channels}
    try:
        with torch.device("meta"):
            twin = build_module(name, **kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {first_line(e)}") from None
    shown = {k: v for k, v in kwargs.items() if v is not None}
    for key, t in twin.state_dict().items():
        saved = state_dict.get(key)
        if isinstance(saved, torch.Tensor) and tuple(saved.shape) != tuple(t.shape):
            raise ValueError(f"{where}: the weights do not fit {name} built with {shown or 'its defaults'}: "
                             f"{key} is {list(t.shape)} there, the file holds {list(saved.shape)}")
    need = sum(t.numel() * t.element_size() for t in twin.state_dict().values())
    free = available_memory("cpu")
    if free is not None and need > free // 2:
        raise ValueError(f"{where}: {name} built with {shown} needs {human_bytes(need)}, more than half "
                         f"the {human_bytes(free)} of free memory")
    return build_module(name, **kwargs)


def first_line(e: Exception) -> str:
    """The first two non-blank lines of an error's text, joined: torch's load errors put the reason second."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else type(e).__name__
