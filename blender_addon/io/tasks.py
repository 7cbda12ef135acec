"""One network call in a worker thread, polled from Blender's main thread. No ``bpy``.

Blender must never wait on the network: an operator that asks the server something (controls
from text, the server's vocabulary) hands the call to a :class:`NetworkTask` and returns at
once; its modal timer polls :attr:`NetworkTask.state` and, once the call is over, applies the
result to Blender data on the main thread. Esc cancels: the task stops counting (an HTTP
request in flight cannot be torn down from outside its thread, so the worker finishes it and
its answer is dropped), and nothing is applied.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import CafeTalkError


class NetworkTask:
    """``call()`` in a daemon thread. States: ``running`` -> ``done`` | ``failed`` | ``cancelled``."""

    def __init__(self, what: str, call: Callable[[], Any]) -> None:
        self.what = what
        self._call = call
        self.result: Any = None
        self.error: str | None = None
        self._state = "running"
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"cafetalk-{what}", daemon=True)

    def start(self) -> "NetworkTask":
        self._thread.start()
        return self

    @property
    def state(self) -> str:
        return self._state

    def cancel(self) -> None:
        """Drop the call: its result, when it comes, is never used."""
        with self._lock:
            if self._state == "running":
                self._state = "cancelled"

    def wait(self, timeout_s: float | None = None) -> str:
        """Block until the call is over (background scripts and tests only); the final state."""
        self._thread.join(timeout_s)
        return self._state

    def _run(self) -> None:
        try:
            result, error = self._call(), None
        except CafeTalkError as exc:
            result, error = None, str(exc)
        except Exception as exc:  # a worker must never die silently
            result, error = None, f"{self.what}: unexpected error: {exc!r}"
        with self._lock:
            if self._state != "running":
                return
            self.result, self.error = result, error
            self._state = "failed" if error is not None else "done"
