"""``language``: speech the English phone recogniser does not know, through every entry point.

The generator (English by default, bit for bit; another language runs phone-free, without the
recogniser or the closure stage, on a checkpoint trained for it, else a LanguageError naming the
language), ``cafetalk generate --language`` (exit 2), ``cafetalk batch``'s ``language`` column (an
error on its line, the rest done), the server's ``options.language`` (a 422 at submit, the
dynamic-batching path) and the add-on's request option (sent only when not English).
"""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from blender_fixtures import load_addon_io
from cafetalk_core import rig
from cafetalk_core.audio import LanguageError, check_language, recogniser_understands
from cafetalk_core.cli import build_parser, main
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.model import save_checkpoint
from cafetalk_core.pipeline import Generator, cli_generate
from cafetalk_core.server import ServerSettings, create_app
from server_fixtures import FakeGenerator, running_server, submit_together, wait_for, wav_bytes

torch.set_num_threads(1)
SR = 16000
PHONETIC = "phonetic-viseme-mel-v1"   # the shipped model's front end: phone columns to leave out


def _speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * env * np.sin(2 * np.pi * (120 + 30 * np.sin(t)) * t)
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def english_only() -> Generator:
    """A checkpoint as every one before phones_optional: English phones only."""
    return Generator.random("tiny", seed=0, front_end=PHONETIC, threads=1)


@pytest.fixture(scope="module")
def multilingual() -> Generator:
    """The same weights, as if trained with some samples' phone columns zeroed (--p-drop-phones)."""
    gen = Generator.random("tiny", seed=0, front_end=PHONETIC, threads=1)
    gen.cfg.phones_optional = True   # what the model and the generator read (gen.cfg is model.cfg)
    return gen


def _no_recogniser(monkeypatch, gen: Generator) -> None:
    def boom(*_a, **_k):
        raise AssertionError("the phone recogniser ran on speech it does not know")
    monkeypatch.setattr(gen.front_end, "recognise", boom)


# -- tags ----------------------------------------------------------------------------------------
def test_language_tags_are_checked_and_normalised():
    assert check_language(None) is None and check_language(" pt_BR ") == "pt-br" and check_language("cmn") == "cmn"
    assert recogniser_understands(None) and recogniser_understands("en") and recogniser_understands("EN_gb")
    assert not recogniser_understands("zh") and not recogniser_understands("zh-CN")
    for bad in ("", "  ", "english", "z", "zh cn", "zh-", 5):
        with pytest.raises(LanguageError, match="language must be a tag") as err:
            recogniser_understands(bad)
        assert isinstance(err.value, ValueError) and repr(bad) in str(err.value)


# -- the generator -------------------------------------------------------------------------------
def test_english_default_is_bit_identical_to_en(english_only):
    wav = _speech_like(1.0)
    plain = english_only.generate(wav, seed=1, steps=2)
    for tag in ("en", "en-GB", "EN_us"):
        tagged = english_only.generate(wav, seed=1, steps=2, language=tag)
        assert np.array_equal(plain.values, tagged.values), tag
    assert english_only.info["phones_optional"] is False


def test_another_language_runs_without_the_recogniser_and_the_closure_stage(multilingual, monkeypatch):
    wav = _speech_like(1.0)
    english = multilingual.generate(wav, seed=1, steps=2)
    _no_recogniser(monkeypatch, multilingual)

    class ClosureThatMustNotRun:   # trained with phones only: it reads phone columns that are now zero
        phones_optional = False

        def probability(self, feats):
            raise AssertionError("the closure stage ran on phone-free features")

    monkeypatch.setattr(multilingual, "closure", ClosureThatMustNotRun())
    monkeypatch.setattr(multilingual.cfg, "finish_motion", True)
    first = multilingual.generate(wav, seed=1, steps=2, language="zh")
    again = multilingual.generate(wav, seed=1, steps=2, language="zh-CN")
    assert np.array_equal(first.values, again.values)                 # reproducible
    assert first.values.shape == english.values.shape
    assert np.abs(first.values - english.values).max() > 1e-3         # the phone columns mattered
    job = multilingual.prepare(wav, seed=1, language="zh")
    assert job.phone_free and not job.feats[:, multilingual.front_end.slices["phones"]].any()
    assert multilingual.info["phones_optional"] is True


