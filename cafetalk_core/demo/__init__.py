"""``cafetalk demo``: the demo head and scene (run inside Blender's Python), rendering and plots.

Nothing here is imported by the add-on; ``scene.py`` is a script that Blender's ``bpy`` runs in a
subprocess, so the package itself stays free of ``bpy``.
"""
