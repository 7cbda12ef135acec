"""Stage 2's signature stage (motion/control_signature.py): every action shows, speech wins where they fight.

Run for both signature tables: the hand-written one (the vocabulary) and the one learned from the
real captures (weights/control_signatures.json)."""
import numpy as np
import pytest

from cafetalk_core import rig
from cafetalk_core.controls import FineControl, rasterize_fine
from cafetalk_core.controls.vocabulary import ACTIONS, get_action
from cafetalk_core.motion.control_signature import SIGNATURE_TABLES, compose_controls, signature_table

FPS = 30.0
J = rig.INDEX
TABLES = pytest.mark.parametrize("table", SIGNATURE_TABLES)


def compose(base: np.ndarray, controls: list[FineControl], speech: np.ndarray | None = None,
            table: str = "captures") -> np.ndarray:
    grid = rasterize_fine(controls, len(base), FPS)
    act = np.zeros(len(base), np.float32) if speech is None else speech.astype(np.float32)   # default: a pause
    return compose_controls(base, grid, act, FPS, ramp_s=0.1, signature=table)


@TABLES
@pytest.mark.parametrize("action", [a.id for a in ACTIONS])
def test_every_action_shows_inside_its_span_at_its_intensity_and_nowhere_else(action, table):
    base = np.zeros((90, rig.NUM_CHANNELS), np.float32)
    out = compose(base, [FineControl(action, 1.0, 2.0, 0.9)], table=table)
    a = get_action(action)
    for name, w in a.channels:
        assert out[35:55, J[name]].max() == pytest.approx(0.9 * w, abs=1e-6)   # the asked level, exactly
    assert np.all(out[:27] == 0) and np.all(out[63:] == 0)                      # nothing outside (+ 1-frame ramp)
    assert out[29, a.channel_indices()[0]] < out[31, a.channel_indices()[0]]   # a ramp, not a step


@TABLES
@pytest.mark.parametrize("action", [a.id for a in ACTIONS])
def test_peaks_rise_with_intensity_even_where_the_base_already_acts(action, table):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.0, 0.8, (60, rig.NUM_CHANNELS)).astype(np.float32)
    idx = get_action(action).channel_indices()
    peaks = [compose(base, [FineControl(action, 0.5, 1.5, i)], table=table)[15:45, idx].mean(axis=1).max()
             for i in (0.3, 0.6, 0.9)]
    assert peaks[0] < peaks[1] < peaks[2]
    out = compose(base, [FineControl(action, 0.5, 1.5, 0.3)], table=table)
    row = signature_table(table)[ACTIONS.index(get_action(action))]
    lowered = row < 0                                      # a learned negative co-activation attenuates
    assert np.all(out[:, ~lowered] >= base[:, ~lowered] - 1e-7)                  # the rest never lowers
    assert np.all(out[:, lowered] <= base[:, lowered] + 1e-7)                    # and it never raises
    if table == "hand":
        assert not lowered.any()


def test_a_learned_negative_co_activation_lowers_its_channel_inside_the_span_only():
    """A real chin raise pushes the lower lip up (NeuroSync: mouthLowerDown -0.4 per unit), a real look
    down drops the look up: the learned rows carry those as negative weights, applied as attenuation."""
    base = np.full((90, rig.NUM_CHANNELS), 0.5, np.float32)
    for action, name in (("AU17", "mouthLowerDownLeft"), ("GAZE_D", "eyeLookUpLeft")):
        row = signature_table("captures")[ACTIONS.index(get_action(action))]
        assert row[J[name]] < -0.1, (action, name)
        out = compose(base, [FineControl(action, 1.0, 2.0, 0.9)])
        assert out[45, J[name]] == pytest.approx(0.5 * (1 + 0.9 * row[J[name]]), abs=1e-5)
        assert np.all(out[:27, J[name]] == 0.5) and np.all(out[63:, J[name]] == 0.5)


def test_a_channel_one_action_lowers_and_another_requests_still_reaches_the_request():
    base = np.zeros((90, rig.NUM_CHANNELS), np.float32)
    out = compose(base, [FineControl("GAZE_D", 1.0, 2.0, 0.9), FineControl("GAZE_U", 1.0, 2.0, 0.8)])
    for name, w in get_action("GAZE_U").channels:
        assert out[45, J[name]] == pytest.approx(0.8 * w, abs=1e-6)


def test_a_look_down_lowers_the_lids_but_never_to_a_blink():
    from cafetalk_core.training.signatures import LID_FOLLOWS_GAZE_DOWN

    out = compose(np.zeros((90, rig.NUM_CHANNELS), np.float32), [FineControl("GAZE_D", 1.0, 2.0, 1.0)])
    lid = out[:, J["eyeBlinkLeft"]]
    assert 0.1 < lid.max() <= LID_FOLLOWS_GAZE_DOWN + 1e-6 < 0.5


