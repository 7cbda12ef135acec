"""The Ray batch engine: the same lines, groups and code as the local engine, on a Ray cluster.

A studio's machines join one Ray cluster (``ray start --head`` on one, ``ray start --address
HEAD:6379`` on the others; docs/batch.md). ``cafetalk batch MANIFEST --engine ray --address
HEAD:6379`` then starts one :class:`BatchWorker` actor per GPU (or per CPU where the cluster has
no GPU), each loading the model once, and hands them the manifest's groups (jobs.groups, the
local engine's split). The driver reads each line's audio and sends the bytes, and writes every
take itself, so the workers need neither the manifest's paths nor a shared disk; they only need
``pip install 'cafetalk[ray]'`` (and the checkpoint folder at the same path when it is not the
shipped model).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .jobs import LineResult, default_batch_size, error_result, groups, prepare_line, read_audio_bytes, run_group
from .manifest import BatchLine

if TYPE_CHECKING:
    from ..pipeline import Generator


class BatchWorker:
    """One model per actor process, loaded once; ``run`` prepares, samples and finishes a group."""

    def __init__(self, checkpoint: str | None, device: str, random_model: bool) -> None:
        from ..pipeline import load_generator

        self.generator: Generator = load_generator(checkpoint, device, random_model)

    def info(self) -> dict[str, Any]:
        import os
        import socket

        import ray

        return {"host": socket.gethostname(), "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "device": str(self.generator.device)}

    def run(self, group: list[tuple[BatchLine, bytes]]) -> list[LineResult]:
        prepared, failed = [], {}
        for line, audio in group:
            try:
                prepared.append((line, prepare_line(self.generator, line, audio)))
            except Exception as exc:  # noqa: BLE001 - reported on its line
                failed[line.line] = error_result(line, "prepare", exc)
        done = {r.line.line: r for r in run_group(self.generator, prepared)}
        return [failed.get(line.line) or done[line.line] for line, _ in group]


class RayEngine:
    """Runs the lines on the Ray cluster at ``address`` (None: a Ray started for this run, on this machine)."""

    name = "ray"

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", *, address: str | None = None,
                 batch_size: int | None = None, actors: int | None = None, random_model: bool = False,
                 ray_init: dict[str, Any] | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--engine ray needs Ray: pip install 'cafetalk[ray]'") from None
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(ray_init or {}))
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if device == "cuda" and not gpus:
            self.close()
            raise ValueError(f"device 'cuda': the Ray cluster at {address!r} has no GPU (resources: {resources})")
        use_gpu = gpus > 0 and device in ("auto", "cuda")
        self.device = "cuda" if use_gpu else "cpu"
        self.batch_size = default_batch_size(self.device) if batch_size is None else int(batch_size)
        count = actors or (gpus if use_gpu else max(1, int(resources.get("CPU", 1))))
        options = {"num_gpus": 1, "num_cpus": 0} if use_gpu else {"num_cpus": 1}
        remote = ray.remote(**options)(BatchWorker)
        self.actors = [remote.remote(None if checkpoint is None else str(checkpoint), self.device, random_model)
                       for _ in range(count)]
        self.workers = ray.get([a.info.remote() for a in self.actors])   # waits until every model is loaded

    def run(self, lines: list[BatchLine]) -> Iterator[LineResult]:
        from ray.util import ActorPool

        pool = ActorPool(self.actors)
        payloads: list[list[tuple[BatchLine, bytes]]] = []
        unread: dict[int, LineResult] = {}
        order: list[list[BatchLine]] = []
        for chunk in groups(lines, self.batch_size):
            payload = []
            for line in chunk:
                try:
                    payload.append((line, read_audio_bytes(line)))
                except OSError as exc:
                    unread[line.line] = error_result(line, "prepare", exc)
            payloads.append(payload)
            order.append(chunk)
        results = pool.map(lambda actor, payload: actor.run.remote(payload), payloads)   # in order
        for chunk, done in zip(order, results):
            by_line = {r.line.line: r for r in done}
            for line in chunk:
                yield unread.get(line.line) or by_line[line.line]

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            self._ray.kill(actor)
        self.actors = []
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()
