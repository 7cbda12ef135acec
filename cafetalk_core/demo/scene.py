"""The Blender half of ``cafetalk demo``: run with a Python that has ``bpy`` (never imported by the add-on).

    python -m cafetalk_core.demo.scene JOB.json

``cafetalk_core.demo.run`` writes JOB.json and runs this module in a subprocess, because ``bpy`` can
be imported once per process and ``cafetalk_core`` never imports it. The add-on is the one beside
this ``cafetalk_core`` (:func:`addon_dir`): ``blender_addon/`` in a source checkout, the
``cafetalk_blender`` package that the wheel installs next to ``cafetalk_core`` otherwise. The take goes through
the add-on's own code, exactly as the panel's Generate does: the add-on is registered, its
scene properties are filled (target, audio, emotion), fine controls become NLA strips
(``nla_controls.write_controls``), the request is read back from the scene
(``takes.build_request``), and the result is written by ``takes.apply_result`` (new action,
``foreach_set`` keys, NLA take track). With ``server_url`` the add-on's HTTP client runs the
job (``takes.generate_blocking``); otherwise the curves come from ``curves_path``.

JOB keys: out_dir, audio_path, emotion, intensity, controls ({"fine": [...], "emotion_spans": [...]}),
server_url | curves_path, resolution [w, h], engine, frames ([first, last] scene frames or null
for the whole take), extra_frames (scene frames to render too, e.g. the contact sheet's),
blender_mp4 (also encode the MP4 with Blender's FFMPEG output, audio included), save_blend.
Writes: demo.blend, take_curves.json (what was keyed), frames/frame_####.png, result.json.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

CORE_HOME = Path(__file__).resolve().parents[2]    # the folder holding cafetalk_core: a checkout or site-packages
PACKAGE = "cafetalk_blender"
ADDON_FOLDERS = ("blender_addon", PACKAGE)          # its name in a source checkout, in an installed wheel


def addon_dir(core_home: Path = CORE_HOME) -> Path:
    """The add-on that belongs to this ``cafetalk_core``: the folder beside it, under its source name
    (a checkout, an editable install) or its package name (a wheel: pyproject maps it to ``cafetalk_blender``)."""
    for name in ADDON_FOLDERS:
        if (core_home / name / "__init__.py").is_file():
            return core_home / name
    raise FileNotFoundError(f"the Blender add-on is not beside cafetalk_core: none of "
                            f"{[str(core_home / n) for n in ADDON_FOLDERS]} exists (a broken install?)")


def load_addon():
    """Import the add-on as the package ``cafetalk_blender`` (the name batch scripts use) and register it."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    folder = addon_dir()
    spec = importlib.util.spec_from_file_location(PACKAGE, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    module.register()
    return module


def build_scene(job: dict, addon) -> tuple:
    """Empty scene + demo head + camera; the add-on's panel properties filled from the job."""
    import bpy
    from cafetalk_blender import head_rig, nla_controls
    from cafetalk_blender.io import vocabulary
    from cafetalk_core.demo import head as demo_head

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(round(job.get("fps", 30))), 1.0
    head = demo_head.build_demo_head("CafeTalkHead", vocabulary.ARKIT_NAMES)
    demo_head.setup_demo_scene(scene, head, tuple(job.get("resolution", (480, 360))), job.get("engine", "BLENDER_WORKBENCH"))
    props = scene.cafetalk
    props.target = head
    props.head_rig = head.parent                       # the head turns on its neck, the eyes in their sockets
    head_rig.detect_head(props)
    head_rig.drive_head(head.data.shape_keys, props)
    props.audio_source = "FILE"
    props.audio_path = str(job["audio_path"])
    props.start_frame = 1
    props.emotion = job.get("emotion", "neutral")
    props.intensity = float(job.get("intensity", 0.5))
    if "seed" in job:
        props.seed = int(job["seed"])
    controls = job.get("controls") or {}
    if controls.get("fine") or controls.get("emotion_spans"):
        nla_controls.write_controls(head.data.shape_keys, controls, 1, scene.render.fps)
    return scene, head


def write_take(job: dict, scene) -> tuple:
    """The take, through the add-on: HTTP job (server_url) or a curves file (in-process model)."""
    from cafetalk_blender import takes
    from cafetalk_blender.io.client import Client
    from cafetalk_blender.io.curves import Curves

    if job.get("server_url"):
        return takes.generate_blocking(scene, Client(job["server_url"], job.get("token", ""), timeout_s=30.0))
    request = takes.build_request(scene)
    curves = Curves.from_dict(json.loads(Path(job["curves_path"]).read_text()))
    return takes.apply_result(scene, request, curves)


#: The line printed after each rendered frame: ``DEMO_FRAME k n`` (``demo.run`` follows it).
FRAME_MARK = "DEMO_FRAME"


def render_frames(scene, frames: list[int], pattern: str) -> list[str]:
    """Render each scene frame to ``pattern % frame`` (PNG), telling ``DEMO_FRAME k n`` on stdout
    after each; returns the paths."""
    import bpy
    scene.render.image_settings.file_format = "PNG"
    muted = scene.use_audio
    scene.use_audio = True   # mute the sequencer while stepping frames (headless audio sync can deadlock)
    paths = []
    try:
        for k, f in enumerate(frames, 1):
            scene.frame_set(f)
            scene.render.filepath = pattern % f
            bpy.ops.render.render(write_still=True)
            paths.append(scene.render.filepath)
            print(f"{FRAME_MARK} {k} {len(frames)}", flush=True)   # cafetalk demo shows it as progress
    finally:
        scene.use_audio = muted
    return paths


def render_mp4_with_blender(scene, first: int, last: int, path: str) -> str:
    """Blender's own encoder: H.264 + AAC from the sequencer's sound strip (used when ffmpeg is absent)."""
    import bpy
    scene.frame_start, scene.frame_end = first, last
    settings = scene.render.image_settings
    settings.file_format = "FFMPEG"
    ff = scene.render.ffmpeg
    ff.format, ff.codec, ff.audio_codec = "MPEG4", "H264", "AAC"
    ff.audio_channels = "MONO"
    scene.render.filepath = path
    bpy.ops.render.render(animation=True)
    settings.file_format = "PNG"
    return path


def _no_audio_device(bpy) -> None:
    """Headless: no sound card; the audio device's threads can deadlock frame stepping and exit."""
    try:
        bpy.context.preferences.system.audio_device = "None"
    except (TypeError, AttributeError):  # the enum lacks "None" on some builds
        pass


def run(job: dict) -> dict:
    import bpy

    t0 = time.time()
    out = Path(job["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _no_audio_device(bpy)
    addon = load_addon()
    from cafetalk_blender import take_store
    scene, head = build_scene(job, addon)
    action, warnings = write_take(job, scene)
    curves = take_store.take_curves(action)
    (out / "take_curves.json").write_text(json.dumps(curves.to_dict()))
    first, last = int(scene.frame_start), int(scene.frame_end)
    if job.get("save_blend", True):
        bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))
    t_take = time.time() - t0
    frames_dir = out / "frames"
    frames_dir.mkdir(exist_ok=True)
    span = job.get("frames")
    seq = list(range(first, last + 1)) if span is None else list(range(int(span[0]), int(span[1]) + 1))
    extra = sorted({int(f) for f in job.get("extra_frames", []) if first <= int(f) <= last} - set(seq))
    t1 = time.time()
    render_frames(scene, seq + extra, str(frames_dir / "frame_%04d.png"))
    t_render = time.time() - t1
    mp4 = None
    if job.get("blender_mp4") and seq:
        mp4 = render_mp4_with_blender(scene, seq[0], seq[-1], str(out / "demo.mp4"))
        scene.frame_start, scene.frame_end = first, last
    result = {"addon": str(Path(addon.__file__).parent), "action": action.name, "warnings": warnings, "frame_start": first, "frame_end": last,
              "fps": scene.render.fps / scene.render.fps_base, "sequence": seq, "extra_frames": extra,
              "frame_pattern": str(frames_dir / "frame_%04d.png"), "blend": str(out / "demo.blend"),
              "mp4": mp4, "shape_keys": len(head.data.shape_keys.key_blocks) - 1,
              "seconds": {"take": round(t_take, 2), "render": round(t_render, 2),
                          "per_frame": round(t_render / max(1, len(seq) + len(extra)), 3)}}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m cafetalk_core.demo.scene JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(argv[0]).read_text())
    os.environ.setdefault("CAFETALK_DEMO", "1")
    try:
        result = run(job)
    except Exception as exc:  # noqa: BLE001 - report one line to the parent, with the type
        import traceback
        traceback.print_exc()
        print(f"DEMO_ERROR {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("DEMO_RESULT " + json.dumps({"result": str(Path(job['out_dir']) / 'result.json'), **result["seconds"]}))
    return 0


def _exit_now(code: int) -> None:
    """Leave without Blender's atexit teardown, which can hang headless on the audio threads."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main(sys.argv[1:]))
