"""Where and how fast the model runs: the device and torch's CPU thread count.

One helper for every caller (``pipeline.Generator``, hence ``cafetalk serve``, ``cafetalk
generate``, the evaluation and the Python API), so all of them take the same fast path.

Threads: the model is small (a few M parameters, <= 300 frames per window), so each matmul is
short and OpenMP's fork/join and spinning cost more than a second core gains; on a CPU that
other processes share, two threads were measured an order of magnitude slower than one
(docs/model.md). ``"auto"`` therefore takes 1 thread on machines with up to 2 cores and
``min(4, cores // 2)`` on bigger ones (benchmarks/bench_sampling.py --threads auto measures it).
"""
from __future__ import annotations

import os

import torch

MAX_AUTO_THREADS = 4


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> cuda when a GPU is visible, else cpu; 'cuda...' without a GPU is a ValueError."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is visible to torch (use 'cpu' or 'auto')")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {device!r}") from exc


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def auto_threads(cores: int | None = None) -> int:
    """The thread count ``"auto"`` picks for ``cores`` cores (default: this process's)."""
    cores = available_cores() if cores is None else int(cores)
    return 1 if cores <= 2 else min(MAX_AUTO_THREADS, cores // 2)


def configure_threads(threads: int | str | None = "auto") -> int:
    """Set torch's intra-op thread count (process-wide) and return it.

    ``"auto"``: :func:`auto_threads`; an int >= 1: that many; None: leave torch as it is.
    """
    if threads is None:
        return torch.get_num_threads()
    if threads == "auto":
        n = auto_threads()
    else:
        try:
            n = int(threads)
        except (TypeError, ValueError):
            raise ValueError(f"threads must be 'auto', None or an int >= 1, got {threads!r}") from None
        if n < 1:
            raise ValueError(f"threads must be 'auto', None or an int >= 1, got {threads!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
