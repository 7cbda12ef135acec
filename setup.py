"""The one packaging fact pyproject.toml cannot state: the packages are cafetalk_core's (found, so a new
sub-package ships without an edit here) plus the Blender add-on, whose folder ``blender_addon/`` ships
as the package ``cafetalk_blender``. ``cafetalk demo`` builds its scene with that add-on, so a wheel
install needs no source checkout (docs/demo.md); with the bpy module, ``import cafetalk_blender``
gives batch scripts the add-on (with its sub-packages: ``io/`` and the generated ``io/core_copy/``).
Everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

ADDON_PACKAGES = ["cafetalk_blender"] + [f"cafetalk_blender.{p}" for p in find_packages("blender_addon")]

setup(packages=find_packages(include=["cafetalk_core*"]) + ADDON_PACKAGES,
      package_dir={"cafetalk_blender": "blender_addon"})
