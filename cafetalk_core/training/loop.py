"""What every trainer's loop does the same way: set the rate, take one clipped step, append a log line.

Each stage keeps its own loop top to bottom (nanoGPT style: you read a trainer in one place); these
are the shared pieces, so the four loops cannot drift apart in how they step or log.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import torch

from .schedule import lr_at


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Every parameter group to ``lr``; returns it (for the log)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def scheduled_lr(optimizer: torch.optim.Optimizer, step: int, total: int, base: float, warmup: int,
                 floor: float = 0.1) -> float:
    """:func:`~.schedule.lr_at` applied to the optimiser."""
    return set_lr(optimizer, lr_at(step, total, base, warmup, floor))


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: Iterable[torch.nn.Parameter],
                   clip: float | None = 1.0) -> float:
    """zero_grad, backward, clip the gradient norm (``None``: no clipping), step; returns the norm."""
    params = list(params)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
    optimizer.step()
    return float(norm)


def append_log(path: Path, record: dict[str, Any]) -> None:
    """One JSON line onto a trainer's ``log.jsonl``."""
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")
