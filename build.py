"""Build the Blender extension zip: ``python build.py`` -> ``dist/cafetalk-<version>.zip``.

The zip holds the extension (``blender_manifest.toml`` at its root, the ``blender_addon``
files) and, under ``core/``, a wheel of ``cafetalk_core`` (with its shipped weights) that the
add-on's "Install server environment" pip-installs into a venv. The wheel is not listed in
the manifest's ``wheels``: Blender must not install torch-dependent code into its own Python.

The manifest is checked here with ``tomllib`` (required fields, id, version equal to
pyproject's, permissions with reasons, SPDX licence), because ``blender --command extension
validate`` needs a Blender binary, not the bpy module; the tests also install the zip through
``bpy.ops.extensions.package_install_files``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "blender_addon"
REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license",
            "blender_version_min")
EXCLUDE_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


class ManifestError(ValueError):
    pass


def check_manifest(path: Path = ADDON / "blender_manifest.toml", pyproject: Path = ROOT / "pyproject.toml") -> dict:
    """Parse and check the manifest; return it, or raise :class:`ManifestError` naming the field."""
    try:
        m = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML: {exc}") from None
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise ManifestError(f"{path}: missing required fields {missing}")
    if m["schema_version"] != "1.0.0":
        raise ManifestError(f"schema_version must be '1.0.0', got {m['schema_version']!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", m["id"]):
        raise ManifestError(f"id must be a lower-case identifier, got {m['id']!r}")
    if m["type"] not in ("add-on", "theme"):
        raise ManifestError(f"type must be 'add-on' or 'theme', got {m['type']!r}")
    for key in ("version", "blender_version_min"):
        if not re.fullmatch(r"\d+\.\d+\.\d+", str(m[key])):
            raise ManifestError(f"{key} must be semantic 'X.Y.Z', got {m[key]!r}")
    if tuple(int(x) for x in m["blender_version_min"].split(".")) < (4, 2, 0):
        raise ManifestError(f"blender_version_min must be >= 4.2.0 (extensions), got {m['blender_version_min']!r}")
    if not isinstance(m["license"], list) or not all(str(x).startswith("SPDX:") for x in m["license"]):
        raise ManifestError(f"license must be a list of 'SPDX:...' ids, got {m['license']!r}")
    if len(m["tagline"]) > 64 or m["tagline"].endswith((".", "!", "?")):
        raise ManifestError(f"tagline must be <= 64 characters without end punctuation, got {m['tagline']!r}")
    perms = m.get("permissions", {})
    for name, reason in perms.items():
        if name not in ("files", "network", "clipboard", "camera", "microphone"):
            raise ManifestError(f"permissions.{name} is not a known permission")
        if not isinstance(reason, str) or not reason or reason.endswith(".") or len(reason) > 64:
            raise ManifestError(f"permissions.{name} needs a reason (<= 64 chars, no final period), got {reason!r}")
    for name in ("network", "files"):
        if name not in perms:
            raise ManifestError(f"permissions.{name} is required (the add-on talks to the server and reads audio)")
    if pyproject.exists():
        version = tomllib.loads(pyproject.read_text())["project"]["version"]
        if version != m["version"]:
            raise ManifestError(f"manifest version {m['version']!r} differs from pyproject's {version!r}")
    return m


def build_core_wheel(out_dir: Path) -> Path:
    """A wheel of cafetalk_core (no dependencies).

    First offline with the installed setuptools; where that cannot build wheels (an old
    setuptools without ``wheel``), again with pip's build isolation (fetches setuptools).
    """
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out_dir), str(ROOT)]
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(base[:5] + ["--no-build-isolation"] + base[5:], cwd=tmp, capture_output=True, text=True)
        if res.returncode != 0:
            res = subprocess.run(base, cwd=tmp, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"building the core wheel failed:\n{res.stdout}\n{res.stderr}")
    wheels = sorted(out_dir.glob("cafetalk-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel produced no cafetalk-*.whl in {out_dir}")
    return wheels[-1]


def addon_files() -> list[Path]:
    return sorted(p for p in ADDON.rglob("*") if p.is_file() and not EXCLUDE_PARTS & set(p.parts)
                  and p.suffix not in (".pyc", ".pyo") and not p.relative_to(ADDON).parts[0] == "core")


def build(out_dir: Path = ROOT / "dist", with_core: bool = True) -> Path:
    manifest = check_manifest()
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_core_wheel(Path(tmp)) if with_core else None
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in addon_files():
                zf.write(f, f.relative_to(ADDON).as_posix())
            if wheel is not None:
                zf.write(wheel, f"core/{wheel.name}")
    return zip_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "dist")
    p.add_argument("--no-core", action="store_true", help="leave out the bundled core wheel")
    p.add_argument("--check", action="store_true", help="only check the manifest")
    a = p.parse_args(argv)
    try:
        if a.check:
            m = check_manifest()
            print(f"manifest ok: {m['id']} {m['version']}")
            return 0
        path = build(a.out, not a.no_core)
    except (ManifestError, RuntimeError) as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    print(f"{path} ({path.stat().st_size / 1024:.0f} KiB, {len(names)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
