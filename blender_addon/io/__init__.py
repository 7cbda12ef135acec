"""The add-on's bpy-free layer (glTF-Blender-IO's ``io/``): everything that runs without Blender.

Take files in and out (:mod:`.captures`, through ``core_copy``: a generated copy of the core's
readers and writers), curves and key reduction (:mod:`.curves`), the mapping tables
(:mod:`.mapping`), the vocabulary (:mod:`.vocabulary`), the HTTP client, its jobs and
background calls (:mod:`.client`, :mod:`.jobs`, :mod:`.tasks`), the bundled server process
(:mod:`.server_process`) and the one exception (:mod:`.errors`). Nothing here imports ``bpy``
or the Blender layer above it (``tests/test_architecture.py``), so all of it is tested on plain
numpy and pinned to the core where it copies it (``tests/test_addon_copies.py``).
"""
