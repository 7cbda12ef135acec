import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.controls import (ACTION_IDS, ACTIONS, EMOTIONS, CoarseCondition, ControlError, ControlSet,
                                    EmotionSpan, FineControl, control_mask, get_action, parse_control_spec,
                                    rasterize_fine, validate_fine)
from cafetalk_core.controls.binarize import activations, binarize, detect_controls
from cafetalk_core.controls.head import HEAD_RAMP_S, HeadSpan, check_head_motion, head_amount


def test_vocabulary_is_one_consistent_table():
    assert len(set(ACTION_IDS)) == len(ACTIONS) >= 20
    for a in ACTIONS:
        assert a.channel_indices()  # every channel is a real ARKit name
        assert 0 < a.threshold < 1
    assert get_action("smile").id == "AU12" and get_action("au45").id == "AU45"
    assert EMOTIONS == ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise", "contempt")


@pytest.mark.parametrize("control, field, message", [
    (FineControl("AU99", 0, 1), "fine[0].action", "unknown action 'AU99'"),
    (FineControl("AU12", -0.5, 1), "fine[0].start_s", "must be >= 0"),
    (FineControl("AU12", 2, 1), "fine[0].end_s", "must be after start_s"),
    (FineControl("AU12", 1, 1), "fine[0].end_s", "must be after start_s"),
    (FineControl("AU12", 5, 9), "fine[0].start_s", "at or past the end of the clip"),
    (FineControl("AU12", 7, 9), "fine[0].start_s", "at or past the end of the clip"),
    (FineControl("AU12", 1, 2, 1.5), "fine[0].intensity", r"must be in \[0, 1\]"),
    (FineControl("AU12", 1, 2, float("nan")), "fine[0].intensity", "must be finite"),
])
def test_invalid_fine_controls_name_the_field(control, field, message):
    with pytest.raises(ControlError, match=message) as info:
        validate_fine([control], duration_s=5.0)
    assert info.value.field == field


@pytest.mark.parametrize("duration", [3.545, 1.0, 2.0 / 3.0])
def test_spans_reaching_past_the_end_are_clamped_to_the_clip(duration):
    """Issue 17.2: Blender rounds a strip up to whole frames; half a frame past the end used to be refused."""
    from cafetalk_core.controls import ControlSet
    from cafetalk_core.controls.coarse import CoarseCondition, EmotionSpan

    half_frame_late = duration + 0.5 / 24
    out = validate_fine([FineControl("AU12", 0.1, half_frame_late), FineControl("AU45", 0.2, duration + 60)],
                        duration_s=duration)
    assert [c.end_s for c in out] == [duration, duration]
    cs = ControlSet(CoarseCondition("happy", 0.5, [EmotionSpan("sad", 0.3, half_frame_late, 0.5)])).validated(duration)
    assert cs.coarse.spans[0].end_s == duration


def test_overlapping_spans_of_one_action_are_merged():
    out = validate_fine([FineControl("smile", 1, 2, 0.5), FineControl("AU12", 1.5, 3, 0.8),
                         FineControl("AU45", 1.2, 1.4)], duration_s=5)
    assert out == [FineControl("AU12", 1, 3, 0.8), FineControl("AU45", 1.2, 1.4, 1.0)]


def test_rasterize_and_mask():
    grid = rasterize_fine([FineControl("AU12", 1.0, 2.0, 0.8)], num_frames=90, fps=30)
    k = ACTION_IDS.index("AU12")
    assert grid.shape == (90, len(ACTIONS))
    assert grid[30:60, k].tolist() == [pytest.approx(0.8)] * 30
    assert grid[:30].sum() == 0 and grid[60:].sum() == 0
    mask = control_mask(grid)
    assert mask.sum() == 30 and mask[30] and not mask[60]


def test_coarse_validation_and_time_varying_rasterisation():
    c = CoarseCondition("Joyful", 0.7, [EmotionSpan("sad", 1.0, 2.0, 0.4)]).validate(3.0)
    assert c.emotion == "happy"
    ids, inten = c.rasterize(90, 30)
    assert ids[0] == EMOTIONS.index("happy") and ids[45] == EMOTIONS.index("sad")
    assert inten[45] == pytest.approx(0.4) and inten[80] == pytest.approx(0.7)
    with pytest.raises(ControlError, match="unknown emotion 'bored'") as info:
        CoarseCondition("bored").validate()
    assert info.value.field == "emotion"
    with pytest.raises(ControlError, match=r"emotion_spans\[0\].start_s"):
        CoarseCondition("happy", 0.5, [EmotionSpan("sad", 3, 4)]).validate(3.0)


