"""The add-on's network calls never block Blender's main thread (issue 26): worker-thread tasks and the
bundled server's health checks, against real slow HTTP servers on 127.0.0.1. Runs without Blender
(``io/`` imports no bpy); ``test_addon_blender.py`` drives the operators built on them."""
from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blender_fixtures import load_addon_io

tasks = load_addon_io("tasks")
client_mod = load_addon_io("client")
server_process = load_addon_io("server_process")


@contextmanager
def slow_server(delay_s: float, routes: dict[str, object]):
    """A real HTTP server on a free loopback port answering ``routes`` (path -> JSON) after ``delay_s``."""
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            time.sleep(delay_s)
            body = routes.get(self.path.split("?")[0])
            data = json.dumps(body if body is not None else {"detail": "not found"}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_slow_call_runs_in_its_thread_and_its_answer_arrives():
    with slow_server(1.0, {"/v1/info": {"emotions": ["happy"]}}) as url:
        t0 = time.monotonic()
        task = tasks.NetworkTask("info", client_mod.Client(url).info).start()
        assert time.monotonic() - t0 < 0.2 and task.state == "running"
        assert task.wait(10) == "done" and task.result == {"emotions": ["happy"]} and task.error is None
        assert time.monotonic() - t0 >= 1.0


def test_a_cancelled_call_drops_its_answer():
    with slow_server(0.8, {"/v1/info": {"emotions": ["happy"]}}) as url:
        task = tasks.NetworkTask("info", client_mod.Client(url).info).start()
        task.cancel()
        assert task.state == "cancelled"
        assert task.wait(10) == "cancelled" and task.result is None


def test_a_failed_call_carries_the_clients_message():
    task = tasks.NetworkTask("info", client_mod.Client("http://127.0.0.1:9").info).start()
    assert task.wait(10) == "failed" and "connection refused" in task.error


def test_server_start_on_a_taken_port_asks_it_without_blocking(tmp_path):
    """A slow CafeTalk server already on the port: start() and tick() return at once, then 'external'."""
    with slow_server(0.6, {"/health": {"status": "ok"}}) as url:   # answers within the 1 s the check allows
        port = int(url.rsplit(":", 1)[1])
        proc = server_process.ServerProcess()
        t0 = time.monotonic()
        proc.start("/nonexistent/python", port, tmp_path)
        assert proc.state == "checking" and time.monotonic() - t0 < 0.3
        while proc.busy:
            t1 = time.monotonic()
            proc.tick()
            assert time.monotonic() - t1 < 0.2      # a timer tick never waits for the server
            time.sleep(0.05)
            assert time.monotonic() - t0 < 10
        assert proc.state == "external" and time.monotonic() - t0 >= 0.6


def test_server_start_on_a_port_held_by_another_program_fails_clearly(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = server_process.ServerProcess()
        proc.start("/nonexistent/python", port, tmp_path)
        with pytest.raises(load_addon_io("errors").CafeTalkError, match=f"port {port} is taken by another program"):
            proc.wait(timeout_s=10)
