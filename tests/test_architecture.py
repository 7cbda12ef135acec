"""What may import what (docs/architecture.md), read from the source with ``ast``.

- Inside ``cafetalk_core`` every import points down or sideways in LAYERS, never up.
- ``cafetalk_core`` never imports ``bpy`` or the add-on, except the Blender half of the demo
  (BLENDER_SIDE), and only inside functions, so importing any module of the package never does.
- ``blender_addon`` never imports torch or ``cafetalk_core``: it reaches the model over HTTP.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "cafetalk_core"

#: Bottom to top; a room may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"__init__", "files", "rig", "timecode", "curves", "phones", "visemes"},   # atomic writes, names, timecodes, curves, phone/viseme tables
    {"audio", "controls", "formats"},                           # audio in, controls in, take files in/out
    {"model", "generation"},                                    # the model; the contract
    {"motion"},                                                 # stages after sampling, owned by the pipeline
    {"data"},                                                   # the synthetic corpus and training dataset
    {"pipeline", "training"},                                   # generate; train every stage (training/)
    {"evaluation", "server", "demo", "server_process", "batch"},   # the products built on the pipeline
    {"cli"},                                                    # the command, on top of everything
]
BLENDER_SIDE = {"demo/scene.py", "demo/head.py"}   # run by `cafetalk demo` in a subprocess with bpy


def _room(module: str) -> str:
    """``cafetalk_core.audio.frontend`` -> ``audio``; ``cafetalk_core`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(room: str) -> int:
    for i, rooms in enumerate(LAYERS):
        if room in rooms:
            return i
    raise AssertionError(f"cafetalk_core/{room} is in no layer: add it to LAYERS and docs/architecture.md")


def _module_name(path: Path) -> tuple[str, str]:
    """(module, package it is in) for a file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _imports(path: Path, source: str | None = None) -> list[tuple[str, int, bool]]:
    """(absolute module, line, at module level) for every import in ``path`` (or ``source`` as if
    it were that file); ``from . import x`` gives ``package.x`` when x is a module, else the package."""
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    _, package = _module_name(path)
    top_level = {id(n) for n in tree.body}
    for node in tree.body:   # imports guarded by `if TYPE_CHECKING:` or `try:` still run at import time
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.append((node.module or "", node.lineno, id(node) in top_level))
                continue
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names if node.module is None else [None]:
                name = target
                if a is not None:
                    sub = ROOT.joinpath(*target.split("."), a.name)
                    if sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file():
                        name = f"{target}.{a.name}"
                out.append((name, node.lineno, id(node) in top_level))
    return out


def _core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def _upward_imports(path: Path, source: str | None = None) -> list[str]:
    module, _ = _module_name(path)
    here = _room(module)
    upward = []
    for target, line, _ in _imports(path, source):
        if target.split(".")[0] != "cafetalk_core":
            continue
        there = _room(target)
        if _layer(there) > _layer(here):
            upward.append(f"{path.relative_to(ROOT)}:{line} ({here}, layer {_layer(here)}) imports "
                          f"{target} ({there}, layer {_layer(there)})")
    return upward


def test_every_core_import_points_down_or_sideways():
    upward = [u for path in _core_files() for u in _upward_imports(path)]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_every_core_room_has_a_layer():
    rooms = {p.stem for p in CORE.glob("*.py")} | {p.parent.name for p in CORE.glob("*/__init__.py")}
    for room in rooms:
        _layer(room)


def test_core_never_imports_bpy_or_the_addon():
    wrong = []
    for path in _core_files():
        rel = path.relative_to(CORE).as_posix()
        for target, line, top in _imports(path):
            if target.split(".")[0] not in ("bpy", "cafetalk_blender", "bl_ext", "mathutils", "bmesh"):
                continue
            if rel in BLENDER_SIDE and not top:
                continue   # the demo's Blender half: only inside functions, run by a bpy subprocess
            wrong.append(f"cafetalk_core/{rel}:{line} imports {target}" + (" at module level" if top else ""))
    assert not wrong, "\n".join(wrong)


def test_addon_never_imports_torch_or_the_core():
    wrong = []
    for path in sorted((ROOT / "blender_addon").rglob("*.py")):
        for target, line, _ in _imports(path):
            if target.split(".")[0] in ("torch", "cafetalk_core", "numpy_torch", "transformers"):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "the add-on talks to the model over HTTP only:\n" + "\n".join(wrong)


ADDON = ROOT / "blender_addon"
BLENDER_MODULES = ("bpy", "bmesh", "mathutils", "bpy_extras", "bl_ext")


def _io_violations(path: Path, source: str | None = None) -> list[str]:
    """Imports of ``bpy`` or of the add-on's Blender layer in a module of ``blender_addon/io/``."""
    wrong = []
    for target, line, _ in _imports(path, source):
        parts = target.split(".")
        blender_layer = parts[0] == "blender_addon" and (len(parts) < 2 or parts[1] != "io")
        if parts[0] in BLENDER_MODULES or blender_layer:
            wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return wrong


def test_addon_io_layer_never_imports_bpy_or_the_blender_layer():
    files = sorted(p for p in (ADDON / "io").rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) > 10
    wrong = [w for path in files for w in _io_violations(path)]
    assert not wrong, "blender_addon/io/ runs without Blender:\n" + "\n".join(wrong)


def test_addon_modules_that_need_no_blender_live_in_io():
    """A flat add-on module that imports no bpy and touches no Blender data belongs in io/. The Blender
    layer's modules either import bpy or work on Blender data handed to them (listed here)."""
    on_blender_data = {"fcurves.py", "take_store.py", "nla_layout.py", "nla_controls.py", "head_rig.py", "capture.py"}
    flat = {p.name for p in ADDON.glob("*.py")}
    no_bpy = {name for name in flat
              if not any(t.split(".")[0] == "bpy" for t, _, _ in _imports(ADDON / name))}
    assert no_bpy <= on_blender_data, f"move to blender_addon/io/: {sorted(no_bpy - on_blender_data)}"


@pytest.mark.parametrize("source, wrong", [
    ("import bpy\n", True),
    ("def f():\n    import bpy\n", True),               # inside a function too
    ("from .. import takes\n", True),                   # the Blender layer above io/
    ("from ..fcurves import write_fcurve\n", True),
    ("from . import client\n", False),
    ("from .core_copy import rig\n", False),
    ("import numpy as np\n", False),
])
def test_the_io_rule_catches_bpy_and_the_blender_layer(source, wrong):
    assert bool(_io_violations(ADDON / "io" / "_probe.py", source)) == wrong


@pytest.mark.parametrize("source, upward", [
    ("from ..pipeline import Generator\n", True),
    ("def f():\n    from ..evaluation.metrics import lip_aperture\n", True),   # inside a function too
    ("from .. import cli\n", True),
    ("import cafetalk_core.server.app\n", True),
    ("from .. import rig\n", False),
    ("from . import frontend\n", False),
    ("from ..phones import Phone\n", False),
])
def test_the_rule_catches_an_upward_arrow(source, upward):
    """The checker itself, on a would-be file audio/_probe.py: relative, absolute and nested imports
    resolve to the module they name."""
    assert bool(_upward_imports(CORE / "audio" / "_probe.py", source)) == upward


def test_long_modules_say_why_they_are_long():
    """A module over 400 lines says why at its top (its docstring mentions "400 lines")."""
    quiet = []
    for path in _core_files():
        source = path.read_text()
        if source.count("\n") > 400 and "400 lines" not in (ast.get_docstring(ast.parse(source)) or ""):
            quiet.append(f"{path.relative_to(ROOT)} ({source.count(chr(10))} lines)")
    assert not quiet, "split these modules or say at their top why they are long:\n" + "\n".join(quiet)


def _module_graph() -> dict[str, set[str]]:
    """core module -> the core modules it imports (at module level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in _core_files():
        module, _ = _module_name(path)
        graph[module] = {t for t, _, _ in _imports(path) if t.startswith("cafetalk_core") and t != module}
    return {m: {t for t in ts if t in graph} for m, ts in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_two_modules_import_each_other():
    """No circle of imports, lazy ones included (``rig`` and ``curves`` were one: a Live Link take
    now becomes curves by ``BlendshapeCurves.from_live_link``, and ``rig`` imports no curves)."""
    assert not _cycles(_module_graph()), _cycles(_module_graph())
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]   # the checker itself
