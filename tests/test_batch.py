"""Batched sampling and `cafetalk batch`: same curves as one at a time, bad lines reported, resumable."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cafetalk_core.batch.manifest import read_manifest
from cafetalk_core.cli import main
from cafetalk_core.controls import ControlSet
from cafetalk_core.curves import BlendshapeCurves
from cafetalk_core.formats import read_take
from cafetalk_core.pipeline import DEFAULT_CHECKPOINT, Generator

torch.set_num_threads(1)
REAL = Path(__file__).resolve().parents[1] / "cafetalk_core" / "evaluation" / "sets" / "real_speech"
CLIPS = ["arctic_a0009.wav", "ps_cards_002.wav", "librivox_0880.wav"]   # 3.1 s, 2.0 s, 3.0 s of real speech
shipped = pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "config.json").is_file(), reason="no shipped checkpoint")


@pytest.fixture(scope="module")
def tiny() -> Generator:
    """The random tiny model has the learned adapter (a third CFG branch, its own self-attention)."""
    return Generator.random("tiny", seed=0, threads=1)


def _jobs(gen: Generator, long_wav: np.ndarray | None = None) -> list:
    fine = ControlSet.from_dict({"emotion": "happy", "intensity": 0.5,
                                 "fine": [{"action": "AU12", "start_s": 0.4, "end_s": 1.4, "intensity": 0.8}]})
    jobs = [gen.prepare(REAL / CLIPS[0], fine, seed=11, steps=4),
            gen.prepare(REAL / CLIPS[1], seed=12, steps=4, audio_scale=1.0),        # no G_none branch: its own group
            gen.prepare(REAL / CLIPS[2], seed=13, steps=4, face_scale=0.5)]         # one scale per channel
    take = gen.generate(REAL / CLIPS[1], seed=1, steps=4)
    jobs.append(gen.prepare(REAL / CLIPS[1], seed=14, steps=4, inpaint=(take, 0.5, 1.2)))   # inpainting noise per row
    if long_wav is not None:   # 10 s: two windows, the second inpainted from the first
        jobs.append(gen.prepare(long_wav, fine, seed=15, steps=4))
    return jobs


def test_batch_equals_one_at_a_time_random_model_with_adapter(tiny):
    rng = np.random.default_rng(0)
    long_wav = (0.1 * rng.standard_normal(16000 * 10)).astype(np.float32)
    jobs = _jobs(tiny, long_wav)
    batched = tiny.sample_batch(jobs)
    for job, out in zip(jobs, batched):
        alone = tiny.sample_batch([job])[0]
        assert out.shape == alone.shape
        np.testing.assert_allclose(out, alone, atol=1e-5, rtol=0)
    # and through the public entry point: generate() is prepare -> sample_batch([job]) -> finish
    again = tiny.generate(REAL / CLIPS[2], seed=13, steps=4, face_scale=0.5)
    np.testing.assert_allclose(tiny.finish(jobs[2], batched[2]).values, again.values, atol=1e-5, rtol=0)


def test_seeds_stay_per_job(tiny):
    a, b = tiny.prepare(REAL / CLIPS[1], seed=1, steps=3), tiny.prepare(REAL / CLIPS[1], seed=2, steps=3)
    out = tiny.sample_batch([a, b, a])
    np.testing.assert_allclose(out[0], out[2], atol=1e-5, rtol=0)
    assert np.abs(out[0] - out[1]).max() > 0.05


@shipped
def test_batch_equals_one_at_a_time_shipped_model():
    gen = Generator(threads=1)
    jobs = _jobs(gen)
    for job, out in zip(jobs, gen.sample_batch(jobs)):
        alone = gen.finish(job, gen.sample_batch([job])[0])
        np.testing.assert_allclose(gen.finish(job, out).values, alone.values, atol=1e-5, rtol=0)


# -- the manifest ----------------------------------------------------------------------------------
def test_manifest_lines_and_errors(tmp_path):
    (tmp_path / "m.jsonl").write_text("\n".join([
        json.dumps({"audio": "a.wav", "out": "o/a.csv", "emotion": "happy", "controls": ["AU12:0.1-0.5:0.5"], "seed": 3}),
        "not json",
        json.dumps({"audio": "a.wav", "out": "o/b.json", "controls": {"emotion": "sad"}, "steps": 2.0}),
        json.dumps({"audio": "a.wav", "out": "o/c.txt"}),
        json.dumps({"audio": "a.wav", "out": "o/a.csv"}),
        json.dumps({"audio": "a.wav", "out": "o/d.csv", "seed": 1.5, "colour": 1}),
        json.dumps({"audio": "a.wav", "out": "o/e.csv", "seed": 1.5}),
        "", "# a comment",
    ]))
    m = read_manifest(tmp_path / "m.jsonl")
    assert [ln.line for ln in m.lines] == [1, 3]
    assert m.lines[0].audio == tmp_path / "a.wav" and m.lines[0].controls == ("AU12:0.1-0.5:0.5",) and m.lines[0].seed == 3
    assert m.lines[1].controls_json == {"emotion": "sad"} and m.lines[1].steps == 2
    errors = {e.line: e.message for e in m.errors}
    assert set(errors) == {2, 4, 5, 6, 7}
    assert "not JSON" in errors[2] and ".csv, .json or .npz" in errors[4] and "also the output of line 1" in errors[5]
    assert "colour" in errors[6] and "seed must be an integer" in errors[7]
    (tmp_path / "m.csv").write_text("audio,out,controls\na.wav,o/x.csv,AU12:0.1-0.5 ; AU45:0.6-0.7\n")
    assert read_manifest(tmp_path / "m.csv").lines[0].controls == ("AU12:0.1-0.5", "AU45:0.6-0.7")
    (tmp_path / "bad.csv").write_text("audio,output\na.wav,o/x.csv\n")
    with pytest.raises(ValueError, match="'audio' and 'out'"):
        read_manifest(tmp_path / "bad.csv")


def _mixed_manifest(root: Path) -> Path:
    for name in CLIPS:
        shutil.copy(REAL / name, root / name)
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    rows = ["audio,out,emotion,intensity,controls,text,seed",
            f"{CLIPS[0]},out/a.csv,happy,0.8,AU12:0.5-1.5:0.6,,1",
            f"{CLIPS[1]},out/b.json,,,,,2",
            "broken.wav,out/c.csv,,,,,3",                       # broken audio
            f"{CLIPS[2]},out/d.npz,angry,,AU99:0-1,,4",         # unknown action
            f"{CLIPS[2]},out/e.csv,sad,,AU12:2.5-2.0,,5",       # span ends before it starts
            "missing.wav,out/f.csv,,,,,6",                      # no such file
            f"{CLIPS[2]},out/g.csv,,abc,,,7",                   # not a number
            f"{CLIPS[2]},out/h.csv,neutral,1,AU45:1.0-1.2,,8",
            f"{CLIPS[1]},out/i.json,furious,,,,9"]               # unknown emotion
    (root / "m.csv").write_text("\n".join(rows) + "\n")
    return root / "m.csv"


def test_cafetalk_batch_reports_bad_lines_does_the_rest_and_resumes(tmp_path, tiny):
    manifest = _mixed_manifest(tmp_path)
    args = ["batch", str(manifest), "--random-model", "--device", "cpu", "--workers", "1"]
    assert main(args) == 1                                      # some lines failed
    report = json.loads((tmp_path / "m.csv.report.json").read_text())
    assert (report["done"], report["failed"], report["skipped"]) == (3, 6, 0)
    failed = {e["line"]: e for e in report["errors"]}
    assert set(failed) == {4, 5, 6, 7, 8, 10}
    assert failed[4]["stage"] == "prepare" and "AudioError" in failed[4]["error"]
    assert "AU99" in failed[5]["error"] and failed[8]["stage"] == "manifest" and "furious" in failed[10]["error"]
    outs = {p.name for p in (tmp_path / "out").iterdir()}
    assert outs == {"a.csv", "b.json", "h.csv"}                 # no partial files left behind
    # the written takes are the one-at-a-time generation with each line's seed
    a = read_take(tmp_path / "out" / "a.csv")
    alone = tiny.generate(REAL / CLIPS[0], ControlSet.from_dict(
        {"emotion": "happy", "intensity": 0.8, "fine": [{"action": "AU12", "start_s": 0.5, "end_s": 1.5, "intensity": 0.6}]}),
        seed=1)
    np.testing.assert_allclose(a.values, alone.values, atol=1e-4)   # Live Link CSV keeps 6 decimals or so
    np.testing.assert_array_equal(BlendshapeCurves.load(tmp_path / "out" / "b.json").values,
                                  tiny.generate(REAL / CLIPS[1], seed=2).values.round(6))
    # resume: finished outputs are skipped, a removed one is made again, identical
    before = (tmp_path / "out" / "h.csv").read_bytes()
    (tmp_path / "out" / "h.csv").unlink()
    assert main(args + ["--workers", "0"]) == 1
    report = json.loads((tmp_path / "m.csv.report.json").read_text())
    assert (report["done"], report["skipped"], report["failed"]) == (1, 2, 6)
    assert (tmp_path / "out" / "h.csv").read_bytes() == before


def test_cafetalk_batch_no_manifest(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "none.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the server's dynamic batching -------------------------------------------------------------
def test_server_batches_queued_jobs_each_with_its_own_seed(tiny):

    import httpx
    from server_fixtures import running_server, submit_together

    from cafetalk_core.server import ServerSettings, create_app

    calls: list[int] = []
    real = tiny.generate_batch

    def counting(requests, **kw):
        calls.append(len(requests))
        return real(requests, **kw)

    tiny.generate_batch = counting   # instance attribute: see how many jobs share a call
    try:
        audio = [(REAL / name).read_bytes() for name in CLIPS]
        settings = ServerSettings(max_batch=4, batch_wait_s=1.0)
        with running_server(create_app(tiny, settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
            got = submit_together(c, [{"files": {"audio": ("a.wav", audio[i])},
                                       "data": {"controls": '{"emotion": "happy"}' if i else "{}",
                                                "options": json.dumps({"steps": 3, "seed": 20 + i})}}
                                      for i in range(3)])
    finally:
        del tiny.generate_batch
    assert sum(calls) == 3 and max(calls) >= 2                      # queued jobs shared a batch
    for i, curves in enumerate(got):
        alone = tiny.generate(REAL / CLIPS[i], ControlSet.from_dict({"emotion": "happy"}) if i else None, steps=3, seed=20 + i)
        np.testing.assert_allclose(curves.values, alone.values, atol=2e-5)   # the JSON keeps 6 decimals


def test_generate_batch_reports_a_bad_job_on_that_job_only(tiny):
    from cafetalk_core.controls import ControlError

    out = tiny.generate_batch([{"audio": REAL / CLIPS[0], "seed": 1, "steps": 2},
                               {"audio": REAL / CLIPS[1], "controls": ControlSet.from_dict({"emotion": "furious"})},
                               {"audio": b"not audio"}])
    assert isinstance(out[0], BlendshapeCurves) and isinstance(out[1], ControlError) and isinstance(out[2], ValueError)
    np.testing.assert_allclose(out[0].values, tiny.generate(REAL / CLIPS[0], seed=1, steps=2).values, atol=1e-5)
