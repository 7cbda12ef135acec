"""The FACEGOOD takes as converted into the repository (datasets/facegood) and the converter's checks.

The converted files are the real data the model trains on: a wrong channel order must fail here
loudly, on the real frames (the jaw follows loudness; twins stay twins; the card matches the files).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cafetalk_core import rig
from cafetalk_core.audio import load_audio
from cafetalk_core.data import facegood
from cafetalk_core.data.dataset import CurvesDataset
from cafetalk_core.data.records import channel_mask, scan
from cafetalk_core.model.diffusion import diffusion_loss

ROOT = Path(__file__).resolve().parents[1] / "datasets" / "facegood"
CARD = json.loads((ROOT / "dataset.json").read_text())


def _loudness(wav: np.ndarray, n: int, fps: float = 30.0) -> np.ndarray:
    hop = 16000 / fps
    return np.log(np.array([np.sqrt(np.mean(wav[int(i * hop):int((i + 1) * hop)] ** 2)) for i in range(n)]) + 1e-4)


def test_card_splits_by_take_and_names_its_source():
    splits = CARD["splits"]
    takes = [t for ids in splits.values() for t in ids]
    assert len(takes) == len(set(takes)) == 7                     # no take in two splits
    assert splits["val"] == ["1114_2_05"] and splits["test"] == ["1114_3_16"]
    assert CARD["source"]["repository"] == "FACEGOOD/FACEGOOD-Audio2Face"
    assert len(CARD["source"]["commit"]) == 40
    assert set(CARD["supervised_channels"]) == set(facegood.ARKIT_MAPPING) and len(CARD["supervised_channels"]) == 27
    for t in takes:
        assert (ROOT / f"{t}.flac").is_file() and (ROOT / f"{t}.csv").is_file()


@pytest.mark.parametrize("take", ["1114_2_05", "1114_3_16"])
def test_real_frames_jaw_follows_loudness_and_unmapped_channels_are_zero(take):
    """On the held-out takes: jawOpen (their mouth_stretch_c) follows loudness; nothing outside the mapping moves."""
    curves = rig.read_live_link_csv(ROOT / f"{take}.csv")
    assert curves.fps == 30
    wav = load_audio(ROOT / f"{take}.flac")
    n = min(curves.weights.shape[0], int(len(wav) / (16000 / 30)))
    jaw = curves.weights[:n, rig.channel_index("jawOpen")]
    r = np.corrcoef(_loudness(wav, n), jaw)[0, 1]
    assert r > 0.5, r
    unmapped = [i for i, name in enumerate(rig.ARKIT_NAMES) if name not in facegood.ARKIT_MAPPING]
    assert np.all(curves.weights[:, unmapped] == 0)
    # the rig's left/right twins map to left/right ARKit pairs that agree
    lo, ro = rig.channel_index("mouthLowerDownLeft"), rig.channel_index("mouthLowerDownRight")
    np.testing.assert_allclose(curves.weights[:, lo], curves.weights[:, ro], atol=1e-5)
    assert curves.weights[:, lo].std() > 0.02


def test_column_order_check_refuses_a_shifted_reading():
    """Read with the 1119 names (one column off), the jaw is no longer the loudness column: refused."""
    rng = np.random.default_rng(0)
    n, names = 300, [f"c{i}_l" for i in range(10)]
    names[4] = "mouth_stretch_c"
    loud = np.abs(np.sin(np.arange(n) / 7.0))
    wav = np.concatenate([rng.standard_normal(int(16000 / 30)) * (0.01 + a) for a in loud]).astype(np.float32)
    values = rng.random((n, 10)) * 0.05
    values[:, 4] = loud
    assert facegood.check_column_order(values, names, wav)["mouth_stretch_c"] > 0.8
    shifted = names[1:] + names[:1]
    with pytest.raises(facegood.FacegoodError, match="loudness best"):
        facegood.check_column_order(values, shifted, wav)


def test_value_column_names_checks_every_mapped_name():
    old = ["brow_lower_l", "tongue_Scale_X"] + [n for s in facegood.ARKIT_MAPPING.values() for n in s]
    new = [old[0]] + old[2:] + ["tongue_Scale_X"]
    assert facegood.value_column_names(new, old) == old
    swapped = list(old)
    swapped[2], swapped[3] = swapped[3], swapped[2]
    with pytest.raises(facegood.FacegoodError):
        facegood.value_column_names(new, swapped)


def test_dataset_reads_flac_splits_and_masks_unsupervised_channels():
    recs = {r.id: r for r in scan(ROOT)}
    assert recs["1114_3_16"].split == "test" and recs["1114_2_05"].split == "val"
    assert recs["1114_2_01"].split == "train" and recs["1114_2_01"].wav.suffix == ".flac"
    mask = channel_mask(recs["1114_2_01"])
    assert mask.sum() == 27 and mask[rig.channel_index("eyeBlinkLeft")] == 0 and mask[rig.channel_index("jawOpen")] == 1


def test_loss_ignores_channels_the_capture_does_not_animate():
    """Changing the truth of an unsupervised channel leaves the loss unchanged; a supervised one changes it."""
    from cafetalk_core.model import build_model, preset, DDIMScheduler, SchedulerConfig
    cfg = preset("tiny").replace(audio_dim=8)
    model = build_model(cfg, stage=1).eval()
    sched = DDIMScheduler(SchedulerConfig(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule))
    b, t = 2, 16
    mask = torch.zeros(b, rig.NUM_CHANNELS)
    mask[:, rig.channel_index("jawOpen")] = 1
    batch = {"curves": torch.full((b, t, rig.NUM_CHANNELS), 0.2), "audio": torch.zeros(b, t, 8),
             "emotion": torch.zeros(b, t, dtype=torch.int64), "intensity": torch.zeros(b, t), "channel_mask": mask}

    def loss(curves):
        return float(diffusion_loss(model, sched, {**batch, "curves": curves}, generator=torch.Generator().manual_seed(0))[0].detach())

    base = loss(batch["curves"])
    blink = batch["curves"].clone()
    blink[..., rig.channel_index("eyeBlinkLeft")] = 0.9
    assert loss(blink) == pytest.approx(base, abs=1e-7)
    jaw = batch["curves"].clone()
    jaw[..., rig.channel_index("jawOpen")] = 0.9
    assert abs(loss(jaw) - base) > 1e-4


def test_training_windows_weight_long_takes_by_length():
    ds = CurvesDataset(ROOT, "train", window_frames=120)
    per_take = {}
    for ci, _ in ds.index:
        per_take[ds.records[ci].id] = per_take.get(ds.records[ci].id, 0) + 1
    assert per_take["1114_2_01"] == round(ds.records[0].num_frames(30.0) / 120)
    assert per_take["1114_2_01"] > 2 * per_take["1114_3_15"]
    weighted = CurvesDataset(ROOT, "train", window_frames=120, weights=[3.0])
    assert len(weighted) == pytest.approx(3 * len(ds), rel=0.05)
