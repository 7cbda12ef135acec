"""cafetalk: speech audio + controls -> ARKit-52 blendshape curves (Cafe-Talk, ICLR 2025).

This package never imports ``bpy``; the Blender add-on talks to it over HTTP.
"""
__version__ = "0.1.0"