def test_control_set_json_round_trip_and_errors():
    cs = ControlSet.from_json('{"emotion": "angry", "intensity": 0.9, '
                              '"fine": [{"action": "AU45", "start_s": 0.5, "end_s": 0.7}],'
                              '"emotion_spans": [{"emotion": "happy", "start_s": 1, "end_s": 2}]}')
    v = cs.validated(3.0)
    back = ControlSet.from_json(v.to_json())
    assert back.to_dict() == v.to_dict()
    for text, field in [("{bad json", "controls"), ('{"emotoin": "happy"}', "controls"),
                        ('{"fine": [{"action": "AU12", "start_s": "soon", "end_s": 2}]}', "fine[0].start_s"),
                        ('{"fine": [{"action": "AU12"}]}', "fine[0].start_s"),
                        ('{"intensity": true}', "intensity"), ('[1, 2]', "controls")]:
        with pytest.raises(ControlError) as info:
            ControlSet.from_json(text).validated(3.0)
        assert info.value.field == field, text
    assert ControlSet.from_json("").validated().fine == []


def test_parse_control_spec():
    assert parse_control_spec("AU12:1.2-2.0:0.8") == FineControl("AU12", 1.2, 2.0, 0.8)
    assert parse_control_spec("blink:1-1.2").intensity == 1.0
    with pytest.raises(ControlError, match="ACTION:START-END"):
        parse_control_spec("AU12@1")


def _take_with_smile_and_blink(fps=30, frames=120):
    v = np.zeros((frames, 52), np.float32)
    for n in ("mouthSmileLeft", "mouthSmileRight"):
        v[30:60, rig.INDEX[n]] = 0.8 * 0.9
    for n in ("eyeBlinkLeft", "eyeBlinkRight"):
        v[90:96, rig.INDEX[n]] = 1.0
        v[99:104, rig.INDEX[n]] = 1.0
    return v


def test_binarize_detects_actions_where_they_happen():
    v = _take_with_smile_and_blink()
    act = activations(v)
    assert act[40, ACTION_IDS.index("AU12")] == pytest.approx(0.9)
    controls = detect_controls(v, 30)
    smile = [c for c in controls if c.action == "AU12"]
    blinks = [c for c in controls if c.action == "AU45"]
    assert len(smile) == 1 and smile[0].start_s == pytest.approx(1.0) and smile[0].end_s == pytest.approx(2.0)
    assert smile[0].intensity == pytest.approx(0.9)
    assert len(blinks) == 2  # a 0.1 s gap keeps two blinks apart (merge only below 0.1 s)
    assert {c.action for c in controls} == {"AU12", "AU45"}


def test_binarize_random_kernel_is_seeded_and_only_widens():
    v = _take_with_smile_and_blink()
    base = binarize(v, 30, seed=None)
    a, b = binarize(v, 30, seed=3), binarize(v, 30, seed=3)
    np.testing.assert_array_equal(a, b)
    assert (a | base).sum() == a.sum()  # max-pool and merging never remove a detection
    assert any(not np.array_equal(binarize(v, 30, seed=s), base) for s in range(10))


# -- head-motion spans ----------------------------------------------------------------------------
@pytest.mark.parametrize("span, field, message", [
    ({"start_s": 1, "end_s": 2, "amount": 2.5}, "head_spans[0].amount", r"in \[0, 2\]"),
    ({"start_s": 1, "end_s": 2, "amount": -0.1}, "head_spans[0].amount", r"in \[0, 2\]"),
    ({"start_s": 1, "end_s": 2, "amount": True}, "head_spans[0].amount", "must be a number"),
    ({"start_s": 1, "end_s": 2, "amount": "still"}, "head_spans[0].amount", "must be a number"),
    ({"start_s": 2, "end_s": 1}, "head_spans[0].end_s", "must be after start_s"),
    ({"start_s": -1, "end_s": 1}, "head_spans[0].start_s", "must be >= 0"),
    ({"start_s": 3, "end_s": 4}, "head_spans[0].start_s", "at or past the end of the clip"),
    ({"end_s": 1}, "head_spans[0].start_s", "is required"),
    ({"start_s": 0, "end_s": 1, "intensity": 0.5}, "head_spans[0]", "unknown keys"),
    ([0, 1], "head_spans[0]", "must be an object"),
])
def test_invalid_head_spans_name_the_field(span, field, message):
    with pytest.raises(ControlError, match=message) as info:
        ControlSet.from_dict({"head_spans": [span]}).validated(3.0)
    assert info.value.field == field and str(info.value).startswith(field)


