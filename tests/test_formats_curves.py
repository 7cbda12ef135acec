"""Head/eye rotations and the start time travel with BlendshapeCurves through every operation,
every file format and the server's result endpoints."""
import io
import json

import httpx
import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.server import ServerSettings, create_app
from server_fixtures import FakeGenerator, running_server, wait_for, wav_bytes


def _take(frames=60, fps=30.0, seed=0, start_s=0.0):
    rng = np.random.default_rng(seed)
    return BlendshapeCurves(rng.random((frames, 52)).astype(np.float32), fps,
                            rotations=rng.normal(0, 0.2, (frames, 9)).astype(np.float32), start_s=start_s)


def test_rotation_names_are_live_links_order():
    assert rig.ROTATION_NAMES == ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                                  "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
    assert rig.LIVE_LINK_HEADER[-9:] == rig.ROTATION_NAMES


def test_rotations_are_validated():
    with pytest.raises(ValueError, match=r"rotations must be \(3, 9\)"):
        BlendshapeCurves(np.zeros((3, 52)), rotations=np.zeros((3, 8)))
    with pytest.raises(ValueError, match="rotations contain NaN"):
        BlendshapeCurves(np.zeros((3, 52)), rotations=np.full((3, 9), np.nan))


def test_operations_carry_rotations():
    c = _take()
    assert np.array_equal(c.copy().rotations, c.rotations)
    s = c.slice_seconds(0.5, 1.0)
    assert np.array_equal(s.rotations, c.rotations[15:30]) and s.start_s == pytest.approx(0.5)
    r = c.resample(60.0)
    assert r.rotations.shape == (120, 9)
    np.testing.assert_allclose(r.rotations[::2], c.rotations, atol=1e-6)
    assert np.array_equal(c.clamp().rotations, c.rotations)
    assert c.smooth(1.0).rotations.std() < c.rotations.std()
    reordered = BlendshapeCurves(c.values[:, ::-1], c.fps, rig.ARKIT_NAMES[::-1], c.rotations)
    assert np.array_equal(reordered.in_arkit_order().rotations, c.rotations)
    assert BlendshapeCurves.neutral(4).rotations is None and BlendshapeCurves.neutral(4).copy().rotations is None


@pytest.mark.parametrize("ext", [".json", ".npz", ".csv"])
def test_files_carry_rotations_and_start(tmp_path, ext):
    c = _take(start_s=3600.0)
    c.save(tmp_path / f"t{ext}")
    back = BlendshapeCurves.load(tmp_path / f"t{ext}")
    assert back.fps == 30 and back.start_s == pytest.approx(3600.0)
    np.testing.assert_allclose(back.rotations, c.rotations, atol=1e-6)
    np.testing.assert_allclose(back.values, c.values, atol=1e-6)


def test_json_carries_rotations_by_name_and_old_files_still_load():
    d = _take(frames=3).to_dict()
    assert d["version"] == 1 and d["rotation_names"] == list(rig.ROTATION_NAMES) and len(d["rotations"]) == 3
    # rotations listed in another order are read by name
    d2 = dict(d, rotation_names=d["rotation_names"][::-1], rotations=[row[::-1] for row in d["rotations"]])
    np.testing.assert_allclose(BlendshapeCurves.from_dict(d2).rotations, np.asarray(d["rotations"]), atol=0)
    old = {k: v for k, v in d.items() if k not in ("rotation_names", "rotations")}
    assert BlendshapeCurves.from_dict(old).rotations is None
    with pytest.raises(ValueError, match="rotation_names: 'Neck'"):
        BlendshapeCurves.from_dict(dict(d, rotation_names=["Neck"] + d["rotation_names"][1:]))


def test_old_npz_without_rotations_loads(tmp_path):
    p = tmp_path / "old.npz"
    np.savez(p, values=np.zeros((4, 52), np.float32), fps=np.float64(25), names=np.array(rig.ARKIT_NAMES))
    back = BlendshapeCurves.load(p)
    assert back.rotations is None and back.fps == 25 and back.start_s == 0


def test_csv_without_rotations_writes_zero_columns():
    text = BlendshapeCurves.neutral(2).to_live_link_csv()
    take = rig.read_live_link_csv(io.StringIO(text))
    assert take.rotations is not None and not take.rotations.any()


class RotatingGenerator(FakeGenerator):
    """The fake generator, with head motion in its takes (as pipeline.Generator's head stage gives)."""

    def generate(self, audio, controls=None, **kwargs):
        c = super().generate(audio, controls, **kwargs)
        yaw = np.linspace(-0.2, 0.2, c.num_frames, dtype=np.float32)
        rot = np.zeros((c.num_frames, 9), np.float32)
        rot[:, 0], rot[:, 4] = yaw, -yaw
        return BlendshapeCurves(c.values, c.fps, c.names, rot)


def test_server_results_carry_rotations():
    with running_server(create_app(RotatingGenerator(steps=2), ServerSettings())) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/jobs", files={"audio": ("a.wav", wav_bytes(1.0), "audio/wav")},
                          data={"controls": json.dumps({"emotion": "neutral"})}).json()
        assert wait_for(client, job["job_id"])["state"] == "done"
        body = client.get(f"/v1/jobs/{job['job_id']}/result").json()
        curves = BlendshapeCurves.from_dict(body)
        assert curves.rotations[0, 0] == pytest.approx(-0.2) and curves.rotations[-1, 4] == pytest.approx(-0.2)
        text = client.get(f"/v1/jobs/{job['job_id']}/result", params={"format": "csv"}).text
        take = rig.read_live_link_csv(io.StringIO(text))
        np.testing.assert_allclose(take.rotations, curves.rotations, atol=1e-6)
