"""The add-on inside real Blender (bpy 4.5 module): keys, slots, NLA, mapping, save/reload."""
from __future__ import annotations

import json

import numpy as np
import pytest

from blender_fixtures import ARKIT_SAMPLE, addon, bpy_mod, make_face, scene  # noqa: F401 (fixtures)

pytestmark = pytest.mark.blender


def _curves(addon, frames=120, fps=30.0, seed=0):
    rng = np.random.default_rng(seed)
    names = addon.io.vocabulary.ARKIT_NAMES
    t = np.arange(frames)[:, None] / fps
    values = (0.5 + 0.5 * np.sin(2 * np.pi * (0.5 + rng.random(52)) * t + rng.random(52) * 6)).astype(np.float32)
    return addon.io.curves.Curves(fps, names, values)


def _fcurve_values(addon, action, data_path):
    fc = next(f for f in addon.fcurves.action_fcurves(action) if f.data_path == data_path)
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return fc, co[0::2], co[1::2]


def _face_with_take(bpy, addon, name, start=1, frames=120, seed=0):
    """A face with the sample keys and one pushed take: ``(key, rows, curves, action, strip)``."""
    key = make_face(bpy).data.shape_keys
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    curves = _curves(addon, frames=frames, seed=seed)
    action, slot = addon.take_store.write_take(key, curves, rows, start, name, 30.0)
    strip = addon.nla_layout.push_take(key, action, slot, start, start + frames - 1)
    return key, rows, curves, action, strip


def test_register_unregister_roundtrip(bpy_mod, addon, scene):
    assert hasattr(bpy_mod.types.Scene, "cafetalk")
    assert hasattr(bpy_mod.ops.cafetalk, "generate")
    addon.unregister()
    assert not hasattr(bpy_mod.types.Scene, "cafetalk")
    assert "CAFETALK_PT_main" not in dir(bpy_mod.types)
    addon.register()
    assert hasattr(bpy_mod.types.Scene, "cafetalk") and bpy_mod.context.scene.cafetalk.steps == 10


def test_keys_match_curves_exactly_through_a_slot(bpy_mod, addon, scene):
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    curves = _curves(addon)
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    action, slot = addon.take_store.write_take(key, curves, rows, 10, "T", 30.0)
    assert len(addon.fcurves.action_fcurves(action)) == len(ARKIT_SAMPLE)
    for name in ARKIT_SAMPLE:
        fc, frames, values = _fcurve_values(addon, action, f'key_blocks["{name}"].value')
        np.testing.assert_array_equal(frames, 10 + np.arange(120, dtype=np.float32))
        np.testing.assert_array_equal(values, curves.column(name))
        assert fc.keyframe_points[5].interpolation == "LINEAR"
        assert fc.evaluate(10 + 37) == pytest.approx(float(curves.column(name)[37]), abs=1e-6)
    if addon.fcurves.has_slots(action):  # Blender 4.4+
        assert slot is not None and slot.target_id_type == "KEY"
        assert len(action.slots) == 1 and action.slots[0] == slot


def test_take_plays_on_nla_and_artist_action_is_kept(bpy_mod, addon, scene):
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    # the artist's own hand keys, as the active action
    key.key_blocks["jawOpen"].value = 0.25
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    key.key_blocks["browInnerUp"].value = 0.9
    key.key_blocks["browInnerUp"].keyframe_insert("value", frame=1)
    artist = key.animation_data.action
    before = {f.data_path: [tuple(k.co) for k in f.keyframe_points] for f in addon.fcurves.action_fcurves(artist)}
    curves = _curves(addon)
    rows = [r for r in addon.io.mapping.auto_map([kb.name for kb in key.key_blocks]) if r.arkit != "browInnerUp"]
    action, slot = addon.take_store.write_take(key, curves, rows, 1, "CafeTalk_x_1", 30.0)
    strip = addon.nla_layout.push_take(key, action, slot, 1, 120)
    anim = key.animation_data
    # the artist's action is intact, still in the NLA (below the take), no longer overridden by nothing
    after = {f.data_path: [tuple(k.co) for k in f.keyframe_points] for f in addon.fcurves.action_fcurves(artist)}
    assert after == before and artist.name in bpy_mod.data.actions
    names = [t.name for t in anim.nla_tracks]
    assert names.index("Kept: " + artist.name) < names.index("CafeTalk Take: CafeTalk_x_1") < names.index("CafeTalk Fixes")
    assert anim.action is None and strip.action == action
    fixes = anim.nla_tracks["CafeTalk Fixes"].strips[0]
    assert fixes.blend_type == "ADD"
    scene.frame_set(31)
    assert key.key_blocks["jawOpen"].value == pytest.approx(float(curves.column("jawOpen")[30]), abs=1e-5)
    assert key.key_blocks["browInnerUp"].value == pytest.approx(0.9)  # not in the take: the artist's key shows
    # a second take: newest plays, earlier one muted, both kept
    action2, slot2 = addon.take_store.write_take(key, _curves(addon, seed=1), rows, 1, "CafeTalk_x_2", 30.0)
    addon.nla_layout.push_take(key, action2, slot2, 1, 120)
    takes = addon.nla_layout.take_tracks(anim)
    assert [t.mute for t in takes] == [True, False]
    assert addon.nla_layout.active_take(key) == action2
    names = [t.name for t in anim.nla_tracks]
    assert names.index("CafeTalk Take: CafeTalk_x_2") < names.index("CafeTalk Fixes")


