"""The core's one launcher of `cafetalk serve` (demo, test fixtures, benchmark)."""
from __future__ import annotations

import urllib.request

import pytest

from cafetalk_core.server_process import ServerProcess, ServerStartError


def test_starts_answers_and_stops(tmp_path):
    with ServerProcess(["--random-model", "--device", "cpu"], tmp_path / "server.log") as server:
        with urllib.request.urlopen(server.url + "/health", timeout=5) as r:
            assert r.status == 200
        proc = server.proc
    assert proc.poll() is not None     # stopped on leaving the block
    server.stop()                      # twice is fine


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    server = ServerProcess(["--checkpoint", str(tmp_path / "missing"), "--device", "cpu"], tmp_path / "server.log")
    with pytest.raises(ServerStartError, match="exited with code") as err:
        server.start().wait_healthy(timeout_s=60)
    assert "server.log" in str(err.value) and str(tmp_path / "missing") in str(err.value)
