"""From a scene to a request, and from a result back to a take: the steps between UI and server.

The Generate operator and ``batch.py`` share these functions, so the background path is the
same code as the interactive one: :func:`build_request` reads the scene, the job runs (a
thread polled by :class:`Generation` for the modal operator, or blocking in
:func:`generate_blocking` for batch), :func:`apply_result` writes the take on the main thread.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import bpy

from . import head_rig, nla_controls, nla_layout, preferences, take_store
from .io import mapping, vocabulary
from .io.client import Client
from .io.curves import Curves, keep_outside_span
from .io.errors import CafeTalkError
from .io.jobs import JobRunner


@dataclass
class Request:
    """Everything a take needs, captured on the main thread before the job starts."""

    target_name: str
    audio_path: str
    start_frame: int
    fps: float
    controls: dict[str, Any]
    options: dict[str, Any]
    mode: str = "NEW"
    span_frames: tuple[float, float] | None = None
    warnings: list[str] = field(default_factory=list)
    #: SPAN: the take being regenerated and the span (seconds); frames outside it are kept bit for bit.
    span_source: tuple[Curves, float, float] | None = None


def scene_fps(scene: Any) -> float:
    return scene.render.fps / scene.render.fps_base


def _strips(scene: Any) -> Any:
    """The sequencer's strip collection (``sequences`` before 5.0, ``strips`` from 5.0)."""
    se = scene.sequence_editor or scene.sequence_editor_create()
    return getattr(se, "strips", None) if hasattr(se, "strips") else se.sequences


def _all_strips(scene: Any) -> Any:
    se = scene.sequence_editor
    if se is None:
        return []
    return getattr(se, "strips_all", None) or getattr(se, "sequences_all", [])


def target_key(scene: Any) -> Any:
    obj = scene.cafetalk.target
    if obj is None:
        raise CafeTalkError("no target mesh: pick a mesh with shape keys in the CafeTalk panel")
    key = getattr(obj.data, "shape_keys", None)
    if key is None:
        raise CafeTalkError(f"target {obj.name!r} has no shape keys")
    return key


def ensure_audio(scene: Any) -> tuple[str, int, Any]:
    """(absolute audio path, take start frame, sound strip), placing a file in the sequencer."""
    props = scene.cafetalk
    if props.audio_source == "STRIP":
        strip = next((s for s in _all_strips(scene) if s.name == props.sound_strip), None)
        if strip is None or strip.type != "SOUND":
            raise CafeTalkError(f"sound strip {props.sound_strip!r} not found in the sequencer")
        return bpy.path.abspath(strip.sound.filepath), int(strip.frame_start), strip
    if not props.audio_path:
        raise CafeTalkError("no audio: choose an audio file or a sound strip in the CafeTalk panel")
    path = bpy.path.abspath(props.audio_path)
    if not os.path.isfile(path):
        raise CafeTalkError(f"audio file {path!r} does not exist")
    start = int(props.start_frame)
    for s in _all_strips(scene):
        if s.type == "SOUND" and int(s.frame_start) == start and os.path.abspath(bpy.path.abspath(s.sound.filepath)) == os.path.abspath(path):
            return path, start, s
    strips = _strips(scene)
    used = {s.channel for s in _all_strips(scene)}
    channel = next(c for c in range(1, 129) if c not in used)
    strip = strips.new_sound(os.path.basename(path), path, channel, start)
    return path, start, strip


def clip_seconds(scene: Any, strip: Any) -> float:
    return strip.frame_final_duration / scene_fps(scene)


def build_request(scene: Any, mode: str = "NEW") -> Request:
    """Read the panel, the control strips and (to regenerate) the active take."""
    props = scene.cafetalk
    key = target_key(scene)
    fps = scene_fps(scene)
    options: dict[str, Any] = {"steps": int(props.steps), "seed": int(props.seed), "fps": fps}
    if abs(props.head_motion - 1.0) > 1e-6:   # 1 is the server's default: servers without head motion still answer
        options["head_motion"] = float(props.head_motion)
    language = vocabulary.language_option(props.language)
    if language is not None:   # English is the server's default: servers without the option still answer
        options["language"] = language
    if not props.use_model_scales:
        options.update(audio_scale=float(props.audio_scale), face_scale=float(props.face_scale),
                       control_scale=float(props.control_scale))
    span = span_source = None
    if mode in ("REGENERATE", "SPAN"):
        take = nla_layout.active_take(key)
        if take is None:
            raise CafeTalkError(f"{scene.cafetalk.target.name!r} has no CafeTalk take to regenerate: Generate first")
        meta = take_store.take_meta(take)
        audio, start = meta.get("audio_path", ""), int(meta.get("start_frame", props.start_frame))
        if not audio and meta.get("mode") == "IMPORT":
            raise CafeTalkError(f"take {take.name!r} was imported without audio: put the audio beside "
                                f"{os.path.basename(meta.get('source', 'the capture'))} (same name, .wav) and import it again")
        if not os.path.isfile(audio):
            raise CafeTalkError(f"audio of take {take.name!r} ({audio!r}) no longer exists")
        clip_s = take_store.take_curves(take).duration_s
        if mode == "SPAN":
            span = nla_controls.selected_span(key)
            if span is None:
                raise CafeTalkError("select a control strip in the NLA editor: its span is regenerated")
            curves = take_store.take_curves(take)
            curves.rotations = head_rig.take_rotations(take)
            a, b = max(0.0, (span[0] - start) / fps), min(clip_s, (span[1] - start) / fps)
            if b <= a:
                raise CafeTalkError(f"the selected strip (frames {span[0]:g}-{span[1]:g}) lies outside the take")
            options["inpaint"] = {"curves": curves.to_dict(), "start_s": round(a, 4), "end_s": round(b, 4)}
            span_source = (curves, round(a, 4), round(b, 4))
    else:
        audio, start, strip = ensure_audio(scene)
        clip_s = clip_seconds(scene, strip)
    controls = {"emotion": props.emotion, "intensity": float(props.intensity),
                **nla_controls.read_controls(key, start, fps, clip_s)}
    return Request(scene.cafetalk.target.name, audio, start, fps, controls, options, mode, span,
                   span_source=span_source)