def test_key_reduction_and_bezier(bpy_mod, addon, scene):
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    curves = _curves(addon, frames=300)
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    action, _ = addon.take_store.write_take(key, curves, rows, 1, "R", 30.0, "LINEAR", tolerance=0.02)
    fc, frames, _ = _fcurve_values(addon, action, 'key_blocks["jawOpen"].value')
    assert 2 < len(frames) < 150
    truth = curves.column("jawOpen")
    err = max(abs(fc.evaluate(1 + i) - truth[i]) for i in range(300))
    assert err <= 0.02 + 1e-5
    action_b, _ = addon.take_store.write_take(key, curves, rows, 1, "B", 30.0, "BEZIER", tolerance=0.0)
    fc_b, _, _ = _fcurve_values(addon, action_b, 'key_blocks["jawOpen"].value')
    k = fc_b.keyframe_points[3]
    assert k.interpolation == "BEZIER" and k.handle_left[0] < k.co[0] < k.handle_right[0]  # Blender's own handles
    assert fc_b.evaluate(1 + 3) == pytest.approx(float(truth[3]), abs=1e-6)


def test_take_writer_stores_exact_curves_as_json_text(bpy_mod, addon, scene):
    """Issue 19: LINEAR keys with their handles on the key (never used, never off in the bounds), curves as JSON."""
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    curves = _curves(addon, frames=200)
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    action, _ = addon.take_store.write_take(key, curves, rows, 100, "J", 30.0)
    fc, frames, values = _fcurve_values(addon, action, 'key_blocks["mouthClose"].value')
    hl = np.empty(2 * len(frames), np.float32)
    fc.keyframe_points.foreach_get("handle_left", hl)
    np.testing.assert_array_equal(hl[0::2], frames)
    np.testing.assert_array_equal(hl[1::2], values)
    assert fc.range()[0] == pytest.approx(100.0)  # no handle left at frame 0
    doc = json.loads(action[addon.take_store.CURVES_PROP])
    assert doc["format"] == "cafetalk.packed_curves" and doc["frames"] == 200 and doc["names"] == list(curves.names)
    back = addon.take_store.take_curves(action)
    assert back.fps == curves.fps and back.names == curves.names
    np.testing.assert_array_equal(back.values, curves.values)


