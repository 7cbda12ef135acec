"""build.py: the manifest check, the zip's contents, and the zip installing + enabling in real Blender as an
artist would, then importing and exporting takes with nothing but the extension (no core, no server Python)."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
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


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    """The extension zip with its bundled core wheel, built once for this module."""
    return _build_module().build(tmp_path_factory.mktemp("dist"))


def _bundled_wheel(zip_path: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(zip_path) as zf:
        name = next(n for n in zf.namelist() if n.startswith("core/") and n.endswith(".whl"))
        return zipfile.ZipFile(io.BytesIO(zf.read(name)))


def test_bundled_wheel_carries_neither_recordings_nor_a_second_addon(zip_path):
    """Issue 26: the zip's core wheel is for the server: no evaluation recordings, no cafetalk_blender."""
    wheel = _bundled_wheel(zip_path)
    names = wheel.namelist()
    assert not [n for n in names if n.startswith("cafetalk_blender")]
    assert not [n for n in names if "evaluation/sets/" in n and not n.endswith(".py")]
    assert not [n for n in names if n.endswith((".wav", ".flac"))]
    assert "cafetalk_core/server/app.py" in names and "cafetalk_core/evaluation/sets/__init__.py" in names
    assert any(n.startswith("cafetalk_core/weights/") and n.endswith(".safetensors") for n in names)
    # still a valid wheel: RECORD lists every file once, with its hash and size
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    rows = [line.split(",") for line in wheel.read(record).decode().splitlines() if line]
    assert sorted(r[0] for r in rows) == sorted(names)
    for name, digest, size in rows:
        if name == record:
            continue
        data = wheel.read(name)
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (want, len(data)), name
    total = sum(i.file_size for i in wheel.infolist())
    assert total < 18e6, f"bundled wheel holds {total / 1e6:.1f} MB"
    # the normal wheel (pip install cafetalk) keeps the add-on: cafetalk demo builds its scene with it
    assert _build_module().dropped_from_bundle("cafetalk_blender/__init__.py")


def test_zip_holds_the_addon_with_its_io_layer_and_the_core_copy(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    for name in ("__init__.py", "take_store.py", "io/__init__.py", "io/captures.py", "io/tasks.py",
                 "io/core_copy/rig.py", "io/core_copy/formats/__init__.py", "io/core_copy/controls/vocabulary.py"):
        assert name in names, name
    assert not [n for n in names if n.startswith(("cafetalk_core/", "cafetalk_blender/"))]


BARE_JOB = r"""
import importlib.util, json, sys, bpy
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
mod = sys.modules["bl_ext.user_default.cafetalk"]
out = {"core_importable": importlib.util.find_spec("cafetalk_core") is not None, "results": {}}
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
mesh = bpy.data.meshes.new("FaceMesh")
mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
face = bpy.data.objects.new("Face", mesh)
scene.collection.objects.link(face)
face.shape_key_add(name="Basis")
for n in mod.io.vocabulary.ARKIT_NAMES:
    face.shape_key_add(name=n)
scene.cafetalk.target = face
for path in sys.argv[2].split(","):
    scene.frame_current = 1
    out["results"][path.rsplit("/", 1)[1]] = sorted(bpy.ops.cafetalk.import_capture(filepath=path))
scene.frame_set(2)
out["jawOpen"] = face.data.shape_keys.key_blocks["jawOpen"].value
out["export"] = sorted(bpy.ops.cafetalk.export_capture(filepath=sys.argv[3], format="live-link-csv", source="TAKE"))
print("RESULT" + json.dumps(out), flush=True)
"""


def test_bare_extension_imports_and_exports_takes_alone(zip_path, tmp_path, bpy_mod):
    """Issue 26: installed from its zip into a clean Blender, with no core on the path and no server
    Python named, the extension imports Live Link, Audio2Face (JSON and CSV) and Rhubarb files and
    exports a take."""
    files = tmp_path / "takes"
    files.mkdir()
    ll = ["Timecode,BlendShapeCount,JawOpen,EyeBlinkLeft,HeadYaw",
          "00:00:01:00.000,61,0.1,0.2,0.01", "00:00:01:01.000,61,0.6,0.3,0.02", "00:00:01:02.000,61,0.2,0.9,0.03"]
    (files / "slate.csv").write_text("\r\n".join(ll) + "\r\n")
    (files / "a2f.json").write_text(json.dumps({"exportFps": 30, "trackPath": "", "numPoses": 1, "numFrames": 3,
                                                "facsNames": ["jawOpen"], "weightMat": [[0.1], [0.7], [0.2]]}))
    (files / "a2f.csv").write_text("timeCode,blendShapes.JawOpen\n0.0,0.1\n0.0333333,0.8\n0.0666667,0.2\n")
    (files / "cues.tsv").write_text("0.00\tX\n0.05\tD\n0.40\tX\n")
    order = ["a2f.json", "a2f.csv", "cues.tsv", "slate.csv"]
    (tmp_path / "job.py").write_text(BARE_JOB)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAFETALK_PYTHON")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"))
    res = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(zip_path), ",".join(str(files / n) for n in order),
                          str(tmp_path / "out.csv")], capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, f"bare Blender failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    out = json.loads(line[len("RESULT"):])
    assert out["core_importable"] is False
    assert out["results"] == {n: ["FINISHED"] for n in order}, out
    assert out["jawOpen"] == pytest.approx(0.6, abs=1e-6)             # the Live Link take plays on top
    assert out["export"] == ["FINISHED"]
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[1].startswith("00:00:01:00.000,61,") and len(rows) == 4 and len(rows[0].split(",")) == 63


def test_zip_installs_and_enables_in_blender(tmp_path, bpy_mod, zip_path):
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
