"""One generation job on the server, driven from a worker thread or synchronously. No ``bpy``.

The modal operator starts a :class:`JobRunner` thread and reads its fields on every timer
tick (plain attribute reads are safe across threads in CPython); Blender data is only touched
back on the main thread once ``finished`` is set. Background mode and tests call :meth:`run`
directly instead.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from .client import TERMINAL_STATES, Client
from .errors import CafeTalkError
from .curves import Curves


class JobRunner:
    """Submit audio + controls, poll progress, fetch curves; cancellable at any point."""

    def __init__(self, client: Client, audio_path: str, controls: dict[str, Any], options: dict[str, Any],
                 poll_s: float = 0.25, timeout_s: float = 3600.0) -> None:
        self.client = client
        self.audio_path = audio_path
        self.controls = controls
        self.options = options
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.job_id: str | None = None
        self.state = "submitting"
        self.progress = 0.0
        self.error: str | None = None
        self.curves: Curves | None = None
        self.finished = threading.Event()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run_catching, name="cafetalk-job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the server to drop the job; the worker notices on its next poll."""
        self._cancel.set()

    def run(self, on_progress: Callable[[float, str], None] | None = None) -> Curves:
        """Synchronous path: the same steps on the calling thread; raises :class:`CafeTalkError`."""
        self._run(on_progress)
        if self.error:
            raise CafeTalkError(self.error)
        if self.curves is None:
            raise CafeTalkError(f"job {self.job_id} was cancelled")
        return self.curves

    def _run_catching(self) -> None:
        try:
            self._run(None)
        except Exception as exc:  # a worker must never die silently
            self.state, self.error = "failed", f"unexpected error: {exc!r}"
            self.finished.set()

    def _run(self, on_progress: Callable[[float, str], None] | None) -> None:
        try:
            self.job_id = self.client.submit(self.audio_path, self.controls, self.options)
            deadline = time.monotonic() + self.timeout_s
            while True:
                if self._cancel.is_set():
                    self.client.cancel(self.job_id)
                    self.state = "cancelled"
                    return
                status = self.client.job(self.job_id)
                self.state = str(status.get("state", "unknown"))
                self.progress = float(status.get("progress") or 0.0)
                if on_progress:
                    on_progress(self.progress, self.state)
                if self.state in TERMINAL_STATES:
                    break
                if time.monotonic() > deadline:
                    self.client.cancel(self.job_id)
                    raise CafeTalkError(f"job {self.job_id} did not finish within {self.timeout_s:g} s")
                self._cancel.wait(self.poll_s)
            if self.state == "failed":
                raise CafeTalkError(f"server: {status.get('error') or 'the job failed'}")
            if self.state == "cancelled":
                return
            self.curves = Curves.from_dict(self.client.result(self.job_id))
            self.progress = 1.0
        except CafeTalkError as exc:
            self.state, self.error = "failed", str(exc)
        finally:
            self.finished.set()
