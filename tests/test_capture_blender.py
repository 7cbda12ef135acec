"""Captured takes in and out through the add-on's operators, in real Blender (bpy 4.5 and 5.0).

The extension reads and writes take files by itself (``io/captures.py`` over the generated copy
of the core's readers): no server Python is named here, and the bare extension installed from
its zip does the same in ``test_addon_install.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_fixtures import ROOT, addon, bpy_mod, make_face, scene, write_tone  # noqa: F401 (fixtures)

pytestmark = pytest.mark.blender
LL_ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


@pytest.fixture(autouse=True)
def no_server_python(monkeypatch):
    """Nothing names a server interpreter: importing and exporting takes must not need one."""
    monkeypatch.delenv("CAFETALK_PYTHON", raising=False)


def _live_link_csv(path: Path, frames=40, fps=25, seed=0, start_frame=25 * 3600) -> tuple[np.ndarray, np.ndarray]:
    """A Live Link Face CSV as the app writes it (header order, 10 decimals), made here without the core."""
    rng = np.random.default_rng(seed)
    w = rng.random((frames, 52))
    rot = rng.normal(0, 0.2, (frames, 9))
    apple = list(addon_names())
    order = apple[:15] + ["jawRight", "jawLeft"] + apple[17:21] + ["mouthRight", "mouthLeft"] + apple[23:]
    header = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in order] + list(LL_ROTATIONS)
    lines = [",".join(header)]
    for f in range(frames):
        whole = start_frame + f
        s, ff = divmod(whole, fps)
        tc = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}.000"
        lines.append(",".join([tc, "61"] + [f"{w[f, apple.index(n)]:.10f}" for n in order] + [f"{v:.10f}" for v in rot[f]]))
    path.write_text("\n".join(lines) + "\n")
    return np.round(w, 10), np.round(rot, 10)


def addon_names():
    import cafetalk_blender
    return cafetalk_blender.io.vocabulary.ARKIT_NAMES


def _face(bpy, addon):
    face = make_face(bpy, names=addon.io.vocabulary.ARKIT_NAMES)
    bpy.context.scene.cafetalk.target = face
    return face


def test_live_link_import_keys_match_the_file_by_name(bpy_mod, addon, scene, tmp_path):
    scene.render.fps = 25
    face = _face(bpy_mod, addon)
    w, rot = _live_link_csv(tmp_path / "take.csv")
    scene.frame_current = 10
    assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "take.csv")) == {"FINISHED"}
    key = face.data.shape_keys
    take = addon.nla_layout.active_take(key)
    assert take.name == "CafeTalk_take_1" and addon.take_store.take_meta(take)["mode"] == "IMPORT"
    names = addon.io.vocabulary.ARKIT_NAMES
    for k in (0, 7, 39):
        scene.frame_set(10 + k)
        for c in (0, names.index("jawLeft"), names.index("jawRight"), names.index("mouthLeft"), 51):
            assert key.key_blocks[names[c]].value == pytest.approx(w[k, c], abs=1e-6), (k, names[c])
        for c, n in enumerate(LL_ROTATIONS):
            assert key[f"cafetalk_{n}"] == pytest.approx(rot[k, c], abs=1e-6)
    assert (scene.frame_start, scene.frame_end) == (10, 49)
    # the rotations live in the take's own action, next to the shape keys
    paths = {fc.data_path for fc in addon.fcurves.action_fcurves(take)}
    assert '["cafetalk_HeadYaw"]' in paths and 'key_blocks["jawOpen"].value' in paths


def test_import_at_timecode_keeps_artist_action_and_fixes(bpy_mod, addon, scene, tmp_path):
    scene.render.fps = 25
    face = _face(bpy_mod, addon)
    key = face.data.shape_keys
    key.key_blocks["jawOpen"].value = 0.3
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    artist = key.animation_data.action
    _live_link_csv(tmp_path / "t.csv", start_frame=25 * 60)   # 00:01:00:00
    assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "t.csv"), placement="TIMECODE") == {"FINISHED"}
    anim = key.animation_data
    tracks = [t.name for t in anim.nla_tracks]
    kept = tracks.index(f"Kept: {artist.name}")
    assert kept < tracks.index(f"CafeTalk Take: CafeTalk_t_1") < tracks.index("CafeTalk Fixes")
    assert anim.action is None and artist.name in bpy_mod.data.actions
    take = addon.nla_layout.active_take(key)
    assert take.name == "CafeTalk_t_1" and anim.nla_tracks[f"CafeTalk Take: {take.name}"].strips[0].frame_start == 1500


def test_export_of_an_imported_take_round_trips_the_csv(bpy_mod, addon, scene, tmp_path):
    scene.render.fps = 25
    _face(bpy_mod, addon)
    _live_link_csv(tmp_path / "take.csv")
    bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "take.csv"))
    out = tmp_path / "out.csv"
    assert bpy_mod.ops.cafetalk.export_capture(filepath=str(out), format="live-link-csv", source="TAKE") == {"FINISHED"}
    a, b = (p.read_text().splitlines() for p in (tmp_path / "take.csv", out))
    assert a[0] == b[0] and [r.split(",")[0] for r in a] == [r.split(",")[0] for r in b]   # header, timecodes
    va = np.array([[float(x) for x in r.split(",")[1:]] for r in a[1:]])
    vb = np.array([[float(x) for x in r.split(",")[1:]] for r in b[1:]])
    assert np.abs(va - vb).max() <= 1e-6
    # the evaluated mix over the scene range gives the same weights
    mix = tmp_path / "mix.json"
    assert bpy_mod.ops.cafetalk.export_capture(filepath=str(mix), format="cafetalk-json", source="MIX") == {"FINISHED"}
    data = json.loads(mix.read_text())
    names = data["names"]
    jaw = np.asarray(data["values"])[:, names.index("jawOpen")]
    apple = list(addon.io.vocabulary.ARKIT_NAMES)
    header = a[0].split(",")
    np.testing.assert_allclose(jaw, va[:, header.index("JawOpen") - 1], atol=1e-6)
    np.testing.assert_allclose(np.asarray(data["rotations"])[:, 0], va[:, header.index("HeadYaw") - 1], atol=1e-6)
    assert len(apple) == 52


def test_audio_beside_the_capture_goes_to_the_sequencer(bpy_mod, addon, scene, tmp_path):
    _face(bpy_mod, addon)
    _live_link_csv(tmp_path / "MySlate_3.csv", fps=30, start_frame=0)
    write_tone(tmp_path / "MySlate_3.wav", seconds=1.0)
    scene.frame_current = 5
    bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "MySlate_3.csv"))
    strips = list(addon.takes._all_strips(scene))
    assert len(strips) == 1 and strips[0].type == "SOUND" and int(strips[0].frame_start) == 5
    take = addon.nla_layout.active_take(scene.cafetalk.target.data.shape_keys)
    assert addon.take_store.take_meta(take)["audio_path"] == str(tmp_path / "MySlate_3.wav")


def test_audio2face_and_rhubarb_import_as_takes(bpy_mod, addon, scene, tmp_path):
    face = _face(bpy_mod, addon)
    key = face.data.shape_keys
    a2f = {"exportFps": 30, "trackPath": "", "numPoses": 2, "numFrames": 3, "facsNames": ["jawOpen", "eyeBlinkLeft"],
           "weightMat": [[0.1, 0.9], [0.5, 0.5], [0.9, 0.1]]}
    (tmp_path / "a2f.json").write_text(json.dumps(a2f))
    scene.frame_current = 1
    bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "a2f.json"))
    scene.frame_set(2)
    assert key.key_blocks["jawOpen"].value == pytest.approx(0.5) and key.key_blocks["eyeBlinkLeft"].value == pytest.approx(0.5)
    (tmp_path / "cues.tsv").write_text("0.00\tX\n0.10\tD\n0.60\tX\n")
    bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "cues.tsv"))
    take = addon.nla_layout.active_take(key)
    assert take.name == "CafeTalk_cues_1"
    scene.frame_set(1 + 10)
    assert key.key_blocks["jawOpen"].value > 0.4


def _iphone_csv(path: Path, timecodes: list[str], over_one: dict[int, float], seed: int = 3) -> np.ndarray:
    """A Live Link Face export as the iPhone app writes it (63 columns, 10 decimals, CRLF), with
    ``EyeLookInRight`` set to ``over_one[row]`` on those rows (the app writes such values); returns the weights."""
    rng = np.random.default_rng(seed)
    w = rng.random((len(timecodes), 52)) * 0.9
    apple = list(addon_names())
    order = apple[:15] + ["jawRight", "jawLeft"] + apple[17:21] + ["mouthRight", "mouthLeft"] + apple[23:]
    for row, value in over_one.items():
        w[row, apple.index("eyeLookInRight")] = value
    header = ["Timecode", "BlendShapeCount"] + [n[0].upper() + n[1:] for n in order] + list(LL_ROTATIONS)
    lines = [",".join(header)]
    for f, tc in enumerate(timecodes):
        lines.append(",".join([tc, "61"] + [f"{w[f, apple.index(n)]:.10f}" for n in order] + ["0.0000000000"] * 9))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return w


def test_iphone_export_with_weights_just_over_one_imports_clamped(bpy_mod, addon, scene, tmp_path):
    """Real iPhone exports hold EyeLookInRight 1.00334 and 1.00985: imported, clamped to 1, counted in a note."""
    face = _face(bpy_mod, addon)
    tcs = [f"14:02:{10 + f // 30:02d}:{f % 30:02d}.250" for f in range(45)]   # the app's fraction of a frame
    w = _iphone_csv(tmp_path / "MySlate_7_iPhone.csv", tcs, {20: 1.00334, 21: 1.00985, 22: 1.00334})
    scene.frame_current = 1
    assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "MySlate_7_iPhone.csv")) == {"FINISHED"}
    key = face.data.shape_keys
    take = addon.nla_layout.active_take(key)
    curves = addon.take_store.take_curves(take)
    assert curves.fps == 30 and curves.num_frames == 45
    eye = curves.column("eyeLookInRight")
    np.testing.assert_array_equal(eye[20:23], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(eye[:20], w[:20, addon.io.vocabulary.ARKIT_NAMES.index("eyeLookInRight")], atol=1e-6)
    assert "MySlate_7_iPhone.csv: 3 weights slightly outside [0, 1] (within 0.1) clamped into [0, 1]" in scene.cafetalk.status
    scene.frame_set(1 + 21)
    assert key.key_blocks["eyeLookInRight"].value == pytest.approx(1.0)


def test_audio2face_weights_just_over_one_import_clamped(bpy_mod, addon, scene, tmp_path):
    face = _face(bpy_mod, addon)
    a2f = {"exportFps": 30, "trackPath": "", "numPoses": 2, "numFrames": 3, "facsNames": ["jawOpen", "eyeLookInRight"],
           "weightMat": [[0.1, 0.9], [0.5, 1.00985], [-0.004, 0.2]]}
    (tmp_path / "a2f.json").write_text(json.dumps(a2f))
    (tmp_path / "a2f.csv").write_text("timeCode,blendShapes.JawOpen,blendShapes.EyeLookInRight\n"
                                      "0.0,0.1,0.9\n0.0333333,0.5,1.00334\n0.0666667,0.3,0.2\n")
    for name, count in (("a2f.json", 2), ("a2f.csv", 1)):
        scene.frame_current = 1
        assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / name)) == {"FINISHED"}
        assert f"{count} weight{'s' if count > 1 else ''} slightly outside [0, 1]" in scene.cafetalk.status
        scene.frame_set(2)
        assert face.data.shape_keys.key_blocks["eyeLookInRight"].value == pytest.approx(1.0)


def test_drop_frame_sub_second_take_gets_29_97_fps_without_a_flag(bpy_mod, addon, scene, tmp_path):
    """A 20-frame take (under a second) with drop-frame timecodes (;) reads as 29.97 fps, no --fps."""
    scene.render.fps, scene.render.fps_base = 30000, 1001.0
    _face(bpy_mod, addon)
    tcs = [f"01:00:03;{f:02d}.000" for f in range(5, 25)]
    _iphone_csv(tmp_path / "short.csv", tcs, {3: 1.00334})
    scene.frame_current = 1
    assert bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "short.csv")) == {"FINISHED"}
    take = addon.nla_layout.active_take(scene.cafetalk.target.data.shape_keys)
    curves = addon.take_store.take_curves(take)
    assert curves.fps == pytest.approx(29.97) and curves.num_frames == 20
    assert addon.take_store.take_meta(take)["options"]["fps"] == pytest.approx(29.97)
    assert (scene.frame_start, scene.frame_end) == (1, 20)   # the scene runs at 29.97 too: one key per frame


@pytest.mark.parametrize("text, message", [
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,2.5\n", "line 3, column 'JawOpen': weight 2.5 is outside [0, 1]"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,1.2\n", "line 3, column 'JawOpen': weight 1.2 is outside [0, 1]"),
    ("Timecode,JawOpen\n00:00:00:00.000,-0.5\n", "line 2, column 'JawOpen': weight -0.5 is outside [0, 1]"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,nan\n", "line 3, column 'JawOpen': 'nan' is not finite"),
    ("Timecode,JawOpen,EyeBlinkLeft\n00:00:00:00.000,0.1,0.2\n00:00:00:01.000,0.3,open\n",
     "line 3, column 'EyeBlinkLeft': 'open' is not a number"),
    ("Foo,Bar\n1,2\n", "line 1, column 'Timecode': missing column 'Timecode'"),
    ("", "empty file"),
])
def test_bad_files_are_refused_and_leave_nothing(bpy_mod, addon, scene, tmp_path, text, message):
    face = _face(bpy_mod, addon)
    (tmp_path / "bad.csv").write_text(text)
    before = set(bpy_mod.data.actions.keys())
    with pytest.raises(RuntimeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        bpy_mod.ops.cafetalk.import_capture(filepath=str(tmp_path / "bad.csv"))
    assert set(bpy_mod.data.actions.keys()) == before
    assert face.data.shape_keys.animation_data is None
    assert message in scene.cafetalk.status


def test_head_rig_follows_the_take(bpy_mod, addon, scene, tmp_path):
    bpy = bpy_mod
    scene.render.fps = 25
    _face(bpy, addon)
    arm = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", arm)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, head, tail in (("neck", (0, 0, 1.4), (0, 0, 1.5)), ("DEF-head", (0, 0, 1.5), (0, 0, 1.7)),
                             ("eye.L", (0.03, -0.08, 1.62), (0.03, -0.1, 1.62)), ("eye.R", (-0.03, -0.08, 1.62), (-0.03, -0.1, 1.62))):
        b = arm.edit_bones.new(name)
        b.head, b.tail = head, tail
    bpy.ops.object.mode_set(mode="OBJECT")
    props = scene.cafetalk
    props.head_rig = rig
    assert bpy.ops.cafetalk.detect_head() == {"FINISHED"}
    assert (props.head_bone, props.left_eye_bone, props.right_eye_bone) == ("DEF-head", "eye.L", "eye.R")
    assert bpy.ops.cafetalk.drive_head() == {"FINISHED"}
    _, rot = _live_link_csv(tmp_path / "take.csv")
    scene.frame_current = 1
    bpy.ops.cafetalk.import_capture(filepath=str(tmp_path / "take.csv"))
    scene.frame_set(1 + 5)
    bpy.context.view_layer.update()
    head, eye = rig.pose.bones["DEF-head"], rig.pose.bones["eye.L"]
    assert head.rotation_euler[1] == pytest.approx(rot[5, 0], abs=1e-5)   # yaw about the upright bone's Y
    assert head.rotation_euler[0] == pytest.approx(rot[5, 1], abs=1e-5)   # pitch
    assert eye.rotation_euler[2] == pytest.approx(rot[5, 3], abs=1e-5)    # eye yaw about the forward bone's Z
    # a second take: switching takes in the NLA switches the head with the face
    _, rot2 = _live_link_csv(tmp_path / "take2.csv", seed=1)
    frame = scene.frame_current = 1
    bpy.ops.cafetalk.import_capture(filepath=str(tmp_path / "take2.csv"))
    key = scene.cafetalk.target.data.shape_keys
    tracks = addon.nla_layout.take_tracks(key.animation_data)
    for wanted, expected in ((1, rot2), (0, rot)):
        for i, t in enumerate(tracks):
            t.mute = i != wanted
        scene.frame_set(frame + 5)
        bpy.context.view_layer.update()
        assert head.rotation_euler[1] == pytest.approx(expected[5, 0], abs=1e-5)


def test_generated_rotations_are_keyed_and_head_motion_is_sent(bpy_mod, addon, scene, tmp_path):
    face = _face(bpy_mod, addon)
    scene.cafetalk.head_motion = 0.4
    write_tone(tmp_path / "a.wav")
    scene.cafetalk.audio_path = str(tmp_path / "a.wav")
    request = addon.takes.build_request(scene)
    assert request.options["head_motion"] == pytest.approx(0.4)
    names = addon.io.vocabulary.ARKIT_NAMES
    rot = np.zeros((30, 9), np.float32)
    rot[:, 1] = np.linspace(0, 0.3, 30)
    curves = addon.io.curves.Curves(30.0, names, np.zeros((30, 52), np.float32), rot)
    action, _ = addon.takes.apply_result(scene, request, curves)
    np.testing.assert_allclose(addon.head_rig.take_rotations(action), rot, atol=0)
    scene.frame_set(request.start_frame + 29)
    assert face.data.shape_keys["cafetalk_HeadPitch"] == pytest.approx(0.3, abs=1e-6)


def test_language_is_sent_only_when_not_english(bpy_mod, addon, scene, tmp_path):
    """English (the default) sends nothing, so servers older than the option still answer."""
    _face(bpy_mod, addon)
    write_tone(tmp_path / "a.wav")
    scene.cafetalk.audio_path = str(tmp_path / "a.wav")
    assert scene.cafetalk.language == "en"
    for english in ("en", "EN-us", ""):
        scene.cafetalk.language = english
        assert "language" not in addon.takes.build_request(scene).options, english
    scene.cafetalk.language = "zh_CN"
    assert addon.takes.build_request(scene).options["language"] == "zh-cn"
    scene.cafetalk.language = "Mandarin"   # not a tag: said before anything is uploaded
    with pytest.raises(RuntimeError, match="language 'Mandarin' is not a tag"):
        bpy_mod.ops.cafetalk.generate()


GLTF_JOB = r"""
import json, os, sys
sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], "tests")]
import bpy
from blender_fixtures import load_addon, make_face
addon = load_addon(); addon.register()
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 25, 1.0
face = make_face(bpy, names=addon.io.vocabulary.ARKIT_NAMES)
scene.cafetalk.target = face
scene.frame_current = 1
assert bpy.ops.cafetalk.import_capture(filepath=sys.argv[2]) == {"FINISHED"}
before = sorted(bpy.data.actions.keys())
assert bpy.ops.cafetalk.export_gltf(filepath=sys.argv[3]) == {"FINISHED"}
got = addon.io.gltf.read_gltf_weights(sys.argv[3])
anim = face.data.shape_keys.animation_data
print("RESULT " + json.dumps({"keyframes": got["keyframes"], "times": got["times"].tolist(),
                              "names": got["target_names"], "weights": got["weights"].tolist(),
                              "actions_kept": sorted(bpy.data.actions.keys()) == before,
                              "nla": bool(anim.use_nla and anim.action is None)}), flush=True)