def test_controls_roundtrip_through_nla_strips(bpy_mod, addon, scene):
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    controls = {"fine": [{"action": "AU12", "start_s": 0.5, "end_s": 1.25, "intensity": 0.8},
                         {"action": "AU1", "start_s": 0.75, "end_s": 2.0, "intensity": 0.4},  # overlaps AU12
                         {"action": "AU12", "start_s": 2.5, "end_s": 3.0, "intensity": 1.0}],
                "emotion_spans": [{"emotion": "sad", "start_s": 1.0, "end_s": 2.0, "intensity": 0.6}]}
    strips = addon.nla_controls.write_controls(key, controls, 11, 30.0)
    assert len(strips) == 4
    tracks = [t.name for t in key.animation_data.nla_tracks]
    assert "CafeTalk Controls" in tracks and "CafeTalk Controls 2" in tracks and "CafeTalk Emotions" in tracks
    assert all(t.mute for t in key.animation_data.nla_tracks if t.name.startswith("CafeTalk C"))
    back = addon.nla_controls.read_controls(key, 11, 30.0)
    want_fine = sorted(controls["fine"], key=lambda c: (c["start_s"], c["action"]))
    assert len(back["fine"]) == 3 and all(
        b["action"] == w["action"] and b["start_s"] == pytest.approx(w["start_s"], abs=1e-4)
        and b["end_s"] == pytest.approx(w["end_s"], abs=1e-4) and b["intensity"] == pytest.approx(w["intensity"], abs=1e-4)
        for b, w in zip(back["fine"], want_fine))
    assert len(back["fine"]) == 3
    assert back["emotion_spans"] == [{"emotion": "sad", "start_s": 1.0, "end_s": 2.0, "intensity": 0.6}]
    # the artist drags one strip, renames it and lowers its influence: read back follows
    strip = next(s for t in key.animation_data.nla_tracks for s in t.strips if s.name == "AU1")
    strip.frame_end = strip.frame_end + 15
    strip.name = "my brows"
    addon.nla_controls.set_intensity(strip, 0.3)
    moved = next(c for c in addon.nla_controls.read_controls(key, 11, 30.0)["fine"] if c["action"] == "AU1")
    assert moved["end_s"] == pytest.approx(2.5) and moved["intensity"] == pytest.approx(0.3)
    # muted strips are ignored, the clip end cuts spans
    strip.mute = True
    back = addon.nla_controls.read_controls(key, 11, 30.0, clip_s=2.75)
    assert [c["action"] for c in back["fine"]] == ["AU12", "AU12"] and back["fine"][-1]["end_s"] == 2.75


def test_head_motion_strips_roundtrip_through_nla(bpy_mod, addon, scene):
    nla = addon.nla_controls
    key = make_face(bpy_mod).data.shape_keys
    assert "head_spans" not in nla.read_controls(key, 11, 30.0)      # none: the key stays out (older servers)
    # overlapping spans: a later span wins its frames, so the read-back keeps their order
    spans = [{"start_s": 0.0, "end_s": 2.0, "amount": 0.0}, {"start_s": 1.0, "end_s": 3.5, "amount": 2.0},
             {"start_s": 3.0, "end_s": 4.0, "amount": 0.5}]
    fine = [{"action": "AU12", "start_s": 1, "end_s": 2}]
    strips = nla.write_controls(key, {"head_spans": spans, "fine": fine}, 11, 30.0)
    assert len(strips) == 4
    tracks = [t for t in key.animation_data.nla_tracks if t.name.startswith(nla.HEAD_TRACK)]
    assert [t.name for t in tracks] == ["CafeTalk Head Motion", "CafeTalk Head Motion 2", "CafeTalk Head Motion 3"]
    assert all(t.mute for t in tracks)
    assert [s.influence for s in strips[1:]] == pytest.approx([0.0, 1.0, 0.25])   # amount / 2
    back = nla.read_controls(key, 11, 30.0)
    assert back["head_spans"] == spans and [c["action"] for c in back["fine"]] == ["AU12"]
    # the artist moves a strip, renames it and edits its influence in the NLA sidebar: read back follows
    moved = strips[3]
    moved.frame_end += 15
    moved.name = "calm down"
    nla.set_intensity(moved, 0.4)
    assert nla.read_controls(key, 11, 30.0)["head_spans"][2] == {"start_s": 3.0, "end_s": 4.5, "amount": 0.8}
    for strip in strips:
        strip.select = False
    moved.select = True
    assert nla.selected_span(key) == (moved.frame_start, moved.frame_end)    # regenerate only that span
    # muted strips are left out, the clip end cuts spans, a bad amount is refused
    strips[1].mute = True
    assert nla.read_controls(key, 11, 30.0, clip_s=3.25)["head_spans"] == [
        {"start_s": 1.0, "end_s": 3.25, "amount": 2.0}, {"start_s": 3.0, "end_s": 3.25, "amount": 0.8}]
    with pytest.raises(addon.io.errors.CafeTalkError, match=r"amount must be in \[0, 2\]"):
        nla.add_head_strip(key, 200, 210, 2.5)
    nla.clear_controls(key)
    assert not [t for t in key.animation_data.nla_tracks if t.name.startswith("CafeTalk ") and "Head" in t.name]
    assert nla.read_controls(key, 11, 30.0) == {"fine": [], "emotion_spans": []}


