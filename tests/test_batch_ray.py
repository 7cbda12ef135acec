"""The Ray batch engine on a real local Ray cluster: a head node and a worker
node, each its own raylet process on 127.0.0.1 (``ray.cluster_utils.Cluster``, the same processes
``ray start --head`` / ``ray start --address`` run), 1 CPU each. Outputs must equal the local
engine's, byte for byte.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import ray

from cafetalk_core.cli import main

from ray_fixtures import CLIPS, REAL, cluster  # noqa: F401  (the fixture)


def _manifest(root: Path) -> Path:
    for name in CLIPS:
        shutil.copy(REAL / name, root / name)
    (root / "broken.wav").write_bytes(b"RIFF....WAVE")
    lines = [{"audio": CLIPS[0], "out": "o/a.json", "emotion": "happy", "controls": ["AU12:0.5-1.5:0.6"], "seed": 1},
             {"audio": CLIPS[1], "out": "o/b.json", "seed": 2, "steps": 3},
             {"audio": "broken.wav", "out": "o/c.json"},
             {"audio": CLIPS[2], "out": "o/d.csv", "controls": ["AU99:0-1"]},
             {"audio": CLIPS[2], "out": "o/e.npz", "emotion": "sad", "text": "blink at the end", "seed": 5}]
    (root / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return root / "m.jsonl"


def test_ray_engine_matches_the_local_engine(cluster, tmp_path):
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local_dir.mkdir(), ray_dir.mkdir()
    common = ["--random-model", "--device", "cpu", "--batch-size", "2"]
    assert main(["batch", str(_manifest(local_dir)), "--workers", "0", *common]) == 1
    assert main(["batch", str(_manifest(ray_dir)), "--engine", "ray", "--address", cluster.address, *common]) == 1
    local = json.loads((local_dir / "m.jsonl.report.json").read_text())
    remote = json.loads((ray_dir / "m.jsonl.report.json").read_text())
    assert remote["engine"] == "ray" and remote["workers"] == 2 and remote["nodes"] == 2   # one actor per node's CPU
    assert (remote["done"], remote["failed"]) == (local["done"], local["failed"]) == (3, 2)
    assert [e["line"] for e in remote["errors"]] == [e["line"] for e in local["errors"]] == [3, 4]
    for name in ("a.json", "b.json", "e.npz"):
        assert (ray_dir / "o" / name).read_bytes() == (local_dir / "o" / name).read_bytes(), name
    assert not ray.is_initialized()                                       # the engine let go of the cluster
