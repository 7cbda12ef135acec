"""Packaging: the extension zip ships only what the add-on imports; a wheel-installed ``cafetalk demo``
runs from an empty folder, with no source checkout on the path."""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_module():
    spec = importlib.util.spec_from_file_location("cafetalk_build", ROOT / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _addon_import_closure(folder: Path) -> set[str]:
    """Module files of the add-on (paths relative to ``folder``) reachable from its ``__init__.py`` through
    relative imports, sub-packages (``io/``) and their ``__init__`` files included."""
    def module_file(parts: list[str]) -> str | None:
        for cand in ("/".join(parts) + ".py", "/".join(parts + ["__init__.py"])):
            if cand != ".py" and (folder / cand.lstrip("/")).is_file():
                return cand.lstrip("/")
        return None

    seen: set[str] = set()
    todo = ["__init__.py"]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        package = rel.split("/")[:-1]
        todo += [f"{'/'.join(package[:i])}/__init__.py".lstrip("/") for i in range(1, len(package) + 1)]
        for node in ast.walk(ast.parse((folder / rel).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                targets = [module_file(base)] + [module_file(base + [a.name]) for a in node.names]
                todo += [t for t in targets if t]
    return seen


def test_extension_zip_ships_only_what_the_addon_imports(tmp_path):
    zip_path = _build_module().build(tmp_path / "dist", with_core=False)
    with zipfile.ZipFile(zip_path) as zf:
        shipped = {n for n in zf.namelist() if n.endswith(".py")}
    assert shipped == _addon_import_closure(ROOT / "blender_addon")
    assert not [n for n in shipped if "demo" in n]


@pytest.mark.slow
@pytest.mark.blender
def test_wheel_installed_demo_runs_from_an_empty_folder(tmp_path):
    """Not editable, not the checkout: build the wheel, install it into a fresh venv (the big
    dependencies come from this interpreter's site-packages), run ``cafetalk demo`` elsewhere."""
    assert importlib.util.find_spec("bpy") is not None, "this test needs the bpy module (pip install 'bpy==4.5.*')"
    wheel = _build_module().build_core_wheel(tmp_path / "wheel")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--force-reinstall",
                    str(wheel)], check=True, env=env, cwd=tmp_path)
    where = subprocess.run([str(python), "-c", "import cafetalk_core, cafetalk_blender, json; print(json.dumps("
                            "[cafetalk_core.__file__, cafetalk_blender.__file__]))"],
                           check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    for path in json.loads(where.stdout):
        assert Path(path).is_relative_to(venv), f"imported from outside the venv: {path}"

    empty = tmp_path / "empty"
    empty.mkdir()
    res = subprocess.run([str(venv / "bin" / "cafetalk"), "demo", "--in-process", "--frames", "5",
                          "--resolution", "160x120", "--out", "out"],
                         capture_output=True, text=True, env=env, cwd=empty, timeout=900)
    out = empty / "out"
    log = (out / "blender.log").read_text() if (out / "blender.log").is_file() else ""
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:] + log[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert Path(result["addon"]).is_relative_to(venv), result["addon"]
    assert result["sequence"] == [1, 2, 3, 4, 5]
    assert (out / "demo.blend").is_file() and (out / "take_curves.json").is_file()
    assert all((out / "frames" / f"frame_{f:04d}.png").is_file() for f in result["sequence"])