def test_add_head_motion_strip_operator(bpy_mod, addon, scene):
    face = make_face(bpy_mod)
    props = scene.cafetalk
    props.target = face
    scene.frame_current = 40
    props.new_length, props.new_head_amount = 12, 0.0
    assert bpy_mod.ops.cafetalk.add_control(kind="HEAD") == {"FINISHED"}
    props.new_head_amount = 1.5
    scene.frame_current = 70
    assert bpy_mod.ops.cafetalk.add_control(kind="HEAD") == {"FINISHED"}
    back = addon.nla_controls.read_controls(face.data.shape_keys, 1, 30.0)
    assert back["head_spans"] == [{"start_s": 1.3, "end_s": 1.7, "amount": 0.0},
                                  {"start_s": 2.3, "end_s": 2.7, "amount": 1.5}]
    assert back["fine"] == [] and back["emotion_spans"] == []


def test_save_and_reload_keeps_takes_strips_and_settings(bpy_mod, addon, scene, tmp_path):
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    props = scene.cafetalk
    props.target, props.emotion, props.intensity, props.steps, props.key_tolerance = face, "happy", 0.7, 12, 0.01
    curves = _curves(addon)
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    addon.io.mapping.store(props.mapping, rows)
    action, slot = addon.take_store.write_take(key, curves, rows, 1, "CafeTalk_a_1", 30.0, meta={"audio_path": "/x.wav"})
    addon.nla_layout.push_take(key, action, slot, 1, 120)
    addon.nla_controls.add_strip(key, "fine", "AU45", 20, 26, 0.9)
    path = tmp_path / "take.blend"
    bpy_mod.ops.wm.save_as_mainfile(filepath=str(path))
    bpy_mod.ops.wm.read_factory_settings(use_empty=True)
    bpy_mod.ops.wm.open_mainfile(filepath=str(path))
    sc = bpy_mod.context.scene
    p = sc.cafetalk
    assert (p.target.name, p.emotion, p.steps) == ("Face", "happy", 12)
    assert p.intensity == pytest.approx(0.7) and p.key_tolerance == pytest.approx(0.01)
    assert sum(1 for m in p.mapping if m.shape_key) == len(ARKIT_SAMPLE)
    key = p.target.data.shape_keys
    take = addon.nla_layout.active_take(key)
    assert take.name == "CafeTalk_a_1"
    np.testing.assert_array_equal(addon.take_store.take_curves(take).values, curves.values)
    assert addon.take_store.take_meta(take)["audio_path"] == "/x.wav"
    assert addon.nla_controls.read_controls(key, 1, 30.0)["fine"] == [
        {"action": "AU45", "start_s": round(19 / 30, 4), "end_s": round(25 / 30, 4), "intensity": 0.9}]
    sc.frame_set(41)
    assert key.key_blocks["mouthFunnel"].value == pytest.approx(float(curves.column("mouthFunnel")[40]), abs=1e-5)


def test_mapping_operator_presets_and_viseme_rig(bpy_mod, addon, scene):
    face = make_face(bpy_mod, names=("Mouth_Smile_L", "mouth_smile_R", "A25_Jaw_Open", "Face.eyeBlinkLeft",
                                     "EyeBlinkRight", "browinnerup"))
    props = scene.cafetalk
    props.target = face
    assert bpy_mod.ops.cafetalk.auto_map() == {"FINISHED"}
    got = {m.arkit: m.shape_key for m in props.mapping if m.shape_key}
    assert got == {"mouthSmileLeft": "Mouth_Smile_L", "mouthSmileRight": "mouth_smile_R", "jawOpen": "A25_Jaw_Open",
                   "eyeBlinkLeft": "Face.eyeBlinkLeft", "eyeBlinkRight": "EyeBlinkRight", "browInnerUp": "browinnerup"}
    assert sum(1 for m in props.mapping if not m.shape_key) == 52 - 6  # unmapped rows stay, editable
    visemes = make_face(bpy_mod, names=("viseme_aa", "viseme_PP", "viseme_O", "viseme_U", "viseme_FF"), obj_name="Vis")
    rows = addon.io.mapping.auto_map([kb.name for kb in visemes.data.shape_keys.key_blocks], "VISEME")
    drive = addon.io.mapping.targets(rows)
    assert drive["viseme_aa"] == [("jawOpen", 1.0)]
    assert {a for a, _ in drive["viseme_PP"]} == {"mouthClose", "mouthPressLeft", "mouthPressRight"}
    # several channels -> one key: the key follows the strongest
    curves = _curves(addon, frames=30)
    action, _ = addon.take_store.write_take(visemes.data.shape_keys, curves, rows, 1, "V", 30.0)
    _, _, pp = _fcurve_values(addon, action, 'key_blocks["viseme_PP"].value')
    want = np.max([curves.column(n) for n in ("mouthClose", "mouthPressLeft", "mouthPressRight")], axis=0)
    np.testing.assert_allclose(pp, want, atol=1e-6)


