"""Writing a take: fast path (keyframe_points.add + foreach_set) vs a keyframe_insert loop.

    python benchmarks/bench_keyframes.py [--frames 9000] [--naive-frames 1000]

52 channels x 9,000 frames (5 minutes at 30 fps). The naive loop (one ``keyframe_insert``
per key, what most scripts do) is timed on ``--naive-frames`` frames per channel and
extrapolated linearly to the full length when that is smaller (printed as such): it grows at
least linearly with the keys, so the extrapolated figure is a lower bound on its time.
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


def make_face(bpy, names):
    mesh = bpy.data.meshes.new("FaceMesh")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for n in names:
        obj.shape_key_add(name=n)
    return obj


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=9000)
    p.add_argument("--naive-frames", type=int, default=1000)
    a = p.parse_args()
    import bpy
    addon = load_addon()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    names = addon.vocabulary.ARKIT_NAMES
    face = make_face(bpy, names)
    key = face.data.shape_keys
    values = np.random.default_rng(0).random((a.frames, len(names))).astype(np.float32)
    curves = addon.formats.Curves(30.0, names, values)
    rows = addon.mapping.auto_map(list(names))

    t0 = time.perf_counter()
    action, _ = addon.take_store.write_take(key, curves, rows, 1, "fast", 30.0, store_curves=False)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    addon.take_store.write_take(key, curves, rows, 1, "fast_stored", 30.0)
    full = time.perf_counter() - t0
    n_keys = sum(len(fc.keyframe_points) for fc in addon.fcurves.action_fcurves(action))

    # naive: keyframe_insert per key into the active action of a second face
    face2 = make_face(bpy, names)
    kb = face2.data.shape_keys.key_blocks
    nf = min(a.naive_frames, a.frames)
    t0 = time.perf_counter()
    for c, n in enumerate(names):
        block = kb[n]
        for i in range(nf):
            block.value = float(values[i, c])
            block.keyframe_insert("value", frame=1 + i)
    naive_measured = time.perf_counter() - t0
    naive = naive_measured * a.frames / nf
    slot_info = "slotted action" if addon.fcurves.has_slots(action) else "legacy action.fcurves"
    print(f"Blender {bpy.app.version_string}, {slot_info}")
    print(f"fast path  : {len(names)} x {a.frames} = {n_keys} keys in {fast:.3f} s "
          f"({full:.3f} s with the take's curves stored on the action)")
    extra = "" if nf == a.frames else f" (measured {naive_measured:.2f} s on {nf} frames, extrapolated x{a.frames / nf:g})"
    print(f"naive loop : {len(names)} x {a.frames} keys in {naive:.2f} s{extra}")
    print(f"ratio      : fast path is {naive / fast:.0f}x faster")


if __name__ == "__main__":
    main()