@TABLES
def test_combinations_of_regions_all_show(table):
    base = np.zeros((90, rig.NUM_CHANNELS), np.float32)
    pairs = [("AU12", "AU2"), ("AU45", "GAZE_L"), ("AU15", "AU4")]
    for first, second in pairs:
        out = compose(base, [FineControl(first, 0.5, 2.5, 0.8), FineControl(second, 1.0, 2.0, 0.8)], table=table)
        for action in (first, second):
            assert out[35:55, get_action(action).channel_indices()].mean() > 0.4, (first, second, action)


def speaking_boom(n: int = 60) -> np.ndarray:
    """A base saying "boom": lips sealed on the b (frames 10-14), rounded oo (20-40), sealed on the m (44-48)."""
    v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    v[:, J["jawOpen"]] = 0.3
    for a, b in ((10, 15), (44, 49)):
        v[a:b, J["mouthClose"]] = 0.3           # aperture 0: lips meet
    v[20:40, J["mouthFunnel"]] = 0.5
    v[20:40, J["mouthPucker"]] = 0.4
    return v


def aperture(v: np.ndarray) -> np.ndarray:
    return v[:, J["jawOpen"]] - v[:, J["mouthClose"]]


@TABLES
def test_a_smile_on_boom_still_closes_on_the_b_and_rounds_on_the_oo(table):
    base = speaking_boom()
    out = compose(base, [FineControl("AU12", 0.0, 2.0, 0.9)], np.ones(len(base), bool), table=table)
    assert out[12, J["mouthSmileLeft"]] > 0.6
    assert np.allclose(aperture(out)[10:15], 0.0) and np.allclose(aperture(out)[44:49], 0.0)
    assert np.allclose(out[20:40, J["mouthFunnel"]], 0.5) and np.allclose(out[20:40, J["mouthPucker"]], 0.4)


@TABLES
def test_a_jaw_drop_while_talking_keeps_the_bilabial_closures(table):
    base = speaking_boom()
    out = compose(base, [FineControl("AU26", 0.0, 2.0, 0.9)], np.ones(len(base), bool), table=table)
    assert out[30, J["jawOpen"]] > base[30, J["jawOpen"]] + 0.3            # the jaw drops on the vowel
    assert np.all(aperture(out)[11:14] < 0.02) and np.all(aperture(out)[45:48] < 0.02)   # the lips still meet


def test_a_jaw_drop_keeps_a_nearly_shut_aperture_and_opens_an_open_one():
    """Lips about to meet (aperture 0.04) keep their aperture under a jaw drop; an open vowel (0.3) opens more."""
    from cafetalk_core.motion.control_signature import JAW_DROP_KEEPS_APERTURE_BELOW

    base = np.zeros((60, rig.NUM_CHANNELS), np.float32)
    base[:, J["jawOpen"]] = 0.3
    base[:30, J["mouthClose"]] = 0.3 - 0.04           # frames 0-29: nearly shut
    assert 0.04 < JAW_DROP_KEEPS_APERTURE_BELOW
    out = compose(base, [FineControl("AU26", 0.0, 2.0, 0.9)], np.ones(len(base), bool))
    assert np.allclose(aperture(out)[5:25], 0.04, atol=1e-5)
    assert np.all(aperture(out)[35:55] > 0.3 + 0.3)


@TABLES
@pytest.mark.parametrize("action", ["AU10", "AU12"])
def test_lip_parting_waits_for_the_bilabial(table, action):
    """An upper-lip raise, and the learned smile's lip part (mouthUpperUp, mouthLowerDown), wait for the b."""
    out = compose(speaking_boom(), [FineControl(action, 0.0, 2.0, 0.9)], np.ones(60, bool), table=table)
    for name in ("mouthUpperUpLeft", "mouthLowerDownLeft"):
        assert out[12, J[name]] < 0.05
    assert out[30, J["mouthUpperUpLeft"]] > (0.3 if action == "AU10" else (0.2 if table == "captures" else -1))


@pytest.mark.parametrize("action", [a.id for a in ACTIONS])
def test_no_signature_row_moves_the_lip_aperture_except_the_jaw_drop(action):
    row = signature_table("captures")[ACTIONS.index(get_action(action))]
    if action != "AU26":
        assert row[J["jawOpen"]] == 0 and row[J["mouthClose"]] == 0 and row[J["tongueOut"]] == 0


