"""Generate takes without a UI: many (audio, mesh) pairs against a server, then save.

From a shell, with the extension installed from disk and enabled (its package is then
``bl_ext.user_default.cafetalk``; another repository gives ``bl_ext.<repo>.cafetalk``)::

    blender -b scene.blend --python-expr "import bl_ext.user_default.cafetalk.batch as b; b.main()" -- \\
        --server http://127.0.0.1:8765 --pair hello.wav Face --pair bye.wav Face --emotion happy

or from Python inside Blender: ``b.run([("hello.wav", "Face")], server_url=...)``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable, Sequence

import bpy

from . import preferences, takes
from .io.client import Client
from .io.errors import CafeTalkError


def run(pairs: Iterable[Sequence[str]], server_url: str | None = None, token: str = "", emotion: str = "neutral",
        intensity: float = 0.5, steps: int | None = None, seed: int = 0, start_frame: int = 1,
        interpolation: str = "LINEAR", key_tolerance: float = 0.0, save: bool | str = True,
        start_server: bool = False) -> list[str]:
    """Generate one take per ``(audio_path, mesh_object_name)``; return the take names.

    ``server_url`` defaults to the preferences (or ``CAFETALK_SERVER_URL``). With
    ``start_server`` the bundled server is started first and stopped at the end. ``save``
    is ``True`` (save the open .blend), a path (save as), or ``False``.
    """
    scene = bpy.context.scene
    prefs = preferences.get()
    proc = None
    if start_server:
        from .server_process import SERVER
        SERVER.start(preferences.interpreter(prefs), prefs.port, preferences.user_dir(), token or prefs.token)
        SERVER.wait()
        proc = SERVER
    client = Client(server_url or preferences.server_url(prefs), token or prefs.token)
    props = scene.cafetalk
    props.emotion, props.intensity, props.seed = emotion, intensity, seed
    props.steps = steps or prefs.default_steps
    props.interpolation, props.key_tolerance = interpolation, key_tolerance
    made: list[str] = []
    try:
        for i, pair in enumerate(pairs):
            audio, mesh = pair[0], pair[1]
            obj = bpy.data.objects.get(mesh)
            if obj is None:
                raise CafeTalkError(f"pair {i}: no object named {mesh!r} in {bpy.data.filepath or 'this scene'}")
            props.target = obj
            props.audio_source, props.audio_path, props.start_frame = "FILE", audio, start_frame
            props.mapping.clear()  # each mesh gets its own automatic mapping
            action, warnings = takes.generate_blocking(scene, client)
            for w in warnings:
                print(f"cafetalk batch: {mesh}: {w}")
            print(f"cafetalk batch: {audio} -> {mesh}: take {action.name}")
            made.append(action.name)
    finally:
        if proc is not None:
            proc.stop()
    if save is True:
        if not bpy.data.filepath:
            raise CafeTalkError("save=True but the scene was never saved: pass save='/path/out.blend'")
        bpy.ops.wm.save_mainfile()
    elif save:
        bpy.ops.wm.save_as_mainfile(filepath=str(save))
    return made


def main(argv: list[str] | None = None) -> int:
    """Command line: the arguments after ``--`` of Blender's own."""
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="cafetalk batch", description=__doc__.split("\n")[0])
    p.add_argument("--pair", nargs=2, action="append", metavar=("AUDIO", "MESH"), required=True)
    p.add_argument("--server", default=None, help="server URL (default: preferences / CAFETALK_SERVER_URL)")
    p.add_argument("--token", default="")
    p.add_argument("--emotion", default="neutral")
    p.add_argument("--intensity", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start-frame", type=int, default=1)
    p.add_argument("--interpolation", choices=("LINEAR", "BEZIER"), default="LINEAR")
    p.add_argument("--key-tolerance", type=float, default=0.0)
    p.add_argument("--save-as", default=None, help="save to this .blend (default: save the open file)")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--start-server", action="store_true", help="start the bundled server for the run")
    a = p.parse_args(argv)
    save: Any = False if a.no_save else (a.save_as or True)
    try:
        run(a.pair, a.server, a.token, a.emotion, a.intensity, a.steps, a.seed, a.start_frame, a.interpolation,
            a.key_tolerance, save, a.start_server)
    except CafeTalkError as exc:
        print(f"cafetalk batch: error: {exc}", file=sys.stderr)
        return 1
    return 0
