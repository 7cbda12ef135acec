"""The add-on's deliberate copies of core logic (the extension cannot import ``cafetalk_core``), pinned.

Runs without Blender: the add-on's ``formats`` and ``vocabulary`` import no bpy.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from blender_fixtures import load_addon_io
from cafetalk_core import rig
from cafetalk_core.controls import MAX_HEAD_MOTION
from cafetalk_core.curves import reduce_channel_keys

formats = load_addon_io("formats")
vocabulary = load_addon_io("vocabulary")


def test_arkit_names_are_the_cores_in_the_cores_order():
    assert vocabulary.ARKIT_NAMES == rig.ARKIT_NAMES


def test_head_motion_range_is_the_cores():
    assert vocabulary.MAX_HEAD_MOTION == MAX_HEAD_MOTION


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
    addon_frames = formats.reduce_keys(y, tolerance)
    np.testing.assert_array_equal(addon_frames, core_frames)
    np.testing.assert_array_equal(y[addon_frames], core_values)


def test_key_reduction_on_a_long_flat_take_is_the_same():
    y = np.zeros(9000, np.float32)
    y[4000:4100] = np.linspace(0, 1, 100)
    frames = formats.reduce_keys(y, 0.01)
    np.testing.assert_array_equal(frames, reduce_channel_keys(y, 0.01)[0])
    assert frames.tolist() == [0, 4000, 4099, 4100, 8999]  # flat, ramp up, drop, flat
