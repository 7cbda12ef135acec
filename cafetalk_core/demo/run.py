"""``cafetalk demo``: speech -> a take on the procedural demo head -> .blend, MP4, plots.

Over 400 lines on purpose: the whole command in the order its steps run (speech, model, Blender,
pictures), each step a named function; the Blender half lives in scene.py and head.py.

The README's first command: it shows the product working within minutes, without a rig.

    cafetalk demo --out demo_out                          # espeak-ng sample sentence, the server
    cafetalk demo --audio me.wav --emotion sad --text "raise brows at the end" --out demo_out
    cafetalk demo --in-process --frames 30 --resolution 320x240 --out quick

Steps, each by the project's own code:
1. speech: ``--audio`` or a sentence spoken by espeak-ng (exact phone times from libespeak-ng);
2. the model: the server (``cafetalk serve`` on a free loopback port, as the add-on uses it) or
   ``pipeline.Generator`` in process; the shipped checkpoint, else a random untrained model
   with a loud warning; ``--text`` becomes fine controls through ``/v1/controls/from-text``
   (or ``controls.text`` in process);
3. Blender: ``cafetalk_core.demo.scene`` runs in a subprocess with ``bpy`` (``cafetalk_core``
   never imports it), builds the head, writes the take with the add-on's ``takes`` /
   ``take_store`` code, saves ``demo.blend`` and renders PNG frames (Workbench, headless);
4. the MP4 (ffmpeg, or Blender's encoder when ffmpeg is missing), ``curves.png`` and
   ``contact_sheet.png`` (frames at phone centres, labelled).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..curves import BlendshapeCurves
from ..phones import BILABIALS, OPEN_VOWELS, Phone
from ..server_process import ServerProcess, ServerStartError

# The folder holding cafetalk_core (a source checkout, or site-packages for a wheel). Subprocesses
# (the server, the Blender scene) start there with ``-m``, so they import this same core.
CORE_HOME = Path(__file__).resolve().parents[2]
SAMPLE_SENTENCE = "Papa bought a map, and Bob may move more boxes."
BLENDER_TIMEOUT_S = 1800.0
RANDOM_WARNING = ("\n" + "!" * 78 + "\n!! cafetalk demo: NO TRAINED CHECKPOINT FOUND - using a RANDOM, UNTRAINED model.\n"
                  "!! The head will move, but the motion is noise: it does not follow the speech.\n"
                  "!! Train one (cafetalk train) or pass --checkpoint DIR for real lip sync.\n" + "!" * 78 + "\n")


class DemoError(RuntimeError):
    """A demo step failed; the message names the step and what to do."""


@dataclass
class DemoResult:
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    phones: list[Phone] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    model: str = ""
    random_model: bool = False


# --- speech ----------------------------------------------------------------------------------------
def make_sample_clip(path: str | Path, sentence: str = SAMPLE_SENTENCE, voice: str = "en-us",
                     rate: int = 165) -> list[Phone]:
    """Speak ``sentence`` with espeak-ng into ``path`` (16 kHz WAV); return its exact phones.

    Uses libespeak-ng's phoneme events (``data.tts.synth_espeak``) so the contact sheet knows where each
    phone is; falls back to the ``espeak-ng`` program (no phone times) if the library is missing.
    """
    import soundfile as sf
    path = Path(path)
    try:
        from ..data.tts import SAMPLE_RATE, synth_espeak
        speech = synth_espeak(sentence, voice=voice, rate=rate)
        sf.write(path, speech.audio, SAMPLE_RATE, subtype="PCM_16")
        return list(speech.phones)
    except (ImportError, OSError) as exc:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise DemoError(f"speech: espeak-ng is not installed ({exc}); pass --audio WAV "
                            "or install it (apt install espeak-ng)") from None
        subprocess.run([exe, "-v", voice, "-s", str(rate), "-w", str(path), sentence], check=True,
                       capture_output=True)
        return []


def recognise_phones(wav16k: np.ndarray) -> list[Phone]:
    """Phones of a user's recording (16 kHz mono) by the project's recogniser (pocketsphinx); [] if unavailable."""
    try:
        from ..audio.phonetic import recognise_phones as recognise
        return list(recognise(wav16k))
    except Exception as exc:  # noqa: BLE001 - the sheet falls back to evenly spaced frames
        print(f"cafetalk demo: phone recognition unavailable ({type(exc).__name__}: {exc}); "
              "the contact sheet shows evenly spaced frames", file=sys.stderr)
        return []


def audio_duration(path: str | Path) -> float:
    import soundfile as sf
    try:
        return float(sf.info(str(path)).duration)
    except RuntimeError as exc:
        raise DemoError(f"audio: cannot read {str(path)!r} ({exc})") from None


# --- contact sheet frames ------------------------------------------------------------------------
def pick_contact_phones(phones: Sequence[Phone], max_items: int = 12, min_dur_s: float = 0.035) -> list[Phone]:
    """Phones for the contact sheet: every bilabial and open vowel first (the claim to show),
    then other phones, plus one leading silence as the reference; in time order."""
    # bilabial closures are short in fast speech (espeak's /p/ can be 20 ms): keep them anyway
    spoken = [p for p in phones if p.phone != "SIL"
              and p.end_s - p.start_s >= (0.015 if p.phone in BILABIALS else min_dur_s)]
    key = [p for p in spoken if p.phone in BILABIALS or p.phone in OPEN_VOWELS]
    rest = [p for p in spoken if p not in key]
    slots = max(1, max_items - 1)
    # more than fit: spread the picks over the whole clip rather than its first second
    chosen = key if len(key) <= slots else [key[int(i)] for i in np.linspace(0, len(key) - 1, slots).round()]
    chosen += rest[:max(0, max_items - 1 - len(chosen))]
    sil = next((p for p in phones if p.phone == "SIL" and p.end_s - p.start_s >= 0.06), None)
    if sil is not None:
        chosen.append(sil)
    return sorted(chosen, key=lambda p: p.start_s)


def scene_frame(t_s: float, fps: float, start_frame: int = 1) -> int:
    return start_frame + int(round(t_s * fps))


# --- the model ---------------------------------------------------------------------------------
def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def _post_json(url: str, body: dict, timeout: float = 60.0) -> Any:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:400]
        raise DemoError(f"server: {url} answered {exc.code}: {detail}") from None


def has_shipped_checkpoint() -> bool:
    from ..pipeline import DEFAULT_CHECKPOINT  # noqa: PLC0415 - imports torch; only when generating
    return (DEFAULT_CHECKPOINT / "config.json").is_file()


def start_server(checkpoint: str | None, random_model: bool, log_path: Path) -> ServerProcess:
    """``cafetalk serve`` on a free loopback port, healthy (the add-on's way of running the model)."""
    args = ["--device", "cpu"] + (["--checkpoint", str(checkpoint)] if checkpoint else []) + \
        (["--random-model"] if random_model else [])
    server = ServerProcess(args, log_path, cwd=CORE_HOME).start()
    try:
        server.wait_healthy()
    except ServerStartError as exc:
        raise DemoError(f"server: {exc}") from None
    return server


def text_controls_in_process(text: str, duration_s: float) -> dict[str, Any]:
    try:
        from ..controls.text import text_to_controls
    except ImportError as exc:
        raise DemoError(f"--text: free-text controls are not available ({exc})") from None
    res = text_to_controls(text, duration_s)
    if hasattr(res, "to_dict"):
        res = res.to_dict()
    if isinstance(res, dict):
        return res
    return {"fine": [c.to_dict() for c in getattr(res, "fine", res)]}


def merge_text_controls(controls: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    """Add what the text named: fine controls, emotion spans, and a clip-wide emotion if given."""
    out = dict(controls)
    out["fine"] = list(controls.get("fine", [])) + [
        {k: c[k] for k in ("action", "start_s", "end_s", "intensity") if k in c} for c in found.get("fine", [])]
    out["emotion_spans"] = list(controls.get("emotion_spans", [])) + [
        {k: c[k] for k in ("emotion", "start_s", "end_s", "intensity") if k in c} for c in found.get("emotion_spans", [])]
    if found.get("emotion"):
        out["emotion"] = found["emotion"]
        if found.get("emotion_intensity") is not None:
            out["intensity"] = float(found["emotion_intensity"])
    return out


def generate_in_process(audio_path: Path, controls: dict[str, Any], checkpoint: str | None,
                        random_model: bool, seed: int, steps: int | None) -> tuple[BlendshapeCurves, str]:
    """The pipeline in this process: ``(curves, model id)``."""
    from ..controls import ControlSet
    from ..pipeline import Generator
    gen = Generator.random(preset="tiny", seed=seed) if random_model else Generator(checkpoint)
    cs = ControlSet.from_dict({k: v for k, v in controls.items() if k in ("emotion", "intensity", "emotion_spans", "fine")})
    curves = gen.generate(str(audio_path), cs, seed=seed, steps=steps)
    return curves, gen.model_id


# --- Blender and video -------------------------------------------------------------------------
def run_logged(cmd: list[str], log_path: Path, timeout_s: float, on_line=None, env: dict | None = None,
               cwd: str | None = None, poll_s: float = 0.1) -> int:
    """Run ``cmd`` with stdout and stderr into ``log_path``; ``on_line(line)`` sees each complete line
    as it is written (Blender's output keeps going to the log, where a failure can be read).
    Returns the exit code; :class:`subprocess.TimeoutExpired` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with open(log_path, "w") as log, open(log_path, errors="replace") as follow:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        pending = ""
        while True:
            done = proc.poll() is not None
            pending += follow.read()
            *lines, pending = pending.split("\n")
            for line in lines:
                if on_line is not None:
                    on_line(line)
            if done:
                return proc.returncode
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(cmd, timeout_s)
            time.sleep(poll_s)


def run_blender(job: dict[str, Any], out_dir: Path, timeout_s: float = BLENDER_TIMEOUT_S,
                progress=None) -> dict[str, Any]:
    """Run ``demo/scene.py`` with this interpreter (which has ``bpy``); return its result.json.

    ``progress(k, n)`` is called after each rendered frame (``DEMO_FRAME k n`` in Blender's output).
    """
    from .scene import FRAME_MARK

    job_path = out_dir / "demo_job.json"
    job_path.write_text(json.dumps(job, indent=1))
    log_path = out_dir / "blender.log"
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")

    def on_line(line: str) -> None:
        if progress is not None and line.startswith(FRAME_MARK + " "):
            k, n = line.split()[1:3]
            progress(int(k), int(n))
    try:
        returncode = run_logged([sys.executable, "-m", "cafetalk_core.demo.scene", str(job_path)], log_path,
                                timeout_s, on_line, env=env, cwd=str(CORE_HOME))
    except subprocess.TimeoutExpired:
        raise DemoError(f"blender: no result after {timeout_s:.0f} s; see {log_path}") from None
    text = log_path.read_text(errors="replace")
    if returncode != 0:
        err = [ln for ln in text.splitlines() if ln.startswith("DEMO_ERROR")]
        hint = " (is bpy installed? pip install 'bpy==4.5.*')" if "No module named 'bpy'" in text else ""
        raise DemoError(f"blender: {err[-1][11:] if err else 'failed'}{hint}; see {log_path}")
    return json.loads((out_dir / "result.json").read_text())


def encode_mp4(frame_pattern: str, first: int, count: int, fps: float, audio: Path, out: Path) -> Path | None:
    """H.264 + AAC with ffmpeg (Debian's); ``None`` when ffmpeg is not installed."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    cmd = [exe, "-y", "-loglevel", "error", "-framerate", f"{fps:g}", "-start_number", str(first),
           "-i", frame_pattern, "-i", str(audio), "-frames:v", str(count),
           "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DemoError(f"mp4: ffmpeg failed: {proc.stderr.strip()[-400:]}")
    return out


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise DemoError(f"--resolution must look like 480x360, got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise DemoError(f"--resolution must be between 16x16 and 4096x4096, got {text!r}")
    return w, h


def render_take(curves: BlendshapeCurves, audio_path: Path, out_dir: Path, controls: dict[str, Any] | None = None,
                resolution: tuple[int, int] = (480, 360), frames: int | None = None,
                extra_times_s: Sequence[float] = (), engine: str = "BLENDER_WORKBENCH",
                save_blend: bool = True) -> dict[str, Any]:
    """Known curves -> the same Blender path as the demo (add-on take, renders); returns result.json.

    ``frames`` renders only the first N frames; ``extra_times_s`` adds single frames at those
    times (the contact sheet's). Used by :func:`run_demo` and by tests that drive the head
    with known curves.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    curves_path = out_dir / "model_curves.json"
    curves_path.write_text(curves.to_json())
    return run_blender(_job(out_dir, audio_path, controls or {}, resolution, frames, extra_times_s, curves.fps,
                            engine, save_blend, curves_path=str(curves_path)), out_dir)


def _job(out_dir: Path, audio_path: Path, controls: dict[str, Any], resolution: tuple[int, int],
         frames: int | None, extra_times_s: Sequence[float], fps: float, engine: str, save_blend: bool,
         **source: Any) -> dict[str, Any]:
    fps_i = int(round(fps))
    return {"out_dir": str(out_dir), "audio_path": str(Path(audio_path).resolve()),
            "emotion": controls.get("emotion", "neutral"), "intensity": float(controls.get("intensity", 0.5)),
            "controls": {"fine": controls.get("fine", []), "emotion_spans": controls.get("emotion_spans", [])},
            "resolution": list(resolution), "fps": fps_i, "engine": engine,
            "frames": None if frames is None else [1, max(1, int(frames))],
            "extra_frames": [scene_frame(t, fps_i) for t in extra_times_s], "save_blend": save_blend,
            "blender_mp4": shutil.which("ffmpeg") is None, **source}


# --- the command -----------------------------------------------------------------------------
def run_demo(out_dir: str | Path, audio: str | Path | None = None, emotion: str = "happy", intensity: float = 0.6,
             text: str | None = None, in_process: bool = False, frames: int | None = None,
             resolution: str | tuple[int, int] = "480x360", checkpoint: str | None = None,
             random_model: bool | None = None, seed: int = 0, steps: int | None = None,
             sentence: str = SAMPLE_SENTENCE, engine: str = "BLENDER_WORKBENCH", contact_max: int = 12,
             log=print, progress=None) -> DemoResult:
    """The whole demo; returns where every file is. ``random_model=None`` picks it when no checkpoint exists.
    ``progress(k, n)`` is called after each frame Blender renders (the longest step)."""
    t_all = time.time()
    check_controls(emotion, intensity)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    res = parse_resolution(resolution) if isinstance(resolution, str) else tuple(resolution)
    result = DemoResult(out)
    # 1. speech
    t0 = time.time()
    audio_path = prepare_speech(out, audio, sentence, result, log)
    duration = audio_duration(audio_path)
    result.seconds["speech"] = round(time.time() - t0, 2)
    # 2. the model: in process, or the server (kept running while Blender's add-on talks to it)
    result.random_model = choose_random_model(checkpoint, random_model)
    controls: dict[str, Any] = {"emotion": emotion, "intensity": float(intensity), "fine": [], "emotion_spans": []}
    contact, contact_times = contact_frames(result.phones, duration, contact_max)
    render = {"resolution": res, "frames": frames, "extra_times_s": contact_times, "engine": engine}
    t0 = time.time()
    server = None
    try:
        if in_process:
            controls, job = take_in_process(out, audio_path, duration, controls, text, checkpoint, seed, steps,
                                            render, result, log)
        else:
            server = start_server(checkpoint, result.random_model, out / "server.log")
            controls, job = take_through_server(server, out, audio_path, duration, controls, text, seed, render,
                                                result, log)
        if text:
            log(f"controls from text: {json.dumps(controls['fine'] + controls['emotion_spans'])}")
        (out / "controls.json").write_text(json.dumps(controls, indent=1))
        # 3. Blender: the add-on writes the take (over HTTP in server mode), saves, renders
        t0 = time.time()
        blend = run_blender(job, out, progress=progress)
    finally:
        if server is not None:
            server.stop()
    result.seconds["blender"] = round(time.time() - t0, 2)
    result.seconds["per_frame"] = blend["seconds"]["per_frame"]
    for w in blend.get("warnings", []):
        log(f"add-on: {w}")
    # 4. video and pictures
    t0 = time.time()
    title = (f"{audio_path.name}: {emotion} {intensity:g}" + (f", text: {text!r}" if text else "")
             + f"  [{result.model}{' - RANDOM UNTRAINED' if result.random_model else ''}]")
    make_pictures(blend, audio_path, controls, contact, contact_times, title, result, log)
    result.seconds["pictures"] = round(time.time() - t0, 2)
    result.seconds["total"] = round(time.time() - t_all, 2)
    return result


def check_controls(emotion: str, intensity: float) -> None:
    """A bad emotion or intensity stops the demo with one line before speech, model or Blender start."""
    from ..controls import ControlError, ControlSet
    try:
        ControlSet.from_dict({"emotion": emotion, "intensity": float(intensity)}).validated()
    except ControlError as exc:
        raise DemoError(f"bad control: {exc}") from None


def prepare_speech(out: Path, audio: str | Path | None, sentence: str, result: DemoResult, log) -> Path:
    """The clip to animate and its phones (``result.phones``, also ``phones.json``)."""
    if audio is None:
        audio_path = out / "speech.wav"
        result.phones = make_sample_clip(audio_path, sentence)
        log(f"speech: espeak-ng said {sentence!r} -> {audio_path}")
    else:
        from ..audio.io import AudioError, load_audio
        audio_path = Path(audio).resolve()
        try:   # one clear line for a missing or undecodable file, before the model or Blender start
            wav = load_audio(audio_path)
        except AudioError as exc:
            raise DemoError(f"--audio: {exc}") from None
        result.phones = recognise_phones(wav)
    (out / "phones.json").write_text(json.dumps([[p.phone, round(p.start_s, 4), round(p.end_s, 4)]
                                                 for p in result.phones]))
    return audio_path


def choose_random_model(checkpoint: str | None, random_model: bool | None) -> bool:
    """``None``: random only when no checkpoint is given or shipped, and then say so loudly."""
    if random_model is None:
        random_model = checkpoint is None and not has_shipped_checkpoint()
    if random_model:
        print(RANDOM_WARNING, file=sys.stderr, flush=True)
    return bool(random_model)


def contact_frames(phones: Sequence[Phone], duration: float, contact_max: int) -> tuple[list[Phone], list[float]]:
    """The contact sheet's phones and times (phone centres; evenly spaced when no phones are known)."""
    contact = pick_contact_phones(phones, contact_max) if phones else []
    times = ([0.5 * (p.start_s + p.end_s) for p in contact] if contact
             else list(np.linspace(0.1, max(0.1, duration - 0.1), min(contact_max, 8))))
    return contact, times


def take_in_process(out: Path, audio_path: Path, duration: float, controls: dict[str, Any], text: str | None,
                    checkpoint: str | None, seed: int, steps: int | None, render: dict[str, Any],
                    result: DemoResult, log) -> tuple[dict[str, Any], dict[str, Any]]:
    """Controls (with the text's) and the Blender job, the curves made here by ``pipeline.Generator``."""
    if text:
        controls = merge_text_controls(controls, text_controls_in_process(text, duration))
    t0 = time.time()
    curves, result.model = generate_in_process(audio_path, controls, checkpoint, result.random_model, seed, steps)
    result.seconds["generate"] = round(time.time() - t0, 2)
    log(f"model: {result.model} in process, {curves.num_frames} frames in {result.seconds['generate']:.1f} s")
    curves_path = out / "model_curves.json"
    curves_path.write_text(curves.to_json())
    job = _job(out, audio_path, controls, render["resolution"], render["frames"], render["extra_times_s"],
               curves.fps, render["engine"], True, curves_path=str(curves_path), seed=seed)
    return controls, job


def take_through_server(server: ServerProcess, out: Path, audio_path: Path, duration: float,
                        controls: dict[str, Any], text: str | None, seed: int, render: dict[str, Any],
                        result: DemoResult, log) -> tuple[dict[str, Any], dict[str, Any]]:
    """Controls (the text's through ``/v1/controls/from-text``) and the Blender job that asks the server."""
    info = _get_json(server.url + "/v1/info", 10.0)
    result.model = str(info.get("model_id", "?"))
    log(f"server: {server.url} ({result.model})")
    if text:
        found = _post_json(server.url + "/v1/controls/from-text", {"text": text, "duration_s": duration})
        for m in found.get("messages", []):
            log(f"text: {m}")
        controls = merge_text_controls(controls, found)
    job = _job(out, audio_path, controls, render["resolution"], render["frames"], render["extra_times_s"],
               float(info.get("fps", 30)), render["engine"], True, server_url=server.url, seed=seed)
    return controls, job


def make_pictures(blend: dict[str, Any], audio_path: Path, controls: dict[str, Any], contact: list[Phone],
                  contact_times: list[float], title: str, result: DemoResult, log) -> None:
    """demo.mp4, curves.png and contact_sheet.png from what Blender keyed and rendered; fills ``result.files``."""
    from .plots import contact_sheet, plot_curves

    out = result.out_dir
    take = BlendshapeCurves.from_json((out / "take_curves.json").read_text())
    fps, pattern, seq = float(blend["fps"]), blend["frame_pattern"], blend["sequence"]
    mp4 = Path(blend["mp4"]) if blend.get("mp4") else encode_mp4(pattern, seq[0], len(seq), fps, audio_path,
                                                                 out / "demo.mp4")
    plot_curves(take, out / "curves.png", controls["fine"], controls["emotion_spans"], result.phones, title)
    labels = ([(p.phone, 0.5 * (p.start_s + p.end_s)) for p in contact] if contact
              else [(f"{t:.2f}s", t) for t in contact_times])
    items = []
    for label, t in labels:
        png = Path(pattern % scene_frame(t, fps))
        if png.is_file():
            colour = "#1f77b4" if label in BILABIALS else "#d62728" if label in OPEN_VOWELS else "black"
            items.append((png, f"{label} @ {t:.2f}s", colour))
    if items:
        contact_sheet(items, out / "contact_sheet.png", cols=6,
                      title="frames at phone centres: lips should close on P/B/M (blue), open on vowels (red)")
        result.files["contact_sheet"] = out / "contact_sheet.png"
    result.files.update({"blend": Path(blend["blend"]), "curves_plot": out / "curves.png",
                         "frames": Path(pattern).parent, "take_curves": out / "take_curves.json", "audio": audio_path})
    if mp4 is not None:
        result.files["mp4"] = Path(mp4)
    else:
        log("mp4: skipped (no ffmpeg and Blender's encoder was not asked)")


class RenderProgress:
    """``progress(k, n)`` for :func:`run_demo`: a bar on stderr that moves with every rendered frame."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, k: int, n: int) -> None:
        from tqdm import tqdm
        if self.bar is None:
            self.bar = tqdm(total=n, desc="cafetalk demo: rendering", unit="frame", file=sys.stderr, mininterval=0)
        self.bar.update(k - self.bar.n)
        if k >= n:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cli_demo(args: Any) -> int:
    """``cafetalk demo [--audio WAV] [--emotion E] [--text ...] --out DIR``."""
    progress = RenderProgress()
    try:
        result = run_demo(args.out, audio=args.audio, emotion=args.emotion, intensity=args.intensity, text=args.text,
                          in_process=args.in_process, frames=args.frames, resolution=args.resolution,
                          checkpoint=getattr(args, "checkpoint", None),
                          random_model=True if getattr(args, "random_model", False) else None,
                          seed=getattr(args, "seed", 0), steps=getattr(args, "steps", None),
                          sentence=getattr(args, "sentence", None) or SAMPLE_SENTENCE,
                          engine="CYCLES" if getattr(args, "engine", "workbench") == "cycles" else "BLENDER_WORKBENCH",
                          progress=progress)
    except DemoError as exc:
        progress.close()
        print(f"cafetalk demo: {exc}", file=sys.stderr)
        return 2
    print("\ncafetalk demo: done in {:.0f} s ({:.2f} s per rendered frame)".format(
        result.seconds["total"], result.seconds.get("per_frame", 0)))
    for name, path in result.files.items():
        print(f"  {name:14s} {path}")
    if result.random_model:
        print("  (RANDOM untrained model: the motion does not follow the speech)")
    return 0
