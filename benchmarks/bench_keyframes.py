"""The take writer against the floor: ``write_take`` vs bare ``keyframe_points.add`` + ``foreach_set``.

    python benchmarks/bench_keyframes.py [--frames 9000] [--reps 5] [--naive-frames 300]
    /path/to/bpy50-venv/bin/python benchmarks/bench_keyframes.py      # the same on Blender 5.0

52 channels x 9,000 frames (5 minutes at 30 fps), written three ways into new actions of a
face with the 52 ARKit shape keys:

- floor: per channel ``fcurves.new`` + ``keyframe_points.add(n)`` + one ``foreach_set("co")``
  (through the same slot/channelbag as the add-on): the least any bulk writer can do;
- ``write_take``: what Generate runs: the mapping, LINEAR keys (interpolation set), Blender's
  handles, and the exact curves stored on the action as JSON text;
- naive: ``keyframe_insert`` per key (what most scripts do), on ``--naive-frames`` frames per
  channel and extrapolated linearly (it grows at least linearly, so a lower bound); 0 skips it.

Each figure is the best of ``--reps`` (wall clock, and CPU time of this process, which is
steadier on a loaded machine). The ratio printed is ``write_take / floor``.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_addon():
    spec = importlib.util.spec_from_file_location("cafetalk_blender", ROOT / "blender_addon" / "__init__.py",
                                                  submodule_search_locations=[str(ROOT / "blender_addon")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cafetalk_blender"] = mod
    spec.loader.exec_module(mod)
    return mod


def make_face(bpy, names, obj_name="Face"):
    mesh = bpy.data.meshes.new(obj_name + "Mesh")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(obj_name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for n in names:
        obj.shape_key_add(name=n)
    return obj


def best_of(reps, fn, cleanup):
    """(best wall s, best CPU s) over ``reps`` runs of ``fn``; ``cleanup(result)`` after each."""
    wall, cpu = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        cleanup(out)
    return min(wall), min(cpu)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=9000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--naive-frames", type=int, default=300)
    a = p.parse_args()
    import bpy
    addon = load_addon()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    names = addon.io.vocabulary.ARKIT_NAMES
    key = make_face(bpy, names).data.shape_keys
    values = np.random.default_rng(0).random((a.frames, len(names))).astype(np.float32)
    curves = addon.io.curves.Curves(30.0, names, values)
    rows = addon.io.mapping.auto_map(list(names))
    frames = 1.0 + np.arange(a.frames, dtype=np.float32)
    remove = lambda action: bpy.data.actions.remove(action)

    def floor():
        action, _slot, fcurves = addon.fcurves.new_action_for(key, "floor")
        co = np.empty(2 * a.frames, np.float32)
        co[0::2] = frames
        for c, n in enumerate(names):
            co[1::2] = values[:, c]
            points = fcurves.new(f'key_blocks["{n}"].value', index=0).keyframe_points
            points.add(a.frames)
            points.foreach_set("co", co)
        return action

    def take():
        return addon.take_store.write_take(key, curves, rows, 1, "take", 30.0)[0]

    floor_w, floor_c = best_of(a.reps, floor, remove)
    take_w, take_c = best_of(a.reps, take, remove)
    check = take()
    n_keys = sum(len(fc.keyframe_points) for fc in addon.fcurves.action_fcurves(check))
    stored = len(check[addon.take_store.CURVES_PROP])
    slot_info = "slotted action" if addon.fcurves.has_slots(check) else "legacy action.fcurves"
    print(f"Blender {bpy.app.version_string}, {slot_info}; {len(names)} x {a.frames} = {n_keys} keys, best of {a.reps}")
    print(f"floor      : {floor_w:.3f} s wall, {floor_c:.3f} s CPU  (keyframe_points.add + foreach_set co)")
    print(f"write_take : {take_w:.3f} s wall, {take_c:.3f} s CPU  (mapping, LINEAR keys, "
          f"curves stored as {stored / 1e6:.1f} MB of JSON text)")
    print(f"ratio      : write_take / floor = {take_w / floor_w:.2f} (wall), {take_c / floor_c:.2f} (CPU)")
    if a.naive_frames > 0:
        kb = make_face(bpy, names, "Naive").data.shape_keys.key_blocks
        nf = min(a.naive_frames, a.frames)
        t0 = time.perf_counter()
        for c, n in enumerate(names):
            block = kb[n]
            for i in range(nf):
                block.value = float(values[i, c])
                block.keyframe_insert("value", frame=1 + i)
        measured = time.perf_counter() - t0
        naive = measured * a.frames / nf
        extra = "" if nf == a.frames else f" (measured {measured:.2f} s on {nf} frames, extrapolated x{a.frames / nf:g})"
        print(f"naive loop : {naive:.1f} s{extra}: write_take is {naive / take_w:.0f}x faster")


if __name__ == "__main__":
    main()
