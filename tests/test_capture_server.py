"""Regenerate a span of an imported take through the real server (random tiny model): only the
span changes, every frame outside it stays the captured value bit for bit."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from blender_fixtures import ROOT, addon, bpy_mod, live_server, make_face, scene, write_tone  # noqa: F401 (fixtures)
from test_addon_server import _generate
from test_capture_blender import _live_link_csv

pytestmark = pytest.mark.blender


def test_regenerate_a_span_of_a_captured_take(bpy_mod, addon, scene, live_server, tmp_path, monkeypatch):
    monkeypatch.setenv("CAFETALK_SERVER_URL", live_server)
    monkeypatch.setenv("CAFETALK_PYTHON", sys.executable)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    face = make_face(bpy_mod, names=addon.io.vocabulary.ARKIT_NAMES)
    props = scene.cafetalk
    props.target, props.steps = face, 2
    _live_link_csv(tmp_path / "cap.csv", frames=30, fps=30, start_frame=0)
    write_tone(tmp_path / "cap.wav", seconds=1.0)
    scene.frame_current = 1
    assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "cap.csv")) == {"FINISHED"}
    key = face.data.shape_keys
    captured = addon.nla_layout.active_take(key)
    addon.nla_controls.add_strip(key, "fine", "AU12", 11, 17, 0.8)         # 0.333 s .. 0.533 s
    for t in key.animation_data.nla_tracks:
        for s in t.strips:
            s.select = s.name == "AU12"
    assert _generate(bpy_mod, addon, "SPAN")[0] == "done"
    new = addon.nla_layout.active_take(key)
    assert new != captured and addon.take_store.take_meta(new)["mode"] == "SPAN"
    a, b = addon.take_store.take_curves(captured), addon.take_store.take_curves(new)
    assert b.values.shape == a.values.shape
    np.testing.assert_array_equal(b.values[:10], a.values[:10])              # before the span: bit for bit
    np.testing.assert_array_equal(b.values[16:], a.values[16:])              # after it
    assert np.abs(b.values[10:16] - a.values[10:16]).max() > 1e-3            # inside: regenerated
    rb, ra = addon.head_rig.take_rotations(new), addon.head_rig.take_rotations(captured)
    if rb is not None:
        np.testing.assert_array_equal(rb[:10], ra[:10])