def test_add_control_and_controls_from_take_operators(bpy_mod, addon, scene):
    face = make_face(bpy_mod, names=addon.io.vocabulary.ARKIT_NAMES)
    key = face.data.shape_keys
    props = scene.cafetalk
    props.target = face
    scene.frame_current = 40
    props.new_action, props.new_length, props.new_intensity = "AU26", 12, 0.5
    assert bpy_mod.ops.cafetalk.add_control(kind="FINE") == {"FINISHED"}
    fine = addon.nla_controls.read_controls(key, 1, 30.0)["fine"]
    assert fine == [{"action": "AU26", "start_s": 1.3, "end_s": 1.7, "intensity": 0.5}]
    bpy_mod.ops.cafetalk.clear_controls()
    # a take with a blink at frames 30-39 and a smile at 60-89
    values = np.zeros((120, 52), np.float32)
    names = addon.io.vocabulary.ARKIT_NAMES
    values[30:40, [names.index("eyeBlinkLeft"), names.index("eyeBlinkRight")]] = 1.0
    values[60:90, [names.index("mouthSmileLeft"), names.index("mouthSmileRight")]] = 0.6
    curves = addon.io.curves.Curves(30.0, names, values)
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    action, slot = addon.take_store.write_take(key, curves, rows, 1, "CafeTalk_d_1", 30.0, meta={"start_frame": 1})
    addon.nla_layout.push_take(key, action, slot, 1, 120)
    assert bpy_mod.ops.cafetalk.controls_from_take() == {"FINISHED"}
    found = {c["action"]: c for c in addon.nla_controls.read_controls(key, 1, 30.0)["fine"]}
    assert set(found) == {"AU45", "AU12"}
    assert found["AU45"]["start_s"] == pytest.approx(1.0) and found["AU45"]["end_s"] == pytest.approx(40 / 30, abs=1e-3)
    assert found["AU12"]["intensity"] == pytest.approx(0.75, abs=1e-3)


def test_generate_without_target_reports_error(bpy_mod, addon, scene):
    with pytest.raises(RuntimeError, match="no target mesh"):
        bpy_mod.ops.cafetalk.generate()


def test_action_keyed_after_a_take_is_kept_below_the_takes(bpy_mod, addon, scene):
    """Issue 17.6: a take on an empty NLA, then the artist keys: the kept action must not override the takes."""
    key, rows, _curves_1, _action, _strip = _face_with_take(bpy_mod, addon, "CafeTalk_k_1")
    key.key_blocks["jawOpen"].value = 0.99  # the artist keys on top of the take
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    artist = key.animation_data.action
    assert artist is not None and not addon.take_store.is_take(artist)
    action2, slot2 = addon.take_store.write_take(key, _curves(addon, seed=3), rows, 1, "CafeTalk_k_2", 30.0)
    addon.nla_layout.push_take(key, action2, slot2, 1, 120)
    names = [t.name for t in key.animation_data.nla_tracks]
    kept = names.index("Kept: " + artist.name)
    assert kept < names.index("CafeTalk Take: CafeTalk_k_1") < names.index("CafeTalk Take: CafeTalk_k_2")
    scene.frame_set(31)
    want = float(addon.take_store.take_curves(action2).column("jawOpen")[30])
    assert key.key_blocks["jawOpen"].value == pytest.approx(want, abs=1e-5)  # the take plays, not the 0.99 key


def test_takes_panel_influence_blends_the_take(bpy_mod, addon, scene):
    """Issue 17.6: the Takes panel's influence slider changes what plays."""
    key, _rows, curves, _action, strip = _face_with_take(bpy_mod, addon, "CafeTalk_i_1")
    point = addon.nla_layout.influence_key(strip)  # what the panel's slider draws (co_ui[1])
    assert strip.use_animated_influence and point is not None and point.co_ui[1] == pytest.approx(1.0)
    full = float(curves.column("jawOpen")[30])
    scene.frame_set(31)
    assert key.key_blocks["jawOpen"].value == pytest.approx(full, abs=1e-5)
    point.co_ui[1] = 0.5
    scene.frame_set(30)
    scene.frame_set(31)
    assert key.key_blocks["jawOpen"].value == pytest.approx(0.5 * full, abs=1e-4)  # blends toward rest (0)


