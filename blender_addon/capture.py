"""Captured takes into the take/NLA system, head and eye rotations, and takes back out to files.

Import: the file is read first, by the extension alone (:mod:`.io.captures`: the core's own
readers, copied), so a bad file changes nothing; then the take is written exactly like a generated one
(:func:`take_store.write_take` + :func:`nla_layout.push_take`: an action per take, an NLA
track, the artist's action kept, the Fixes track), and anything created is removed again if
a later step fails.

Head and eyes: rotations in a take are keyed inside its action (:mod:`.head_rig`).

Export: a take's stored curves (bit-exact, the keys may be reduced or mapped) or the
evaluated mix of every track over a frame range, written as Live Link CSV or cafetalk JSON.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import nla_layout, take_store, takes
from .fcurves import action_fcurves, new_action_for, write_fcurve
from .head_rig import ROTATION_PROP_PREFIX, key_rotations, rotation_prop, take_rotations
from .io import captures, gltf
from .io.captures import CapturedTake
from .io.curves import ROTATION_NAMES, Curves
from .io.errors import CafeTalkError
from .io.mapping import targets

BLENDER_MAX_FRAME = 1048574


# -- import ------------------------------------------------------------------------------------------

def _sound_strip(scene: Any, audio: str, start: int) -> Any:
    strips = takes._strips(scene)
    used = {s.channel for s in takes._all_strips(scene)}
    channel = next(c for c in range(1, 129) if c not in used)
    return strips.new_sound(os.path.basename(audio), audio, channel, start)


def import_capture(scene: Any, path: str, fps: float | None = None,
                   placement: str = "CURRENT") -> tuple[Any, list[str], list[str]]:
    """Read ``path`` and write it as a new take on the target; return ``(action, warnings, notes)``.

    ``notes`` are INFO lines (weights the reader clamped into [0, 1]); ``warnings`` need the artist.
    """
    take = captures.read_capture(path, fps or None)   # a bad file stops here, scene untouched
    key = takes.target_key(scene)
    rows, missing = takes.mapping_rows(scene, key)
    sfps = takes.scene_fps(scene)
    if placement == "TIMECODE":
        start = int(round(take.start_s * sfps))
        if start > BLENDER_MAX_FRAME:
            raise CafeTalkError(f"the take's timecode ({take.start_s:.2f} s) is frame {start}, past Blender's last "
                                f"frame {BLENDER_MAX_FRAME}: place it at the current frame instead")
    else:
        start = int(scene.frame_current)
    audio = captures.audio_beside(path)
    warnings = []
    if missing:
        warnings.append(f"{len(missing)} ARKit channels have no shape key: {', '.join(missing[:6])}")
    meta = {"source": os.path.abspath(path), "mode": "IMPORT", "audio_path": audio or "", "start_s": take.start_s,
            "options": {"fps": take.curves.fps}}
    action = strip = None
    try:
        stem = os.path.splitext(os.path.basename(path))[0]
        action, slot = take_store.write_take(key, take.curves, rows, start, take_store.next_take_name(stem), sfps,
                                             scene.cafetalk.interpolation, scene.cafetalk.key_tolerance, meta)
        if take.rotations is not None:
            key_rotations(key, action, slot, take.rotations, start, sfps, take.curves.fps, scene.cafetalk.interpolation)
        if audio:
            strip = _sound_strip(scene, audio, start)
        last = start + max(0, round((take.curves.num_frames - 1) * sfps / take.curves.fps))
        nla_layout.push_take(key, action, slot, start, last)
    except Exception:
        _undo_partial(key, action, strip, scene)
        raise
    scene.frame_start, scene.frame_end = start, max(start, last)
    if not audio:
        warnings.append(f"no audio beside {os.path.basename(path)} (same name, .wav/.mov audio): the take has none")
    notes = [captures.clamp_note(path, take.clamped)] if take.clamped else []
    return action, warnings, notes


def _undo_partial(key: Any, action: Any, strip: Any, scene: Any) -> None:
    """Remove what a failed import created, so nothing half-imported stays."""
    import bpy
    anim = key.animation_data
    if action is not None and anim is not None:
        for track in list(anim.nla_tracks):
            if track.name == nla_layout.TAKE_TRACK_PREFIX + action.name:
                anim.nla_tracks.remove(track)
    if action is not None:
        bpy.data.actions.remove(action)
    if strip is not None:
        takes._strips(scene).remove(strip)


# -- export ------------------------------------------------------------------------------------------

def take_as_capture(action: Any) -> CapturedTake:
    """A take's exact stored curves (and rotations, and source clock start) for export."""
    meta = take_store.take_meta(action)
    curves = take_store.take_curves(action)
    curves.rotations = take_rotations(action)
    return CapturedTake(curves, float(meta.get("start_s", 0.0) or 0.0))