def test_a_detector_trained_without_phones_shuts_the_lips_it_hears_in_another_language(multilingual, monkeypatch):
    """Rule 4 on phone-free input at the detector's recorded threshold; never on English input."""
    wav = _speech_like(1.0)
    _no_recogniser(monkeypatch, multilingual)
    aperture = lambda v: v[:, rig.INDEX["jawOpen"]] - v[:, rig.INDEX["mouthClose"]]  # noqa: E731
    monkeypatch.setattr(multilingual.cfg, "finish_motion", True)
    monkeypatch.setattr(multilingual, "closure", None)
    without = multilingual.generate(wav, seed=1, steps=2, language="de").values
    top = int(np.argmax(aperture(without)[2:-2])) + 2        # the widest-open frame: a bilabial is heard there
    assert aperture(without)[top] > 1e-3
    heard: list[np.ndarray] = []

    from cafetalk_core.model.closure import ClosureDetector

    class PhoneFreeClosure:
        phones_optional = True
        phone_free_threshold, phone_free_dip_db = 0.5, None
        threshold, dip_db = None, None               # English input: rule 4 off
        rule4 = ClosureDetector.rule4                # the real detector's choice per input

        def probability(self, feats):
            heard.append(np.array(feats))
            prob = np.zeros(len(feats), np.float32)
            prob[top - 1:top + 2] = 0.99
            return prob

    monkeypatch.setattr(multilingual, "closure", PhoneFreeClosure())
    shut = multilingual.generate(wav, seed=1, steps=2, language="de").values
    assert heard and not heard[0][:, multilingual.front_end.slices["phones"]].any()   # it heard phone-free features
    assert np.abs(aperture(shut)[top - 1:top + 2]).max() < 1e-4
    far = np.abs(np.arange(len(shut)) - top) > 8
    assert np.allclose(aperture(shut)[far], aperture(without)[far], atol=1e-4)    # nothing moves far from it
    monkeypatch.setattr(PhoneFreeClosure, "phone_free_threshold", None)      # no threshold recorded: rule 4 off
    assert aperture(multilingual.generate(wav, seed=1, steps=2, language="de").values)[top] > 1e-3


def test_a_checkpoint_without_phones_optional_refuses_another_language(english_only, monkeypatch):
    _no_recogniser(monkeypatch, english_only)   # refused before any work
    with pytest.raises(ValueError, match=r"language 'zh'.*reads English phones") as err:
        english_only.generate(_speech_like(0.5), language="zh")
    assert isinstance(err.value, LanguageError) and english_only.model_id in str(err.value)
    with pytest.raises(LanguageError, match="'english'"):
        english_only.generate(_speech_like(0.5), language="english")


def test_generate_batch_reports_a_refused_language_on_its_job_only(english_only):
    wav = _speech_like(1.0)
    out = english_only.generate_batch([{"audio": wav, "seed": 1, "steps": 2},
                                       {"audio": wav, "seed": 1, "steps": 2, "language": "de"}])
    assert isinstance(out[0], BlendshapeCurves) and isinstance(out[1], LanguageError) and "'de'" in str(out[1])


