"""Issue 23's evaluation: false seals per phone class, closure precision, scores against captured faces,
the multilingual phone classes; on small real files (a real-speech clip, a Live Link CSV written here)."""
import json
import math

import numpy as np
import pytest
import soundfile as sf

from cafetalk_core import rig
from cafetalk_core.evaluation import captures, metrics, multilingual, real_speech, side_by_side
from cafetalk_core.phones import Phone
from cafetalk_core.visemes import phones_to_curves

FPS = 30.0
J = rig.INDEX
PHONES = [Phone("SIL", 0.0, 0.2), Phone("AA", 0.2, 0.5), Phone("M", 0.5, 0.6), Phone("IY", 0.6, 0.9),
          Phone("B", 0.9, 1.0), Phone("UW", 1.0, 1.3), Phone("F", 1.3, 1.4), Phone("AE", 1.4, 1.7)]


def mouth(n: int = 54, jaw: float = 0.5) -> np.ndarray:
    v = np.zeros((n, rig.NUM_CHANNELS))
    v[:, J["jawOpen"]] = jaw
    return v


def test_seals_by_class_counts_vowel_centres_sealed_next_to_bilabials():
    v = mouth()
    v[15:18, J["mouthClose"]] = 0.5          # M sealed (lips together over the open jaw)
    v[22, J["mouthClose"]] = 0.48             # IY's centre (0.75 s -> frame 22) talked through shut lips
    seals = metrics.seals_by_class(metrics.lip_aperture(v), PHONES, FPS)
    assert seals["bilabials"] == {"phones": 2, "sealed": 1}
    assert seals["other vowels"] == {"phones": 1, "sealed": 1}
    assert seals["open vowels"] == {"phones": 2, "sealed": 0} and seals["rounded vowels"]["phones"] == 1
    assert seals["vowels"] == {"phones": 4, "sealed": 1} and seals["labiodentals"]["phones"] == 1
    pooled = metrics.pool_seals([seals, seals])
    assert pooled["vowels"]["rate"] == 0.25 and pooled["bilabials"]["sealed"] == 2


def test_closure_precision_counts_false_closures():
    v = mouth()
    v[15:18, J["jawOpen"]] = 0.0
    v[28:31, J["jawOpen"]] = 0.0
    honest = metrics.bilabial_closure(metrics.lip_aperture(v), PHONES, FPS)
    assert (honest["rate"], honest["precision"], honest["vowels_closed"]) == (1.0, 1.0, 0)
    shut = mouth(jaw=0.0)                     # shut but for the first vowel: full recall, 3 vowels closed
    shut[6:16, J["jawOpen"]] = 0.5
    r = metrics.bilabial_closure(metrics.lip_aperture(shut), PHONES, FPS)
    assert r["rate"] == 1.0 and r["vowels_closed"] == 3 and r["precision"] == pytest.approx(2 / 5)


def test_real_speech_report_has_seals_precision_and_reference_ratios():
    clip = real_speech.load_real_speech(real_speech.VALSET_DIR)[0]
    n = clip.num_frames(FPS)
    sealed = phones_to_curves(clip.phones, n, FPS)
    sealed[:, J["mouthClose"]] = sealed[:, J["jawOpen"]]      # lips shut all along
    rep = real_speech.evaluate_real_speech(lambda wav: phones_to_curves(clip.phones, n, FPS), clips=[clip],
                                           more_models={"shut": lambda wav: sealed})
    ref, model, shut = (rep["systems"][k] for k in (real_speech.REFERENCE, "model", "shut"))
    assert model["open_vowel_ratio"] == pytest.approx(1.0) and model["jitter_ratio"] == pytest.approx(1.0)
    assert ref["vowel_seal_rate"] < 0.05 and shut["vowel_seal_rate"] == 1.0
    assert shut["seals"]["vowels"]["phones"] == ref["seals"]["vowels"]["phones"] > 5
    table = side_by_side.format_seal_table(rep) + side_by_side.format_targets(rep)
    assert "shut" in table and "open vowels" in table and "<= 0.10" in table


# --- real captures ----------------------------------------------------------------------------

def write_take(folder, name: str, values: np.ndarray, wav: np.ndarray, fps: float = FPS) -> None:
    rig.write_live_link_csv(folder / f"{name}.csv", values, fps)
    sf.write(folder / f"{name}.wav", wav, 16000)


