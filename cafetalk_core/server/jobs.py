"""The job queue: one model, one worker thread, a bounded queue, cancel between steps, expiry.

Why one worker: the model holds one set of weights and the machine (often a laptop next to
Blender) has one GPU or a few cores; running jobs side by side would only make each slower
and multiply memory. Clients see a queue position instead.

Locking: every field a request handler reads is written under ``self._lock``; the worker
runs the model outside it, so status requests never wait for a denoising step.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..controls import ControlSet
from ..curves import BlendshapeCurves
from ..generation import CurveGenerator, GenerationCancelled
from .schemas import FINISHED_STATES

log = logging.getLogger("cafetalk.server")


class QueueFull(Exception):
    """The queue holds ``max_queue`` jobs already; retry after ``retry_after_s``."""

    def __init__(self, max_queue: int, retry_after_s: int) -> None:
        super().__init__(f"the job queue is full ({max_queue} jobs waiting); retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class JobNotFound(KeyError):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.message = f"job_id: no job {job_id!r} (unknown, or expired after its time to live)"


@dataclass
class Job:
    """One request to animate one clip. ``audio`` is dropped once the job has run."""

    id: str
    audio: np.ndarray | None  # float32 16 kHz mono
    duration_s: float
    controls: ControlSet
    options: dict[str, Any]  # keyword arguments for Generator.generate
    state: str = "queued"
    progress: float = 0.0
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: BlendshapeCurves | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)


def _is_cancellation(exc: BaseException) -> bool:
    """True for :class:`GenerationCancelled` (the generation contract's one cancellation type)."""
    return isinstance(exc, GenerationCancelled)


class JobManager:
    """Holds every job, feeds the queue to one worker thread, expires finished jobs."""

    def __init__(self, generator: CurveGenerator, max_queue: int = 8, ttl_s: float = 3600.0,
                 max_finished: int = 512, clock: Callable[[], float] = time.time, *,
                 max_batch: int = 1, batch_wait_s: float = 0.02, workers: int = 1) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.generator = generator
        # dynamic batching: with a generator that has generate_batch (pipeline.Generator), the worker
        # takes up to max_batch queued jobs, waiting at most batch_wait_s after the first for more
        self.max_batch = max_batch if hasattr(generator, "generate_batch") else 1
        self.batch_wait_s = float(batch_wait_s)
        # worker threads: 1 for a model in this process; one per model replica when the generator
        # sends the work elsewhere (server/ray_serve.py), so every replica has a job
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.max_queue = max_queue
        self.ttl_s = ttl_s
        self.max_finished = max_finished
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._pending: collections.deque[str] = collections.deque()
        self._running: list[str] = []
        self._recent_run_s: collections.deque[float] = collections.deque(maxlen=8)
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, warmup: bool = False) -> None:
        """Start the worker; ``warmup`` first runs 1 s of silence through the model (lazy
        initialisation: front end, kernels) so the first client's job is not the slow one."""
        if not self._threads:
            self._stopping = False
            self._threads = [threading.Thread(target=self._worker, args=(warmup and k == 0,), name=f"cafetalk-worker-{k}",
                                              daemon=True) for k in range(self.workers)]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs, drop what waits, and join the worker."""
        with self._lock:
            self._stopping = True
            for job_id in self._pending:
                self._finish(self._jobs[job_id], "cancelled", "server shutting down")
            self._pending.clear()
            for job_id in self._running:
                self._jobs[job_id].cancel_event.set()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    # -- requests ------------------------------------------------------------------------------
    def check_capacity(self) -> None:
        """Raise :class:`QueueFull` now, so a full server refuses before decoding an upload."""
        with self._lock:
            if len(self._pending) >= self.max_queue:
                raise QueueFull(self.max_queue, self._retry_after_s())

    def submit(self, audio: np.ndarray, duration_s: float, controls: ControlSet, options: dict[str, Any]) -> Job:
        with self._lock:
            self._expire()
            if len(self._pending) >= self.max_queue:
                raise QueueFull(self.max_queue, self._retry_after_s())
            job = Job(uuid.uuid4().hex, audio, duration_s, controls, options, created_at=self._clock())
            self._jobs[job.id] = job
            self._pending.append(job.id)
            self._wake.notify_all()
            return job

    def status(self, job_id: str) -> dict[str, Any]:
        """A consistent snapshot of one job (the JobStatus fields)."""
        with self._lock:
            self._expire()
            return self._snapshot(self._get(job_id))

    def result(self, job_id: str) -> tuple[dict[str, Any], BlendshapeCurves | None]:
        with self._lock:
            self._expire()
            job = self._get(job_id)
            return self._snapshot(job), job.result

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Queued: cancelled now. Running: flagged, the worker stops between steps. Finished: unchanged."""
        with self._lock:
            self._expire()
            job = self._get(job_id)
            if job.state == "queued":
                self._pending.remove(job.id)
                self._finish(job, "cancelled", None)
            elif job.state == "running":
                job.cancel_event.set()
            return self._snapshot(job)

    def queue_depth(self) -> int:
        with self._lock:
            return len(self._pending)

    def is_running(self) -> bool:
        with self._lock:
            return bool(self._running)

    # -- internals (call with the lock held) ---------------------------------------------------
    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def _snapshot(self, job: Job) -> dict[str, Any]:
        position = None
        if job.state == "queued":
            position = list(self._pending).index(job.id)
        return {
            "job_id": job.id, "state": job.state, "progress": job.progress, "error": job.error,
            "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
            "duration_s": job.duration_s, "queue_position": position,
            "cancel_requested": job.cancel_event.is_set(),
            "frames": job.result.num_frames if job.result is not None else None,
            "fps": job.result.fps if job.result is not None else None,
        }

    def _finish(self, job: Job, state: str, error: str | None) -> None:
        job.state = state
        job.error = error
        job.finished_at = self._clock()
        job.audio = None  # the audio is the bulk of a job's memory; it is not needed any more
        if state == "done":
            job.progress = 1.0

    def _expire(self) -> None:
        """Forget finished jobs older than the TTL, and the oldest beyond ``max_finished``."""
        now = self._clock()
        finished = [j for j in self._jobs.values() if j.state in FINISHED_STATES]
        for job in finished:
            if now - (job.finished_at or now) > self.ttl_s:
                del self._jobs[job.id]
        finished = [j for j in finished if j.id in self._jobs]
        if len(finished) > self.max_finished:
            finished.sort(key=lambda j: j.finished_at or 0.0)
            for job in finished[: len(finished) - self.max_finished]:
                del self._jobs[job.id]

    def _retry_after_s(self) -> int:
        """Seconds until a queue slot is likely free: the mean recent job time (5 s if none)."""
        mean = sum(self._recent_run_s) / len(self._recent_run_s) if self._recent_run_s else 5.0
        return int(min(600, max(1, math.ceil(mean))))

    # -- the worker ----------------------------------------------------------------------------
    def _warmup(self) -> None:
        t0 = time.perf_counter()
        try:
            self.generator.generate(np.zeros(16000, np.float32), None, sample_rate=16000, steps=1,
                                    cancel=lambda: self._stopping)
            log.info("model warm-up took %.2f s", time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - a failed warm-up is reported, real jobs will say more
            log.warning("model warm-up failed", exc_info=True)

    def _worker(self, warmup: bool = False) -> None:
        if warmup:
            self._warmup()
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._wake.wait(timeout=30.0)
                    self._expire()
                if self._stopping:
                    return
                batch = [self._take_next()]
                deadline = time.monotonic() + self.batch_wait_s
                while len(batch) < self.max_batch and not self._stopping:
                    if self._pending:
                        batch.append(self._take_next())
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(timeout=remaining)   # releases the lock: status calls go on
            if len(batch) == 1:
                self._run(batch[0])
            else:
                self._run_batch(batch)
            with self._lock:
                for job in batch:
                    self._running.remove(job.id)

    def _take_next(self) -> Job:
        """Pop the next queued job and mark it running (lock held)."""
        job = self._jobs[self._pending.popleft()]
        job.state = "running"
        job.started_at = self._clock()
        self._running.append(job.id)
        return job

    def _run_batch(self, jobs: list[Job]) -> None:
        """Several jobs in one call of ``generate_batch``; each ends in its own finished state."""
        t0 = time.perf_counter()
        requests = [{"audio": job.audio, "controls": job.controls, "sample_rate": 16000, **job.options} for job in jobs]
        try:
            results = self.generator.generate_batch(requests, progress=[self._progress_of(job) for job in jobs],
                                                    cancel=[job.cancel_event.is_set for job in jobs])
        except Exception as exc:  # noqa: BLE001 - never kill the worker
            results = [exc] * len(jobs)
        for job, result in zip(jobs, results):
            if isinstance(result, Exception):
                self._fail(job, result)
            else:
                self._succeed(job, result, (time.perf_counter() - t0) / len(jobs))

    @staticmethod
    def _progress_of(job: Job) -> Callable[[float], None]:
        def progress(fraction: float) -> None:
            try:
                value = float(fraction)
            except (TypeError, ValueError):
                return
            if math.isfinite(value):
                job.progress = max(job.progress, min(1.0, max(0.0, value)))  # never goes back
        return progress

    def _fail(self, job: Job, exc: BaseException) -> None:
        cancelled = job.cancel_event.is_set() and _is_cancellation(exc)
        with self._lock:
            if cancelled:
                self._finish(job, "cancelled", None)
            elif isinstance(exc, ValueError):
                self._finish(job, "failed", str(exc))
            else:
                log.error("job %s failed: %s: %s", job.id, type(exc).__name__, exc, exc_info=exc)
                self._finish(job, "failed", f"internal error: {type(exc).__name__}: {exc}")

    def _succeed(self, job: Job, curves: Any, run_s: float) -> None:
        with self._lock:
            if not isinstance(curves, BlendshapeCurves):
                self._finish(job, "failed", f"internal error: the model returned {type(curves).__name__}")
                return
            job.result = curves
            self._finish(job, "done", None)
            self._recent_run_s.append(run_s)

    def _run(self, job: Job) -> None:
        """Run one job through the model; every outcome ends in a finished state."""
        t0 = time.perf_counter()
        try:
            curves = self.generator.generate(job.audio, job.controls, sample_rate=16000, progress=self._progress_of(job),
                                             cancel=job.cancel_event.is_set, **job.options)
        except Exception as exc:  # noqa: BLE001 - a job's failure must never kill the worker
            self._fail(job, exc)
            return
        self._succeed(job, curves, time.perf_counter() - t0)
