"""`cafetalk evaluate` end to end on a tiny hand-made corpus.

An *oracle* generator (returns the ground truth, and performs requested actions exactly)
makes every answer known; the random tiny model checks the real pipeline wiring.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cafetalk_core import cli, rig
from cafetalk_core.evaluation import corpus as evaluate
from cafetalk_core.controls.vocabulary import get_action
from cafetalk_core.curves import BlendshapeCurves

FPS = 30.0
SR = 16000
EMOTION_CHANNELS = {"neutral": [], "happy": ["mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"],
                    "sad": ["mouthFrownLeft", "mouthFrownRight", "browInnerUp"]}


def _clip_curves(emotion: str, n: int, phones: list[dict], rng: np.random.Generator) -> np.ndarray:
    v = rng.uniform(0, 0.03, (n, 52)).astype(np.float32)
    jaw = np.zeros(n, np.float32)
    for p in phones:
        a, b = int(round(p["start_s"] * FPS)), int(round(p["end_s"] * FPS))
        jaw[a:b] = 0.5 if p["phone"] == "AA" else 0.0
    v[:, rig.channel_index("jawOpen")] = jaw
    for c in EMOTION_CHANNELS[emotion]:
        v[:, rig.channel_index(c)] += 0.4
    for c in ("noseSneerLeft", "noseSneerRight"):   # the clip's labelled event (EVENT)
        v[9:24, rig.channel_index(c)] = 0.7
    return np.clip(v, 0, 1)


EVENT = {"action": "AU9", "start_s": 0.3, "end_s": 0.8, "intensity": 1.0}


def make_corpus(folder: Path) -> Path:
    """24 clips: per emotion 6 train, 1 val, 1 test; distinct durations so the oracle can find them."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for emotion in EMOTION_CHANNELS:
        for split in ("train",) * 6 + ("val", "test"):
            duration = 1.5 + 0.05 * k
            n = int(round(duration * FPS))
            phones, t = [], 0.0
            while t + 0.3 <= duration:
                phones += [{"phone": "AA", "start_s": round(t, 3), "end_s": round(t + 0.2, 3)},
                           {"phone": "M", "start_s": round(t + 0.2, 3), "end_s": round(t + 0.3, 3)}]
                t += 0.3
            phones.append({"phone": "SIL", "start_s": round(t, 3), "end_s": duration})
            cid = f"clip{k:02d}"
            tone = 0.1 * np.sin(2 * np.pi * 180 * np.arange(int(duration * SR)) / SR)
            sf.write(folder / f"{cid}.wav", (tone + 0.01 * rng.standard_normal(len(tone))).astype(np.float32), SR)
            rig.write_live_link_csv(folder / f"{cid}.csv", _clip_curves(emotion, n, phones, rng), FPS)
            meta = {"id": cid, "text": "ma ma", "emotion": emotion, "intensity": 0.8, "fps": FPS,
                    "duration_s": duration, "split": split, "phones": phones, "events": [EVENT]}
            (folder / f"{cid}.json").write_text(json.dumps(meta))
            k += 1
    return folder


class OracleGenerator:
    """Returns a clip's ground truth and performs each requested fine control exactly."""

    info = {"fps": FPS, "name": "oracle"}

    def __init__(self, corpus: Path):
        self.by_len = {}
        for js in corpus.glob("*.json"):
            meta = json.loads(js.read_text())
            wav = sf.read(js.with_suffix(".wav"))[0]
            self.by_len[len(wav)] = BlendshapeCurves.load(js.with_suffix(".csv"), fps=meta["fps"]).values

    def generate(self, audio, controls=None, *, steps=None, seed=0, fps=None, **_):
        v = self.by_len[len(audio)].copy()
        for c in (controls.fine if controls else []):
            a, b = int(np.ceil(c.start_s * FPS)), int(np.ceil(c.end_s * FPS))
            for name, w in get_action(c.action).channels:
                v[a:b, rig.channel_index(name)] = w * c.intensity
        return BlendshapeCurves(v, FPS)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def test_oracle_scores_perfectly_through_the_cli(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "load_generator", lambda checkpoint, device="cpu": OracleGenerator(corpus))
    out = tmp_path / "report.json"
    assert cli.main(["evaluate", "--data", str(corpus), "--out", str(out), "--classifier", str(tmp_path / "clf")]) == 0
    printed = capsys.readouterr().out
    assert "bilabial closure" in printed and "AU control rate" in printed
    report = json.loads(out.read_text())   # strict JSON (no NaN)
    for key in ("model", "data", "lip_sync", "emotion", "fine_control", "smoothness", "diversity", "timing", "clips"):
        assert key in report, key
    assert report["data"]["evaluated_clips"] == 3 and report["data"]["split_source"] == "corpus json"
    ls = report["lip_sync"]
    assert ls["mouth_mse"] == 0.0 and ls["max_error"] == 0.0
    assert ls["jaw_corr"] == pytest.approx(1.0)
    assert ls["bilabial_closure"] == 1.0 == ls["gt_bilabial_closure"]
    em = report["emotion"]
    assert em["gt_accuracy"] == 1.0 and em["generated_accuracy"] == 1.0 and em["ratio"] == 1.0
    fc = report["fine_control"]
    assert fc["spans"] == 9 and fc["control_rate"] == 1.0 and fc["mean_overlap"] == 1.0 == fc["mean_iou"]
    assert fc["false_activation"] == 0.0
    assert fc["gt_event_control_rate"] == 1.0 and fc["gt_events"] == 3
    # the oracle's mouth is exact with and without controls; a relative rise over 0 is undefined (None)
    assert fc["lip_sync_mse_plain"] == 0.0 == fc["lip_sync_mse_controlled"] and fc["lip_sync_rise"] is None
    assert report["diversity"]["mouth"] == 0.0 and report["diversity"]["clips"] == 3
    timing = report["timing"]
    assert 0 < timing["seconds_per_clip"] < timing["wall_seconds_per_clip"]   # generation is part of the wall time
    assert timing["realtime_factor"] == pytest.approx(timing["seconds_per_clip"] / timing["audio_seconds_per_clip"])
    assert (tmp_path / "clf" / "emotion_classifier.safetensors").exists()
    # second run loads the saved classifier and agrees
    assert cli.main(["evaluate", "--data", str(corpus), "--out", str(out), "--classifier", str(tmp_path / "clf"),
                     "--max-clips", "2"]) == 0
    assert json.loads(out.read_text())["data"]["evaluated_clips"] == 2


