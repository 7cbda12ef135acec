"""Atomic writes (cafetalk_core/files.py): the target is whole before and after, and no temporary is left."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cafetalk_core.files import update_json_atomic, write_json_atomic


def test_update_json_rewrites_in_place_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_json_atomic(path, {"model_config": {"default_steps": 10}, "keep": [1, 2]})
    update_json_atomic(path, lambda cfg: cfg["model_config"].update(default_steps=2))
    assert json.loads(path.read_text()) == {"model_config": {"default_steps": 2}, "keep": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})   # not serialisable: fails before anything is written
    with pytest.raises(KeyError):
        update_json_atomic(path, lambda cfg: cfg["missing"].update(x=1))
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