def capture(seconds: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
    v[:, J["jawOpen"]] = 0.3 + 0.25 * np.sin(2 * np.pi * 2.5 * t)
    v[:, J["mouthPucker"]] = np.clip(0.3 * np.sin(2 * np.pi * 0.7 * t + 1) + rng.normal(0, 0.02, n), 0, 1)
    v[:, J["mouthClose"]] = np.where(np.sin(2 * np.pi * 2.5 * t) < -0.9, 0.05, 0.0)
    return v, rng.normal(0, 0.05, int(seconds * 16000)).astype(np.float32)


def test_captures_score_channels_that_move_lag_and_scale(tmp_path):
    v, wav = capture()
    write_take(tmp_path, "take1", v, wav)
    takes = captures.load_captures(tmp_path)          # no dataset.json: all 52 channels, every take
    assert [t.id for t in takes] == ["take1"] and len(takes[0].channels) == 52 and takes[0].fps == FPS
    late = np.roll(v, 2, axis=0) * 0.5                # half the motion, 2 frames late
    still = np.zeros_like(v)
    rep = captures.evaluate_captures({"late": lambda t: late, "still": lambda t: still}, takes)
    m = rep["systems"]["late"]
    assert set(m["channels"]) == {"jawOpen", "mouthPucker", "mouthClose"}   # only what moves counts
    assert m["aperture_corr_best_lag"] > 0.99 and rep["per_take"]["late"]["take1"]["aperture_lag"] == 2
    assert m["aperture_corr"] < m["aperture_corr_best_lag"]
    assert m["channels"]["jawOpen"]["scale"] == pytest.approx(0.5, abs=0.02)
    s = rep["systems"]["still"]
    assert s["mouth_mean_corr"] == 0.0 and s["channels"]["jawOpen"]["rmse"] > 0.3   # still = 0, not undefined
    assert "jawOpen" in captures.format_captures(rep)


def test_capture_folder_with_dataset_json_uses_its_split_and_channels(tmp_path):
    for k, name in enumerate(["a", "b", "c"]):
        v, wav = capture(seed=k)
        v[:, J["eyeBlinkLeft"]] = 0.5 + 0.4 * np.sin(np.arange(len(v)))   # moves, but not supervised
        write_take(tmp_path, name, v, wav)
    (tmp_path / "dataset.json").write_text(json.dumps({
        "fps": FPS, "supervised_channels": ["jawOpen", "mouthClose", "mouthPucker"],
        "splits": {"train": ["a"], "val": ["b"], "test": ["c"]}}))
    assert [t.id for t in captures.load_captures(tmp_path)] == ["c"]
    takes = captures.load_captures(tmp_path, "val")
    assert [t.id for t in takes] == ["b"]
    rep = captures.evaluate_captures({"truth": lambda t: t.values}, takes)
    m = rep["systems"]["truth"]
    assert "eyeBlinkLeft" not in m["channels"] and m["jaw_open_corr"] == pytest.approx(1.0)
    assert m["mouth_mean_corr"] == pytest.approx(1.0)
    v = takes[0].values.copy()
    v[:, J["mouthClose"]] = 0.9                       # not counted: ignored, also in the aperture
    assert captures.aperture_of(v, ("jawOpen",)) == pytest.approx(v[:, J["jawOpen"]])
    with pytest.raises(ValueError, match="no split 'dev'"):
        captures.load_captures(tmp_path, "dev")


def test_best_lag_correlation_finds_the_shift():
    x = np.sin(np.arange(200) / 3.0)
    r, lag = captures.best_lag_correlation(np.roll(x, -3), x)
    assert lag == -3 and r > 0.99
    assert math.isnan(captures.best_lag_correlation(np.zeros(50), x[:50])[0])


# --- other languages --------------------------------------------------------------------------

@pytest.mark.parametrize("symbol,phone", [("m", "M"), ("p;", "P"), ("b", "B"), ("a", "AA"), ("a#", "AA"),
                                          ("O~", "AA"), ("E", "AA"), ("&~", "AA"), ("o:", "UW"), ("Y+", "UW"),
                                          ("u", "UW"), ("i", "IY"), ("e", "IY"), ("@", "AH"), ("f", "F"),
                                          ("v", "V"), ("dZ", "T"), ("n^", "T"), ("_:", "SIL"), ("(en)", "SIL")])
def test_espeak_mnemonics_of_any_language_map_to_their_class(symbol, phone):
    assert multilingual.arpabet_class_phone(symbol) == phone


def test_multilingual_set_is_cached_and_has_bilabials_and_vowels(tmp_path):
    folder = multilingual.build_set(["es"], root=tmp_path / "ml")
    first = (folder / "clips.json").read_bytes()
    clips = real_speech.load_real_speech(folder)
    assert len(clips) == len(multilingual.LANGUAGES["es"][1])
    names = {p.phone for c in clips for p in c.phones}
    assert {"M", "B", "P", "AA", "SIL"} <= names
    assert multilingual.build_set(["es"], root=tmp_path / "ml") == folder
    assert (folder / "clips.json").read_bytes() == first
    with pytest.raises(ValueError, match="unknown"):
        multilingual.check_languages(["xx"])


def test_multilingual_validation_sentences_are_other_words_with_bilabials_and_vowels(tmp_path):
    """Settings are chosen on the val sentences, so they must share no sentence with the test set."""
    for lang in multilingual.LANGUAGES:
        assert not set(multilingual.sentences(lang, "val")) & set(multilingual.sentences(lang, "test"))
    assert multilingual.set_key(("es",), "val") != multilingual.set_key(("es",), "test")
    clips = real_speech.load_real_speech(multilingual.build_set(["es"], root=tmp_path / "val", split="val"))
    assert [c.text for c in clips] == list(multilingual.VAL_SENTENCES["es"])
    assert all({"AA"} <= {p.phone for p in c.phones} and {p.phone for p in c.phones} & {"M", "B", "P"} for c in clips)
    with pytest.raises(ValueError, match="split"):
        multilingual.sentences("es", "train")


# --- the command: three systems side by side -------------------------------------------------

class JawOnly:
    """A stand-in generator: the jaw follows loudness, the lips never close (or always, ``shut``)."""

    def __init__(self, shut: bool = False, model_id: str = "jaw", phones_optional: bool = False) -> None:
        from types import SimpleNamespace

        self.shut, self.model_id, self.info = shut, model_id, {"fps": FPS}
        self.cfg = SimpleNamespace(phones_optional=phones_optional)
        self.languages: list = []

    def generate(self, audio, controls=None, *, fps=FPS, language=None, **_):
        from cafetalk_core.curves import BlendshapeCurves

        self.languages.append(language)
        n = max(1, int(round(len(audio) / 16000 * fps)))
        v = np.zeros((n, rig.NUM_CHANNELS), np.float32)
        v[:, J["jawOpen"]] = real_speech.rms_envelope(np.asarray(audio, np.float32), n, fps)
        if self.shut:
            v[:, J["mouthClose"]] = v[:, J["jawOpen"]]
        return BlendshapeCurves(v, fps)


def test_evaluate_command_runs_captures_languages_and_a_second_model(tmp_path, monkeypatch, capsys):
    from cafetalk_core import cli
    from cafetalk_core.evaluation import corpus as evaluate

    v, wav = capture()
    (tmp_path / "caps").mkdir()
    write_take(tmp_path / "caps", "t1", v, wav)
    (tmp_path / "other").mkdir()
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "other" / name).write_text(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate, "load_generator",
                        lambda checkpoint, device="cpu": JawOnly(shut=checkpoint is not None, model_id=str(checkpoint)))
    out = tmp_path / "r.json"
    assert cli.main(["evaluate", "--real-captures", str(tmp_path / "caps"), "--languages", "it", "--max-clips", "1",
                     "--compare-model", str(tmp_path / "other"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    (caps,) = report["real_captures"]["sets"]   # one folder given: one set
    systems = caps["systems"]
    assert set(systems) == {"model", "compare: other", "baseline: recogniser -> visemes",
                            "baseline: loudness -> jawOpen"}
    assert caps["takes"][0]["id"] == "t1"
    it = report["languages"]["languages"]["it"]
    assert it["clips"] == 1 and it["systems"]["compare: other"]["vowel_seal_rate"] == 1.0   # lips shut throughout
    assert it["systems"]["model"]["vowel_seal_rate"] < 1.0
    assert "compare: other" in printed and "other languages" in printed and "real captures" in printed
    assert cli.main(["evaluate", "--real-captures", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err


def test_models_hear_other_languages_as_they_can(tmp_path, monkeypatch):
    """A phone-free-capable model gets the speech's language; an English-phones model is run on
    phones (as a user would have to) and the report says which input each system had."""
    v, wav = capture()
    write_take(tmp_path, "t1", v, wav)
    (tmp_path / "dataset.json").write_text(json.dumps({"language": "zh", "splits": {"test": ["t1"]}}))
    free, english = JawOnly(phones_optional=True), JawOnly()
    report = side_by_side.evaluate_real_captures({"free": free, "english": english}, [tmp_path])
    assert free.languages == ["zh"] and english.languages == [None]
    assert "phone-free" in report["input_modes"]["free"] and "English" in report["input_modes"]["english"]
    assert report["languages"] == ["zh"] and "input of english" in report["table"]


def test_ridge_reference_learns_the_facegood_jaw_from_its_train_takes(tmp_path):
    """Fitted on the real FACEGOOD train takes only; the validation take's jaw follows (a linear
    read of the audio: the bar the model should clear). No splits, no reference."""
    from cafetalk_core.evaluation import capture_ridge

    folder = captures.default_capture_dir()
    fit = capture_ridge.fit_folder(folder)
    take = captures.load_captures(folder, "val")[0]
    pred = fit.predict(take)
    jaw = rig.channel_index("jawOpen")
    assert pred.shape == take.values.shape and pred.min() >= 0 and pred.max() <= 1
    assert np.corrcoef(pred[:, jaw], take.values[:, jaw])[0, 1] > 0.7
    assert pred[:, rig.channel_index("eyeBlinkLeft")].max() == 0   # not a mapped channel: not predicted
    v, wav = capture()
    write_take(tmp_path, "t1", v, wav)
    assert capture_ridge.fit_folder(tmp_path) is None and capture_ridge.ridge_system([folder, tmp_path]) == {}


def test_take_fits_reports_every_split_for_the_model_and_the_ridge():
    """capture_ridge.take_fits on the FACEGOOD folder with an oracle model (it returns the capture):
    r 1 on every take, train takes included; the ridge fits its own train takes at least as well as the
    held-out ones, and the voiced-frame figure is reported apart."""
    from types import SimpleNamespace

    from cafetalk_core.evaluation import capture_ridge

    folder = captures.default_capture_dir()
    truth = {len(t.wav): t.values for s in ("train", "val", "test") for t in captures.load_captures(folder, s)}

    class Oracle:
        def generate(self, wav, seed=0, fps=None, language=None):
            values = truth[len(wav)]
            return SimpleNamespace(in_arkit_order=lambda: SimpleNamespace(values=values))

    rows = capture_ridge.take_fits(Oracle(), folder)
    assert [r["split"] for r in rows].count("train") == 5 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(r["model"] == pytest.approx(1.0) and r["model_voiced"] == pytest.approx(1.0) for r in rows)
    train = np.mean([r["ridge"] for r in rows if r["split"] == "train"])
    assert train >= max(r["ridge"] for r in rows if r["split"] != "train") and all(0 < r["ridge_voiced"] < r["ridge"] + 0.2 for r in rows)


def test_capture_folders_are_reported_apart_never_pooled(tmp_path):
    """Two folders (two speakers, rigs or languages): one set each, with its own takes and table; the
    default folders for the test split are FACEGOOD and the English iPhone take."""
    v, wav = capture()
    for name in ("zh_rig", "en_phone"):
        (tmp_path / name).mkdir()
        write_take(tmp_path / name, f"{name}_take", v, wav)
    report = side_by_side.evaluate_capture_folders({"m": JawOnly()}, [tmp_path / "zh_rig", tmp_path / "en_phone"])
    assert [[t["id"] for t in s["takes"]] for s in report["sets"]] == [["zh_rig_take"], ["en_phone_take"]]
    assert report["table"].index("[zh_rig]") < report["table"].index("[en_phone]")
    assert [p.name for p in captures.default_capture_dirs("test")] == ["facegood", "iphone_speech"]
    assert [p.name for p in captures.default_capture_dirs("val")] == ["facegood"]