def mapping_rows(scene: Any, key: Any) -> tuple[list[mapping.Row], list[str]]:
    """The panel's mapping table, or an automatic one (filled into the table) when it is empty."""
    props = scene.cafetalk
    rows = mapping.load(props.mapping)
    if not rows:
        rows = mapping.auto_map([kb.name for kb in key.key_blocks], props.mapping_preset)
        mapping.store(props.mapping, rows)
    return rows, mapping.unmapped(rows)


def apply_result(scene: Any, request: Request, curves: Curves) -> tuple[Any, list[str]]:
    """Write ``curves`` as a new take; return ``(action, warnings)``. Main thread only."""
    props = scene.cafetalk
    obj = bpy.data.objects.get(request.target_name)
    if obj is None or getattr(obj.data, "shape_keys", None) is None:
        raise CafeTalkError(f"target {request.target_name!r} is gone or lost its shape keys")
    key = obj.data.shape_keys
    rows, missing = mapping_rows(scene, key)
    warnings = list(request.warnings)
    if missing:
        warnings.append(f"{len(missing)} ARKit channels have no shape key: {', '.join(missing[:6])}"
                        + (" ..." if len(missing) > 6 else ""))
    if request.span_source is not None:
        curves = keep_outside_span(curves, *request.span_source)
    stem = os.path.splitext(os.path.basename(request.audio_path))[0]
    meta = {"audio_path": request.audio_path, "controls": request.controls, "mode": request.mode,
            "options": {k: v for k, v in request.options.items() if k != "inpaint"}}
    action, slot = take_store.write_take(key, curves, rows, request.start_frame, take_store.next_take_name(stem),
                                        request.fps, props.interpolation, props.key_tolerance, meta)
    if curves.rotations is not None:
        head_rig.key_rotations(key, action, slot, curves.rotations, request.start_frame, request.fps, curves.fps,
                               props.interpolation)
    last = request.start_frame + max(0, round((curves.num_frames - 1) * request.fps / curves.fps))
    try:
        nla_layout.push_take(key, action, slot, request.start_frame, last)
    except CafeTalkError:
        bpy.data.actions.remove(action)  # nothing half-written
        raise
    scene.frame_start, scene.frame_end = request.start_frame, max(request.start_frame, last)
    return action, warnings


def client_for(context: Any = None) -> Client:
    prefs = preferences.get(context)
    return Client(preferences.server_url(prefs), prefs.token)


class Generation:
    """One Generate click: the request read on the main thread, the job in a worker thread, the take
    written by :meth:`poll` on the main thread once the job is over.

    The modal operator calls :meth:`poll` on each TIMER event; tests call it in a loop (the bpy
    module has no event loop to drive a modal operator). Nothing here blocks.
    """

    def __init__(self, request: Request, client: Client) -> None:
        self.request = request
        self.runner = JobRunner(client, request.audio_path, request.controls, request.options)
        self.state = "running"           # then exactly one of: done, failed, cancelled
        self.error: str | None = None
        self.action: Any = None
        self.warnings: list[str] = []

    @classmethod
    def start(cls, scene: Any, client: Client, mode: str = "NEW") -> "Generation":
        """Read the scene (raises :class:`CafeTalkError` on bad input) and start the job thread."""
        generation = cls(build_request(scene, mode), client)
        generation.runner.start()
        return generation

    @property
    def progress(self) -> float:
        return self.runner.progress

    @property
    def job_state(self) -> str:
        return self.runner.state

    def cancel(self) -> None:
        self.runner.cancel()

    def poll(self, scene: Any) -> str:
        """``running`` while the job runs; then writes the take (once) and returns the final state."""
        if self.state != "running" or not self.runner.finished.is_set():
            return self.state
        if self.runner.error:
            self.state, self.error = "failed", self.runner.error
        elif self.runner.curves is None:
            self.state = "cancelled"
        else:
            try:
                self.action, self.warnings = apply_result(scene, self.request, self.runner.curves)
                self.state = "done"
            except CafeTalkError as exc:
                self.state, self.error = "failed", str(exc)
        return self.state


def generate_blocking(scene: Any, client: Client, mode: str = "NEW") -> tuple[Any, list[str]]:
    """The whole generation on the calling thread (background mode, batch, tests)."""
    request = build_request(scene, mode)
    curves = JobRunner(client, request.audio_path, request.controls, request.options).run()
    return apply_result(scene, request, curves)
