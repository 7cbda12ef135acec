"""Every copy of core code in the add-on (the extension cannot import ``cafetalk_core``), pinned to the core.

- ``io/core_copy/``: generated (``python build.py --copy-core``), byte for byte the core's files.
- ``io/vocabulary.py``: ARKit names and actions made from that copy; EMOTIONS,
  MAX_HEAD_MOTION and the language tag rules (pattern, the recogniser's language) written out,
  compared here.
- ``io/curves.py``: JSON through the copy; ``reduce_keys`` a faster copy of the core's, same keys.
- ``io/server_process.py``: the ``cafetalk serve`` command line and the torch pin.

Runs without Blender: ``io/`` imports no bpy.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from blender_fixtures import load_addon_io
from cafetalk_core import rig
from cafetalk_core.controls import ACTIONS, EMOTIONS, MAX_HEAD_MOTION
from cafetalk_core.curves import BlendshapeCurves, reduce_channel_keys
from cafetalk_core.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
curves = load_addon_io("curves")
vocabulary = load_addon_io("vocabulary")
server_process = load_addon_io("server_process")


def _build():
    spec = importlib.util.spec_from_file_location("cafetalk_build_copies", ROOT / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_core_copy_is_the_cores_byte_for_byte():
    build = _build()
    assert build.stale_copy_files() == [], "run `python build.py --copy-core`"
    sources = build.core_copy_sources()
    assert {"rig.py", "curves.py", "formats/__init__.py", "formats/audio2face.py", "formats/rhubarb.py",
            "controls/vocabulary.py"} <= set(sources)
    text = (ROOT / "blender_addon/io/core_copy/rig.py").read_text()
    assert text == build.COPY_HEADER.format("rig.py") + (ROOT / "cafetalk_core/rig.py").read_text()


def test_a_changed_core_makes_the_copy_stale_and_the_build_refuses(tmp_path):
    """The check can fail: a copy one character off is named, and build() will not ship it."""
    build = _build()
    folder = tmp_path / "core_copy"
    assert build.write_core_copy(folder)                    # everything written the first time
    assert build.stale_copy_files(folder) == []
    rig_copy = folder / "rig.py"
    rig_copy.write_text(rig_copy.read_text().replace("ARKIT_NAMES", "ARKIT_NAMEZ", 1))
    (folder / "leftover.py").write_text("")
    assert build.stale_copy_files(folder) == ["rig.py", "leftover.py"]
    assert build.write_core_copy(folder) == ["rig.py", "leftover.py"] and build.stale_copy_files(folder) == []


def test_the_copy_imports_only_the_standard_library_numpy_and_itself(tmp_path, monkeypatch):
    build = _build()
    fake = tmp_path / "cafetalk_core"
    (fake / "formats").mkdir(parents=True)
    (fake / "controls").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "formats" / "__init__.py").write_text("from .. import rig\n")
    (fake / "controls" / "vocabulary.py").write_text("import json\n")
    (fake / "rig.py").write_text("import numpy\nimport torch\n")
    monkeypatch.setattr(build, "CORE", fake)
    try:
        build.core_copy_sources()
    except build.StaleCopyError as exc:
        assert "cafetalk_core/rig.py imports torch" in str(exc)
    else:
        raise AssertionError("a core module importing torch was copied")


def test_arkit_names_are_the_cores_in_the_cores_order():
    assert vocabulary.ARKIT_NAMES == rig.ARKIT_NAMES


def test_actions_emotions_and_head_range_are_the_cores():
    assert vocabulary.ACTIONS == tuple((a.id, a.label, a.channels, a.threshold) for a in ACTIONS)
    assert vocabulary.EMOTIONS == EMOTIONS
    assert vocabulary.MAX_HEAD_MOTION == MAX_HEAD_MOTION


def test_language_rules_are_the_cores():
    """The add-on sends ``language`` only where the core would not take the speech for English.
    (The core's audio package needs scipy, which the Blender venvs leave out: the core suite runs it.)"""
    pytest.importorskip("scipy", reason="the core's audio package is not in the Blender venvs")
    from cafetalk_core.audio import LANGUAGE_TAG_PATTERN, RECOGNISER_LANGUAGE, check_language, recogniser_understands
    assert vocabulary.LANGUAGE_TAG_PATTERN == LANGUAGE_TAG_PATTERN
    assert vocabulary.RECOGNISER_LANGUAGE == RECOGNISER_LANGUAGE
    for tag in ("en", "EN-us", "en_GB", "zh", "zh-CN", "cmn", "pt_BR", "de"):
        option = vocabulary.language_option(tag)
        assert (option is None) == recogniser_understands(tag), tag
        assert option in (None, check_language(tag)), tag


def test_curves_json_is_the_cores_both_ways():
    rng = np.random.default_rng(4)
    values = rng.random((17, 52)).astype(np.float32)
    rotations = rng.normal(0, 0.3, (17, 9)).astype(np.float32)
    core = BlendshapeCurves(values, 29.97, rig.ARKIT_NAMES, rotations)
    addon = curves.Curves(29.97, rig.ARKIT_NAMES, values, rotations)
    assert addon.to_dict() == core.to_dict()
    back = curves.Curves.from_dict(core.to_dict())
    assert back.fps == 29.97 and back.names == rig.ARKIT_NAMES
    np.testing.assert_array_equal(back.values, BlendshapeCurves.from_dict(core.to_dict()).values)
    np.testing.assert_array_equal(back.rotations, BlendshapeCurves.from_dict(core.to_dict()).rotations)


def test_serve_command_and_torch_pin_are_the_cores():
    core = ServerProcess(port=8765, python="/venv/bin/python")
    assert server_process.serve_command("/venv/bin/python", 8765) == core.cmd
    assert server_process.serve_command("/p", 9000, ["--device", "cpu"])[-2:] == ["--device", "cpu"]
    pins = re.findall(r'"(torch==[0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pins and set(pins) == {server_process.EnvInstaller.TORCH}


def _speechlike(rng: np.random.Generator, n: int) -> np.ndarray:
    """Plateaus, ramps, noise and exact repeats: where greedy segment ends are decided."""
    y = np.zeros(n)
    i = 0
    while i < n:
        length = int(rng.integers(1, 60))
        kind = rng.integers(0, 4)
        seg = (np.full(length, rng.random()) if kind == 0 else
               np.linspace(rng.random(), rng.random(), length) if kind == 1 else
               rng.random(length) if kind == 2 else
               np.round(np.sin(np.arange(length) / 3.0 + rng.random() * 6) * 0.5 + 0.5, 2))
        y[i:i + length] = seg[:n - i]
        i += length
    return y.astype(np.float32)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 700),
       tolerance=st.sampled_from([1e-6, 0.001, 0.005, 0.01, 0.02, 0.05, 0.2, 1.0]))
def test_addon_key_reduction_gives_the_cores_keys(seed, n, tolerance):
    y = _speechlike(np.random.default_rng(seed), n)
    core_frames, core_values = reduce_channel_keys(y, tolerance)
    addon_frames = curves.reduce_keys(y, tolerance)
    np.testing.assert_array_equal(addon_frames, core_frames)
    np.testing.assert_array_equal(y[addon_frames], core_values)


def test_key_reduction_on_a_long_flat_take_is_the_same():
    y = np.zeros(9000, np.float32)
    y[4000:4100] = np.linspace(0, 1, 100)
    frames = curves.reduce_keys(y, 0.01)
    np.testing.assert_array_equal(frames, reduce_channel_keys(y, 0.01)[0])
    assert frames.tolist() == [0, 4000, 4099, 4100, 8999]  # flat, ramp up, drop, flat
