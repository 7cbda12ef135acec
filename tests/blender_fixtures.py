"""Shared fixtures for add-on tests against the real ``bpy`` module (Blender 4.2, 4.5 or 5.0 as a module).

``bpy`` can be imported once per process and is slow to import, so one session-scoped fixture
loads it and the add-on (the source folder ``blender_addon/`` imported as the package
``cafetalk_blender``) and every test starts from a factory-reset empty scene. Where ``bpy``
is missing these tests fail, never skip (CI must not pass on a machine without Blender). Tests that
need a truly isolated Blender (installing the extension zip, which writes to the user's
config) run a subprocess with HOME pointed at a temporary folder instead.
"""
from __future__ import annotations

import importlib.util
import math
import os
import struct
import sys
import wave
from pathlib import Path

import pytest

from cafetalk_core.server_process import ServerProcess, ServerStartError

ROOT = Path(__file__).resolve().parents[1]
ADDON_DIR = ROOT / "blender_addon"
ARKIT_SAMPLE = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthSmileRight",
                "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp")


def load_addon():
    """Import ``blender_addon`` as the package ``cafetalk_blender`` (once per process)."""
    if "cafetalk_blender" in sys.modules:
        return sys.modules["cafetalk_blender"]
    spec = importlib.util.spec_from_file_location("cafetalk_blender", ADDON_DIR / "__init__.py",
                                                  submodule_search_locations=[str(ADDON_DIR)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["cafetalk_blender"] = module
    spec.loader.exec_module(module)
    return module


def load_addon_io(module: str):
    """One of the add-on's bpy-free modules (``io/``: ``curves``, ``vocabulary``, ``captures``, ...) without Blender.

    The package ``cafetalk_blender_io`` points at ``blender_addon/`` but its ``__init__`` (which
    imports bpy) is never run, so ``io/`` is imported on plain Python and its copies can be
    pinned to the core anywhere.
    """
    import types
    pkg = sys.modules.get("cafetalk_blender_io")
    if pkg is None:
        pkg = types.ModuleType("cafetalk_blender_io")
        pkg.__path__ = [str(ADDON_DIR)]
        sys.modules["cafetalk_blender_io"] = pkg
    return importlib.import_module(f"cafetalk_blender_io.io.{module}")


@pytest.fixture(scope="session")
def bpy_mod():
    """The ``bpy`` module. Missing, the add-on tests fail (never skip): deselect them with ``-m 'not blender'``."""
    try:
        import bpy
    except ImportError as exc:
        pytest.fail(f"the add-on tests need Blender as a module ({exc}): pip install 'bpy==4.5.*' or 'bpy==5.0.*', "
                    "or deselect them with -m 'not blender'", pytrace=False)
    return bpy


_REGISTERED = {"users": 0}


@pytest.fixture(scope="session")
def addon(bpy_mod):
    """The registered add-on. Each test module imports this fixture, so pytest may set it up
    once per module: register on the first use, unregister after the last."""
    mod = load_addon()
    if _REGISTERED["users"] == 0:
        mod.register()
    _REGISTERED["users"] += 1
    yield mod
    _REGISTERED["users"] -= 1
    if _REGISTERED["users"] == 0:
        mod.unregister()


@pytest.fixture
def scene(bpy_mod, addon):
    """A factory-reset, empty scene at 30 fps with the add-on's properties."""
    bpy_mod.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy_mod.context.scene
    sc.render.fps, sc.render.fps_base = 30, 1.0
    return sc


def make_face(bpy, names=ARKIT_SAMPLE, obj_name="Face"):
    """A mesh object with a Basis key and one shape key per name."""
    mesh = bpy.data.meshes.new(obj_name + "Mesh")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(obj_name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for n in names:
        obj.shape_key_add(name=n)
    return obj


def write_tone(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A short speech-band tone with silence gaps (a valid mono 16-bit wav)."""
    n = int(seconds * rate)
    frames = bytearray()
    for i in range(n):
        on = (i // (rate // 5)) % 2 == 0
        v = int(8000 * math.sin(2 * math.pi * 220 * i / rate) * on)
        frames += struct.pack("<h", v)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real CafeTalk server with a random tiny model on a free loopback port.

    ``CAFETALK_TEST_SERVER_PYTHON`` picks its interpreter (e.g. when bpy 5.0 lives in a venv
    without torch); default: this Python.
    """
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    python = os.environ.get("CAFETALK_TEST_SERVER_PYTHON", sys.executable)
    server = ServerProcess(["--random-model", "--device", "cpu"], log, python=python, env=env, cwd=ROOT).start()
    try:
        server.wait_healthy(timeout_s=90)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    yield server.url
    server.stop()
