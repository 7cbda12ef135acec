"""Property-based tests (hypothesis) of what issue 17 found broken one case at a time.

Over the frame rates a user meets (24, 25, 29.97, 30, 50, 60), clip durations that are not
whole frames (any sample count), DDIM step counts 1..200, audio longer than one sampling
window, inpainting spans at the clip's borders, and every export format. A tiny random model
keeps each example to milliseconds; ``max_examples`` stays modest so the file runs in ~1 min.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.model.diffusion import DDIMScheduler
from cafetalk_core.pipeline import SAMPLE_RATE, Generator

FPS = [24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60.0]
fps_st = st.sampled_from(FPS)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator.random("tiny", seed=0, threads=None)


def _audio(samples: int, seed: int = 0) -> np.ndarray:
    t = np.arange(samples) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    return (0.2 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
            + 0.01 * rng.standard_normal(samples)).astype(np.float32)


def _frames(samples: int, fps: float) -> int:
    return max(1, int(round(samples / SAMPLE_RATE * fps)))


# -- sampling: step counts and progress ------------------------------------------------------------
@settings(max_examples=200, **SETTINGS)
@given(steps=st.integers(1, 1000), total=st.sampled_from([1000, 500, 100]))
def test_ddim_timesteps_exactly_n_strictly_decreasing_never_negative(steps, total):
    steps = min(steps, total)
    s = DDIMScheduler(num_train_timesteps=total)
    s.set_timesteps(steps)
    ts = s.timesteps.tolist()
    assert len(ts) == steps and ts[0] == total - 1 and ts[-1] >= 0
    assert all(a > b for a, b in zip(ts, ts[1:]))


@settings(max_examples=6, **SETTINGS)
@given(steps=st.integers(1, 200), long=st.booleans())
@example(steps=200, long=False).via("the largest step count the server accepts")
@example(steps=61, long=True).via("issue 17.1: one of the counts that gave n + 1 steps")
def test_progress_is_monotonic_within_0_1_and_ends_at_1(gen, steps, long):
    seconds = 1.3 * gen.cfg.max_frames / gen.cfg.fps if long else 0.4
    seen: list[float] = []
    gen.generate(_audio(int(seconds * SAMPLE_RATE)), steps=steps, progress=seen.append)
    windows = len(gen._windows(_frames(int(seconds * SAMPLE_RATE), gen.cfg.fps)))
    assert len(seen) == steps * windows
    assert all(0 < p <= 1 for p in seen) and all(a < b for a, b in zip(seen, seen[1:]))
    assert seen[-1] == 1.0


# -- frame rates and durations ---------------------------------------------------------------------
@settings(max_examples=25, **SETTINGS)
@given(fps=fps_st, samples=st.integers(800, 16000 * 3), windows=st.sampled_from([1, 1, 3]))
def test_every_fps_and_duration_gives_frames_covering_the_clip(gen, fps, samples, windows):
    """round(duration x fps) frames at i / fps, finite and in [0, 1], also past one sampling window."""
    if windows > 1:
        samples = int(windows * gen.cfg.max_frames / gen.cfg.fps * SAMPLE_RATE) + samples % 977
    out = gen.generate(_audio(samples), steps=2, fps=fps)
    assert out.fps == fps and out.num_frames == _frames(samples, fps)
    assert out.values.shape == (out.num_frames, rig.NUM_CHANNELS)
    assert np.all(np.isfinite(out.values)) and out.values.min() >= 0 and out.values.max() <= 1


# -- inpainting at the borders ---------------------------------------------------------------------
@settings(max_examples=25, **SETTINGS)
@given(fps=fps_st, samples=st.integers(8000, 16000 * 3), where=st.sampled_from(["start", "end", "middle", "all"]),
       a=st.floats(0, 1), length=st.floats(0.01, 1.5), past_end=st.floats(0, 0.2), long=st.booleans())
def test_inpainting_never_touches_frames_outside_the_span(gen, fps, samples, where, a, length, past_end, long):
    if long:
        samples += int(1.5 * gen.cfg.max_frames / gen.cfg.fps * SAMPLE_RATE)
    duration = samples / SAMPLE_RATE
    wav = _audio(samples)
    take = gen.generate(wav, steps=2, fps=fps, seed=1)
    start = {"start": 0.0, "end": max(0.0, duration - length), "middle": a * duration * 0.9, "all": 0.0}[where]
    end = {"end": duration + past_end, "all": duration + past_end}.get(where, min(duration, start + length) + 1e-3)
    out = gen.generate(wav, steps=2, seed=2, inpaint=(take, start, end))
    assert out.fps == take.fps and out.num_frames == take.num_frames
    a_f = max(0, math.ceil(start * fps - 1e-6))
    b_f = min(take.num_frames, math.ceil(min(end, duration) * fps - 1e-6))
    outside = np.ones(take.num_frames, bool)
    outside[a_f:b_f] = False
    np.testing.assert_array_equal(out.values[outside], take.values[outside])


# -- export formats ------------------------------------------------------------------------------------
@settings(max_examples=20, **SETTINGS)
@given(fps=fps_st, frames=st.integers(1, 400), seed=st.integers(0, 2**16))
def test_npz_round_trip_is_exact_and_json_is_exact_to_its_6_decimals(tmp_path_factory, fps, frames, seed):
    """.npz keeps float32 bit for bit; .json (what the server returns) keeps 6 decimals, so it is
    exact to 5e-7 (+ float32 rounding) and idempotent: a take read back from JSON writes the same JSON again."""
    values = np.random.default_rng(seed).uniform(0, 1, (frames, rig.NUM_CHANNELS)).astype(np.float32)
    curves = BlendshapeCurves(values, fps)
    folder = tmp_path_factory.mktemp("curves")
    for ext in ("json", "npz"):
        curves.save(folder / f"take.{ext}")
        back = BlendshapeCurves.load(folder / f"take.{ext}")
        assert back.fps == fps and back.names == curves.names, ext
        if ext == "npz":
            np.testing.assert_array_equal(back.values, curves.values)
        else:
            np.testing.assert_allclose(back.values, curves.values, rtol=0, atol=5e-7 + 6e-8)  # + half a float32 ulp near 1
            assert BlendshapeCurves.from_json(back.to_json()).to_json() == back.to_json()


@settings(max_examples=20, **SETTINGS)
@given(fps=fps_st, frames=st.integers(1, 400), seed=st.integers(0, 2**16))
def test_live_link_csv_round_trip_at_the_callers_fps(tmp_path_factory, fps, frames, seed):
    """The CSV keeps 10 decimals (Live Link Face's own files keep fewer): exact to 1e-10."""
    values = np.random.default_rng(seed).uniform(0, 1, (frames, rig.NUM_CHANNELS)).astype(np.float32)
    curves = BlendshapeCurves(values, fps)
    path = tmp_path_factory.mktemp("csv") / "take.csv"
    curves.save(path)
    back = BlendshapeCurves.load(path, fps=fps)
    assert back.fps == pytest.approx(fps) and back.num_frames == frames
    np.testing.assert_allclose(back.values, curves.values, rtol=0, atol=1e-9)


@settings(max_examples=15, **SETTINGS)
@given(fps=fps_st, frames=st.integers(2, 400), seed=st.integers(0, 2**16), rotations=st.booleans())
def test_every_write_format_reads_back_at_its_fps(tmp_path_factory, fps, frames, seed, rotations):
    """formats.write_take -> formats.read_take for each format this project writes. A Live Link CSV
    states its rate only through timecodes over a full second, and its timecodes count whole
    frames (29.97 reads as 30), so a shorter or non-integer-rate one is read at the caller's fps
    (as ``read_take`` documents)."""
    from cafetalk_core.formats import WRITE_FORMATS, read_take, write_take

    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (frames, rig.NUM_CHANNELS)).astype(np.float32)
    rot = rng.uniform(-0.3, 0.3, (frames, len(rig.ROTATION_NAMES))).astype(np.float32) if rotations else None
    curves = BlendshapeCurves(values, fps, rig.ARKIT_NAMES, rot)
    folder = tmp_path_factory.mktemp("formats")
    for fmt in WRITE_FORMATS:
        path = folder / f"take.{'npz' if fmt == 'npz' else 'csv' if fmt.endswith('csv') else 'json'}"
        write_take(curves, path, fmt)
        short_csv = fmt == "live-link-csv" and (frames <= math.ceil(fps) or fps != round(fps))
        back = read_take(path, fps=fps if short_csv else None).in_arkit_order()
        assert back.num_frames == frames and back.fps == pytest.approx(fps, rel=1e-9), (fmt, back.fps)
        np.testing.assert_allclose(back.values, curves.values, rtol=0, atol=6e-7, err_msg=fmt)
