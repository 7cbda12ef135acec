"""CurvesDataset: synth folders and Live Link captures, windowing, labels, bad files."""
from __future__ import annotations

import logging
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from cafetalk_core import rig
from cafetalk_core.controls.vocabulary import NUM_ACTIONS
from cafetalk_core.data import corpus
from cafetalk_core.audio import LogMelFrontEnd
from cafetalk_core.data.dataset import CurvesDataset, collate
from cafetalk_core.data.records import split_of_name
from cafetalk_core.data.recognition_cache import precompute
from cafetalk_core.phones import Phone

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    corpus.cli_synth_data(SimpleNamespace(out=str(out), hours=0.004, seed=3, workers=1, fps=30.0))
    return out


def _capture(folder, name, seconds=3.0, fps=60.0, sr=44100, smile=0.0):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(folder / f"{name}.wav"), 0.3 * np.sin(2 * np.pi * 220 * t), sr)
    n = int(round(seconds * fps))
    w = np.zeros((n, 52), np.float32)
    w[:, rig.INDEX["jawOpen"]] = 0.3 + 0.2 * np.sin(np.arange(n) / 5)
    w[n // 3: n // 2, rig.INDEX["eyeBlinkLeft"]] = 1.0
    w[n // 3: n // 2, rig.INDEX["eyeBlinkRight"]] = 1.0
    w[:, rig.INDEX["mouthSmileLeft"]] = smile
    rig.write_live_link_csv(folder / f"{name}.csv", w, fps)


class CountingFrontEnd(LogMelFrontEnd):
    id = "counting"
    uses_phones = True

    def __init__(self):
        self.recognised = 0
        self.seen_phones = []

    def recognise(self, wav16k):
        self.recognised += 1
        return [Phone("SIL", 0.0, 0.5), Phone("AA", 0.5, 1.0)]

    def features(self, wav16k, num_frames, fps, phones=None):
        self.seen_phones.append(phones)
        return super().features(wav16k, num_frames, fps, phones)


def test_synth_items_have_labels_from_json(synth_dir):
    ds = CurvesDataset(synth_dir, split=None, window_frames=60)
    assert len(ds) >= 2
    item = ds[0]
    assert item["x0"].shape == (60, 52) and item["x0"].dtype == torch.float32
    assert item["audio"].shape == (60, ds.front_end.dim)
    assert item["emotion"].dtype == torch.int64 and item["emotion"].shape == (60,)
    assert item["fine"].shape == (60, NUM_ACTIONS)
    batch = collate([ds[0], ds[1]])
    assert batch["x0"].shape == (2, 60, 52) and len(batch["id"]) == 2
    # events in the JSON become fine labels somewhere in the corpus
    val = CurvesDataset(synth_dir, split=None, window_frames=30)
    assert sum(float(val[i]["fine"].sum()) for i in range(len(val))) > 0


def test_splits_and_windowing(synth_dir):
    tr = CurvesDataset(synth_dir, split="train", window_frames=45, seed=1)
    others = [CurvesDataset(synth_dir, split=s, window_frames=45) for s in ("val", "test")]
    ids = [set(r.id for r in d.records) for d in [tr] + others]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2])
    assert len(tr)
    if len(tr):
        a, b = tr[0], tr[0]
        assert a["id"] == b["id"]
        assert torch.equal(a["x0"], b["x0"])      # same epoch, same crop
        crops = set()
        for epoch in range(6):                    # another epoch, another crop (of the same clip)
            tr.set_epoch(epoch)
            crops.add(tr[0]["x0"].numpy().tobytes())
        assert len(crops) > 1
    # every split but train is tiled: deterministically, covering each clip (split=None tiles the
    # whole corpus, which this small one puts in train only)
    tiled, again = (CurvesDataset(synth_dir, split=None, window_frames=45) for _ in range(2))
    assert len(tiled) > len(tiled.records) >= 2
    for i in range(len(tiled)):
        assert torch.equal(tiled[i]["x0"], again[i]["x0"])
    for ci, rec in enumerate(tiled.records):
        starts = [s for c, s in tiled.index if c == ci]
        covered = np.zeros(rec.num_frames(tiled.fps), bool)
        for s in starts:
            covered[s:s + tiled.window] = True
        assert starts[0] == 0 and covered.all(), (rec.id, starts, covered.size)


