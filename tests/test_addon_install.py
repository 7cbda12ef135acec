"""build.py: the manifest check, and the zip installing + enabling in Blender 4.5 as an artist would."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from blender_fixtures import bpy_mod  # noqa: F401 (fixture: fails where bpy is missing)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.blender


def _build_module():
    spec = importlib.util.spec_from_file_location("cafetalk_build", ROOT / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_manifest_check_names_the_bad_field(tmp_path):
    build = _build_module()
    m = build.check_manifest()
    assert m["id"] == "cafetalk" and set(m["permissions"]) == {"network", "files"}
    good = (ROOT / "blender_addon" / "blender_manifest.toml").read_text()
    for old, new, field in (('license = ["SPDX:MIT"]', 'license = ["MIT"]', "license"),
                            ('version = "0.1.0"', 'version = "0.2.0"', "pyproject"),
                            ('blender_version_min = "4.2.0"', 'blender_version_min = "4.1.0"', "blender_version_min"),
                            ('network = "Talks to the local CafeTalk inference server"', 'network = ""', "permissions.network")):
        bad = tmp_path / "blender_manifest.toml"
        bad.write_text(good.replace(old, new))
        with pytest.raises(build.ManifestError, match=field):
            build.check_manifest(bad)


def test_zip_installs_and_enables_in_blender(tmp_path, bpy_mod):
    build = _build_module()
    zip_path = build.build(tmp_path / "dist")
    assert zip_path.name == "cafetalk-0.1.0.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "take_store.py" in names
    assert any(n.startswith("core/cafetalk-0.1.0-") and n.endswith(".whl") for n in names)
    assert not any("__pycache__" in n for n in names)
    script = f"""
import json, sys, bpy
bpy.ops.extensions.package_install_files(filepath={str(zip_path)!r}, repo="user_default", enable_on_install=True)
mod = "bl_ext.user_default.cafetalk"
out = {{"enabled": mod in bpy.context.preferences.addons,
       "operator": hasattr(bpy.ops.cafetalk, "generate") and "CAFETALK_PT_main" in dir(bpy.types),
       "port": bpy.context.preferences.addons[mod].preferences.port}}
import bl_ext.user_default.cafetalk.batch as batch
out["batch"] = batch.__name__
out["aliased"] = any(n.startswith("cafetalk_blender") for n in sys.modules)
from pathlib import Path
out["core"] = [p.name for p in (Path(sys.modules[mod].__file__).parent / "core").glob("*.whl")]
out["torch_loaded"] = "torch" in sys.modules
bpy.ops.preferences.addon_disable(module=mod)
out["disabled"] = not hasattr(bpy.types.Scene, "cafetalk")
print("RESULT" + json.dumps(out))
"""
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    line = next((l for l in res.stdout.splitlines() if l.startswith("RESULT")), None)
    assert line, f"install failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    out = json.loads(line[len("RESULT"):])
    assert out["enabled"] and out["operator"] and out["port"] == 8765 and out["disabled"]
    assert out["core"] and out["batch"] == "bl_ext.user_default.cafetalk.batch" and out["aliased"] is False
    assert out["torch_loaded"] is False  # the add-on never imports torch
    assert (tmp_path / "home" / ".config" / "blender").exists()


def test_missing_bpy_fails_the_addon_tests_instead_of_skipping(tmp_path):
    """Issue 17.6: on a machine without bpy, CI must go red."""
    (tmp_path / "bpy.py").write_text("raise ImportError('no bpy on this machine')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_addon_blender.py::test_register_unregister_roundtrip"],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0 and "1 error" in res.stdout and "skipped" not in res.stdout, res.stdout[-2000:]
    assert "the add-on tests need Blender as a module" in res.stdout
