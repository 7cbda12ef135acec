"""The local batch engine: a process pool prepares lines while this process runs the model.

Why this shape: on a CPU about half of a clip's time is the front end (the phone recogniser,
``Generator.prepare``) and half the model (``sample_batch`` + ``finish``); they need different
things (the front end only numpy and pocketsphinx, the model torch and, where there is one, the
GPU). ``workers`` processes (default: one per core but the one running the model) each load the
front end once and prepare the lines ahead of the model, which takes them in manifest order,
``batch_size`` at a time (jobs.groups). With ``workers=0`` everything runs in this process.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .jobs import LineFailure, LineResult, default_batch_size, describe, error_result, groups, prepare_line, run_group
from .manifest import BatchLine

if TYPE_CHECKING:
    from ..pipeline import Generator, PreparedJob

_WORKER: "Generator | None" = None   # the pool process's own generator (front end + model config)


def _init_worker(checkpoint: str | None, random_model: bool) -> None:
    from ..pipeline import load_generator

    global _WORKER
    _WORKER = load_generator(checkpoint, "cpu", random_model, threads=1)


def _prepare_in_worker(line: BatchLine) -> "PreparedJob":
    assert _WORKER is not None, "pool worker used before its initializer ran"
    try:
        return prepare_line(_WORKER, line)
    except Exception as exc:  # noqa: BLE001 - sent back as text: see LineFailure
        raise LineFailure(describe(exc)) from None


def default_workers(device: str) -> int:
    """Front-end processes: every core but the model's (none on a 1-core machine)."""
    from ..model.runtime import available_cores

    return max(0, available_cores() - 1)


class LocalEngine:
    """Runs a manifest's lines on this machine; :meth:`run` yields one LineResult per line, in order."""

    name = "local"

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", *, workers: int | None = None,
                 batch_size: int | None = None, random_model: bool = False) -> None:
        from ..model.runtime import resolve_device
        from ..pipeline import load_generator

        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.random_model = random_model
        self.device = str(resolve_device(device))
        self.workers = default_workers(self.device) if workers is None else int(workers)
        self.batch_size = default_batch_size(self.device) if batch_size is None else int(batch_size)
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.generator = load_generator(self.checkpoint, self.device, random_model)

    def run(self, lines: list[BatchLine]) -> Iterator[LineResult]:
        gen = self.generator
        chunks = groups(lines, self.batch_size)
        if self.workers == 0:
            for chunk in chunks:
                yield from self._finish_group(gen, [(line, _try(lambda ln=line: prepare_line(gen, ln))) for line in chunk])
            return
        ctx = mp.get_context("spawn")   # torch and fork do not mix; each worker loads the front end once
        with cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                    initargs=(self.checkpoint, self.random_model)) as pool:
            ahead = max(2, 2 * self.workers)   # groups in flight: the model never waits, memory stays bounded
            pending: deque[list[tuple[BatchLine, cf.Future]]] = deque()
            it = iter(chunks)
            for chunk in it:
                pending.append([(line, pool.submit(_prepare_in_worker, line)) for line in chunk])
                if len(pending) >= ahead:
                    break
            while pending:
                submitted = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append([(line, pool.submit(_prepare_in_worker, line)) for line in nxt])
                yield from self._finish_group(gen, [(line, _try(fut.result)) for line, fut in submitted])

    @staticmethod
    def _finish_group(gen: "Generator", prepared: list[tuple[BatchLine, object]]) -> Iterator[LineResult]:
        ok = [(line, job) for line, job in prepared if not isinstance(job, BaseException)]
        done = {id(r.line): r for r in run_group(gen, ok)}
        for line, job in prepared:   # manifest order
            yield error_result(line, "prepare", job) if isinstance(job, BaseException) else done[id(line)]

    def close(self) -> None:
        pass


def _try(fn: Callable[[], object]) -> object:
    """fn's value, or the exception it raised (a line's error, reported on that line)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return exc