def test_user_capture_resampled_and_labelled_by_algorithm_1(tmp_path):
    names = [f"take{i}" for i in range(12)]
    for n in names:
        _capture(tmp_path, n)
    ds = CurvesDataset(tmp_path, split=None, fps=30.0, window_frames=120)
    assert len(ds.records) == 12
    item = ds[0]
    assert item["mask"].sum() == 90                    # 3 s at 30 fps, padded to 120
    x0 = item["x0"][:90].numpy()
    assert abs(x0[:, rig.INDEX["jawOpen"]].mean() - 0.3) < 0.05
    assert (item["emotion"] == 0).all() and torch.allclose(item["intensity"], torch.tensor(0.5))
    blink = item["fine"][:, [i for i, a in enumerate(__import__("cafetalk_core").controls.vocabulary.ACTION_IDS) if a == "AU45"][0]]
    assert blink[30:45].min() > 0 and blink[:25].max() == 0
    splits = [split_of_name(n) for n in names]
    assert set(splits) <= {"train", "val", "test"}
    # the split is a hash of the name (sha1, not Python's per-process hash): known names, known splits
    assert [split_of_name(n) for n in ("take0", "take4", "take12")] == ["train", "test", "val"]


def test_bad_files_are_skipped_with_a_warning(tmp_path, caplog):
    _capture(tmp_path, "good")
    (tmp_path / "broken.wav").write_bytes(b"not a wav")
    shutil.copy(tmp_path / "good.csv", tmp_path / "broken.csv")
    _capture(tmp_path, "badcsv")
    (tmp_path / "badcsv.csv").write_text("Timecode,EyeBlinkLeft\n00:00:00:00.000,abc\n")
    _capture(tmp_path, "short", seconds=3.0)
    _capture(tmp_path, "mismatch")
    w = np.zeros((20, 52), np.float32)
    rig.write_live_link_csv(tmp_path / "mismatch.csv", w, 60.0)   # 0.33 s of curves, 3 s of audio
    caplog.set_level(logging.WARNING)
    ds = CurvesDataset(tmp_path, split=None, window_frames=30)
    got = {ds[i]["id"] for i in range(len(ds))}
    assert got <= {"good", "short"} and got
    text = caplog.text
    assert "broken.wav" in text and "badcsv.csv" in text and "mismatch.csv" in text


def test_recogniser_cached_and_mixed_with_true_phones(synth_dir):
    fe = CountingFrontEnd()
    n = precompute(synth_dir, fe, workers=1)
    assert n >= 2 and fe.recognised == n
    assert list(synth_dir.glob("*.recog.json"))
    fe2 = CountingFrontEnd()
    ds = CurvesDataset(synth_dir, split=None, window_frames=30, front_end=fe2, p_recog=0.5, cache_clips=False)
    for i in range(len(ds)):
        for e in range(4):
            ds.set_epoch(e)
            ds[i]
    assert fe2.recognised == 0                           # read from the cache
    kinds = {None if p is None else (len(p) == 2) for p in fe2.seen_phones}
    assert True in kinds and False in kinds              # recognised and (perturbed) true phones both used


def test_takes_in_another_language_and_dropped_samples_have_no_phone_columns(tmp_path):
    """FACEGOOD's card says zh: its windows carry zero phone columns (never the English recogniser's
    guesses) and the acoustics; p_drop_phones=1 does the same to English clips; a bad tag is refused."""
    import json
    import shutil

    from cafetalk_core.audio import build_front_end
    from cafetalk_core.evaluation.captures import default_capture_dir

    fe = build_front_end("phonetic-viseme-mel-v1")
    fe.recognise = lambda wav: (_ for _ in ()).throw(AssertionError("the recogniser ran on Mandarin"))
    phones = fe.slices["phones"]
    ds = CurvesDataset([default_capture_dir()], "val", window_frames=60, front_end=fe, fine_labels=False)
    assert ds.records[0].language == "zh" and ds.teaches_phone_free
    audio = ds[0]["audio"].numpy()
    assert np.abs(audio[:, phones]).max() == 0 and np.abs(audio[:, fe.slices["mel"]]).max() > 0
    card = json.loads((default_capture_dir() / "dataset.json").read_text())
    take = card["splits"]["val"][0]
    for suffix in (".flac", ".csv"):
        shutil.copy(default_capture_dir() / f"{take}{suffix}", tmp_path / f"{take}{suffix}")
    (tmp_path / "dataset.json").write_text(json.dumps({"language": "Mandarin", "splits": {"val": [take]}}))
    with pytest.raises(ValueError, match="Mandarin"):
        CurvesDataset([tmp_path], "val", window_frames=60, front_end=fe)
    (tmp_path / "dataset.json").write_text(json.dumps({"language": "en", "splits": {"val": [take]}}))
    fe.recognise = lambda wav: []
    english = CurvesDataset([tmp_path], "val", window_frames=60, front_end=fe, fine_labels=False)
    assert not english.teaches_phone_free
    dropped = CurvesDataset([tmp_path], "val", window_frames=60, front_end=fe, fine_labels=False, p_drop_phones=1.0)
    assert dropped.teaches_phone_free and np.abs(dropped[0]["audio"].numpy()[:, phones]).max() == 0
    with pytest.raises(ValueError, match="p_drop_phones"):
        CurvesDataset([tmp_path], "val", front_end=build_front_end("logmel-v1"), p_drop_phones=0.5)
