"""The out-of-process inference server (FastAPI + uvicorn): jobs, progress, cancel, auth.

``create_app(generator, settings)`` builds the app (tests, embedding); ``cli_serve(args)``
is ``cafetalk serve``. See docs/server.md for the endpoints.
"""
from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "cli_serve"]


def __getattr__(name: str):
    # app.py imports FastAPI; keep ``import cafetalk_core.server`` light until it is needed.
    if name in ("create_app", "cli_serve"):
        from . import app
        return getattr(app, name)
    raise AttributeError(name)
