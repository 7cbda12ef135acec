"""The one learning-rate schedule of every trainer: linear warm-up, then cosine decay to a floor.

nanoGPT's schedule. Stage 1/2 decay to 10% of the base rate, the head stage too; the closure
detector and the text head to 0 (``floor``), as they did before training/ was one package.
"""
from __future__ import annotations

import math


def lr_at(step: int, total: int, base: float, warmup: int, floor: float = 0.1) -> float:
    """Learning rate at 0-based ``step`` of ``total``: ``warmup`` linear steps, then cosine to ``floor * base``."""
    if total < 1 or base < 0 or warmup < 0 or not 0.0 <= floor <= 1.0:
        raise ValueError(f"lr_at: total {total}, base {base}, warmup {warmup}, floor {floor} out of range")
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
