"""Audio2Face, Rhubarb and the format registry; ``cafetalk convert`` end to end through the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cafetalk_core import formats, rig
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.formats import rhubarb
from cafetalk_core.rig import TakeFormatError

ROOT = Path(__file__).resolve().parents[1]


def _take(frames=45, fps=30.0, seed=0, rotations=True):
    rng = np.random.default_rng(seed)
    rot = rng.normal(0, 0.2, (frames, 9)).astype(np.float32) if rotations else None
    return BlendshapeCurves(rng.random((frames, 52)).astype(np.float32), fps, rotations=rot)


def _a2f(frames=4, names=("eyeBlinkLeft", "jawOpen", "MouthSmileLeft"), fps=60):
    rng = np.random.default_rng(0)
    return {"exportFps": fps, "trackPath": "/World/audio2face/Player", "numPoses": len(names), "numFrames": frames,
            "facsNames": list(names), "weightMat": rng.random((frames, len(names))).round(4).tolist()}


def test_audio2face_json_read_by_name(tmp_path):
    data = _a2f()
    p = tmp_path / "a2f.json"
    p.write_text(json.dumps(data))
    assert formats.detect_format(p, p.read_text()) == "audio2face-json"
    c = formats.read_take(p)
    assert c.fps == 60 and c.num_frames == 4 and c.rotations is None
    w = np.asarray(data["weightMat"])
    np.testing.assert_allclose(c.channel("jawOpen"), w[:, 1], atol=1e-7)
    np.testing.assert_allclose(c.channel("mouthSmileLeft"), w[:, 2], atol=1e-7)
    assert not c.channel("browInnerUp").any()


def test_audio2face_json_round_trip(tmp_path):
    c = _take(rotations=False)
    formats.write_take(c, tmp_path / "out.json", "audio2face-json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["numPoses"] == 52 == len(data["facsNames"]) and data["numFrames"] == 45 and data["exportFps"] == 30
    back = formats.read_take(tmp_path / "out.json")
    np.testing.assert_allclose(back.values, c.values, atol=1e-6)


def test_audio2face_csv(tmp_path):
    header = "timeCode,blendShapes.EyeBlinkLeft,blendShapes.JawOpen\n"
    rows = "".join(f"{i / 30:.6f},{0.1 * (i % 3):.3f},{i / 10:.2f}\n" for i in range(6))
    p = tmp_path / "animation_frames.csv"
    p.write_text(header + rows)
    assert formats.detect_format(p, p.read_text()) == "audio2face-csv"
    c = formats.read_take(p)
    assert c.fps == 30 and c.num_frames == 6
    np.testing.assert_allclose(c.channel("jawOpen"), np.arange(6) / 10, atol=1e-6)
    # plain names (no blendShapes. prefix), told by the seconds in timeCode
    p.write_text("timeCode,JawOpen\n0.0,0.5\n0.04,0.25\n0.08,0.0\n")
    c = formats.read_take(p)
    assert c.fps == 25 and c.channel("jawOpen").tolist() == pytest.approx([0.5, 0.25, 0.0])


def test_rhubarb_table_draws_each_shape():
    assert set(rhubarb.SHAPE_TO_PHONE) == set("ABCDEFGHX")
    jaw, close, pucker = rig.INDEX["jawOpen"], rig.INDEX["mouthClose"], rig.INDEX["mouthPucker"]
    a, d, f, x = (rhubarb.shape_pose(s) for s in "ADFX")
    assert d[jaw] > 0.4 and a[jaw] - a[close] < 0.1 * a[jaw]       # D wide open, A lips closed
    assert f[pucker] > 0.5 and not x.any()                          # F puckered, X at rest


def test_rhubarb_tsv_and_json_agree(tmp_path):
    tsv = "0.00\tX\n0.10\tA\n0.30\tD\n0.55\tF\n0.80\tX\n"
    (tmp_path / "cues.tsv").write_text(tsv)
    cues = {"metadata": {"soundFile": "a.wav", "duration": 0.8},
            "mouthCues": [{"start": 0.0, "end": 0.1, "value": "X"}, {"start": 0.1, "end": 0.3, "value": "A"},
                          {"start": 0.3, "end": 0.55, "value": "D"}, {"start": 0.55, "end": 0.8, "value": "F"}]}
    (tmp_path / "cues.json").write_text(json.dumps(cues))
    a = formats.read_take(tmp_path / "cues.tsv", fps=25)
    b = formats.read_take(tmp_path / "cues.json", fps=25)
    assert a.fps == 25 and a.num_frames == b.num_frames == 21
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)
    jaw = a.channel("jawOpen")
    assert jaw[int(0.42 * 25)] > 0.4 and jaw[0] < 0.05               # open on D, rest on X
    assert formats.read_take(tmp_path / "cues.tsv").fps == 30        # no rate in Rhubarb: 30


@given(fps=st.sampled_from([24.0, 25.0, 29.97, 30.0, 50.0, 60.0]), frames=st.integers(1, 90),
       fmt=st.sampled_from([("live-link-csv", ".csv"), ("cafetalk-json", ".json"), ("npz", ".npz"),
                            ("audio2face-json", ".json")]), seed=st.integers(0, 1000))
@settings(max_examples=40, deadline=None)
def test_every_writer_round_trips_at_every_fps(tmp_path_factory, fps, frames, fmt, seed):
    name, ext = fmt
    c = _take(frames, fps, seed, rotations=name != "audio2face-json")
    p = tmp_path_factory.mktemp("rt") / f"take{ext}"
    formats.write_take(c, p, name)
    back = formats.read_take(p, fps=fps)
    assert back.fps == pytest.approx(fps) and back.num_frames == frames
    np.testing.assert_allclose(back.values, c.values, atol=1e-6)
    if c.rotations is not None:
        np.testing.assert_allclose(back.rotations, c.rotations, atol=1e-6)


BAD = [
    ("a.json", '{"exportFps": 30, "numPoses": 1, "numFrames": 1, "facsNames": ["jawOpen"]}', None, "weightMat",
     "missing field 'weightMat'"),
    ("a.json", json.dumps(dict(_a2f(), numFrames=9)), None, "numFrames", "weightMat has 4 rows"),
    ("a.json", json.dumps(dict(_a2f(), facsNames=["jawOpen", "Frown", "eyeBlinkLeft"])), None, "facsNames[1]",
     "'Frown' is not an ARKit"),
    ("a.json", json.dumps(dict(_a2f(frames=1), weightMat=[[0.1, 1.7, 0.2]])), None, "weightMat[0][1] (jawOpen)",
     "weight 1.7 is outside [0, 1] by more than 0.1"),
    ("a.json", '{"exportFps": 30,\n "numPoses": }', 2, 14, "not JSON"),
    ("c.tsv", "0.00\tX\n0.10\tQ\n", 2, 2, "mouth shape 'Q'"),
    ("c.tsv", "0.00\tX\n0.50\tA\n0.20\tX\n", 3, 1, "earlier than the cue before"),
    ("c.json", '{"mouthCues": [{"start": 0.5, "end": 0.1, "value": "A"}]}', None, "mouthCues[0]", "0 <= start <= end"),
    ("t.csv", "timeCode,JawOpen\n0.0,0.5\n0.0,0.5\n", 3, "timeCode", "does not come after"),
    ("t.csv", "", 1, None, "empty file"),
    ("t.json", '{"format": "cafetalk.curves", "version": 1, "fps": 30, "names": ["jawOpen"]}', None, None,
     "not a cafetalk.curves take"),
]


@pytest.mark.parametrize("name, text, line, column, message", BAD)
def test_bad_files_refused_naming_where(tmp_path, name, text, line, column, message):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(TakeFormatError) as info:
        formats.read_take(p)
    assert message in str(info.value) and str(p) in str(info.value)
    assert info.value.line == line and info.value.column == column


def _convert(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "convert", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_cli_convert_end_to_end(tmp_path):
    c = _take(60, 25.0)
    src = tmp_path / "take.csv"
    c.to_live_link_csv(src)
    # Live Link CSV -> cafetalk JSON -> npz -> Live Link CSV: the same take back (JSON keeps 6 decimals)
    for a, b in (("take.csv", "take.json"), ("take.json", "take.npz"), ("take.npz", "back.csv")):
        r = _convert(tmp_path / a, tmp_path / b)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["frames"] == 60 and json.loads(r.stdout)["fps"] == 25
    a, b = (p.read_text().splitlines() for p in (src, tmp_path / "back.csv"))
    assert [r.split(",")[:2] for r in a] == [r.split(",")[:2] for r in b]      # header, timecodes, count
    np.testing.assert_allclose(rig.read_live_link_csv(tmp_path / "back.csv").weights, c.values, atol=1e-6)
    r = _convert(tmp_path / "take.json", tmp_path / "a2f.json", "--to", "audio2face-json")
    assert r.returncode == 0 and json.loads((tmp_path / "a2f.json").read_text())["exportFps"] == 25
    (tmp_path / "cues.tsv").write_text("0.00\tX\n0.10\tD\n0.50\tX\n")
    r = _convert(tmp_path / "cues.tsv", tmp_path / "cues.csv", "--fps", "50")
    assert r.returncode == 0, r.stderr
    back = formats.read_take(tmp_path / "cues.csv", fps=50)
    assert back.num_frames == 26 and back.channel("jawOpen").max() > 0.4


def test_cli_convert_refuses_bad_files_with_one_line(tmp_path):
    (tmp_path / "bad.csv").write_text("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,7\n")
    r = _convert(tmp_path / "bad.csv", tmp_path / "out.json")
    assert r.returncode == 2 and not (tmp_path / "out.json").exists()
    assert r.stderr.strip().splitlines() == [f"cafetalk convert: error: {tmp_path / 'bad.csv'}: line 3, column 'JawOpen': "
                                             "weight 7 is outside [0, 1] by more than 0.1"]
    r = _convert(tmp_path / "missing.csv", tmp_path / "out.json")
    assert r.returncode == 2 and "no such file" in r.stderr
