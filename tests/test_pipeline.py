"""pipeline.Generator: determinism, windows, inpainting, cancel, controls, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cafetalk_core import rig
from cafetalk_core.controls import ControlError, ControlSet, FineControl
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.model import save_checkpoint
from cafetalk_core.pipeline import GenerationCancelled, Generator

torch.set_num_threads(1)
SR = 16000


def _speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * env * np.sin(2 * np.pi * (120 + 30 * np.sin(t)) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator.random("tiny", seed=0)


def test_info(gen):
    info = gen.info
    assert info["fps"] == 30.0 and info["arkit_names"] == list(rig.ARKIT_NAMES)
    assert "happy" in info["emotions"] and any(a["id"] == "AU12" for a in info["actions"])
    for key in ("model_id", "default_steps", "default_audio_scale", "default_control_scale", "front_end", "max_audio_s"):
        assert key in info


def test_generate_shape_range_and_determinism(gen):
    wav = _speech_like(2.0)
    cs = ControlSet.from_dict({"emotion": "happy", "intensity": 0.7,
                               "fine": [{"action": "AU12", "start_s": 0.5, "end_s": 1.2, "intensity": 0.8}]})
    a = gen.generate(wav, cs, seed=3)
    b = gen.generate(wav, cs, seed=3)
    c = gen.generate(wav, cs, seed=4)
    assert a.values.shape == (60, 52) and a.fps == 30.0 and a.names == rig.ARKIT_NAMES
    assert a.values.min() >= 0 and a.values.max() <= 1
    assert np.array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    # a different emotion and the fine control both change the output
    assert not np.allclose(a.values, gen.generate(wav, ControlSet.from_dict({"emotion": "sad", "intensity": 0.7,
                                                                              "fine": cs.to_dict()["fine"]}), seed=3).values)
    plain = gen.generate(wav, ControlSet.from_dict({"emotion": "happy", "intensity": 0.7}), seed=3)
    assert not np.allclose(a.values[15:36], plain.values[15:36])


def test_face_scale_guides_only_the_face_channels(gen):
    wav = _speech_like(1.0)
    assert gen.info["default_face_scale"] is None
    same = gen.generate(wav, seed=1, audio_scale=2.0)
    assert np.array_equal(same.values, gen.generate(wav, seed=1, audio_scale=2.0, face_scale=2.0).values)
    split = gen.generate(wav, seed=1, audio_scale=2.0, face_scale=1.0)
    assert not np.allclose(same.values, split.values)
    with pytest.raises(ValueError, match="face_scale"):
        gen.generate(wav, face_scale=-1.0)


def test_fps_and_sample_rate(gen):
    wav = _speech_like(1.0)
    out = gen.generate(wav, fps=25.0)
    assert out.fps == 25.0 and out.num_frames == 25
    wav48 = np.interp(np.arange(48000) / 48000, np.arange(SR) / SR, wav).astype(np.float32)
    assert gen.generate(wav48, sample_rate=48000).num_frames == 30


def test_progress_and_cancel(gen):
    wav = _speech_like(1.0)
    seen: list[float] = []
    gen.generate(wav, steps=5, progress=seen.append)
    assert len(seen) == 5 and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    with pytest.raises(GenerationCancelled):
        gen.generate(wav, steps=8, cancel=cancel)
    assert calls["n"] == 3


def test_control_error_past_clip(gen):
    cs = ControlSet(fine=[FineControl("AU12", 1.5, 3.0, 0.8)])
    with pytest.raises(ControlError, match=r"fine\[0\]\.start_s"):
        gen.generate(_speech_like(1.0), cs)
    # a span reaching past the end is clamped: the same take as one ending at the clip's end
    reach = gen.generate(_speech_like(1.0), ControlSet(fine=[FineControl("AU12", 0.5, 1.02, 0.8)]), steps=2)
    exact = gen.generate(_speech_like(1.0), ControlSet(fine=[FineControl("AU12", 0.5, 1.0, 0.8)]), steps=2)
    np.testing.assert_array_equal(reach.values, exact.values)


def test_long_audio_windows_are_stitched_in_place(monkeypatch):
    """25 s with a 4 s window: replace the network by one whose x0 is a smooth function of the
    audio features it sees; if windows, overlaps or crossfades were misplaced the stitched
    output would differ from that function evaluated on the whole clip."""
    g = Generator.random("tiny", seed=1)
    model = g.model
    wav = _speech_like(25.0, seed=2)
    n = 750
    feats = torch.as_tensor(g.front_end.features(wav, n, 30.0))
    target = torch.sigmoid(feats[:, :1].repeat(1, 52) + torch.linspace(-1, 1, 52)) * 0.8 + 0.1     # (N, 52)

    def fake_denoise(x, t, enc):
        # recover which frames this window covers from the audio keys it was encoded with
        return model.normalize(enc.fake_target.to(x.dtype)).expand(x.shape[0], -1, -1)

    real_encode = model.encode

    def fake_encode(cond):
        enc = real_encode(cond)
        a = cond.audio[0]
        start = int(torch.cdist(a[:1], feats).argmin())
        enc.fake_target = target[start:start + a.shape[0]][None]
        return enc

    monkeypatch.setattr(model, "encode", fake_encode)
    monkeypatch.setattr(model, "denoise", fake_denoise)
    out = g.generate(wav, steps=3)
    assert len(g._windows(n)) >= 7
    assert out.num_frames == n
    np.testing.assert_allclose(out.values, target.numpy(), atol=1e-4)


def test_long_audio_real_model_runs_and_is_reproducible(gen):
    wav = _speech_like(25.0, seed=5)
    a = gen.generate(wav, steps=2, seed=1)
    assert a.num_frames == 750 and np.isfinite(a.values).all()
    jumps = np.abs(np.diff(a.values, axis=0)).max(axis=1)
    # window borders (where the next window's overlap ends) are no rougher than the clip in general
    ends = [s + int(round(30.0)) for s, _ in gen._windows(750)[1:]]
    assert max(jumps[e - 1] for e in ends) <= np.quantile(jumps, 0.999) + 1e-6
    # reproducible: the same seed again gives the same take bit for bit, another seed does not
    np.testing.assert_array_equal(gen.generate(wav, steps=2, seed=1).values, a.values)
    assert not np.array_equal(gen.generate(wav, steps=2, seed=2).values, a.values)


def test_inpaint_keeps_frames_outside_span(gen):
    wav = _speech_like(3.0)
    take = gen.generate(wav, seed=0)
    out = gen.generate(wav, ControlSet.from_dict({"emotion": "angry", "intensity": 1.0}), seed=9,
                       inpaint=(take, 1.0, 2.0))
    assert out.num_frames == take.num_frames
    np.testing.assert_array_equal(out.values[:30], take.values[:30])
    np.testing.assert_array_equal(out.values[60:], take.values[60:])
    assert not np.allclose(out.values[33:57], take.values[33:57])
    # borders crossfade: the first inside frame is closer to the take than the middle of the span is
    d_first = np.abs(out.values[30] - take.values[30]).mean()
    d_mid = np.abs(out.values[40:50] - take.values[40:50]).mean()
    assert d_first < d_mid
    with pytest.raises(ValueError, match="start_s"):
        gen.generate(wav, inpaint=(take, 5.0, 6.0))



@pytest.mark.parametrize("fps", [24.0, 25.0, 30000 / 1001, 50.0, 60.0])
def test_inpaint_at_any_fps_keeps_frames_outside_span_bit_identical(gen, fps):
    """Issue 17.3: a take at 24/25 fps used to come back resampled 30 -> fps, off by up to 0.159."""
    wav = _speech_like(3.0)
    take = gen.generate(wav, seed=0, fps=fps)
    out = gen.generate(wav, seed=9, inpaint=(take, 1.0, 2.0))
    assert out.fps == fps and out.num_frames == take.num_frames
    a, b = int(np.ceil(1.0 * fps - 1e-6)), int(np.ceil(2.0 * fps - 1e-6))
    np.testing.assert_array_equal(out.values[:a], take.values[:a])
    np.testing.assert_array_equal(out.values[b:], take.values[b:])
    assert not np.allclose(out.values[a + 5:b - 5], take.values[a + 5:b - 5])


def test_checkpoint_generator_and_missing_default(tmp_path, gen):
    save_checkpoint(tmp_path / "ck", gen.model, step=5, front_end={"id": gen.front_end.id})
    g2 = Generator(tmp_path / "ck")
    wav = _speech_like(1.0)
    np.testing.assert_array_equal(g2.generate(wav, seed=2).values, gen.generate(wav, seed=2).values)
    assert "step5" in g2.info["model_id"]
    import cafetalk_core.pipeline as pl
    pl_default = pl.DEFAULT_CHECKPOINT
    try:
        pl.DEFAULT_CHECKPOINT = tmp_path / "absent"
        with pytest.raises(FileNotFoundError, match="--checkpoint"):
            Generator()
    finally:
        pl.DEFAULT_CHECKPOINT = pl_default


def test_cli_generate(tmp_path, gen):
    import soundfile as sf

    from cafetalk_core.cli import build_parser
    from cafetalk_core.pipeline import cli_generate

    save_checkpoint(tmp_path / "ck", gen.model, front_end={"id": gen.front_end.id})
    wav_path = tmp_path / "a.wav"
    sf.write(wav_path, _speech_like(1.5), SR)
    for ext in ("csv", "json", "npz"):
        out = tmp_path / f"take.{ext}"
        args = build_parser().parse_args(["generate", str(wav_path), "--out", str(out), "--checkpoint",
                                          str(tmp_path / "ck"), "--emotion", "happy", "--intensity", "0.7",
                                          "--control", "AU12:0.2-1.0:0.8", "--steps", "2"])
        assert cli_generate(args) == 0
        back = BlendshapeCurves.load(out)
        assert back.num_frames == 45
    bad = build_parser().parse_args(["generate", str(wav_path), "--out", str(tmp_path / "x.csv"), "--checkpoint",
                                     str(tmp_path / "ck"), "--control", "AU12:2.0-9.0"])
    assert cli_generate(bad) == 2
    # head spans in a controls JSON file; a bad amount is a bad control (exit 2), not a traceback
    for amount, code in ((0, 0), (3, 2)):
        (tmp_path / "c.json").write_text(json.dumps({"head_spans": [{"start_s": 0.5, "end_s": 1.0, "amount": amount}]}))
        args = build_parser().parse_args(["generate", str(wav_path), "--out", str(tmp_path / "h.json"), "--checkpoint",
                                          str(tmp_path / "ck"), "--controls-json", str(tmp_path / "c.json"),
                                          "--steps", "2"])
        assert cli_generate(args) == code
    assert cli_generate(build_parser().parse_args(["generate", str(wav_path), "--out", str(tmp_path / "h.json"),
                                                   "--checkpoint", str(tmp_path / "ck"), "--head-motion", "2.5"])) == 2


def test_wav2vec2_front_end_end_to_end_through_a_checkpoint(tmp_path, monkeypatch):
    """Issue 17.9: checkpoints kept only the front end's id, so a Wav2Vec2 model could not be loaded."""
    import shutil

    import transformers

    torch.manual_seed(0)
    cfg = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                      conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    transformers.Wav2Vec2Model(cfg).save_pretrained(tmp_path / "w2v")
    gen = Generator.random("tiny", front_end="wav2vec2-v1", front_end_options={"model_path": str(tmp_path / "w2v")},
                           threads=None)
    wav = _speech_like(1.0)
    want = gen.generate(wav, steps=2).values
    gen.save(tmp_path / "ck")
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["front_end"]["model_path"] == str(tmp_path / "w2v")
    np.testing.assert_array_equal(Generator(tmp_path / "ck", threads=None).generate(wav, steps=2).values, want)
    # a checkpoint that carries its front end inside names it relative to itself; a moved one is overridden
    shutil.move(str(tmp_path / "w2v"), str(tmp_path / "ck" / "w2v"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        Generator(tmp_path / "ck", threads=None)
    moved = Generator(tmp_path / "ck", threads=None, front_end_options={"model_path": "w2v"})
    np.testing.assert_array_equal(moved.generate(wav, steps=2).values, want)
    # a checkpoint that kept only the id (as before): the folder from the environment, or a clear error
    save_checkpoint(tmp_path / "old", gen.model, front_end={"id": "wav2vec2-v1"})
    with pytest.raises(ValueError, match="CAFETALK_WAV2VEC2_PATH"):
        Generator(tmp_path / "old", threads=None)
    monkeypatch.setenv("CAFETALK_WAV2VEC2_PATH", str(tmp_path / "ck" / "w2v"))
    np.testing.assert_array_equal(Generator(tmp_path / "old", threads=None).generate(wav, steps=2).values, want)


def test_a_broken_audio_package_fails_loudly():
    """Issue 17.10: pipeline.py fell back to a second log-mel (same id, other normalisation)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['cafetalk_core.audio'] = None\n"
            "from cafetalk_core.pipeline import Generator\n"
            "Generator.random('tiny', threads=None)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "import of cafetalk_core.audio halted" in run.stderr, run.stderr[-500:]


def test_generator_picks_the_thread_count_itself_as_the_server_does():
    """Issue 17.11: the Python API ran on torch's default threads (1.25 s for 5 s against 0.99 s)."""
    from cafetalk_core.model.runtime import auto_threads
    from cafetalk_core.server.app import load_generator

    assert [auto_threads(c) for c in (1, 2, 4, 8, 16, 64)] == [1, 1, 2, 4, 4, 4]
    try:
        torch.set_num_threads(2)
        Generator.random("tiny")
        assert torch.get_num_threads() == auto_threads()
        torch.set_num_threads(2)
        load_generator(None, "cpu", random_model=True)        # what `cafetalk serve` runs
        assert torch.get_num_threads() == auto_threads()
        Generator.random("tiny", threads=3)
        assert torch.get_num_threads() == 3
        with pytest.raises(ValueError, match="threads"):
            Generator.random("tiny", threads=0)
    finally:
        torch.set_num_threads(1)


def test_inpainting_keeps_the_takes_head_rotations_outside_the_span(gen):
    from cafetalk_core.rig import ROTATION_NAMES

    wav = _speech_like(2.0)
    take = gen.generate(wav, seed=0, fps=24.0)
    rot = np.random.default_rng(0).uniform(-0.2, 0.2, (take.num_frames, len(ROTATION_NAMES))).astype(np.float32)
    take = BlendshapeCurves(take.values, take.fps, take.names, rot)
    generated = BlendshapeCurves(np.zeros_like(take.values), 24.0, take.names, np.zeros_like(rot))
    from cafetalk_core.pipeline import _paste_take

    out = _paste_take(generated, take, 0.5, 1.0)
    a, b = 12, 24
    np.testing.assert_array_equal(out.rotations[:a], rot[:a])
    np.testing.assert_array_equal(out.rotations[b:], rot[b:])
    np.testing.assert_array_equal(out.values[b:], take.values[b:])
    assert np.abs(out.rotations[a + 3:b - 3]).max() == 0


# -- head spans (issue 16: head_motion as a time-spanned control) ----------------------------------
@pytest.fixture(scope="module")
def head_gen() -> Generator:
    """The tiny random face model with the shipped head stage (0.1 M parameters: fast)."""
    from cafetalk_core.model.head import HeadStage
    from cafetalk_core.pipeline import DEFAULT_CHECKPOINT

    g = Generator.random("tiny", seed=0, threads=None)
    g.head = HeadStage.load(DEFAULT_CHECKPOINT / "head")
    return g


def test_no_head_spans_is_bit_identical_to_the_clip_wide_amount(head_gen):
    from cafetalk_core.model.head import head_features

    wav = _speech_like(3.0)
    plain = head_gen.generate(wav, seed=2, steps=3, head_motion=0.6)
    empty = head_gen.generate(wav, ControlSet.from_dict({"head_spans": []}), seed=2, steps=3, head_motion=0.6)
    np.testing.assert_array_equal(plain.values, empty.values)
    np.testing.assert_array_equal(plain.rotations, empty.rotations)
    # the scalar formula this replaced: the head stage's sample x head_motion
    n, fps = plain.num_frames, head_gen.cfg.fps
    feats = head_gen.front_end.features(wav, n, fps)
    hf = head_features(wav, n, fps, vad=head_gen.speech_activity(feats, wav))
    emotion, intensity = ControlSet().coarse.rasterize(n, fps)
    old = head_gen.head.sample(hf, emotion, intensity, seed=2) * 0.6
    assert np.abs(old).max() > 1e-3
    np.testing.assert_array_equal(plain.rotations[:, :3], old)


def test_a_still_head_span_stills_the_head_inside_and_nothing_else(head_gen):
    from cafetalk_core.controls.head import HEAD_RAMP_S

    wav = _speech_like(3.0)
    ramp = int(round(HEAD_RAMP_S * 30))
    free = head_gen.generate(wav, seed=1, steps=3)
    still = head_gen.generate(wav, ControlSet.from_dict({"head_spans": [{"start_s": 1.0, "end_s": 2.0, "amount": 0}]}),
                              seed=1, steps=3)
    np.testing.assert_array_equal(still.values, free.values)          # head spans never condition the face
    np.testing.assert_array_equal(still.rotations[:30], free.rotations[:30])
    np.testing.assert_array_equal(still.rotations[60:], free.rotations[60:])
    np.testing.assert_array_equal(still.rotations[:, 3:], free.rotations[:, 3:])   # eyes follow the gaze
    assert np.all(still.rotations[30 + ramp:60 - ramp, :3] == 0)
    assert np.abs(free.rotations[30 + ramp:60 - ramp, :3]).max() > 1e-3
    # ramps: the head fades out and back in, never a jump bigger than the free head's own
    step = np.abs(np.diff(still.rotations[:, :3], axis=0)).max()
    assert step <= np.abs(np.diff(free.rotations[:, :3], axis=0)).max() + 1e-6
    # a still clip with one moving span: sampled, and the span's frames are the free take's
    moving = head_gen.generate(wav, ControlSet.from_dict({"head_spans": [{"start_s": 1.0, "end_s": 2.0, "amount": 1}]}),
                               seed=1, steps=3, head_motion=0.0)
    assert np.all(moving.rotations[:30, :3] == 0) and np.all(moving.rotations[60:, :3] == 0)
    np.testing.assert_array_equal(moving.rotations[30 + ramp:60 - ramp, :3], free.rotations[30 + ramp:60 - ramp, :3])
    with pytest.raises(ControlError) as info:
        head_gen.generate(wav, ControlSet.from_dict({"head_spans": [{"start_s": 1.0, "end_s": 2.0, "amount": 3}]}))
    assert info.value.field == "head_spans[0].amount"


def test_inpainting_with_a_head_span_keeps_the_take_outside_the_span(head_gen):
    wav = _speech_like(3.0)
    take = head_gen.generate(wav, seed=0, steps=3, fps=24.0)
    controls = ControlSet.from_dict({"head_spans": [{"start_s": 0.5, "end_s": 2.5, "amount": 0}]})
    out = head_gen.generate(wav, controls, seed=5, steps=3, inpaint=(take, 1.0, 2.0))
    a, b = 24, 48
    assert out.fps == 24.0 and out.num_frames == take.num_frames
    for got, want in ((out.values, take.values), (out.rotations, take.rotations)):
        np.testing.assert_array_equal(got[:a], want[:a])
        np.testing.assert_array_equal(got[b:], want[b:])
    # inside the inpainted span, past the crossfade with the take, the head is still
    assert np.abs(out.rotations[a + 4:b - 4, :3]).max() < 1e-6
    assert np.abs(take.rotations[a + 4:b - 4, :3]).max() > 1e-3


def test_cli_text_controls_keep_the_files_head_spans(tmp_path, monkeypatch):
    import argparse

    import cafetalk_core.controls.text as text
    from cafetalk_core.controls import HeadSpan
    from cafetalk_core.pipeline import _controls_from_args
    from server_fixtures import fake_text_to_controls

    monkeypatch.setattr(text, "text_to_controls", lambda t, duration_s: fake_text_to_controls(t, duration_s))
    (tmp_path / "c.json").write_text(json.dumps({"head_spans": [{"start_s": 0.5, "end_s": 1.0}]}))
    cs = _controls_from_args(argparse.Namespace(controls_json=str(tmp_path / "c.json"), text="smile"), 3.0)
    assert cs.head_spans == [HeadSpan(0.5, 1.0, 0.0)] and [c.action for c in cs.fine] == ["AU12"]