def test_fine_control_detects_disobedience(corpus):
    """A generator that ignores fine controls scores no better than no control at all (actions the
    clip performs anyway, e.g. a jaw drop while speaking, count in both)."""
    oracle = OracleGenerator(corpus)

    class Deaf(OracleGenerator):
        def __init__(self):
            self.by_len = oracle.by_len

        def generate(self, audio, controls=None, **kw):
            return super().generate(audio, None, **kw)

    report = evaluate.evaluate_corpus(Deaf(), corpus, progress=False, diversity_clips=0)
    fc = report["fine_control"]
    assert fc["control_rate"] == fc["control_rate_uncontrolled"] < 0.5


def test_nothing_to_evaluate_is_an_error():
    with pytest.raises(ValueError, match="--data"):
        evaluate.run(object(), data=None, real=False)


def test_missing_corpus_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no <id>.wav"):
        evaluate.load_corpus(tmp_path)


def test_random_tiny_model_end_to_end(corpus, tmp_path):
    import torch

    from cafetalk_core import pipeline

    torch.set_num_threads(1)
    gen = pipeline.Generator.random(preset="tiny")
    report = evaluate.run(gen, data=str(corpus), real=False, max_clips=2, steps=2, seed=0, progress=False)
    evaluate.write_report(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    for section in ("lip_sync", "emotion", "fine_control", "smoothness", "diversity", "timing"):
        assert section in data
    assert data["lip_sync"]["mouth_mse"] > 0            # an untrained model is not the ground truth
    assert math.isfinite(data["timing"]["seconds_per_clip"])
    assert data["diversity"]["clips"] == 2


def test_real_speech_section_uses_realspeech(monkeypatch, capsys):
    """--real: the model's curves go through realspeech.evaluate_real_speech next to its baselines."""
    from cafetalk_core.evaluation import real_speech as realspeech

    clips = realspeech.load_real_speech()[:2]
    monkeypatch.setattr(realspeech, "load_real_speech", lambda directory=None: clips)

    class Closer:
        """Opens the jaw on every frame, never closes the lips: closure must be 0."""
        info = {"fps": FPS}

        def generate(self, audio, controls=None, **_):
            v = np.zeros((max(1, int(round(len(audio) / SR * FPS))), 52), np.float32)
            v[:, rig.channel_index("jawOpen")] = 0.4
            return BlendshapeCurves(v, FPS)

    report = evaluate.run(Closer(), data=None, real=True, progress=False)
    systems = report["real_speech"]["report"]["systems"]
    assert systems["model"]["bilabial_closure"] == 0.0
    assert any(name.startswith("baseline") for name in systems)
    assert "model" in evaluate.format_report(report)
    json.dumps(evaluate.json_safe(report), allow_nan=False)


def test_cli_reports_a_missing_corpus(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "load_generator", lambda checkpoint, device="cpu": object())
    assert cli.main(["evaluate", "--data", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_val_split_scores_other_clips(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "load_generator", lambda checkpoint, device="cpu": OracleGenerator(corpus))
    test = evaluate.evaluate_corpus(OracleGenerator(corpus), corpus, progress=False, diversity_clips=0)
    val = evaluate.evaluate_corpus(OracleGenerator(corpus), corpus, progress=False, diversity_clips=0, split="val")
    assert val["data"]["split"] == "val" and test["data"]["split"] == "test"
    assert {r["id"] for r in val["clips"]}.isdisjoint({r["id"] for r in test["clips"]})
    with pytest.raises(evaluate.EvaluationError, match="split"):
        evaluate.evaluate_corpus(OracleGenerator(corpus), corpus, progress=False, split="train")


def test_per_action_real_speech_table_tells_obedience_from_deafness():
    """evaluation/actions.py on two real clips: a generator that draws the span scores a rise, a deaf one 0."""
    from cafetalk_core.controls.vocabulary import get_action
    from cafetalk_core.evaluation import actions as per_action
    from cafetalk_core.evaluation.real_speech import load_real_speech

    clips = load_real_speech()[:2]

    def obedient(wav, controls):
        v = np.zeros((int(round(len(wav) / 16000 * 30)), 52), np.float32)
        for c in controls.fine:
            v[int(c.start_s * 30):int(c.end_s * 30), get_action(c.action).channel_indices()] = c.intensity
        return v

    table = per_action.real_actions(obedient, clips, 30.0, actions=["AU12", "AU26"])
    assert table["AU12"]["rise_inside"] == pytest.approx(0.9, abs=0.05) and table["AU12"]["change_outside"] == 0.0
    deaf = per_action.real_actions(lambda wav, controls: obedient(wav, type(controls)()), clips, 30.0, actions=["AU12"])
    assert deaf["AU12"]["rise_inside"] == 0.0
    assert "AU12" in per_action.format_real(table)
