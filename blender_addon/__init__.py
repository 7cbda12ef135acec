"""CafeTalk for Blender: speech + emotion + fine controls -> ARKit shape-key takes.

register/unregister only. The add-on never imports torch or cafetalk_core: the model runs in
the CafeTalk server (a subprocess it can start, or a remote URL) reached over HTTP. As in
glTF-Blender-IO, everything that runs without Blender lives in ``io/`` (file formats, curves,
mapping tables, the vocabulary, the HTTP client and jobs: tested on plain Python); the modules
at this level are the Blender layer (actions, NLA, operators, panels). Installed
as an extension the package is ``bl_ext.<repo>.cafetalk`` (``bl_ext.user_default.cafetalk``
when installed from disk): batch scripts import it under that name (see ``batch.py``).
"""
from __future__ import annotations

import bpy

from . import (batch, capture, capture_operators, capture_panels, fcurves, head_rig, io, nla_controls, nla_layout,
               operators, panels, preferences, properties, take_store, takes)
from .io import server_process

classes = (*preferences.classes, *operators.classes, *capture_operators.classes, *panels.classes,
           *capture_panels.classes)


@bpy.app.handlers.persistent
def _reset_runtime_state(_dummy=None) -> None:
    """A file saved mid-generation must not open with the Generate button disabled."""
    for scene in bpy.data.scenes:
        props = getattr(scene, "cafetalk", None)
        if props is not None and props.running and operators._ACTIVE.get("generation") is None:
            props.running = False


def register() -> None:
    properties.register()
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_post.append(_reset_runtime_state)


def unregister() -> None:
    server_process.SERVER.stop()
    operators.unregister_timers()
    if _reset_runtime_state in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_reset_runtime_state)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    properties.unregister()
