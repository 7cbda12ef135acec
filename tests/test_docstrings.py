"""Docstrings stay true: every module they name exists, every ``room.module.name`` they cite
resolves, and a module that says it is over 400 lines is. Read from the source with ``ast``."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "cafetalk_core"
FILES = sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)
#: Names of files that are not this tree's modules, said on purpose (where, and why).
NOT_MODULES = {
    ("cafetalk_core/audio/__init__.py", "audio.py"),   # DESIGN.md's planned single module, now a package
    ("cafetalk_core/data/facegood.py", "step3_concat_select_split.py"),   # a script of the FACEGOOD repository
}
FILE_EXTENSIONS = {"py", "json", "jsonl", "png", "blend", "safetensors", "csv", "wav", "npz", "txt", "mp4"}
ROOMS = ({p.stem for p in CORE.glob("*.py")} | {p.parent.name for p in CORE.glob("*/__init__.py")}) - {"__init__"}


def _docstrings(path: Path, source: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text() if source is None else source)
    return [d for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and (d := ast.get_docstring(n, clean=False))]


def _comments(path: Path) -> list[str]:
    return [line[line.index("#"):] for line in path.read_text().splitlines() if "#" in line]


def _named_files(text: str) -> list[str]:
    """``x.py``, ``dir/x.py`` and ``cafetalk_core/dir/x.py`` in a text."""
    return re.findall(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b", text)


def _file_exists(ref: str, here: Path) -> bool:
    return any(c.is_file() for c in (ROOT / ref, CORE / ref, here.parent / ref))


def _defined(module_file: Path) -> set[str]:
    """Names a module defines or imports at any level (what ``module.name`` may refer to)."""
    names = set()
    for n in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            names |= {t.id for t in n.targets if isinstance(t, ast.Name)}
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return names


def _resolves(dotted: str) -> bool:
    """``data.tts.synth_espeak`` / ``cafetalk_core.rig``: the longest module prefix exists under
    cafetalk_core and the next part (if any) is defined in it."""
    parts = dotted.split(".")
    parts = parts[1:] if parts[0] == "cafetalk_core" else parts
    for k in range(len(parts), 0, -1):
        base = CORE.joinpath(*parts[:k])
        for module_file in (base.with_suffix(".py"), base / "__init__.py"):
            if module_file.is_file():
                return k == len(parts) or parts[k] in _defined(module_file)
    return False


def _cited_names(text: str) -> list[str]:
    """``room.module.name`` in double backquotes or Sphinx roles, starting at a room of cafetalk_core."""
    refs = re.findall(r"``([\w.]+)(?:\(\))?``|:(?:func|mod|class|data|meth|attr):`~?([\w.]+)`", text)
    out = []
    for a, b in refs:
        parts = (a or b).split(".")
        parts = parts[1:] if parts[0] == "cafetalk_core" else parts
        if len(parts) >= 2 and parts[0] in ROOMS and parts[-1] not in FILE_EXTENSIONS:
            out.append(a or b)
    return out


def test_every_module_named_in_a_docstring_or_comment_exists():
    missing = []
    for path in FILES:
        rel = path.relative_to(ROOT).as_posix()
        for text in _docstrings(path) + _comments(path):
            missing += [f"{rel}: {ref}" for ref in _named_files(text)
                        if not _file_exists(ref, path) and (rel, ref) not in NOT_MODULES]
    assert not missing, "docstrings name modules that do not exist:\n" + "\n".join(missing)


def test_every_cited_name_resolves():
    wrong = [f"{path.relative_to(ROOT)}: {ref}" for path in FILES for text in _docstrings(path)
             for ref in _cited_names(text) if not _resolves(ref)]
    assert not wrong, "docstrings cite names that do not exist:\n" + "\n".join(wrong)


def test_a_module_that_says_it_is_long_is():
    untrue = []
    for path in FILES:
        source = path.read_text()
        doc = ast.get_docstring(ast.parse(source)) or ""
        if re.search(r"over 400 lines", doc, re.IGNORECASE) and source.count("\n") <= 400:
            untrue.append(f"{path.relative_to(ROOT)} ({source.count(chr(10))} lines)")
    assert not untrue, "these say 'over 400 lines' and are not:\n" + "\n".join(untrue)


def test_the_checkers_catch_a_stale_name(tmp_path):
    probe = CORE / "evaluation" / "_probe.py"
    docs = _docstrings(probe, '"""Shared with evaluate.py and ``realspeech.evaluate``; see metrics.py."""\n')
    assert [r for r in _named_files(docs[0]) if not _file_exists(r, probe)] == ["evaluate.py"]
    assert _resolves("data.tts.synth_espeak") and _resolves("cafetalk_core.rig") and _resolves("visemes.phones_to_curves")
    assert not _resolves("data.visemes.phones_to_curves") and not _resolves("data.phonemes")
