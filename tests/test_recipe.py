"""One command rebuilds every shipped part: the tiny recipe end to end, and the recipe's checks.

The tiny recipe has the default recipe's steps (stage 1 on the corpus, then on corpus + real takes,
the stage-2 switches, closure, head, text head, tuning, rule 4's choice, the head fit) at toy scale; the test runs it through the
real command (`cafetalk train --recipe tiny`) on a tiny synthetic corpus and a slice of a real
FACEGOOD take, then loads the result with the Generator and generates.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cafetalk_core import cli, rig
from cafetalk_core.training.recipe import RecipeError, assign_roles, load_recipe

ROOT = Path(__file__).resolve().parents[1]
FACEGOOD = ROOT / "datasets" / "facegood"


def _real_slice(dst: Path, take: str = "1114_3_15", split: str = "train", seconds: float = 12.0) -> None:
    """A short real take with the same card as datasets/facegood (its own split)."""
    dst.mkdir(parents=True, exist_ok=True)
    wav, sr = sf.read(FACEGOOD / f"{take}.flac", dtype="float32")
    sf.write(dst / f"{take}.flac", wav[: int(seconds * sr)], sr)
    t = rig.read_live_link_csv(FACEGOOD / f"{take}.csv")
    rig.write_live_link_csv(dst / f"{take}.csv", t.weights[: int(seconds * t.fps)], t.fps)
    card = json.loads((FACEGOOD / "dataset.json").read_text())
    card["splits"] = {split: [take]}
    (dst / "dataset.json").write_text(json.dumps(card))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("recipe")
    corpus = base / "corpus"
    assert cli.main(["synth-data", "--out", str(corpus), "--hours", "0.012", "--seed", "3", "--workers", "1"]) == 0
    _real_slice(base / "real")
    return base, corpus, base / "real"


def test_recipes_parse_and_name_every_shipped_part():
    for name in ("default", "tiny"):
        r = load_recipe(name)
        trainers = [s.trainer for s in r.steps]
        assert trainers == ["denoiser", "denoiser", "denoiser", "flags", "closure", "head", "text_head", "tune",
                            "closure_threshold", "closure_threshold", "tune_phone_free", "closure_threshold",
                            "aperture_gain", "head_fit"], name
        assert r.steps[8].options["input"] == "phones"
        # rule 4 without phones before the phone-free tuner (which samples with it) and again for its choice
        assert r.steps[9].options["input"] == r.steps[11].options["input"] == "phone-free"
        assert r.steps[4].options["p_drop_phones"] > 0          # the closure detector hears phone-free input too
        assert r.steps[1].data == ("corpus", "real") and r.steps[1].init == "stage1_synthetic"
        assert r.steps[2].options["p_drop_phones"] > 0 and r.steps[3].init == "stage1_phone_free"


def test_bad_recipes_are_refused_naming_the_step(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"steps": [{"name": "a", "trainer": "denoiser", "init": "later"}]}))
    with pytest.raises(RecipeError, match=r"steps\[0\] \(a\): init 'later'"):
        load_recipe(bad)
    bad.write_text(json.dumps({"steps": [{"name": "a", "trainer": "magic"}]}))
    with pytest.raises(RecipeError, match="trainer 'magic'"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="no such file"):
        load_recipe("nonexistent")


def test_folders_with_a_card_are_real(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "dataset.json").write_text("{}")
    roles = assign_roles([tmp_path / "c", tmp_path / "r"])
    assert roles == {"corpus": [tmp_path / "c"], "real": [tmp_path / "r"]}


def test_tiny_recipe_rebuilds_every_part_and_resumes(tiny_data, monkeypatch, capsys):
    base, corpus, real = tiny_data
    out = base / "model"
    monkeypatch.chdir(base)          # paths recorded relative to the working directory
    argv = ["train", "--recipe", "tiny", "--data", "corpus", "real", "--out", "model"]
    assert cli.main(argv) == 0
    for part in ("config.json", "model.safetensors", "closure/config.json", "head/config.json",
                 "text_head.safetensors", "text_head.json", "recipe.json"):
        assert (out / part).is_file(), part
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_config"]["control_prior"] and cfg["model_config"]["blink_stage"]
    assert cfg["stage"] == 2 and cfg["stage1_step"] == 3 + 2 + 2      # the steps of the three stage-1 runs it holds
    assert cfg["model_config"]["phones_optional"]                      # the phone-free step: any language
    assert "sampling_tuned" in cfg and cfg["model_config"]["default_steps"] == 2
    # the toy model never opens its mouth without phones: the phone-free step says so and keeps the defaults
    pf = cfg["phone_free_sampling_tuned"]
    assert pf["chosen"] is None and "no setting keeps" in pf["kept_english_defaults"] and len(pf["scores"]) >= 2
    assert cfg["model_config"]["phone_free_steps"] is None
    gain = cfg["phone_free_aperture_gain_fitted"]                      # fitted, or kept off with the reason
    assert cfg["model_config"].get("phone_free_aperture_gain") == gain["gain"]
    assert gain["gain"] is not None or gain["kept_without_gain"]
    closure = json.loads((out / "closure" / "config.json").read_text())
    assert closure["front_end"] == "phonetic-viseme-mel-v1" and closure["phones_optional"]   # trained for phone-free input too
    assert closure["train"]["phone_free_threshold_chosen_on"]["set"] == "multilingual val"   # rule 4 chosen without phones
    assert closure["train"]["threshold_chosen_on"]["set"] == "real speech val"       # rule 4 chosen, with phones
    head = json.loads((out / "head" / "config.json").read_text())
    assert len(head["real_fit"]["gain"]) == 3 and "head_pose" in head["real_fit"]["fitted_on"]["target"]
    record = json.loads((out / "recipe.json").read_text())
    assert record["data"] == {"corpus": ["corpus"], "real": ["real"]}          # relative, not absolute
    assert record["data_sources"]["real"]["source"]["repository"] == "FACEGOOD/FACEGOOD-Audio2Face"
    assert record["front_end"] == ["phonetic-viseme-mel-v1"]
    mixed = json.loads((out / "work" / "stage1_real" / "train_config.json").read_text())
    assert mixed["data"] == ["corpus", "real"] and mixed["init"].endswith("stage1_synthetic")
    assert str(base) not in (out / "recipe.json").read_text()

    from cafetalk_core.pipeline import Generator
    wav, sr = sf.read(corpus / sorted(p.name for p in corpus.glob("*.wav"))[0], dtype="float32")
    curves = Generator(out).generate(wav[: sr * 2], sample_rate=sr, seed=0)
    assert curves.values.shape[1] == 52 and np.isfinite(curves.values).all()

    capsys.readouterr()
    assert cli.main(argv) == 0                                   # a second run finds every step done
    assert capsys.readouterr().out.count("done before, skipped") == 14
