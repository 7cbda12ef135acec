"""Atomic file writes: a reader (another process, a resumed run) never sees half a file.

Why one helper: config files of the shipped checkpoint, caches beside the data and manifests are
rewritten in place by tuners and trainers while servers or other workers may read them; each write
goes to a temporary file in the same folder (named by the process, so two writers never share one)
and is renamed over the target, which POSIX makes atomic.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2, ensure_ascii: bool = True,
                      newline: bool = False) -> None:
    """``data`` as JSON (``newline`` adds the trailing line end some files keep)."""
    text = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii)
    write_text_atomic(path, text + ("\n" if newline else ""))


def update_json_atomic(path: str | Path, update: Callable[[dict[str, Any]], None], indent: int = 2,
                       newline: bool = False) -> dict[str, Any]:
    """Read the JSON object at ``path``, let ``update`` change it in place, write it back atomically."""
    data = json.loads(Path(path).read_text())
    update(data)
    write_json_atomic(path, data, indent=indent, newline=newline)
    return data
