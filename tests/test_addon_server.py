"""The add-on against the REAL server (uvicorn subprocess, random tiny model): end to end."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from blender_fixtures import addon, bpy_mod, live_server, make_face, scene, write_tone  # noqa: F401 (fixtures)

pytestmark = pytest.mark.blender


def _setup(bpy, scene, tmp_path, url, monkeypatch, seconds=1.0):
    monkeypatch.setenv("CAFETALK_SERVER_URL", url)
    face = make_face(bpy)
    audio = write_tone(tmp_path / "hello.wav", seconds)
    props = scene.cafetalk
    props.target, props.audio_path, props.start_frame = face, str(audio), 5
    props.emotion, props.intensity, props.steps = "happy", 0.7, 2
    return face, audio


def _generate(bpy, addon, mode="NEW", timeout=120.0):
    """Click Generate, then do what its modal handler does on each TIMER event until the job is over.

    The bpy module has no event loop, so the modal handler never runs here; ``execute`` must
    come back at once (RUNNING_MODAL) with the job still running in its thread.
    """
    t0 = time.monotonic()
    assert bpy.ops.cafetalk.generate(mode=mode) == {"RUNNING_MODAL"}
    assert time.monotonic() - t0 < 5.0
    generation = addon.operators._ACTIVE["generation"]
    assert generation is not None and bpy.context.scene.cafetalk.running
    deadline = time.monotonic() + timeout
    while (state := addon.operators.poll_generation(bpy.context, generation)) == "running":
        assert time.monotonic() < deadline, "generation did not finish"
        time.sleep(0.05)
    assert not bpy.context.scene.cafetalk.running and addon.operators._ACTIVE["generation"] is None
    return state, generation


def test_generate_end_to_end_writes_a_take(bpy_mod, addon, scene, live_server, tmp_path, monkeypatch):
    face, audio = _setup(bpy_mod, scene, tmp_path, live_server, monkeypatch)
    key = face.data.shape_keys
    addon.nla_controls.add_strip(key, "fine", "AU12", 10, 20, 0.8)
    assert _generate(bpy_mod, addon)[0] == "done"
    take = addon.nla_layout.active_take(key)
    assert take.name == "CafeTalk_hello_1"
    curves = addon.take_store.take_curves(take)
    assert curves.fps == 30.0 and curves.num_frames == 30 and len(curves.names) == 52
    meta = addon.take_store.take_meta(take)
    assert meta["controls"]["emotion"] == "happy"
    assert meta["controls"]["fine"] == [{"action": "AU12", "start_s": 0.1667, "end_s": 0.5, "intensity": 0.8}]
    # keys = the server's curves, frame 0 on the start frame; audio in the sequencer there; range follows
    fc = next(f for f in addon.fcurves.action_fcurves(take) if f.data_path == 'key_blocks["jawOpen"].value')
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    np.testing.assert_array_equal(co[0::2], 5 + np.arange(30, dtype=np.float32))
    np.testing.assert_allclose(co[1::2], curves.column("jawOpen"), atol=1e-6)
    se = scene.sequence_editor
    strips = [s for s in (getattr(se, "strips_all", None) or se.sequences_all) if s.type == "SOUND"]
    assert len(strips) == 1 and strips[0].frame_start == 5
    assert (scene.frame_start, scene.frame_end) == (5, 34)
    # regenerate reads the (edited) strips back and makes a second take, the first muted
    addon.nla_controls.add_strip(key, "emotion", "sad", 20, 30, 0.5)
    addon.nla_controls.add_head_strip(key, 8, 26, 0.0)      # the server takes head spans too
    assert _generate(bpy_mod, addon, "REGENERATE")[0] == "done"
    take2 = addon.nla_layout.active_take(key)
    assert take2.name == "CafeTalk_hello_2"
    assert addon.take_store.take_meta(take2)["controls"]["emotion_spans"][0]["emotion"] == "sad"
    assert addon.take_store.take_meta(take2)["controls"]["head_spans"] == [
        {"start_s": 0.1, "end_s": 0.7, "amount": 0.0}]
    assert [t.mute for t in addon.nla_layout.take_tracks(key.animation_data)] == [True, False]
    assert len([s for s in (getattr(se, "strips_all", None) or se.sequences_all) if s.type == "SOUND"]) == 1
    # regenerate only the selected strip's span: frames outside it keep the first take's values
    for t in key.animation_data.nla_tracks:
        for s in t.strips:
            s.select = s.name == "AU12"
    assert _generate(bpy_mod, addon, "SPAN")[0] == "done"
    take3 = addon.nla_layout.active_take(key)
    c2, c3 = addon.take_store.take_curves(take2).values, addon.take_store.take_curves(take3).values
    assert addon.take_store.take_meta(take3)["mode"] == "SPAN"
    np.testing.assert_allclose(c3[:3], c2[:3], atol=1e-4)    # before 0.1667 s (frame 5)
    np.testing.assert_allclose(c3[18:], c2[18:], atol=1e-4)  # after 0.5 s (frame 15), with some blending margin


def test_generate_returns_at_once_and_cancels(bpy_mod, addon, scene, live_server, tmp_path, monkeypatch):
    """Issue 17.6: execute is not the blocking network path, nor a redo/repeat target."""
    face, _ = _setup(bpy_mod, scene, tmp_path, live_server, monkeypatch, seconds=2.0)
    options = bpy_mod.types.CAFETALK_OT_generate.bl_options
    assert "REGISTER" not in options and "UNDO" in options  # undo pushed once the take is written
    scene.cafetalk.steps = 200  # a job far longer than execute may take
    t0 = time.monotonic()
    assert bpy_mod.ops.cafetalk.generate() == {"RUNNING_MODAL"}
    generation = addon.operators._ACTIVE["generation"]
    assert time.monotonic() - t0 < 5.0 and not generation.runner.finished.is_set()
    assert not bpy_mod.types.CAFETALK_OT_generate.poll(bpy_mod.context)  # one generation at a time
    assert bpy_mod.ops.cafetalk.cancel() == {"FINISHED"}
    deadline = time.monotonic() + 30
    while addon.operators.poll_generation(bpy_mod.context, generation) == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert generation.state == "cancelled" and scene.cafetalk.status == "cancelled"
    assert addon.nla_layout.active_take(face.data.shape_keys) is None and not scene.cafetalk.running
    client = addon.takes.client_for()
    deadline = time.monotonic() + 10
    while client.job(generation.runner.job_id)["state"] not in ("cancelled", "done") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.job(generation.runner.job_id)["state"] == "cancelled"


def test_server_errors_reach_the_artist(bpy_mod, addon, scene, live_server, tmp_path, monkeypatch):
    face, _ = _setup(bpy_mod, scene, tmp_path, live_server, monkeypatch)
    addon.nla_controls.add_strip(face.data.shape_keys, "fine", "AU12", 10, 500, 0.8)  # past the 1 s clip: cut
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    scene.cafetalk.audio_path = str(bad)
    state, generation = _generate(bpy_mod, addon)
    assert state == "failed" and "server:" in generation.error and "HTTP 4" in generation.error
    assert scene.cafetalk.status.startswith("server:")
    assert addon.nla_layout.active_take(face.data.shape_keys) is None  # nothing half-written
    # speech in another language, for a model trained on English phones only: the server's 422 names it
    scene.cafetalk.audio_path = str(write_tone(tmp_path / "zh.wav"))
    scene.cafetalk.language = "zh"
    state, generation = _generate(bpy_mod, addon)
    assert state == "failed" and "HTTP 422" in generation.error and "'zh'" in generation.error, generation.error
    assert addon.nla_layout.active_take(face.data.shape_keys) is None
    client = addon.io.client.Client(live_server)
    with pytest.raises(addon.io.errors.CafeTalkError) as exc:
        client.submit(str(write_tone(tmp_path / "ok.wav")), {"emotion": "bored"}, {})
    assert exc.value.status == 422 and "bored" in str(exc.value)
    with pytest.raises(addon.io.errors.CafeTalkError, match="connection refused"):
        addon.io.client.Client("http://127.0.0.1:9").health()


def _server_call(bpy, addon, op: str, timeout: float = 200.0):
    """Click a ServerOperator, then do what its modal handler does on each TIMER event until it is over."""
    t0 = time.monotonic()
    assert getattr(bpy.ops.cafetalk, op)() == {"RUNNING_MODAL"}
    assert time.monotonic() - t0 < 1.0, f"{op} blocked Blender for {time.monotonic() - t0:.1f} s"
    call = addon.operators._ACTIVE[f"CAFETALK_OT_{op}"]
    deadline = time.monotonic() + timeout
    while (state := addon.operators.poll_call(bpy.context, call)) == "running":
        assert time.monotonic() < deadline, f"{op} did not finish"
        time.sleep(0.05)
    assert addon.operators._ACTIVE[f"CAFETALK_OT_{op}"] is None
    return state, call


def test_controls_from_text_and_info(bpy_mod, addon, scene, live_server, tmp_path, monkeypatch):
    face, _ = _setup(bpy_mod, scene, tmp_path, live_server, monkeypatch, seconds=3.0)
    assert _server_call(bpy_mod, addon, "refresh_info")[0] == "done"
    assert "happy" in addon.io.vocabulary.emotions() and addon.io.vocabulary.action_id_of("AU12") == "AU12"
    assert addon.io.vocabulary.server_takes_other_languages() is False   # the random model: English phones only
    scene.cafetalk.text_controls = "smile at the end"
    state, call = _server_call(bpy_mod, addon, "controls_from_text")   # the first call loads the text model
    assert state == "done", call.error
    fine = addon.nla_controls.read_controls(face.data.shape_keys, 5, 30.0)["fine"]
    assert fine and all(0 <= c["start_s"] < c["end_s"] <= 3.0 + 1e-3 for c in fine)


SLOW_REPLY = {"fine": [{"action": "AU12", "start_s": 0.5, "end_s": 0.9, "intensity": 0.7}], "emotion_spans": [],
              "messages": ["read 'smile' as AU12"]}


def test_controls_from_text_never_blocks_and_esc_drops_the_answer(bpy_mod, addon, scene, tmp_path, monkeypatch):
    """Issue 26: a server that takes 2 s to answer: the operator returns at once (modal), the strips come
    when the answer does; cancelled (Esc), the answer is dropped and nothing is written."""
    from test_addon_tasks import slow_server
    with slow_server(2.0, {"/v1/controls/from-text": SLOW_REPLY, "/v1/info": {"emotions": ["happy", "bored"]}}) as url:
        face, _ = _setup(bpy_mod, scene, tmp_path, url, monkeypatch, seconds=1.0)
        key = face.data.shape_keys
        scene.cafetalk.text_controls = "smile"
        state, call = _server_call(bpy_mod, addon, "controls_from_text", timeout=20)
        assert state == "done" and call.warnings == ["read 'smile' as AU12"]
        assert addon.nla_controls.read_controls(key, 5, 30.0)["fine"] == SLOW_REPLY["fine"]
        assert scene.cafetalk.status == "1 control strips from text"
        addon.nla_controls.clear_controls(key)
        # Esc: what the modal handler does first on an ESC press
        assert bpy_mod.ops.cafetalk.controls_from_text() == {"RUNNING_MODAL"}
        call = addon.operators._ACTIVE["CAFETALK_OT_controls_from_text"]
        call.task.cancel()
        assert addon.operators.poll_call(bpy_mod.context, call) == "cancelled"
        assert scene.cafetalk.status == "controls from text: cancelled"
        assert call.task.wait(10) == "cancelled"
        assert addon.operators.poll_call(bpy_mod.context, call) == "cancelled"
        assert addon.nla_controls.read_controls(key, 5, 30.0)["fine"] == []
        # the server's vocabulary, the same way
        assert _server_call(bpy_mod, addon, "refresh_info", timeout=20)[0] == "done"
        assert "bored" in addon.io.vocabulary.emotions()
    addon.io.vocabulary.update_from_server({})


def test_batch_entry_point_against_the_server(bpy_mod, addon, scene, live_server, tmp_path):
    import importlib
    batch = importlib.import_module("cafetalk_blender.batch")
    make_face(bpy_mod, obj_name="A")
    make_face(bpy_mod, obj_name="B")
    a1, a2 = write_tone(tmp_path / "one.wav", 0.5), write_tone(tmp_path / "two.wav", 0.7)
    out = tmp_path / "batch.blend"
    code = batch.main(["--server", live_server, "--pair", str(a1), "A", "--pair", str(a2), "B",
                       "--emotion", "sad", "--steps", "2", "--key-tolerance", "0.01", "--save-as", str(out)])
    assert code == 0 and out.exists()
    bpy_mod.ops.wm.open_mainfile(filepath=str(out))
    for obj, name, frames in (("A", "CafeTalk_one_1", 15), ("B", "CafeTalk_two_1", 21)):
        key = bpy_mod.data.objects[obj].data.shape_keys
        take = addon.nla_layout.active_take(key)
        assert take.name == name and addon.take_store.take_curves(take).num_frames == frames
        assert addon.take_store.take_meta(take)["controls"]["emotion"] == "sad"
    assert batch.main(["--server", live_server, "--pair", str(a1), "Nope", "--no-save"]) == 1
