"""Per-source style tokens: zero at first, one per training source, chosen by name at sampling."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cafetalk_core.data.dataset import CurvesDataset
from cafetalk_core.data.records import SYNTHETIC_STYLE, scan, style_of
from cafetalk_core.model import Conditions, add_styles, build_model, load_checkpoint, preset

ROOT = Path(__file__).resolve().parents[1]
FACEGOOD = ROOT / "datasets" / "facegood"

torch.set_num_threads(1)


def _cond(b: int = 2, t: int = 12, style: torch.Tensor | None = None) -> Conditions:
    g = torch.Generator().manual_seed(0)
    return Conditions(torch.randn(b, t, 8, generator=g), torch.zeros(b, t, dtype=torch.long), torch.full((b, t), 0.5),
                      style=style)


def test_added_tokens_start_at_zero_and_then_separate_the_sources():
    """add_styles leaves a trained model's output as it was; once a token moves, only its rows change."""
    model = build_model(preset("tiny").replace(audio_dim=8), stage=1).eval()
    for p in model.parameters():   # a "trained" model: adaLN-Zero's zeros would hide everything
        if p.dim() > 1:
            torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 12, 52, generator=torch.Generator().manual_seed(1)), torch.tensor([500, 500])
    before = model(x, t, _cond())
    add_styles(model, ("facegood-1114", SYNTHETIC_STYLE))
    assert model.cfg.style_names == ("facegood-1114", SYNTHETIC_STYLE)
    with pytest.raises(ValueError, match="give Conditions.style"):
        model(x, t, _cond())
    style = torch.tensor([0, 1])
    assert torch.allclose(model(x, t, _cond(style=style)), before, atol=1e-6)
    with torch.no_grad():
        model.style.weight[0] = 0.5
    after = model(x, t, _cond(style=style))
    assert not torch.allclose(after[0], before[0], atol=1e-4) and torch.allclose(after[1], before[1], atol=1e-6)
    with pytest.raises(ValueError, match="already has style tokens"):
        add_styles(model, ("x",))


def test_style_names_come_from_the_card_the_corpus_or_the_folder(tmp_path):
    assert style_of(tmp_path, {"name": "facegood-1114"}, None) == "facegood-1114"
    assert style_of(tmp_path, {"name": "n", "style": "s"}, None) == "s"
    assert style_of(tmp_path, {}, {"phones": []}) == SYNTHETIC_STYLE
    assert style_of(tmp_path / "my_takes", {}, None) == "my_takes"
    assert {r.style for r in scan(FACEGOOD)} == {"facegood-1114"}


def test_items_carry_their_style_index_only_when_the_model_has_tokens():
    ds = CurvesDataset(FACEGOOD, "val", window_frames=60, fine_labels=False)
    assert ds.found_styles == ("facegood-1114",) and "style" not in ds[0]
    ds.styles = ("facegood-1114", SYNTHETIC_STYLE)
    assert int(ds[0]["style"]) == 0
    ds.styles = (SYNTHETIC_STYLE,)
    with pytest.raises(ValueError, match="not one of the model's"):
        ds[0]


def test_config_refuses_a_default_style_it_does_not_have():
    with pytest.raises(ValueError, match="default_style 'x'"):
        preset("tiny").replace(style_names=("a",), default_style="x")


@pytest.fixture(scope="module")
def style_run(tmp_path_factory) -> Path:
    """A tiny model trained with --styles on a small corpus and a 20 s slice of a FACEGOOD take."""
    from cafetalk_core import rig

    base = tmp_path_factory.mktemp("styles")
    corpus = base / "corpus"
    subprocess.run([sys.executable, "-m", "cafetalk_core.cli", "synth-data", "--out", str(corpus), "--hours", "0.004",
                    "--seed", "5", "--workers", "1"], check=True, capture_output=True, cwd=ROOT)
    real = base / "real"
    real.mkdir()
    import soundfile as sf

    from cafetalk_core.audio import load_audio
    take = "1114_2_01"
    wav = load_audio(_audio(take))
    sf.write(real / f"{take}.wav", wav[: 20 * 16000], 16000)
    t = rig.read_live_link_csv(FACEGOOD / f"{take}.csv", fps=json.loads((FACEGOOD / "dataset.json").read_text())["fps"])
    rig.write_live_link_csv(real / f"{take}.csv", t.weights[: int(20 * t.fps)], t.fps)
    card = json.loads((FACEGOOD / "dataset.json").read_text())
    card["splits"] = {"train": [take]}
    (real / "dataset.json").write_text(json.dumps(card))
    out = base / "model"
    cmd = [sys.executable, "-m", "cafetalk_core.cli", "train", "--stage", "1", "--data", str(corpus), str(real),
           "--out", str(out), "--steps", "3", "--config", "tiny", "--front-end", "phonetic-viseme-mel-v1",
           "--batch-size", "2", "--window-frames", "60", "--warmup", "1", "--eval-every", "3",
           "--precompute-workers", "0", "--threads", "1", "--p-recog", "0", "--styles"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return out


def _audio(take: str) -> Path:
    for suffix in (".wav", ".flac"):
        if (FACEGOOD / f"{take}{suffix}").is_file():
            return FACEGOOD / f"{take}{suffix}"
    raise FileNotFoundError(take)


def test_training_with_styles_learns_one_token_per_source_and_sampling_picks_one(style_run):
    from cafetalk_core.pipeline import Generator

    ck = load_checkpoint(style_run)
    assert ck.config.style_names == ("facegood-1114", SYNTHETIC_STYLE)
    assert ck.config.default_style == SYNTHETIC_STYLE and ck.config.phones_optional
    assert float(ck.model.style.weight.detach().abs().sum()) > 0          # the tokens moved
    gen = Generator(style_run, threads=1)
    assert gen.info["styles"] == ["facegood-1114", SYNTHETIC_STYLE]
    wav = 0.1 * np.sin(np.linspace(0, 400, 32000)).astype(np.float32)
    a = gen.generate(wav, seed=0, steps=2, language="de")
    b = gen.generate(wav, seed=0, steps=2, language="de", style=SYNTHETIC_STYLE)
    c = gen.generate(wav, seed=0, steps=2, language="de", style="facegood-1114")
    assert np.array_equal(a.values, b.values) and not np.array_equal(b.values, c.values)
    with pytest.raises(ValueError, match="style 'nobody'"):
        gen.generate(wav, steps=2, language="de", style="nobody")
    gen.cfg.phone_free_style = "facegood-1114"
    assert np.array_equal(gen.generate(wav, seed=0, steps=2, language="de").values, c.values)
