"""Live Link Face CSV at every frame rate: files written here read back at their fps, every
row's timecode counts, the app's 30/60 files read as Epic's importer reads them, and bad
files are refused naming the line and the column."""
import io
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cafetalk_core import rig, timecode
from cafetalk_core.curves import BlendshapeCurves

FPS = (24.0, 25.0, 29.97, 30.0, 50.0, 60.0)


def _weights(frames, seed=0):
    return np.random.default_rng(seed).random((frames, 52)).astype(np.float32)


@pytest.mark.parametrize("fps", [24.0, 25.0, 50.0])
def test_uncommon_rates_read_back_at_their_fps(fps):
    text = rig.write_live_link_csv(None, _weights(int(fps * 2.5)), fps)
    take = rig.read_live_link_csv(io.StringIO(text))
    assert take.fps == fps and take.weights.shape[0] == int(fps * 2.5)


@given(fps=st.sampled_from(FPS), frames=st.integers(1, 200), start=st.integers(0, 10 * 3600 * 30),
       seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_round_trip_exact_at_every_fps(fps, frames, start, seed):
    """Written -> read is exact; the fps comes from the timecodes when the file spans a full
    second of frames at a whole rate, else from the caller (29.97 has no field to tell it)."""
    w = _weights(frames, seed)
    rot = np.random.default_rng(seed + 1).normal(0, 0.3, (frames, 9)).astype(np.float32)
    text = rig.write_live_link_csv(None, w, fps, rotations=rot, start_frame=start)
    nominal = round(fps)
    inferable = fps == nominal and (start + frames - 1) // nominal > start // nominal  # crosses a second
    take = rig.read_live_link_csv(io.StringIO(text), fps=None if inferable else fps)
    assert take.fps == fps and take.start_frame == start
    np.testing.assert_allclose(take.weights, w, atol=6e-11)
    np.testing.assert_allclose(take.rotations, rot, atol=6e-11)
    assert rig.write_live_link_csv(None, take.weights, take.fps, take.rotations, take.start_frame) == text
    curves = BlendshapeCurves.from_live_link(take)
    assert curves.start_s == pytest.approx(start / fps) and curves.num_frames == frames


def test_iphone_files_read_as_epics_importer_does():
    # a 60 fps take shorter than a second: FF above 30 -> 60; a 30 fps one -> 30
    rows60 = "".join(f"00:00:10:{f:02d}.000,61,0.5\n" for f in range(25, 45))
    assert rig.read_live_link_csv(io.StringIO("Timecode,BlendShapeCount,JawOpen\n" + rows60)).fps == 60
    rows30 = "".join(f"00:00:10:{f:02d}.000,61,0.5\n" for f in range(0, 20))
    assert rig.read_live_link_csv(io.StringIO("Timecode,BlendShapeCount,JawOpen\n" + rows30)).fps == 30
    for fps in (30, 60):
        text = rig.write_live_link_csv(None, _weights(fps * 3), fps, start_frame=fps * 36000 + 7)
        assert rig.read_live_link_csv(io.StringIO(text)).fps == fps


def test_infer_fps_tolerates_a_dropped_last_frame():
    tcs = [f"00:00:00:{f:02d}.000" for f in range(23)] + ["00:00:01:00.000"]   # 24 fps, frame 23 dropped
    assert timecode.infer_fps(tcs) == 24


def test_fraction_of_1000_carries_to_the_next_frame():
    assert timecode.format_timecode(0.9996, 30) == "00:00:00:01.000"
    assert timecode.format_timecode(29.9999, 30) == "00:00:01:00.000"
    assert timecode.format_timecode(10.25, 25) == "00:00:00:10.250"


def test_every_rows_timecode_counts():
    header = "Timecode,BlendShapeCount,JawOpen\n"
    # frame 2 dropped: the gap is bridged, not squeezed out
    body = "00:00:00:00.000,61,0.0\n00:00:00:01.000,61,0.1\n00:00:00:03.000,61,0.3\n"
    take = rig.read_live_link_csv(io.StringIO(header + body), fps=30)
    np.testing.assert_allclose(take.weights[:, rig.INDEX["jawOpen"]], [0.0, 0.1, 0.2, 0.3], atol=1e-6)
    # rows half a frame apart (60 Hz rows in a 30 fps timecode): each row's fraction counts
    body = "".join(f"00:00:00:{f // 2:02d}.{500 * (f % 2):03d},61,{f / 10}\n" for f in range(5))
    take = rig.read_live_link_csv(io.StringIO(header + body), fps=30)
    np.testing.assert_allclose(take.weights[:, rig.INDEX["jawOpen"]], [0.0, 0.2, 0.4], atol=1e-6)
    # a fractional first timecode is the take's start
    take = rig.read_live_link_csv(io.StringIO(header + "00:00:01:02.350,61,0.5\n00:00:01:03.350,61,0.6\n"), fps=30)
    assert take.start_frame == pytest.approx(32.35) and take.weights.shape[0] == 2


def test_columns_by_name_in_the_apps_order_case_insensitively():
    w = _weights(30)
    text = rig.write_live_link_csv(None, w, 30)
    header = text.splitlines()[0].split(",")
    assert header.index("JawRight") < header.index("JawLeft") and header.index("MouthRight") < header.index("MouthLeft")
    lowered = text.replace(text.splitlines()[0], text.splitlines()[0].lower(), 1)
    take = rig.read_live_link_csv(io.StringIO(lowered), fps=30)
    np.testing.assert_allclose(take.weights, w, atol=6e-11)
    assert text.splitlines()[1].split(",")[1] == "61" and len(header) == 63


BAD = [
    ("", 1, None, "empty CSV"),
    ("Foo,JawOpen\n1,2\n", 1, "Timecode", "missing column 'Timecode'"),
    ("00:00:00:00.000,61,0.5\n00:00:00:01.000,61,0.5\n", 1, "Timecode", "first row is data"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000\n", 3, None, "1 fields, the header has 2"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,nan\n", 3, "JawOpen", "'nan' is not finite"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,1.5\n", 3, "JawOpen", "outside [0, 1]"),
    ("Timecode,JawOpen\n00:00:00:00.000,-0.2\n", 2, "JawOpen", "outside [0, 1]"),
    ("Timecode,JawOpen\n00:00:00:05.000,0.1\n00:00:00:01.000,0.1\n", 3, "Timecode", "earlier than the row before"),
    ("Timecode,JawOpen\n00:00:00:45.000,0.1\n", 2, "Timecode", "not below 30"),
    ("Timecode,JawOpen\n00:00:61:00.000,0.1\n", 2, "Timecode", "out of range"),
]


@pytest.mark.parametrize("text, line, column, message", BAD)
def test_bad_files_name_line_and_column(text, line, column, message):
    with pytest.raises(rig.TakeFormatError, match=re.escape(message)) as info:
        rig.read_live_link_csv(io.StringIO(text), fps=30 if "45.000" in text else None)
    assert info.value.line == line and info.value.column == column
    assert f"line {line}" in str(info.value)


def test_non_utf8_and_empty_files_are_refused_by_path(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,0.1 caf\xe9\n")
    with pytest.raises(rig.TakeFormatError, match=r"latin1.csv: line 3: byte 0xe9 at character 24 is not UTF-8"):
        rig.read_live_link_csv(p)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(rig.TakeFormatError, match="empty.csv: line 1: empty CSV"):
        BlendshapeCurves.load(tmp_path / "empty.csv")