def test_head_spans_json_round_trip_default_amount_and_clamp():
    cs = ControlSet.from_json('{"head_spans": [{"start_s": 0.5, "end_s": 1.0}, '
                              '{"start_s": 2.0, "end_s": 9.0, "amount": 1.5}]}').validated(3.0)
    assert cs.head_spans == [HeadSpan(0.5, 1.0, 0.0), HeadSpan(2.0, 3.0, 1.5)]   # amount 0 by default, end clamped
    back = ControlSet.from_json(cs.to_json())
    assert back.to_dict() == cs.to_dict()
    assert back.to_dict()["head_spans"][1] == {"start_s": 2.0, "end_s": 3.0, "amount": 1.5}
    assert ControlSet.from_json("{}").to_dict()["head_spans"] == []
    with pytest.raises(ControlError) as info:
        ControlSet.from_dict({"head_spans": {"start_s": 0}})
    assert info.value.field == "head_spans"


def test_check_head_motion():
    assert check_head_motion(0) == 0.0 and check_head_motion(np.float32(2.0)) == 2.0
    for bad in (2.01, -1, float("nan"), float("inf"), None, "x"):
        with pytest.raises(ControlError, match=r"head_motion: must be a number in \[0, 2\]"):
            check_head_motion(bad)


def test_head_amount_base_outside_span_inside_and_ramps():
    ramp = int(round(HEAD_RAMP_S * 30))
    assert ramp == 8
    amount = head_amount([HeadSpan(1.0, 2.0, 0.0)], 90, 30.0, 1.3)
    assert amount.dtype == np.float32 and amount.shape == (90,)
    assert np.all(amount[:30] == np.float32(1.3)) and np.all(amount[60:] == np.float32(1.3))   # outside: exact
    assert np.all(amount[30 + ramp:60 - ramp] == 0)                                             # inside: the span's
    up, down = amount[30:30 + ramp], amount[60 - ramp:60]
    np.testing.assert_allclose(up, 1.3 * (1 - np.arange(1, ramp + 1) / (ramp + 1)), atol=1e-6)  # linear, no pop
    np.testing.assert_allclose(down, up[::-1], atol=1e-6)
    assert np.abs(np.diff(amount)).max() <= 1.3 / (ramp + 1) + 1e-6
    # no spans: the clip's amount everywhere; a span starting with the clip starts at its amount
    assert np.all(head_amount([], 40, 30.0, 0.7) == np.float32(0.7))
    start = head_amount([HeadSpan(0.0, 1.0, 2.0)], 60, 30.0, 1.0)
    assert np.all(start[:30 - ramp] == 2.0) and np.all(start[30:] == 1.0)


def test_head_amount_later_spans_win_and_same_amounts_join():
    ramp = int(round(HEAD_RAMP_S * 30))
    over = head_amount([HeadSpan(1.0, 3.0, 0.0), HeadSpan(2.0, 2.5, 2.0)], 120, 30.0, 1.0)
    # the later span (frames 60-74) wins its frames; short, it ramps over 7 frames each side to reach 2 at 67
    assert over[67] == 2.0 and over[45] == 0.0 and over[80] == 0.0
    assert over[59] == 0.0 and over[75] == 0.0     # the earlier one is exact up to the later one's border
    assert np.abs(np.diff(over)).max() <= 2.0 / ramp + 1e-6           # its shorter ramps: steps of 2 / 8
    # two touching still spans keep the head still across their border: no ramp back to the clip's amount
    touching = head_amount([HeadSpan(1.0, 2.0, 0.0), HeadSpan(2.0, 3.0, 0.0)], 120, 30.0, 1.0)
    assert np.all(touching[30 + ramp:90 - ramp] == 0)
    # a short span still reaches its amount in its middle
    short = head_amount([HeadSpan(1.0, 1.2, 0.0)], 60, 30.0, 1.0)
    assert short[33] == 0.0 and short[30] > 0 and short[35] > 0 and np.all(short[36:] == 1.0)