def test_outside_the_take_the_face_is_at_rest(bpy_mod, addon, scene):
    """Blender 5.0's NLA default for a shape key is 1.0: without the rest strip every mapped key
    would be fully on before and after the take."""
    face = make_face(bpy_mod)
    key = face.data.shape_keys
    addon.nla_controls.add_strip(key, "fine", "AU12", 1, 10, 0.5)  # controls first, as an artist may
    rows = addon.io.mapping.auto_map([kb.name for kb in key.key_blocks])
    action, slot = addon.take_store.write_take(key, _curves(addon, frames=30), rows, 20, "CafeTalk_r_1", 30.0)
    addon.nla_layout.push_take(key, action, slot, 20, 49)
    assert key.animation_data.nla_tracks[0].name == "CafeTalk Base"
    for frame in (1, 10, 60, 200):
        scene.frame_set(frame)
        assert [round(key.key_blocks[n].value, 6) for n in ARKIT_SAMPLE] == [0.0] * len(ARKIT_SAMPLE), frame


def test_saved_emotion_and_action_keep_their_meaning_when_the_vocabulary_changes(bpy_mod, addon, scene, tmp_path):
    """Issue 18: the scene stores identifiers; a server listing other items (or in another order) changes nothing."""
    props = scene.cafetalk
    props.emotion, props.new_action = "sad", "AU45"
    assert (props.emotion_id, props.new_action_id) == ("sad", "AU45")
    try:
        addon.io.vocabulary.update_from_server({"emotions": ["sad", "calm", "neutral"][::-1],
                                             "actions": [{"id": "AU45", "label": "blink"}, {"id": "X1", "label": "x"}]})
        assert (props.emotion, props.new_action) == ("sad", "AU45")
        addon.io.vocabulary.update_from_server({"emotions": ["calm", "neutral"], "actions": ["X1"]})
        assert (props.emotion, props.new_action) == ("sad", "AU45")  # unknown to this server: kept, not remapped
        path = tmp_path / "vocab.blend"
        bpy_mod.ops.wm.save_as_mainfile(filepath=str(path))
        addon.io.vocabulary.update_from_server({"emotions": ["neutral", "happy", "sad"], "actions": ["AU1", "AU45"]})
        bpy_mod.ops.wm.open_mainfile(filepath=str(path))
        p = bpy_mod.context.scene.cafetalk
        assert (p.emotion, p.new_action) == ("sad", "AU45")
        with pytest.raises(TypeError):
            p.emotion = "bored"  # not an item: refused, the stored choice unchanged
        assert p.emotion_id == "sad"
    finally:
        addon.io.vocabulary.update_from_server({})


def test_static_enums_save_the_number_of_their_identifier(bpy_mod, addon, scene):
    """What a .blend stores for an enum is the item's number: fixed by the identifier, not the item's place."""
    props = addon.properties.CAFETALK_SceneProps.bl_rna.properties
    prefs = addon.preferences.CAFETALK_Preferences.bl_rna.properties
    for prop in (props["interpolation"], props["audio_source"], props["mapping_preset"], prefs["server_mode"]):
        assert [i.value for i in prop.enum_items] == [addon.io.vocabulary.enum_number(i.identifier) for i in prop.enum_items]


def test_every_property_has_a_description(bpy_mod, addon, scene):
    """Issue 18: hovering any field of the add-on says what it does."""
    groups = [*addon.properties.classes, *addon.preferences.classes, *addon.operators.classes]
    missing, seen = [], 0
    for cls in groups:
        if hasattr(cls, "bl_idname") and "." in cls.bl_idname:  # an operator: its properties live on its RNA type
            mod, name = cls.bl_idname.split(".")
            rna = getattr(getattr(bpy_mod.ops, mod), name).get_rna_type()
        else:
            rna = cls.bl_rna
        for prop, spec in getattr(cls, "__annotations__", {}).items():
            if type(spec).__name__ != "_PropertyDeferred":  # a plain type hint, not a Blender property
                continue
            seen += 1
            if not rna.properties[prop].description:
                missing.append(f"{cls.__name__}.{prop}")
    assert seen > 30 and missing == []
