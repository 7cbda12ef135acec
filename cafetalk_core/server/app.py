"""The FastAPI app: routes, error mapping, and ``cafetalk serve``.

Request flow for a generation: POST /v1/jobs decodes and validates everything (audio,
controls, options) *before* queueing, so a bad request is a 4xx at once and a queued job
only fails for reasons the client could not know. The worker (jobs.py) runs it; the client
polls GET /v1/jobs/{id} and fetches /result.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from typing import Any, Callable, Literal

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, rig
from ..controls import ACTIONS, EMOTIONS, ControlError, ControlSet
from ..curves import BlendshapeCurves
from ..generation import CurveGenerator
from .auth import BearerTokenMiddleware, BodyLimitMiddleware, OPEN_PATHS, check_bind
from .jobs import JobManager, JobNotFound, QueueFull
from .schemas import (
    MAX_STEPS, CurvesResponse, ErrorResponse, HealthResponse, InfoResponse, JobOptions, JobStatus,
    TextRequest, TextResponse,
)
from .settings import ServerSettings
from .docs import install_docs
from .uploads import UploadError, decode_upload

log = logging.getLogger("cafetalk.server")

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 404, 409, 413, 422, 429, 503)}


class ApiError(Exception):
    """A client error with its status, the field at fault and a sentence for the artist."""

    def __init__(self, status: int, field: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.field, self.message, self.headers = status, field, message, headers


def _error(status: int, field: str | None, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    detail = message if field is None or message.startswith(f"{field}:") else f"{field}: {message}"
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


# -- model facts -------------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def build_info(generator: CurveGenerator, settings: ServerSettings) -> dict[str, Any]:
    """The /v1/info body: the model's own facts, the control vocabulary, and this server's limits."""
    info = dict(generator.info)
    return {
        "model_id": str(info["model_id"]),
        "version": __version__,
        "device": settings.device,
        "fps": float(info["fps"]),
        "sample_rate": 16000,
        "names": list(info.get("arkit_names") or rig.ARKIT_NAMES),
        "emotions": list(EMOTIONS),
        "actions": [{"id": a.id, "label": a.label, "region": a.region,
                     "channels": [c for c, _ in a.channels], "aliases": list(a.aliases)} for a in ACTIONS],
        "default_steps": info.get("default_steps"),
        "default_audio_scale": info.get("default_audio_scale"),
        "default_control_scale": info.get("default_control_scale"),
        "default_face_scale": info.get("default_face_scale"),
        "front_end": info.get("front_end"),
        "phones_optional": info.get("phones_optional") is True,
        "limits": {"max_queue": settings.max_queue, "max_audio_s": settings.max_audio_s,
                   "max_upload_mb": settings.max_upload_mb, "job_ttl_s": settings.job_ttl_s,
                   "max_steps": MAX_STEPS, "max_text_chars": settings.max_text_chars},
        "model": _json_safe(info),
    }


# -- request parsing -----------------------------------------------------------------------------
MAX_JSON_DEPTH = 32   # a ControlSet is 4 levels deep, options with an inpaint take 5


def _json_depth_over(value: Any, limit: int) -> bool:
    """True if ``value`` nests deeper than ``limit`` (iterative, so no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _parse_json_field(text: str, field: str) -> Any:
    """JSON of a form field, or ApiError(422) naming ``field``: malformed, or nested too deeply."""
    too_deep = ApiError(422, field, f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(text) if text and text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ApiError(422, field, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise too_deep from None
    if _json_depth_over(value, MAX_JSON_DEPTH):
        raise too_deep
    return value


def _pydantic_field(exc: ValidationError, prefix: str) -> tuple[str, str]:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    field = f"{prefix}.{loc}" if loc else prefix
    return field, err.get("msg", "invalid value")


def parse_options(text: str, duration_s: float, phones_optional: bool = False) -> dict[str, Any]:
    """The ``options`` form field -> keyword arguments for ``Generator.generate``. ``phones_optional``:
    whether the served model takes speech in languages other than English (its ``info``)."""
    raw = _parse_json_field(text, "options")
    if not isinstance(raw, dict):
        raise ApiError(422, "options", f"must be a JSON object, got {type(raw).__name__}")
    try:
        opts = JobOptions.model_validate(raw, context={"phones_optional": phones_optional})
    except ValidationError as exc:
        field, msg = _pydantic_field(exc, "options")
        raise ApiError(422, field, msg) from None
    kwargs: dict[str, Any] = {"seed": opts.seed}
    for name in ("steps", "audio_scale", "control_scale", "face_scale", "fps", "head_motion", "language"):
        if getattr(opts, name) is not None:
            kwargs[name] = getattr(opts, name)
    if opts.inpaint is not None:
        ip = opts.inpaint
        try:
            curves = BlendshapeCurves.from_dict(ip.curves)
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(422, "options.inpaint.curves", f"not a cafetalk.curves take: {exc}") from None
        if ip.end_s <= ip.start_s:
            raise ApiError(422, "options.inpaint.end_s", f"must be after start_s ({ip.start_s}), got {ip.end_s}")
        if ip.start_s >= duration_s:
            raise ApiError(422, "options.inpaint.start_s",
                           f"{ip.start_s} s is at or past the end of the clip ({duration_s:.3f} s)")
        # a span reaching past the end is clamped to the clip (Blender rounds strips to whole frames)
        kwargs["inpaint"] = (curves, ip.start_s, min(ip.end_s, duration_s))
    return kwargs


# -- the app -------------------------------------------------------------------------------------
def create_app(generator: CurveGenerator, settings: ServerSettings | None = None,
               text_to_controls: Callable[..., Any] | None = None) -> FastAPI:
    """An app serving ``generator`` (a :class:`~cafetalk_core.generation.CurveGenerator`, e.g. pipeline.Generator).

    ``text_to_controls`` defaults to ``cafetalk_core.controls.text.text_to_controls``, imported
    on first use (the text model is large and optional); tests may pass a stand-in.
    """
    if not isinstance(generator, CurveGenerator):
        raise TypeError(f"generator must satisfy cafetalk_core.generation.CurveGenerator (info, max_audio_s, "
                        f"generate), got {type(generator).__name__}")
    settings = settings or ServerSettings()
    model_limit = generator.max_audio_s
    if 0 < model_limit < settings.max_audio_s:
        settings = replace(settings, max_audio_s=float(model_limit))  # refuse at submit, not fail later
    manager = JobManager(generator, max_queue=settings.max_queue, ttl_s=settings.job_ttl_s,
                         max_batch=settings.max_batch, batch_wait_s=settings.batch_wait_s, workers=settings.workers)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        manager.start(warmup=settings.warmup)
        try:
            yield
        finally:
            manager.stop()

    app = FastAPI(title="cafetalk inference server", version=__version__, lifespan=lifespan,
                  description="Speech audio + emotion + time-spanned controls -> ARKit-52 blendshape curves.",
                  docs_url=None, redoc_url=None)   # /docs is served offline by install_docs below
    app.state.manager = manager
    app.state.settings = settings
    # Outermost last: the token is checked before the body limit, both before any body is read.
    # Multipart overhead (boundaries, the controls/options fields) gets 1 MB on top of the audio.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes + 1_000_000)
    if settings.token:
        app.add_middleware(BearerTokenMiddleware, token=settings.token)
    _install_error_handlers(app)
    _install_routes(app, generator, settings, manager, text_to_controls)
    install_docs(app)
    if settings.token:
        _document_bearer_auth(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.field, exc.message, exc.headers)

    @app.exception_handler(ControlError)
    async def _control_error(_req: Request, exc: ControlError) -> JSONResponse:
        return _error(422, exc.field, str(exc))

    @app.exception_handler(UploadError)
    async def _upload_error(_req: Request, exc: UploadError) -> JSONResponse:
        return _error(exc.status, "audio", str(exc))

    @app.exception_handler(JobNotFound)
    async def _not_found(_req: Request, exc: JobNotFound) -> JSONResponse:
        return _error(404, "job_id", exc.message)

    @app.exception_handler(QueueFull)
    async def _queue_full(_req: Request, exc: QueueFull) -> JSONResponse:
        return _error(429, None, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        err = errors[0] if errors else {}
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or "request"
        return _error(422, field, f"{field}: {err.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, None, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", req.method, req.url.path)
        return _error(500, None, f"internal server error ({type(exc).__name__}); details are in the server log")


def _install_routes(app: FastAPI, generator: CurveGenerator, settings: ServerSettings, manager: JobManager,
                    text_fn: Callable[..., Any] | None) -> None:
    info_body = InfoResponse.model_validate(build_info(generator, settings))

    @app.get("/health", response_model=HealthResponse, tags=["server"])
    def health() -> HealthResponse:
        """Liveness: is the model loaded, how many jobs wait. Needs no token."""
        return HealthResponse(ok=True, model_loaded=generator is not None, model_id=info_body.model_id,
                              device=settings.device, queue_depth=manager.queue_depth(),
                              running=manager.is_running(), version=__version__)

    @app.get("/v1/info", response_model=InfoResponse, tags=["server"], responses=_ERRORS)
    def info() -> InfoResponse:
        """The model (id, fps, ARKit names), the control vocabulary, defaults and this server's limits."""
        return info_body

    @app.post("/v1/jobs", response_model=JobStatus, status_code=202, tags=["jobs"], responses=_ERRORS)
    def submit_job(
        audio: UploadFile = File(..., description="speech audio (wav, flac, ogg, ...); any rate, resampled to 16 kHz mono"),
        controls: str = Form("{}", description='ControlSet JSON, e.g. {"emotion": "happy", "intensity": 0.7, '
                                               '"fine": [{"action": "AU12", "start_s": 1.2, "end_s": 2.0}], '
                                               '"head_spans": [{"start_s": 2.0, "end_s": 3.0, "amount": 0}]}'),
        options: str = Form("{}", description="JSON: {steps, audio_scale, control_scale, face_scale, seed, fps, "
                                              "head_motion, language, inpaint: {curves, start_s, end_s}}"),
    ) -> JSONResponse:
        """Queue a generation. Audio, controls and options are checked now: any problem is a 4xx here."""
        manager.check_capacity()
        data = audio.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ApiError(413, "audio", f"the file is larger than {settings.max_upload_mb:g} MB (--max-upload-mb)")
        samples, duration_s = decode_upload(data, settings.max_audio_s, audio.filename)
        del data
        control_set = ControlSet.from_dict(_parse_json_field(controls, "controls")).validated(duration_s)
        kwargs = parse_options(options, duration_s, info_body.phones_optional)
        job = manager.submit(samples, duration_s, control_set, kwargs)
        return JSONResponse(manager.status(job.id), status_code=202,
                            headers={"Location": f"/v1/jobs/{job.id}"})

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, tags=["jobs"], responses=_ERRORS)
    def job_status(job_id: str) -> JobStatus:
        """State (queued, running, done, failed, cancelled) and progress 0..1 of one job."""
        return JobStatus.model_validate(manager.status(job_id))

    @app.get("/v1/jobs/{job_id}/result", response_model=CurvesResponse, tags=["jobs"],
             responses={**_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                         "description": "the curves as JSON, or Live Link Face CSV with ?format=csv"}})
    def job_result(job_id: str, format: Literal["json", "csv"] = Query(  # noqa: A002 - the query name users type
            "json", description="json (cafetalk.curves) or csv (Live Link Face, 52 ARKit columns by name)")) -> Response:
        """The finished take; 409 while the job is not done."""
        status, curves = manager.result(job_id)
        if status["state"] != "done" or curves is None:
            why = f" ({status['error']})" if status.get("error") else ""
            raise ApiError(409, "job_id", f"job {job_id} is {status['state']}{why}, not done: no result")
        if format == "csv":
            text = curves.to_live_link_csv()
            return Response(text, media_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="cafetalk_{job_id}.csv"'})
        return JSONResponse(curves.to_dict())

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus, tags=["jobs"], responses=_ERRORS)
    def cancel_job(job_id: str) -> JobStatus:
        """Cancel: a queued job at once, a running one between denoising steps. Finished jobs are unchanged."""
        return JobStatus.model_validate(manager.cancel(job_id))

    @app.post("/v1/controls/from-text", response_model=TextResponse, tags=["controls"], responses=_ERRORS)
    def controls_from_text(body: TextRequest) -> TextResponse:
        """Free text ('smile at the end, raise brows from 1 to 2 s') -> fine controls and emotion spans."""
        if len(body.text) > settings.max_text_chars:
            raise ApiError(422, "text", f"{len(body.text)} characters; at most {settings.max_text_chars}")
        if body.duration_s > settings.max_audio_s:
            raise ApiError(422, "duration_s", f"{body.duration_s} s is longer than the longest clip ({settings.max_audio_s:g} s)")
        if body.transcript is not None:
            for i, (_, a, b) in enumerate(body.transcript):
                if not (math.isfinite(a) and math.isfinite(b) and 0 <= a <= b):
                    raise ApiError(422, f"transcript[{i}]", f"word times must satisfy 0 <= start <= end, got {a}, {b}")
        text_to_controls = text_fn
        if text_to_controls is None:  # imported on first use: the text model is large
            from ..controls.text import text_to_controls
        try:
            res = text_to_controls(body.text, body.duration_s, transcript=body.transcript)
        except ControlError:
            raise
        except (ImportError, OSError) as exc:
            raise ApiError(503, None, f"the text model could not be loaded ({exc})") from None
        except ValueError as exc:
            raise ApiError(422, "text", str(exc)) from None
        return TextResponse(          # res: controls.text.TextControls
            fine=[asdict(c) for c in res.controls], emotion=res.emotion, emotion_intensity=res.emotion_intensity,
            emotion_spans=[asdict(s) for s in res.emotion_spans], matches=list(res.matches),
            messages=[str(m) for m in res.messages],
        )


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer token in /openapi.json so clients and /docs know to send it."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path, ops in schema.get("paths", {}).items():
            if path not in OPEN_PATHS:
                for op in ops.values():
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- cafetalk serve ------------------------------------------------------------------------------
def load_generator(checkpoint: str | None, device: str, random_model: bool) -> CurveGenerator:
    """pipeline.load_generator, imported when called (importing the app never loads torch)."""
    from ..pipeline import load_generator as load

    return load(checkpoint, device, random_model)


def _max_batch(value: int | None, device: str) -> int:
    """Jobs per batch: as given, else 8 on a GPU and 1 on a CPU (where batching measured no gain:
    benchmarks/bench_batch.py, docs/batch.md)."""
    return int(value) if value is not None else (8 if device.startswith("cuda") else 1)


def cli_serve(args: argparse.Namespace) -> int:
    """``cafetalk serve``: check the bind, load the model once, run uvicorn."""
    token = args.token or os.environ.get("CAFETALK_TOKEN") or None
    try:
        check_bind(args.host, token)
        from ..model.runtime import resolve_device
        # under Ray the replicas' machines decide (this one may have no GPU): the name is passed on as given
        device = args.device if getattr(args, "engine", "local") == "ray" else str(resolve_device(args.device))
        settings = ServerSettings(host=args.host, port=args.port, token=token, device=device,
                                  max_queue=args.max_queue, max_audio_s=args.max_audio_s,
                                  max_upload_mb=args.max_upload_mb,
                                  job_ttl_s=getattr(args, "job_ttl_s", 3600.0), warmup=True,
                                  max_batch=_max_batch(getattr(args, "max_batch", None), device),
                                  batch_wait_s=getattr(args, "batch_wait_ms", 20.0) / 1000.0)
    except ValueError as exc:
        print(f"cafetalk serve: {exc}", file=sys.stderr)
        return 2
    random_model = bool(getattr(args, "random_model", False)) or os.environ.get("CAFETALK_RANDOM_MODEL") == "1"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "engine", "local") == "ray":
        from .ray_serve import cli_serve_on_ray
        return cli_serve_on_ray(args, settings, random_model, create_app)
    try:
        generator = load_generator(args.checkpoint, device, random_model)
    except (FileNotFoundError, ValueError) as exc:
        print(f"cafetalk serve: cannot load the model: {exc}", file=sys.stderr)
        return 2
    app = create_app(generator, settings)
    import uvicorn
    print(f"cafetalk serve: http://{args.host}:{args.port} on {device}"
          f"{' (RANDOM untrained model)' if random_model else ''}; API docs at /docs", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
