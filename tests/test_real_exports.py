"""Real iPhone exports open in every core reader: weights a little outside [0, 1] are clamped and
counted (one rule, ``rig.clamp_weights``), far ones, NaN and text are refused naming line and column;
drop-frame (29.97) and sub-second takes tell their rate from the timecodes alone."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cafetalk_core import formats, rig, timecode
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.data.dataset import load_curves
from cafetalk_core.data.records import ClipRecord
from cafetalk_core.rig import TakeFormatError

ROOT = Path(__file__).resolve().parents[1]
TAKES = ROOT / "tests" / "data" / "live_link"
EXPORT_60 = TAKES / "iphone_60fps_eye_over_1.csv"
EXPORT_30 = TAKES / "iphone_30fps_eye_over_1.csv"
DROP_FRAME = TAKES / "dropframe_2997_subsecond.csv"
EYE_IN_R = rig.INDEX["eyeLookInRight"]


def test_the_rule_is_pinned():
    """The add-on's bpy-free copy mirrors these: the constant and what the function does."""
    assert rig.WEIGHT_TOLERANCE == 0.1
    table = np.array([[0.5, 1.00985, -0.02], [1.0, 0.0, 1.1]])
    clamped, count = rig.clamp_weights(table)
    assert count == 3 and clamped.tolist() == [[0.5, 1.0, 0.0], [1.0, 0.0, 1.0]]
    assert rig.first_weight_out_of_range(table) is None
    assert rig.first_weight_out_of_range(np.array([[0.2, 1.1001]])) == (0, 1)
    assert rig.first_weight_out_of_range(np.array([[np.nan, 0.2]])) == (0, 0)


@pytest.mark.parametrize("path, rows, fps", [(EXPORT_60, (40, 41, 42), 60), (EXPORT_30, (20, 21), 30)])
def test_iphone_exports_read_clamped_and_counted(path, rows, fps):
    take = rig.read_live_link_csv(path)
    assert take.fps == fps and take.clamped == len(rows)
    assert take.weights.max() == 1.0 and take.weights.min() >= 0.0
    assert take.rotations[:, 0].mean() > 1.0              # HeadYaw ~1.3 rad: radians are not weights
    curves = formats.read_take(path)
    assert curves.clamped == len(rows) and curves.values[:, EYE_IN_R].max() == 1.0
    assert BlendshapeCurves.load(path).clamped == len(rows)


def test_training_loader_reads_an_iphone_export(tmp_path):
    wav = tmp_path / "take.wav"
    rec = ClipRecord("take", wav, EXPORT_30, {"fps": 30}, "train", 45 / 30)
    values = load_curves(rec, 30.0)
    assert values.shape == (45, 52) and values[20, EYE_IN_R] == 1.0 and values.max() <= 1.0


