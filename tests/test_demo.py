"""The demo: the procedural head's shape keys (numpy, no Blender), and the whole
``cafetalk demo`` path with the real bpy module in a subprocess (Workbench renders)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves

ROOT = Path(__file__).resolve().parents[1]
HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="needs the bpy module (pip install 'bpy==4.5.*')")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _load_head_module():
    """``demo_head`` without its package (whose __init__ imports bpy): it only needs numpy."""
    spec = importlib.util.spec_from_file_location("cafetalk_demo_head", ROOT / "cafetalk_core" / "demo" / "head.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def head():
    mod = _load_head_module()
    return mod, mod.build_head_geometry(rig.ARKIT_NAMES)


def test_every_arkit_key_is_sculpted(head):
    _, g = head
    assert list(g.shape_deltas) == list(rig.ARKIT_NAMES)
    for name, d in g.shape_deltas.items():
        assert d.shape == g.verts.shape
        assert np.isfinite(d).all(), name
        assert np.abs(d).max() > 0.015, f"{name} barely moves anything ({np.abs(d).max():.4f})"


def test_left_and_right_keys_mirror_each_other(head):
    from scipy.spatial import cKDTree
    _, g = head
    # the closed lips' slit has upper and lower vertices at one position: tell them apart by ring angle
    side = np.nan_to_num(np.sin(g.attrs["theta"]), nan=0.0)[:, None]
    points = np.hstack([g.verts, side])
    mirrored = points * np.array([-1.0, 1.0, 1.0, 1.0])
    dist, idx = cKDTree(points).query(mirrored)
    assert dist.max() < 1e-6, "the rest mesh is not left/right symmetric"
    flip = np.array([-1.0, 1.0, 1.0])
    for left in [n for n in rig.ARKIT_NAMES if n.endswith("Left")]:
        right = left[:-4] + "Right"
        if left.startswith("eyeLook") and ("In" in left or "Out" in left):
            continue  # in/out are mirror images of each other by definition; checked below
        err = np.abs(g.shape_deltas[left][idx] * flip - g.shape_deltas[right]).max()
        assert err < 1e-4, f"{left} and {right} are not mirror images (max error {err:.5f})"
    err = np.abs(g.shape_deltas["eyeLookInLeft"][idx] * flip - g.shape_deltas["eyeLookInRight"]).max()
    assert err < 1e-4


def test_jaw_blink_and_close_do_what_their_names_say(head):
    mod, g = head
    skin = g.part == mod.SKIN
    s, th = g.attrs["s"], g.attrs["theta"]
    lower_lip = skin & (s < 0.04) & (np.sin(th) < -0.7)
    upper_lip = skin & (s < 0.04) & (np.sin(th) > 0.7)
    jaw = g.shape_deltas["jawOpen"]
    assert jaw[lower_lip, 2].mean() < -0.15           # lower lip drops
    assert abs(jaw[upper_lip, 2]).max() < 0.01        # upper lip stays
    closed = jaw + g.shape_deltas["mouthClose"]
    assert abs(closed[lower_lip, 2]).max() < 0.03     # mouthClose brings the lips together with the jaw open
    lid = g.attrs["lid"]
    edge_left = (g.part == mod.LID_UP) & (lid[:, 0] == 0) & (np.abs(lid[:, 1]) < 1) & (g.verts[:, 0] > 0)
    assert g.shape_deltas["eyeBlinkLeft"][edge_left, 2].mean() < -0.06
    assert np.abs(g.shape_deltas["eyeBlinkLeft"][(g.part == mod.LID_UP) & (g.verts[:, 0] < 0)]).max() == 0
    smile = g.shape_deltas["mouthSmileLeft"]
    corner = skin & (s < 0.01) & (np.cos(th) > 0.99)
    assert smile[corner, 2].mean() > 0.04 and smile[corner, 0].mean() > 0.02   # up and out


def _region_diff(a: np.ndarray, b: np.ndarray, rows: tuple[float, float], cols: tuple[float, float]) -> float:
    h, w = a.shape[:2]
    r0, r1, c0, c1 = int(rows[0] * h), int(rows[1] * h), int(cols[0] * w), int(cols[1] * w)
    return float(np.abs(a[r0:r1, c0:c1, :3] - b[r0:r1, c0:c1, :3]).mean())


@needs_bpy
@needs_espeak
def test_known_curves_move_the_mouth_and_lids_on_screen(tmp_path):
    """jawOpen 0 -> 1 changes the mouth pixels and not the eyes; a blink changes the eyes."""
    import matplotlib.image as mpimg

    from cafetalk_core.demo import run as demo
    wav = tmp_path / "speech.wav"
    demo.make_sample_clip(wav, "Papa may move.")
    n = 36
    v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    v[12:24, rig.INDEX["jawOpen"]] = 1.0
    v[24:, rig.INDEX["eyeBlinkLeft"]] = v[24:, rig.INDEX["eyeBlinkRight"]] = 1.0
    curves = BlendshapeCurves(v, 30.0)
    res = demo.render_take(curves, wav, tmp_path / "out", resolution=(160, 120), frames=1,
                           extra_times_s=[18 / 30, 30 / 30], save_blend=False)
    frames = {f: mpimg.imread(res["frame_pattern"] % f) for f in (1, 19, 31)}
    mouth, eyes = ((0.6, 0.92), (0.38, 0.62)), ((0.28, 0.42), (0.33, 0.67))
    assert _region_diff(frames[1], frames[19], *mouth) > 0.03
    assert _region_diff(frames[1], frames[19], *eyes) < 0.005
    assert _region_diff(frames[1], frames[31], *eyes) > 0.012
    assert _region_diff(frames[1], frames[31], *mouth) < 0.005


@needs_bpy
@needs_espeak
def test_demo_runs_end_to_end_in_process(tmp_path):
    from cafetalk_core.demo import run as demo
    rendered = []
    res = demo.run_demo(tmp_path / "demo", emotion="happy", in_process=True, frames=2, resolution="160x120",
                        random_model=True, sentence="Papa may move.", steps=2, contact_max=3, log=lambda *_: None,
                        progress=lambda k, n: rendered.append((k, n)))
    n = rendered[-1][1]   # every rendered frame is told as it finishes: the sequence + the contact frames
    assert rendered == [(k, n) for k in range(1, n + 1)] and n >= 2
    for key in ("blend", "mp4", "curves_plot", "contact_sheet", "take_curves"):
        assert res.files[key].is_file() and res.files[key].stat().st_size > 1000, key
    assert any(p.phone in ("P", "M") for p in res.phones)
    take = BlendshapeCurves.from_json(res.files["take_curves"].read_text())
    assert take.num_frames >= 30 and take.names == rig.ARKIT_NAMES
    # the saved .blend reopens with the take on the head (a fresh Blender: bpy loads once per process)
    probe = (
        "import bpy, json, sys\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(res.files['blend'])!r})\n"
        "key = bpy.data.objects['CafeTalkHead'].data.shape_keys\n"
        "takes = [t.name for t in key.animation_data.nla_tracks if t.name.startswith('CafeTalk Take: ')]\n"
        "acts = [a for a in bpy.data.actions if 'cafetalk_take' in a]\n"
        "print('PROBE', json.dumps({'keys': len(key.key_blocks) - 1, 'takes': takes, 'actions': [a.name for a in acts],"
        " 'sound': [s.type for s in bpy.context.scene.sequence_editor.sequences_all]}))\n"
        "sys.stdout.flush()\nimport os; os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("PROBE"))
    info = json.loads(line[6:])
    assert info["keys"] == 52
    assert info["takes"] and info["actions"]
    assert "SOUND" in info["sound"]
    mp4 = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                          str(res.files["mp4"])], capture_output=True, text=True)
    if mp4.returncode == 0:
        assert set(mp4.stdout.split()) == {"video", "audio"}


@pytest.mark.slow
@needs_bpy
@needs_espeak
def test_demo_through_the_server_with_text_controls(tmp_path):
    """The README's path: the server on a free port, the add-on's HTTP client inside Blender."""
    from cafetalk_core.demo import run as demo
    res = demo.run_demo(tmp_path / "demo", in_process=False, frames=2, resolution="160x120", random_model=True,
                        sentence="Papa may move.", steps=2, contact_max=2, text="smile at the end",
                        log=lambda *_: None)
    controls = json.loads((res.out_dir / "controls.json").read_text())
    assert any(c["action"] == "AU12" for c in controls["fine"]), controls
    assert res.files["blend"].is_file() and res.files["mp4"].is_file()


def test_blender_output_is_followed_line_by_line_while_it_runs(tmp_path):
    """``run_logged``: each line reaches the callback while the process still runs (so progress moves
    during a render, not after it), the log keeps every line, and a hung process is killed."""
    from cafetalk_core.demo.run import run_logged
    seen = []
    script = ("import sys, time\nfor k in range(1, 4):\n    print('DEMO_FRAME', k, 3, flush=True)\n"
              "    time.sleep(0.3)\nprint('tail without newline', end='', flush=True)\n")
    t0 = time.monotonic()
    rc = run_logged([sys.executable, "-c", script], tmp_path / "log.txt", 60,
                    lambda line: seen.append((line, time.monotonic() - t0)), poll_s=0.05)
    assert rc == 0 and [line for line, _ in seen] == [f"DEMO_FRAME {k} 3" for k in range(1, 4)]
    assert seen[0][1] < seen[-1][1] - 0.4          # the first line came while the process still ran
    assert (tmp_path / "log.txt").read_text().endswith("tail without newline")
    with pytest.raises(subprocess.TimeoutExpired):
        run_logged([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log2.txt", 0.5)


def test_a_rigged_head_turns_its_eyes_on_bones_so_its_gaze_keys_leave_the_irises_alone(head):
    """With eye bones the eyeLook keys move only the lids: a blended key rotation sank the iris under
    the eyeball's white at partial weights, and the bones and the keys together turned it twice."""
    mod, g = head
    rigged = mod.build_head_geometry(rig.ARKIT_NAMES, gaze_keys=False)
    ball = np.isin(g.part, (mod.IRIS, mod.EYEBALL))
    for name in ("eyeLookInLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookDownRight"):
        assert np.abs(g.shape_deltas[name][g.part == mod.IRIS]).max() > 0.01, name        # unrigged: keys turn it
        assert np.abs(rigged.shape_deltas[name][ball]).max() == 0.0, name
    for name in ("eyeLookUpLeft", "eyeLookDownLeft"):                                     # the lids still follow
        np.testing.assert_array_equal(rigged.shape_deltas[name][~ball], g.shape_deltas[name][~ball])
        assert np.abs(rigged.shape_deltas[name]).max() > 0.01
    np.testing.assert_array_equal(rigged.shape_deltas["jawOpen"], g.shape_deltas["jawOpen"])