def test_the_learned_smile_reaches_the_eyes_as_real_smiles_do():
    """3 real captures (NeuroSync 164-166) lift cheekSquint +0.07-0.34 and mouthUpperUp +0.25-0.32 while smiling."""
    out = compose(np.zeros((90, rig.NUM_CHANNELS), np.float32), [FineControl("AU12", 1.0, 2.0, 0.9)])
    for name in ("cheekSquintLeft", "cheekSquintRight"):
        assert out[45, J[name]] > 0.2
    for name in ("mouthUpperUpLeft", "mouthUpperUpRight"):
        assert out[45, J[name]] > 0.2
    hand = compose(np.zeros((90, rig.NUM_CHANNELS), np.float32), [FineControl("AU12", 1.0, 2.0, 0.9)], table="hand")
    assert hand[45, J["cheekSquintLeft"]] == 0                               # the hand table's smile does not


def test_a_lip_press_holds_the_lips_shut_between_words_not_across_them():
    n = 60
    base = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    base[:, J["jawOpen"]] = 0.25                   # mouth a little open everywhere
    speech = np.zeros(n, bool)
    speech[0:20] = speech[40:60] = True            # word, pause (frames 20-40), word
    out = compose(base, [FineControl("AU24", 0.0, 2.0, 0.8)], speech)
    assert np.allclose(aperture(out)[24:36], 0.0, atol=1e-6)     # sealed in the pause
    assert np.all(aperture(out)[2:16] > 0.2)                     # open while speaking
    assert out[10, J["mouthPressLeft"]] > 0.5                    # but the press shows throughout


def test_generator_with_the_prior_obeys_and_leaves_other_frames_untouched():
    """End to end through pipeline.Generator with a random tiny model and the prior switched on."""
    from cafetalk_core.controls import ControlSet
    from cafetalk_core.pipeline import Generator

    g = Generator.random("tiny", seed=3, threads=None)
    g.model.cfg = g.cfg = g.cfg.replace(control_prior=True, control_adapter=False)
    from cafetalk_core.model.control_branch import ControlBranch
    g.model.control = ControlBranch(g.cfg)
    wav = (0.1 * np.sin(np.arange(48000) / 16000 * 2 * np.pi * 180)).astype(np.float32)
    plain = g.generate(wav, seed=1).values
    ctrl = g.generate(wav, ControlSet(fine=[FineControl("AU12", 1.0, 2.0, 0.9)]), seed=1).values
    idx = get_action("AU12").channel_indices()
    assert (ctrl[33:57, idx] - plain[33:57, idx]).mean() > 0.2
    assert np.array_equal(ctrl[:28], plain[:28]) and np.array_equal(ctrl[62:], plain[62:])


def test_a_smile_inside_a_sad_span_smiles_over_the_sad_face():
    """Documented rule (docs/model.md): the emotion shapes the base, the fine control is blended on top."""
    from cafetalk_core.controls import ControlSet
    from cafetalk_core.model.control_branch import ControlBranch
    from cafetalk_core.pipeline import Generator

    g = Generator.random("tiny", seed=5, threads=None)
    g.model.cfg = g.cfg = g.cfg.replace(control_prior=True, control_adapter=False)
    g.model.control = ControlBranch(g.cfg)
    wav = (0.1 * np.sin(np.arange(64000) / 16000 * 2 * np.pi * 160)).astype(np.float32)
    sad = {"emotion": "neutral", "emotion_spans": [{"emotion": "sad", "intensity": 0.9, "start_s": 0.5, "end_s": 3.5}]}
    base = g.generate(wav, ControlSet.from_dict(sad), seed=2).values
    smile = g.generate(wav, ControlSet.from_dict({**sad, "fine": [{"action": "AU12", "start_s": 1.5, "end_s": 2.5,
                                                                   "intensity": 0.8}]}), seed=2).values
    idx = get_action("AU12").channel_indices()
    assert smile[48:72, idx].min() >= 0.8 * 0.8 - 1e-6                        # the smile at its intensity
    row = signature_table(g.signature)[ACTIONS.index(get_action("AU12"))]
    others = [i for i in range(rig.NUM_CHANNELS) if row[i] == 0]
    assert np.array_equal(smile[:, others], base[:, others])                  # the sad face around it stays
    moved = [i for i in range(rig.NUM_CHANNELS) if row[i] > 0]
    assert np.all(smile[:, moved] >= base[:, moved] - 1e-6)                    # the smile's signature only adds
    lowered = [i for i in range(rig.NUM_CHANNELS) if row[i] < 0]
    assert np.all(smile[:, lowered] <= base[:, lowered] + 1e-6)                # its negative weights only lower
