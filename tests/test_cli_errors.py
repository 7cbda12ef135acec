"""A user's mistakes get one clear line and exit 2 from every sub-command that reads audio: a
missing file, a text file renamed .wav, a folder; bad controls are refused before the progress bar
starts (stderr here is a pipe, not a terminal, as in a render farm's log)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "cafetalk_core" / "evaluation" / "sets" / "real_speech" / "arctic_a0009.wav"


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cafetalk_core.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture
def bad_audio(tmp_path):
    (tmp_path / "notes.wav").write_text("this is a text file renamed .wav\n")
    (tmp_path / "folder.wav").mkdir()
    return tmp_path


@pytest.mark.parametrize("name, words", [
    ("missing.wav", "audio file not found: 'missing.wav'"),
    ("notes.wav", "'notes.wav' is not audio this reader can decode (wav, flac, ogg, ...): Format not recognised."),
    ("folder.wav", "'folder.wav' is not a file"),
])
def test_generate_unreadable_audio_is_one_line(bad_audio, name, words):
    r = _cli("generate", name, "--out", "out.csv", cwd=bad_audio)
    assert r.returncode == 2 and r.stderr.splitlines() == [f"cafetalk generate: error: {words}"], r.stderr
    assert not (bad_audio / "out.csv").exists()


@pytest.mark.parametrize("control, words", [
    ("AU99:0-1", "fine[0].action: unknown action 'AU99'"),
    ("AU12:5-9", "fine[0].start_s: 5.0 s is at or past the end of the clip (3.095 s)"),
])
def test_bad_controls_are_refused_before_the_progress_bar(tmp_path, control, words):
    r = _cli("generate", CLIP, "--out", "out.csv", "--control", control, cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"cafetalk generate: bad control: {words}")      # nothing drawn before it


def test_demo_unreadable_audio_is_one_line(bad_audio):
    r = _cli("demo", "--audio", "notes.wav", "--in-process", "--out", "demo", cwd=bad_audio)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("cafetalk demo: --audio: ") and "is not audio this reader can decode" in r.stderr


def test_demo_bad_control_is_one_line_before_anything_runs(tmp_path):
    r = _cli("demo", "--emotion", "grumpy", "--in-process", "--out", "demo", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        "cafetalk demo: bad control: emotion: unknown emotion 'grumpy'; known: neutral, happy, sad, angry, fear, "
        "disgust, surprise, contempt"], r.stderr
    assert not (tmp_path / "demo" / "speech.wav").exists()


def test_other_sub_commands_reading_audio_say_it_in_one_line(bad_audio):
    """``tune --set FOLDER`` reads a real-speech set's clips: a bad clip is one line too."""
    (bad_audio / "set").mkdir()
    (bad_audio / "set" / "notes.wav").write_text("not audio\n")
    (bad_audio / "set" / "clips.json").write_text(json.dumps(
        [{"id": "x", "wav": "notes.wav", "phones": [["AA", 0.0, 0.2]]}]))
    r = _cli("tune", "--set", "set", "--scales", "1", "--steps", "2", "--seeds", "1", cwd=bad_audio)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("cafetalk tune: error: ") and "notes.wav" in r.stderr


def test_generate_text_says_how_it_read_the_text(tmp_path):
    r = _cli("generate", CLIP, "--out", "out.json", "--text", "smile at the end", "--steps", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("--text: read as "))
    read = json.loads(line[len("--text: read as "):])
    assert [c["action"] for c in read["fine"]] == ["AU12"] and read["matches"][0]["phrase"] == "smile at the end"
