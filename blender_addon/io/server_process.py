"""The bundled server as a subprocess, and the one-click server environment (venv + pip).

Neither ever blocks Blender: both start subprocesses and are advanced by :meth:`tick`, which
``bpy.app.timers`` calls a few times a second (the panel draws ``state`` and ``message``); the
server's ``/health`` is asked in a worker thread (:class:`~.tasks.NetworkTask`), never on
Blender's main thread.
Background scripts and tests, which have no timers, call :meth:`wait`. The server is stopped
by ``unregister`` and at interpreter exit (atexit), so quitting Blender never leaves it behind.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .client import Client
from .errors import CafeTalkError
from .tasks import NetworkTask

PROBE = "import torch, cafetalk_core"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def serve_command(python: str, port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """``cafetalk serve`` on loopback: the core's command line (``cafetalk_core.server_process``), pinned to it
    by ``tests/test_addon_copies.py``."""
    return [python, "-m", "cafetalk_core.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args]


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class ServerProcess:
    """States: stopped -> probing -> starting -> running (or failed); a taken port: checking -> external (or failed)."""

    def __init__(self) -> None:
        self.state = "stopped"
        self.message = ""
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self._probe: subprocess.Popen | None = None
        self._cmd: list[str] = []
        self._env: dict[str, str] = {}
        self._deadline = 0.0
        self._token = ""
        self._health: NetworkTask | None = None

    @property
    def busy(self) -> bool:
        return self.state in ("checking", "probing", "starting")

    def _ask_health(self, timeout_s: float) -> NetworkTask:
        url, token = self.url, self._token
        return NetworkTask("server health", lambda: Client(url, token).health(timeout_s=timeout_s)).start()

    def start(self, python: str, port: int, log_dir: Path, token: str = "", extra_args: Sequence[str] = (),
              startup_timeout_s: float = 120.0) -> None:
        """Begin starting the server; raise :class:`CafeTalkError` for what is known at once."""
        if self.state in ("checking", "probing", "starting", "running"):
            return
        self.url = f"http://127.0.0.1:{port}"
        self._token = token
        self._health = None
        if port_in_use(port):   # a CafeTalk server already there, or another program: ask it, off the main thread
            self._health = self._ask_health(1.0)
            self.state, self.message = "checking", f"port {port} is in use: is it a CafeTalk server?"
            return
        if not python or not Path(python).exists():
            self._fail(f"Python interpreter {python!r} does not exist: set one in the preferences "
                       "or run 'Install server environment'")
            raise CafeTalkError(self.message)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / "server.log"
        self._cmd = serve_command(python, port, extra_args)
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._env.pop("PYTHONPATH", None)  # Blender's own paths must not leak into the server
        if token:
            self._env["CAFETALK_TOKEN"] = token
        self._probe = subprocess.Popen([python, "-c", PROBE], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       env=self._env, text=True)
        self._deadline = time.monotonic() + startup_timeout_s
        self.state, self.message = "probing", f"checking that {python} has torch and cafetalk"

    def tick(self) -> float | None:
        """Advance one step; return seconds until the next call, or ``None`` when settled. Never blocks."""
        if self.state == "checking":
            assert self._health is not None
            if self._health.state == "running":
                return 0.1
            if self._health.state == "done":
                self.state, self.message = "external", f"a CafeTalk server already answers on {self.url}"
            else:
                self._fail(f"port {self.url.rsplit(':', 1)[1]} is taken by another program: "
                           "choose another port in the preferences")
            return None
        if self.state == "probing":
            assert self._probe is not None
            if self._probe.poll() is None:
                return 0.25 if time.monotonic() < self._deadline else self._timeout()
            err = (self._probe.stderr.read() if self._probe.stderr else "").strip().splitlines()
            if self._probe.returncode != 0:
                missing = err[-1] if err else f"exit code {self._probe.returncode}"
                self._fail(f"{self._cmd[0]} cannot run the server ({missing}); "
                           "use 'Install server environment' or choose a Python with torch and cafetalk")
                return None
            with open(self.log_path, "w") as log:  # type: ignore[arg-type]
                self.proc = subprocess.Popen(self._cmd, stdout=log, stderr=subprocess.STDOUT, env=self._env)
            self.state, self.message = "starting", "server starting (loading the model)"
            return 0.5
        if self.state == "starting":
            assert self.proc is not None
            if self.proc.poll() is not None:
                self._fail(f"server exited with code {self.proc.returncode}: {_tail(self.log_path)}")
                return None
            if self._health is None or self._health.state == "failed":   # not up yet: ask again
                if time.monotonic() > self._deadline:
                    return self._timeout()
                self._health = self._ask_health(0.5)
                return 0.5
            if self._health.state == "running":
                return 0.1
            self.state, self.message = "running", f"server running at {self.url}"
            return None
        if self.state == "running" and self.proc is not None and self.proc.poll() is not None:
            self._fail(f"server stopped (code {self.proc.returncode}): {_tail(self.log_path)}")
        return None

    def wait(self, timeout_s: float = 120.0) -> None:
        """Block until running (background mode); raise :class:`CafeTalkError` on failure."""
        end = time.monotonic() + timeout_s
        while self.busy and time.monotonic() < end:
            time.sleep(self.tick() or 0.05)
        if self.state not in ("running", "external"):
            raise CafeTalkError(self.message or f"server state is {self.state}")

    def stop(self) -> None:
        for p in (self._probe, self.proc):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.proc = self._probe = None
        if self._health is not None:
            self._health.cancel()
            self._health = None
        if self.state != "failed":
            self.state, self.message = "stopped", "server stopped"

    def _fail(self, message: str) -> None:
        self.state, self.message = "failed", message
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def _timeout(self) -> None:
        self._fail(f"server did not become healthy in time: {_tail(self.log_path) if self.log_path else ''}")
        return None


class EnvInstaller:
    """Create a venv and pip-install the bundled core + server extras, torch pinned."""

    TORCH = "torch==2.13.0"

    def __init__(self) -> None:
        self.state = "idle"
        self.message = ""
        self.step = 0
        self.steps: list[list[str]] = []
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, base_python: str, venv_dir: Path, core: Path) -> None:
        if self.state == "running":
            return
        if not core.exists():
            raise CafeTalkError(f"bundled core {core} is missing: reinstall the extension zip made by build.py")
        py = venv_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
        target = f"{core}[server]"  # a wheel file or a source folder, with the server extras
        self.steps = [[base_python, "-m", "venv", str(venv_dir)],
                      [str(py), "-m", "pip", "install", "--upgrade", "pip"],
                      [str(py), "-m", "pip", "install", self.TORCH, target]]
        self.log_path = venv_dir.parent / "install.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        self.step = 0
        self.state = "running"
        self._launch()

    def _launch(self) -> None:
        with open(self.log_path, "a") as log:  # type: ignore[arg-type]
            log.write("$ " + " ".join(self.steps[self.step]) + "\n")
            log.flush()
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            self.proc = subprocess.Popen(self.steps[self.step], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.message = f"step {self.step + 1}/{len(self.steps)}: {' '.join(self.steps[self.step][-2:])}"

    @property
    def progress(self) -> float:
        return self.step / max(1, len(self.steps))

    def tick(self) -> float | None:
        if self.state != "running" or self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            return 1.0
        if code != 0:
            self.state = "failed"
            self.message = f"step {self.step + 1} failed (code {code}): {_tail(self.log_path)}; log: {self.log_path}"
            return None
        self.step += 1
        if self.step == len(self.steps):
            self.state, self.message = "done", "server environment installed"
            return None
        self._launch()
        return 1.0

    def cancel(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        self.state, self.message = "failed", "installation cancelled"


SERVER = ServerProcess()
INSTALLER = EnvInstaller()


@atexit.register
def _stop_at_exit() -> None:
    SERVER.stop()
    INSTALLER.cancel() if INSTALLER.state == "running" else None
