"""``cafetalk demo``: the demo head and scene (run inside Blender's Python), rendering and plots.

Nothing here is imported by the add-on. ``scene.py`` and ``head.py`` are the Blender half: they
import ``bpy`` (and the add-on) only inside functions, run by ``python -m cafetalk_core.demo.scene``
in a subprocess, so importing the package never loads ``bpy`` (tests/test_architecture.py).
"""