os._exit(0)   # the bpy module can hang in its exit handlers after the glTF exporter ran in a process with other threads
"""


def test_gltf_export_holds_the_takes_frames(addon, tmp_path):
    """In its own Blender process (see GLTF_JOB's last line): import a take, Export glTF, read the file back."""
    w, _ = _live_link_csv(tmp_path / "take.csv", frames=30)
    (tmp_path / "job.py").write_text(GLTF_JOB)
    out = tmp_path / "take.glb"
    done = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(ROOT), str(tmp_path / "take.csv"), str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, done.stdout[-2000:] + done.stderr[-2000:]
    got = json.loads(line[len("RESULT "):])
    assert got["keyframes"] == 30
    np.testing.assert_allclose(np.asarray(got["times"])[[0, 29]], [0.0, 29 / 25], atol=1e-4)
    names = addon.io.vocabulary.ARKIT_NAMES
    weights = np.asarray(got["weights"])
    for k in (0, 11, 29):
        for n in ("jawOpen", "jawLeft", "mouthRight", "eyeBlinkLeft"):
            assert weights[k, got["names"].index(n)] == pytest.approx(w[k, names.index(n)], abs=1e-5)
    # the scene is as it was: no baked action left, the NLA still plays the take
    assert got["actions_kept"] and got["nla"]


def test_demo_head_turns_on_its_neck_and_eyes_turn(bpy_mod, addon, scene, tmp_path):
    from cafetalk_core.demo import head as demo_head
    bpy = bpy_mod
    scene.render.fps = 25
    head = demo_head.build_demo_head("CafeTalkHead", addon.io.vocabulary.ARKIT_NAMES, subdivide=0)
    props = scene.cafetalk
    props.target, props.head_rig = head, head.parent
    addon.head_rig.detect_head(props)
    assert (props.head_bone, props.left_eye_bone, props.right_eye_bone) == ("head", "eye.L", "eye.R")
    addon.head_rig.drive_head(head.data.shape_keys, props)
    rest = np.array([v.co[:] for v in head.data.vertices])
    top = int(np.argmax(rest[:, 2]))
    # the eyes turn on their bones (parented to the head: their axes are read in armature space),
    # the right way: positive yaw to the subject's left (+X), positive pitch down; never spun in place
    g = demo_head.build_head_geometry(addon.io.vocabulary.ARKIT_NAMES)
    iris = (g.part == demo_head.IRIS) & (np.nan_to_num(g.attrs["eye"][:, 3]) == 1.0)
    key = head.data.shape_keys

    def left_iris(yaw: float, pitch: float) -> np.ndarray:
        key["cafetalk_LeftEyeYaw"], key["cafetalk_LeftEyePitch"] = yaw, pitch
        key.update_tag()
        bpy.context.view_layer.update()
        dg = bpy.context.evaluated_depsgraph_get()
        mesh = head.evaluated_get(dg).to_mesh()
        co = np.array([mesh.vertices[i].co[:] for i in np.flatnonzero(iris)])
        head.evaluated_get(dg).to_mesh_clear()
        return co.mean(axis=0)

    still, left, down = left_iris(0.0, 0.0), left_iris(0.3, 0.0), left_iris(0.0, 0.3)
    assert left[0] - still[0] > 0.02 and abs(left[2] - still[2]) < 0.01
    assert still[2] - down[2] > 0.02 and abs(down[0] - still[0]) < 0.01
    left_iris(0.0, 0.0)
    _, rot = _live_link_csv(tmp_path / "take.csv", frames=10)
    scene.frame_current = 1
    bpy.ops.cafetalk.import_capture(filepath=str(tmp_path / "take.csv"))
    moved = []
    for f in (1, 6):
        scene.frame_set(f)
        dg = bpy.context.evaluated_depsgraph_get()
        mesh = head.evaluated_get(dg).to_mesh()
        moved.append(np.array([mesh.vertices[top].co[:]]))
        head.evaluated_get(dg).to_mesh_clear()
    assert np.linalg.norm(moved[0][0] - moved[1][0]) > 1e-3      # the skull moved with the take's head rotation
    assert np.linalg.norm(moved[0][0] - rest[top]) > 1e-3


def test_the_addons_copies_match_the_core(addon):
    from cafetalk_core import rig
    assert addon.io.curves.ROTATION_NAMES == rig.ROTATION_NAMES == LL_ROTATIONS
    assert addon.io.bones.detect_bones(["root", "mixamorig:Head", "mixamorig:LeftEye", "mixamorig:RightEye"]) == \
        ("mixamorig:Head", "mixamorig:LeftEye", "mixamorig:RightEye")
    assert addon.io.bones.detect_bones(["Head", "eye_L", "eye_R"]) == ("Head", "eye_L", "eye_R")
    assert addon.io.bones.detect_bones(["CC_Base_Head", "CC_Base_L_Eye", "CC_Base_R_Eye"]) == \
        ("CC_Base_Head", "CC_Base_L_Eye", "CC_Base_R_Eye")
    assert addon.io.bones.detect_bones(["spine", "headlamp"]) == ("", "", "")
