"""The one packaging fact pyproject.toml cannot state: the packages are cafetalk_core's (found, so a new
sub-package ships without an edit here) plus the Blender add-on, whose folder ``blender_addon/`` ships
as the package ``cafetalk_blender``. ``cafetalk demo`` builds its scene with that add-on, so a wheel
install needs no source checkout (docs/demo.md); with the bpy module, ``import cafetalk_blender``
gives batch scripts the add-on. Everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["cafetalk_core*"]) + ["cafetalk_blender"],
      package_dir={"cafetalk_blender": "blender_addon"})