# -- cafetalk generate ---------------------------------------------------------------------------
def test_cli_generate_language(tmp_path, english_only, multilingual, capsys):
    sf.write(tmp_path / "a.wav", _speech_like(1.0), SR)
    for name, gen in (("en_ck", english_only), ("multi_ck", multilingual)):
        save_checkpoint(tmp_path / name, gen.model, front_end={"id": gen.front_end.id})

    def run(ck: str, *extra: str) -> int:
        return cli_generate(build_parser().parse_args(["generate", str(tmp_path / "a.wav"), "--out",
                                                       str(tmp_path / f"{ck}.json"), "--checkpoint",
                                                       str(tmp_path / ck), "--steps", "2", *extra]))

    capsys.readouterr()
    assert run("en_ck", "--language", "zh") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cafetalk generate: error: language 'zh'") and "\n" not in err
    assert not (tmp_path / "en_ck.json").exists()
    assert run("en_ck", "--language", "english") == 2
    assert "got 'english'" in capsys.readouterr().err
    assert run("en_ck", "--language", "en") == 0                 # English on an English-only checkpoint
    assert run("multi_ck", "--language", "zh") == 0              # phones_optional travels in the checkpoint
    zh = BlendshapeCurves.load(tmp_path / "multi_ck.json")
    assert np.allclose(zh.values, multilingual.generate(tmp_path / "a.wav", steps=2, language="zh").values, atol=1e-6)
    # the same one-line error through the command's entry point
    assert main(["generate", str(tmp_path / "a.wav"), "--out", str(tmp_path / "m.csv"), "--checkpoint",
                 str(tmp_path / "en_ck"), "--language", "de"]) == 2
    assert "language 'de'" in capsys.readouterr().err


# -- cafetalk batch ------------------------------------------------------------------------------
def test_batch_language_errors_stay_on_their_lines(tmp_path):
    sf.write(tmp_path / "a.wav", _speech_like(1.0), SR)
    rows = [{"audio": "a.wav", "out": "out/en.json", "language": "en-US", "steps": 2},
            {"audio": "a.wav", "out": "out/bad.json", "language": "english", "steps": 2},   # not a tag
            {"audio": "a.wav", "out": "out/zh.json", "language": "zh", "steps": 2},        # log-mel: any language
            {"audio": "a.wav", "out": "out/plain.json", "steps": 2}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["batch", str(tmp_path / "m.jsonl"), "--random-model", "--device", "cpu", "--workers", "0"]) == 1
    report = json.loads((tmp_path / "m.jsonl.report.json").read_text())
    assert (report["done"], report["failed"]) == (3, 1)   # the random model reads log-mel, no phones
    failed = {e["line"]: e for e in report["errors"]}
    assert failed[2]["stage"] == "manifest" and "got 'english'" in failed[2]["error"]
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"en.json", "zh.json", "plain.json"}
    (tmp_path / "m.csv").write_text("audio,out,language\na.wav,o/x.csv,ZH_cn\na.wav,o/y.csv,\n")
    from cafetalk_core.batch.manifest import read_manifest
    assert [ln.language for ln in read_manifest(tmp_path / "m.csv").lines] == ["zh-cn", None]


def test_batch_lines_carry_their_language_into_prepare(tmp_path, multilingual, monkeypatch):
    from cafetalk_core.batch.jobs import prepare_line
    from cafetalk_core.batch.manifest import BatchLine

    sf.write(tmp_path / "a.wav", _speech_like(1.0), SR)
    english = prepare_line(multilingual, BatchLine(1, tmp_path / "a.wav", tmp_path / "o.csv"))
    _no_recogniser(monkeypatch, multilingual)
    other = prepare_line(multilingual, BatchLine(2, tmp_path / "a.wav", tmp_path / "p.csv", language="zh"))
    assert not english.phone_free and other.phone_free


# -- the server ----------------------------------------------------------------------------------
def _submit(client: httpx.Client, options: dict) -> httpx.Response:
    return client.post("/v1/jobs", files={"audio": ("a.wav", wav_bytes(1.0), "audio/wav")},
                       data={"options": json.dumps(options)})