def _convert(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "convert", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_convert_imports_both_exports_with_one_note(tmp_path):
    for path, count in ((EXPORT_60, 3), (EXPORT_30, 2)):
        r = _convert(path, tmp_path / "out.json")
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip().splitlines() == [
            f"cafetalk convert: note: {path}: {count} weights slightly outside [0, 1] (within 0.1) clamped into [0, 1]"]
        assert json.loads(r.stdout)["clamped"] == count
        assert BlendshapeCurves.load(tmp_path / "out.json").values.max() <= 1.0


def _a2f_json(value):
    return json.dumps({"exportFps": 30, "numPoses": 2, "numFrames": 2, "facsNames": ["eyeLookInRight", "jawOpen"],
                       "weightMat": [[0.2, 0.5], [value, -0.004]]})


def test_audio2face_json_and_csv_follow_the_same_rule(tmp_path):
    p = tmp_path / "a2f.json"
    p.write_text(_a2f_json(1.00985))
    c = formats.read_take(p)
    assert c.clamped == 2 and c.channel("eyeLookInRight")[1] == 1.0 and c.channel("jawOpen")[1] == 0.0
    p.write_text(_a2f_json(1.3))
    with pytest.raises(TakeFormatError, match=r"weightMat\[1\]\[0\] \(eyeLookInRight\).*weight 1.3 is outside \[0, 1\] "
                                              r"by more than 0.1"):
        formats.read_take(p)
    q = tmp_path / "a2f.csv"
    q.write_text("timeCode,blendShapes.EyeLookInRight,blendShapes.JawOpen\n0.0,1.00334,0.5\n0.0333333,0.2,-0.01\n")
    c = formats.read_take(q)
    assert c.clamped == 2 and c.values.max() == 1.0 and c.values.min() == 0.0
    q.write_text("timeCode,blendShapes.EyeLookInRight,blendShapes.JawOpen\n0.0,0.5,0.5\n0.0333333,0.2,-0.5\n")
    with pytest.raises(TakeFormatError) as info:
        formats.read_take(q)
    assert (info.value.line, info.value.column) == (3, "blendShapes.JawOpen")


BAD = [  # NaN, text and absurd values: refused naming line and column, as before
    ("1.5", "weight 1.5 is outside [0, 1] by more than 0.1"),
    ("-0.2", "weight -0.2 is outside [0, 1] by more than 0.1"),
    ("nan", "'nan' is not finite"),
    ("1.0O", "'1.0O' is not a number"),
]


@pytest.mark.parametrize("cell, message", BAD)
def test_far_nan_and_text_are_refused_with_line_and_column(tmp_path, cell, message):
    lines = EXPORT_30.read_text().splitlines()
    row = lines[5].split(",")
    row[rig.LIVE_LINK_HEADER.index("JawOpen")] = cell
    lines[5] = ",".join(row)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TakeFormatError) as info:
        formats.read_take(bad)
    assert message in str(info.value) and (info.value.line, info.value.column) == (6, "JawOpen")
    r = _convert(bad, tmp_path / "out.json")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "line 6, column 'JawOpen'" in r.stderr


def test_drop_frame_timecodes_give_2997_without_fps():
    take = rig.read_live_link_csv(DROP_FRAME)
    assert take.fps == 29.97 and take.weights.shape[0] == 20          # ;00 and ;01 of minute 1 are not gaps
    assert take.start_frame == 59 * 30 + 20
    assert timecode.infer_fps(["01:09:59;29", "01:10:00;00"]) == 29.97      # every tenth minute keeps ;00
    assert timecode.parse_timecode("00:10:00;00", 29.97) == 17982            # 10 min of drop-frame = 17,982 frames
    assert timecode.parse_timecode("01:00:00;00", 29.97) == 107892           # an hour: 29.97 x 3600 exactly
    assert timecode.infer_fps([f"00:00:00;{f:02d}" for f in range(35, 45)]) == 59.94
    with pytest.raises(timecode.TimecodeError, match="does not exist in drop-frame"):
        timecode.parse_timecode("00:01:00;01", 29.97)


def test_drop_frame_take_converts_and_keeps_its_rate(tmp_path):
    r = _convert(DROP_FRAME, tmp_path / "out.json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fps"] == 29.97 and out["frames"] == 20 and out["start_s"] == pytest.approx(1790 / 29.97)


def test_mixed_drop_and_non_drop_frame_is_refused():
    text = "Timecode,JawOpen\n00:00:00;03.000,0.1\n00:00:00:04.000,0.1\n"
    with pytest.raises(TakeFormatError, match="mixes drop-frame") as info:
        rig.read_live_link_csv(io.StringIO(text))
    assert (info.value.line, info.value.column) == (3, "Timecode")


@pytest.mark.parametrize("fps", [24, 25, 30, 50, 60])
def test_sub_second_takes_across_a_second_tell_their_rate(fps):
    """Half a second that crosses a second boundary shows the whole count of the second before."""
    frames = fps // 2
    text = rig.write_live_link_csv(None, np.full((frames, 52), 0.5), fps, start_frame=10 * fps - frames // 2)
    assert rig.read_live_link_csv(io.StringIO(text)).fps == fps
