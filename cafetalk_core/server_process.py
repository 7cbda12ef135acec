"""``cafetalk serve`` in a subprocess on a free loopback port, and waiting for its ``/health``.

The one copy in the core: ``cafetalk demo``, the test fixtures and the server benchmark start the
server this way. The add-on keeps its own (``blender_addon/io/server_process.py``, with its
preferences and health checks in worker threads; its command line is pinned to :class:`ServerProcess`'s
by ``tests/test_addon_copies.py``), because the extension cannot import ``cafetalk_core``.
Standard library only, so nothing here loads torch.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Sequence, TextIO


class ServerStartError(RuntimeError):
    """The server exited or did not answer ``/health`` in time; the message ends with its log's tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m cafetalk_core.cli serve --host 127.0.0.1 --port P ARGS...``, logged to ``log_path``.

    ``with ServerProcess(["--random-model"], log) as server: server.url`` starts it, waits until
    ``/health`` answers and stops it on exit. ``cwd`` is where the child starts (``-m`` imports
    ``cafetalk_core`` from there first); ``env`` replaces the environment when given.
    """

    def __init__(self, args: Sequence[str] = (), log_path: str | Path | None = None, *,
                 python: str = sys.executable, env: dict[str, str] | None = None,
                 cwd: str | Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [python, "-m", "cafetalk_core.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                    *args]
        self.log_path = Path(log_path) if log_path is not None else None
        self.env, self.cwd = env, cwd
        self.proc: subprocess.Popen | None = None
        self._log: TextIO | None = None

    def start(self) -> "ServerProcess":
        out = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = open(self.log_path, "w")
            out = self._log
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd,
                                     env=self.env if self.env is not None else dict(os.environ))
        return self

    def wait_healthy(self, timeout_s: float = 180.0, poll_s: float = 0.3) -> dict[str, Any]:
        """Poll ``/health`` until it answers; its JSON. Raises :class:`ServerStartError` otherwise."""
        if self.proc is None:
            raise ServerStartError("wait_healthy() before start()")
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(f"cafetalk serve exited with code {self.proc.returncode}{self._tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2.0) as r:
                    return json.loads(r.read())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerStartError(f"cafetalk serve not healthy after {timeout_s:.0f} s{self._tail()}") from None
                time.sleep(poll_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate (then kill) the server; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "ServerProcess":
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tail(self, chars: int = 2000) -> str:
        if self.log_path is None:
            return ""
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"; see {self.log_path}:\n{text[-chars:]}"
