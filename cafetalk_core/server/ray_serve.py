"""``cafetalk serve --engine ray``: the same HTTP API as a Ray Serve application, behind one URL.

Two deployments:

* ``CafeTalkModel`` (``replicas`` of them, one GPU each where the cluster has GPUs): a loaded
  ``pipeline.Generator`` per replica; it runs ``generate`` and ``generate_batch``.
* ``CafeTalkApi`` (one replica): the FastAPI app of ``server/app.py``, unchanged (routes, limits,
  token, OpenAPI), whose job queue hands each job (or dynamic batch) to a model replica through a
  Serve handle; one job thread per replica keeps them all busy. One replica, because job ids
  live in its memory: a second API replica would not know the first one's jobs.

The add-on, ``curl`` and every batch tool call the one URL exactly as they call ``cafetalk
serve``. What differs: progress jumps from 0 to 1 (the replica does not stream steps back) and a
job can be cancelled while queued, not between the steps of a running one.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Callable

from ..generation import GenerationCancelled
from .settings import ServerSettings


class ReplicaError(Exception):
    """A job's error as text (what crosses the Ray boundary); ``bad_input`` -> the API's 4xx."""

    def __init__(self, message: str, bad_input: bool) -> None:
        super().__init__(message)
        self.bad_input = bad_input

    def __reduce__(self):   # picklable although __init__ takes two arguments
        return (ReplicaError, (str(self), self.bad_input))


def _portable(exc: BaseException) -> ReplicaError:
    return ReplicaError(str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}",
                        isinstance(exc, ValueError))


def _local(result: Any) -> Any:
    """A replica's ReplicaError back as the exception the job manager knows (ValueError -> 4xx)."""
    if isinstance(result, ReplicaError):
        return ValueError(str(result)) if result.bad_input else RuntimeError(str(result))
    return result


class ModelReplica:
    """One model, loaded once per replica process."""

    def __init__(self, checkpoint: str | None, device: str, random_model: bool) -> None:
        from ..pipeline import load_generator

        self.generator = load_generator(checkpoint, device, random_model)

    def info(self) -> dict[str, Any]:
        return {**self.generator.info, "max_audio_s": self.generator.max_audio_s}

    def generate(self, audio: Any, controls: Any, options: dict[str, Any]) -> Any:
        try:
            return self.generator.generate(audio, controls, **options)
        except Exception as exc:  # noqa: BLE001 - sent back as text, raised again by the API
            return _portable(exc)

    def generate_batch(self, requests: list[dict[str, Any]]) -> list[Any]:
        return [_portable(r) if isinstance(r, Exception) else r for r in self.generator.generate_batch(requests)]


class RemoteGenerator:
    """The job manager's generator (generation.CurveGenerator) when the model lives in Serve replicas."""

    def __init__(self, handle: Any, info: dict[str, Any]) -> None:
        self._handle = handle
        self._info = info
        self.max_audio_s = float(info["max_audio_s"])

    @property
    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def generate(self, audio: Any, controls: Any = None, *, progress: Callable[[float], None] | None = None,
                 cancel: Callable[[], bool] | None = None, **options: Any) -> Any:
        if cancel is not None and cancel():
            raise GenerationCancelled("cancelled before it reached a model replica")
        result = _local(self._handle.generate.remote(audio, controls, options).result())
        if isinstance(result, Exception):
            raise result
        if progress is not None:
            progress(1.0)
        return result

    def generate_batch(self, requests: list[dict[str, Any]], progress: list | None = None,
                       cancel: list | None = None) -> list[Any]:
        results = [_local(r) for r in self._handle.generate_batch.remote(requests).result()]
        for report in progress or []:
            if report is not None:
                report(1.0)
        return results


class ApiIngress:
    """The FastAPI app of server/app.py, built on the replica around a RemoteGenerator."""

    def __init__(self, model: Any, settings: dict[str, Any], app_factory: Callable[..., Any]) -> None:
        self.model = model
        self.settings = ServerSettings(**settings)
        self.app_factory = app_factory   # server.app.create_app, passed in: app.py imports this module

    def __serve_build_asgi_app__(self) -> Any:
        # Serve calls this inside the replica's event loop, where a handle's blocking .result() is
        # refused: ask a model replica from a plain thread
        with ThreadPoolExecutor(1) as pool:
            info = pool.submit(lambda: self.model.info.remote().result()).result()
        return self.app_factory(RemoteGenerator(self.model, info), self.settings)


def build_application(settings: ServerSettings, app_factory: Callable[..., Any], checkpoint: str | None = None, *,
                      device: str = "auto",
                      replicas: int = 1, gpus_per_replica: float = 0.0, random_model: bool = False) -> Any:
    """The Serve application (``serve.run`` it): ``replicas`` model replicas behind one API replica;
    ``app_factory`` is ``server.app.create_app``."""
    from ray import serve

    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    model_options = {"num_gpus": gpus_per_replica} if gpus_per_replica else {"num_cpus": 1}
    model = serve.deployment(name="CafeTalkModel", num_replicas=replicas, ray_actor_options=model_options,
                             max_ongoing_requests=4)(ModelReplica)
    api = serve.deployment(name="CafeTalkApi", num_replicas=1, ray_actor_options={"num_cpus": 0})(serve.ingress()(ApiIngress))
    api_settings = {**asdict(settings), "workers": replicas}
    return api.bind(model.bind(checkpoint, device, random_model), api_settings, app_factory)


def serve_on_ray(settings: ServerSettings, app_factory: Callable[..., Any], checkpoint: str | None, *,
                 address: str | None, device: str, replicas: int | None, random_model: bool,
                 blocking: bool = True) -> Any:
    """Connect to the cluster, start Serve's HTTP proxy on ``settings.host:port`` and run the app."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if device == "cuda" and not gpus:
        raise ValueError(f"device 'cuda': the Ray cluster at {address!r} has no GPU")
    use_gpu = gpus > 0 and device in ("auto", "cuda")
    count = replicas or (gpus if use_gpu else 1)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    app = build_application(settings, app_factory, checkpoint, device="cuda" if use_gpu else "cpu", replicas=count,
                            gpus_per_replica=1.0 if use_gpu else 0.0, random_model=random_model)
    return serve.run(app, name="cafetalk", route_prefix="/", blocking=blocking)


def cli_serve_on_ray(args: Any, settings: ServerSettings, random_model: bool, app_factory: Callable[..., Any]) -> int:
    """``cafetalk serve --engine ray [--address HEAD:6379] [--replicas N]``; blocks while it serves."""
    import sys

    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        print("cafetalk serve: --engine ray needs Ray Serve: pip install 'cafetalk[ray]'", file=sys.stderr)
        return 2
    print(f"cafetalk serve: Ray Serve on http://{args.host}:{args.port} (cluster {args.address or 'local'})",
          file=sys.stderr, flush=True)
    try:
        serve_on_ray(settings, app_factory, args.checkpoint, address=args.address, device=args.device,
                     replicas=args.replicas, random_model=random_model, blocking=True)
    except ValueError as exc:
        print(f"cafetalk serve: {exc}", file=sys.stderr)
        return 2
    return 0
