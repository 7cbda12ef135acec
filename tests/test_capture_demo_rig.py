"""The demo head's neck pivot and turning eyes, as numpy (no Blender)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core import rig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def head():
    spec = importlib.util.spec_from_file_location("cafetalk_demo_head_rig", ROOT / "cafetalk_core" / "demo" / "head.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    g = mod.build_head_geometry(rig.ARKIT_NAMES)
    return mod, g, mod.build_head_rig(g)


def test_bones_stand_where_the_head_turns(head):
    mod, g, r = head
    h, t, parent = r.bones["head"]
    assert parent is None and t[2] > h[2] and abs(t[0] - h[0]) < 1e-9          # upright, on the neck
    for name, side in (("eye.L", 1.0), ("eye.R", -1.0)):
        eh, et, ep = r.bones[name]
        assert ep == "head" and np.sign(eh[0]) == side and et[1] < eh[1]        # forward (-Y), on its side
        ball = np.isin(g.part, (mod.EYEBALL, mod.IRIS)) & (np.nan_to_num(g.attrs["eye"][:, 3]) == side)
        np.testing.assert_allclose(eh, g.attrs["eye"][ball][0, :3], atol=1e-6)     # at the eyeball's centre
        assert np.abs(np.linalg.norm(g.verts[ball & (g.part == mod.EYEBALL)] - eh, axis=1) - mod.EYE_RADIUS).max() < 0.02


def test_weights_split_the_mesh(head):
    mod, g, r = head
    total = r.weights["head"] + r.weights["eye.L"] + r.weights["eye.R"]
    assert total.max() <= 1.0 + 1e-6
    ball = np.isin(g.part, (mod.EYEBALL, mod.IRIS))
    assert (r.weights["eye.L"][ball] + r.weights["eye.R"][ball] == 1).all() and not r.weights["head"][ball].any()
    skin_top = (g.part == mod.SKIN) & (g.verts[:, 2] > 0.0)
    assert (r.weights["head"][skin_top] == 1).all()                            # the skull turns as one
    neck_base = (g.part == mod.NECK) & (g.verts[:, 2] < -1.6)
    assert neck_base.any() and not r.weights["head"][neck_base].any()          # the shoulders stay


def test_each_rotation_turns_about_the_bones_own_axis_that_matches_it():
    """blender_addon/io/bones.axes_for: yaw about the armature's up, pitch about its +X, roll about the
    facing direction, read from the bone's rest orientation (columns: its local X, Y, Z)."""
    spec = importlib.util.spec_from_file_location("cafetalk_addon_bones", ROOT / "blender_addon" / "io" / "bones.py")
    bones = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bones)
    upright_head = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]        # points up its Y (Blender: local Y = +Z, Z = -Y)
    forward_eye = [[-1, 0, 0], [0, -1, 0], [0, 0, 1]]        # points forward (-Y), default roll: local X = -X
    assert bones.axes_for(upright_head) == {"yaw": (1, 1.0), "pitch": (0, 1.0), "roll": (2, 1.0)}
    assert bones.axes_for(forward_eye) == {"yaw": (2, 1.0), "pitch": (0, -1.0), "roll": (1, 1.0)}
    assert bones.axes_for(None) == {"yaw": (2, 1.0), "pitch": (0, 1.0), "roll": (1, -1.0)}   # an object at rest
