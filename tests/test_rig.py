import io

import numpy as np
import pytest

from cafetalk_core import rig, timecode


def test_names_are_apple_order_and_regions_cover_all():
    assert len(rig.ARKIT_NAMES) == 52 == len(set(rig.ARKIT_NAMES))
    assert rig.ARKIT_NAMES[0] == "eyeBlinkLeft" and rig.ARKIT_NAMES[-1] == "tongueOut"
    assert rig.ARKIT_NAMES.index("jawLeft") < rig.ARKIT_NAMES.index("jawRight")
    assert sorted(sum(rig.REGIONS.values(), ())) == sorted(rig.ARKIT_NAMES)
    assert rig.NEUTRAL.shape == (52,) and not rig.NEUTRAL.any()


def test_live_link_header_matches_app():
    h = rig.LIVE_LINK_HEADER
    assert len(h) == 63 and h[:3] == ("Timecode", "BlendShapeCount", "EyeBlinkLeft")
    assert h.index("JawRight") < h.index("JawLeft")
    assert h.index("MouthRight") < h.index("MouthLeft")
    assert h[-9:] == rig.LIVE_LINK_ROTATIONS


def test_channel_index_case_insensitive():
    assert rig.channel_index("EyeBlinkLeft") == rig.channel_index("eyeblinkleft") == 0
    with pytest.raises(KeyError, match="unknown ARKit channel 'Eyebrow'"):
        rig.channel_index("Eyebrow")


def _random_weights(frames=40, seed=0):
    return np.random.default_rng(seed).random((frames, 52)).astype(np.float32)


def test_csv_round_trip_bit_identical(tmp_path):
    w = _random_weights()
    rot = np.random.default_rng(1).normal(size=(40, 9)).astype(np.float32) * 0.1
    p = tmp_path / "take.csv"
    text = rig.write_live_link_csv(p, w, 30, rotations=rot)
    take = rig.read_live_link_csv(p)
    assert take.fps == 30 and take.missing == ()
    np.testing.assert_allclose(take.weights, w, atol=6e-11 + 1e-7 * 0)  # 10 decimals
    # write -> read -> write is byte-identical
    assert rig.write_live_link_csv(None, take.weights, take.fps, rotations=take.rotations) == text
    # named columns: the app's jaw/mouth order is honoured
    assert take.weights[:, rig.INDEX["jawLeft"]].tolist() == pytest.approx(w[:, rig.INDEX["jawLeft"]].tolist(), abs=1e-9)


def test_timecodes_fraction_of_frame_and_fps_inference():
    assert timecode.format_timecode(0, 30) == "00:00:00:00.000"
    assert timecode.format_timecode(31.5, 30) == "00:00:01:01.500"
    assert timecode.parse_timecode("00:00:01:01.500", 30) == 31.5
    assert timecode.infer_fps(["00:00:00:45.000"]) == 60
    assert timecode.infer_fps(["00:00:00:29.000"]) == 30


def test_reads_columns_by_name_with_extra_and_missing_columns():
    header = "Timecode,BlendShapeCount,JawOpen,Extra,MouthLeft\n"
    rows = "10:00:00:00.000,61,0.5,9,0.25\n10:00:00:01.000,61,0.6,9,0.35\n"
    take = rig.read_live_link_csv(io.StringIO(header + rows))
    assert take.weights.shape == (2, 52)
    assert take.weights[1, rig.INDEX["jawOpen"]] == pytest.approx(0.6)
    assert take.weights[0, rig.INDEX["mouthLeft"]] == pytest.approx(0.25)
    assert "eyeBlinkLeft" in take.missing and take.weights[:, 0].sum() == 0
    assert take.start_frame == 10 * 3600 * 30
    with pytest.raises(rig.LiveLinkFormatError, match="missing blendshape columns"):
        rig.read_live_link_csv(io.StringIO(header + rows), allow_missing=False)


@pytest.mark.parametrize("text, message", [
    ("", "empty CSV"),
    ("Foo,Bar\n1,2\n", "missing column 'Timecode'"),
    ("Timecode,Foo\n00:00:00:00.000,1\n", "no ARKit blendshape columns"),
    ("Timecode,JawOpen\n00:00:00:00.000,abc\n", "line 2, column 'JawOpen': 'abc' is not a number"),
    ("Timecode,JawOpen\n00:00:00:00.000\n", "line 2: 1 fields, the header has 2"),
    ("Timecode,JawOpen\nnoon,0.1\n", "line 2, column 'Timecode': Timecode 'noon'"),
])
def test_bad_csv_is_refused_with_a_clear_message(text, message):
    with pytest.raises(rig.LiveLinkFormatError, match=message):
        rig.read_live_link_csv(io.StringIO(text))