def test_server_language_is_a_422_unless_the_model_takes_it():
    for phones_optional in (False, True):
        fake = FakeGenerator(step_s=0.0, steps=1, phones_optional=phones_optional)
        with running_server(create_app(fake, ServerSettings())) as url, httpx.Client(base_url=url, timeout=30) as c:
            info = c.get("/v1/info").json()
            assert info["phones_optional"] is phones_optional and info["model"]["phones_optional"] is phones_optional
            published = c.get("/openapi.json").json()["components"]["schemas"]["InfoResponse"]["properties"]
            assert published["phones_optional"]["type"] == "boolean"
            r = _submit(c, {"language": "zh"})
            if phones_optional:
                assert r.status_code == 202, r.text
                assert wait_for(c, r.json()["job_id"])["state"] == "done" and fake.calls[-1]["language"] == "zh"
            else:
                assert r.status_code == 422 and r.json()["field"] == "options.language"
                assert "'zh'" in r.json()["detail"] and "phones_optional" in r.json()["detail"]
                assert not fake.calls                                   # nothing was queued
            for bad in ("english", "", "zh cn", 7):
                r = _submit(c, {"language": bad})
                assert r.status_code == 422 and r.json()["field"] == "options.language", (bad, r.text)
            r = _submit(c, {"language": "en_US"})
            assert r.status_code == 202 and wait_for(c, r.json()["job_id"])["state"] == "done"
            assert fake.calls[-1]["language"] == "en-us"
            r = _submit(c, {})
            assert wait_for(c, r.json()["job_id"])["state"] == "done" and fake.calls[-1]["language"] is None


def test_server_dynamic_batch_mixes_languages(multilingual, english_only):
    """English and Mandarin jobs sampled in one batch each get what generate() alone gives."""

    wav = _speech_like(1.0)
    buf = __import__("io").BytesIO()
    sf.write(buf, wav, SR, format="WAV", subtype="FLOAT")
    audio = buf.getvalue()
    calls: list[int] = []
    real = multilingual.generate_batch

    def counting(requests, **kw):
        calls.append(len(requests))
        return real(requests, **kw)

    multilingual.generate_batch = counting
    try:
        with running_server(create_app(multilingual, ServerSettings(max_batch=2, batch_wait_s=1.0))) as url, \
                httpx.Client(base_url=url, timeout=60) as c:
            assert c.get("/v1/info").json()["phones_optional"] is True
            got = submit_together(c, [{"files": {"audio": ("a.wav", audio)},
                                       "data": {"options": json.dumps({"steps": 2, "seed": 5, "language": lang})}}
                                      for lang in ("en", "zh")])
    finally:
        del multilingual.generate_batch
    assert calls == [2]                                                   # one batch held both
    for curves, language in zip(got, ("en", "zh")):
        alone = multilingual.generate(wav, steps=2, seed=5, language=language)
        np.testing.assert_allclose(curves.values, alone.values, atol=2e-5)   # the JSON keeps 6 decimals
    with running_server(create_app(english_only, ServerSettings())) as url, httpx.Client(base_url=url, timeout=30) as c:
        r = _submit(c, {"language": "zh"})
        assert r.status_code == 422 and "'zh'" in r.json()["detail"]


# -- the add-on's request option (no Blender: io/ imports no bpy) --------------------------------
def test_addon_sends_language_only_when_not_english():
    vocabulary = load_addon_io("vocabulary")
    errors = load_addon_io("errors")
    for english in ("", "  ", "en", "EN", "en-us", "en_GB"):
        assert vocabulary.language_option(english) is None, english
    assert vocabulary.language_option(" zh ") == "zh" and vocabulary.language_option("pt_BR") == "pt-br"
    for bad in ("english", "zh cn", "z"):
        with pytest.raises(errors.CafeTalkError, match=f"language {bad!r}"):
            vocabulary.language_option(bad)
    assert vocabulary.server_takes_other_languages() is None
    try:
        vocabulary.update_from_server({"phones_optional": True})
        assert vocabulary.server_takes_other_languages() is True
        vocabulary.update_from_server({"fps": 30})                         # an older server says nothing
        assert vocabulary.server_takes_other_languages() is None
    finally:
        vocabulary.update_from_server({})