def sample_mix(scene: Any, key: Any, key_names: list[str], frames: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """What plays at each frame: ``(shape-key values (frames, keys), rotations (frames, 9) or None)``,
    evaluated by Blender (every track, influence and the Fixes strip); the current frame is restored."""
    values = np.zeros((len(frames), len(key_names)), np.float32)
    has_rot = any(rotation_prop(n) in key for n in ROTATION_NAMES)
    rotations = np.zeros((len(frames), len(ROTATION_NAMES)), np.float32) if has_rot else None
    current = scene.frame_current
    try:
        for i, f in enumerate(frames):
            scene.frame_set(f)
            values[i] = [key.key_blocks[n].value for n in key_names]
            if rotations is not None:
                rotations[i] = [float(key.get(rotation_prop(n), 0.0)) for n in ROTATION_NAMES]
    finally:
        scene.frame_set(current)
    return values, rotations


def _frames(frame_start: int, frame_end: int) -> list[int]:
    if frame_end < frame_start:
        raise CafeTalkError(f"frame range {frame_start}-{frame_end} is empty")
    return list(range(int(frame_start), int(frame_end) + 1))


def mix_as_capture(scene: Any, key: Any, rows: Any, frame_start: int, frame_end: int) -> CapturedTake:
    """The evaluated mix over a frame range, mapped back to ARKit channels (value / weight of the
    row driving each key), with the rotations."""
    sources = {}
    for key_name, srcs in targets(rows).items():
        arkit, weight = srcs[0]
        if weight > 0:
            sources[arkit] = (key_name, weight)
    if not sources:
        raise CafeTalkError("the mapping table drives no shape key: nothing to export")
    names = tuple(sources)
    values, rotations = sample_mix(scene, key, [sources[n][0] for n in names], _frames(frame_start, frame_end))
    weights = np.asarray([sources[n][1] for n in names], np.float32)
    curves = Curves(takes.scene_fps(scene), names, np.clip(values / weights, 0.0, 1.0), rotations)
    return CapturedTake(curves, 0.0)


def export_capture(scene: Any, path: str, source: str = "TAKE", to_format: str | None = None) -> str:
    """Write the active take (``TAKE``) or the evaluated mix over the scene range (``MIX``) to ``path``."""
    key = takes.target_key(scene)
    if source == "TAKE":
        action = nla_layout.active_take(key)
        if action is None:
            raise CafeTalkError(f"{scene.cafetalk.target.name!r} has no CafeTalk take to export")
        take, what = take_as_capture(action), f"take {action.name}"
    else:
        rows, _ = takes.mapping_rows(scene, key)
        take = mix_as_capture(scene, key, rows, scene.frame_start, scene.frame_end)
        what = f"mix of frames {scene.frame_start}-{scene.frame_end}"
    captures.write_capture(take, path, to_format)
    return f"{what} written to {path} ({take.curves.num_frames} frames at {take.curves.fps:g} fps)"


def has_rotation_keys(action: Any) -> bool:
    return any(fc.data_path.startswith(f'["{ROTATION_PROP_PREFIX}') for fc in action_fcurves(action))


# -- glTF / GLB ----------------------------------------------------------------------------------------

def export_gltf(scene: Any, path: str, frame_start: int, frame_end: int) -> dict[str, Any]:
    """Bake what plays on the target's shape keys to one action and write it with Blender's glTF
    exporter (morph-target weights), then read the file back to check it holds every frame.

    The scene is left as it was: the baked action is removed, the NLA and selection restored.
    """
    import bpy
    obj = scene.cafetalk.target
    key = takes.target_key(scene)
    names = [kb.name for kb in key.key_blocks[1:]]
    frames = _frames(frame_start, frame_end)
    values, _ = sample_mix(scene, key, names, frames)
    bake, slot, fcurves = new_action_for(key, f"CafeTalk_Bake_{obj.name}")
    for c, name in enumerate(names):
        write_fcurve(fcurves, f'key_blocks["{take_store._escape(name)}"].value', np.asarray(frames, np.float64),
                     values[:, c], "LINEAR")
    anim = key.animation_data or key.animation_data_create()
    saved = (anim.action, getattr(anim, "action_slot", None), anim.use_nla, scene.frame_start, scene.frame_end)
    selected = [o for o in scene.objects if o.select_get()]
    active = bpy.context.view_layer.objects.active
    try:
        anim.use_nla = False
        anim.action = bake
        if slot is not None:
            anim.action_slot = slot
        scene.frame_start, scene.frame_end = frames[0], frames[-1]
        for o in selected:
            o.select_set(False)
        obj.select_set(True)
        bpy.context.view_layer.objects.active = obj
        result = bpy.ops.export_scene.gltf(filepath=path, export_format="GLB" if path.lower().endswith(".glb") else "GLTF_SEPARATE",
                                           use_selection=True, export_animations=True, export_animation_mode="ACTIVE_ACTIONS",
                                           export_morph=True, export_morph_animation=True, export_force_sampling=True,
                                           export_optimize_animation_size=False, export_frame_range=True,
                                           export_anim_slide_to_zero=True)
        if result != {"FINISHED"}:
            raise CafeTalkError(f"Blender's glTF exporter did not finish ({result})")
    finally:
        anim.action = saved[0]
        if saved[1] is not None and saved[0] is not None:
            anim.action_slot = saved[1]
        anim.use_nla = saved[2]
        scene.frame_start, scene.frame_end = saved[3], saved[4]
        obj.select_set(False)
        for o in selected:
            o.select_set(True)
        bpy.context.view_layer.objects.active = active
        bpy.data.actions.remove(bake)
    written = gltf.read_gltf_weights(path)
    if written["keyframes"] != len(frames):
        raise CafeTalkError(f"{path}: the weights animation holds {written['keyframes']} keyframes, expected {len(frames)}")
    return written
