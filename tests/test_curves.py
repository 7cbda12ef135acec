import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves, reduce_channel_keys


def _curves(frames=90, fps=30.0):
    t = np.arange(frames) / fps
    v = np.zeros((frames, 52), np.float32)
    v[:, rig.INDEX["jawOpen"]] = 0.5 + 0.4 * np.sin(2 * np.pi * 0.5 * t)
    v[:, rig.INDEX["eyeBlinkLeft"]] = (np.abs(t - 1.0) < 0.1).astype(np.float32)
    return BlendshapeCurves(v, fps)


def test_validation():
    with pytest.raises(ValueError, match=r"values must be \(frames, 52\)"):
        BlendshapeCurves(np.zeros((3, 51)))
    with pytest.raises(ValueError, match="fps must be positive"):
        BlendshapeCurves(np.zeros((3, 52)), fps=0)
    with pytest.raises(ValueError, match="NaN"):
        BlendshapeCurves(np.full((3, 52), np.nan))


def test_slice_seconds():
    c = _curves()
    s = c.slice_seconds(1.0, 2.0)
    assert s.num_frames == 30
    np.testing.assert_array_equal(s.values, c.values[30:60])
    with pytest.raises(ValueError, match="before start_s"):
        c.slice_seconds(2, 1)


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_resample_keeps_duration_and_shape(fps):
    c = _curves()
    r = c.resample(fps)
    assert r.num_frames == round(3.0 * fps) and r.fps == fps
    # a smooth sine survives a round trip
    back = r.resample(30.0)
    jaw = rig.INDEX["jawOpen"]
    assert np.abs(back.values[:, jaw] - c.values[:, jaw]).max() < 0.06


def test_clamp_and_smooth():
    c = BlendshapeCurves(np.linspace(-1, 2, 52 * 10).reshape(10, 52))
    assert c.clamp().values.min() == 0 and c.clamp().values.max() == 1
    noisy = BlendshapeCurves(np.random.default_rng(0).random((100, 52)))
    j = lambda x: np.abs(np.diff(x.values, 2, axis=0)).mean()
    assert j(noisy.smooth(2.0)) < 0.2 * j(noisy)


def test_key_reduction_within_tolerance_and_fewer_keys():
    c = _curves()
    keys = c.reduce_keys(0.01)
    frames, values = keys["jawOpen"]
    assert frames[0] == 0 and frames[-1] == c.num_frames - 1
    interp = np.interp(np.arange(c.num_frames), frames, values)
    assert np.abs(interp - c.channel("jawOpen")).max() <= 0.01 + 1e-6
    assert len(frames) < c.num_frames / 2
    assert len(keys["browInnerUp"][0]) == 2  # a flat channel needs two keys
    f, v = reduce_channel_keys(np.array([0, 0, 1, 0, 0.0]), 0.01)
    assert f.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("ext", [".json", ".npz", ".csv"])
def test_file_round_trip(tmp_path, ext):
    c = _curves()
    p = tmp_path / f"c{ext}"
    c.save(p)
    back = BlendshapeCurves.load(p, fps=30 if ext == ".csv" else None)
    assert back.names == rig.ARKIT_NAMES and back.fps == 30
    np.testing.assert_allclose(back.values, c.values, atol=1e-6)


def test_unknown_extension_and_version():
    with pytest.raises(ValueError, match="unsupported curves file extension '.txt'"):
        _curves().save("x.txt")
    d = _curves().to_dict()
    d["version"] = 99
    with pytest.raises(ValueError, match="newer than this reader"):
        BlendshapeCurves.from_dict(d)
