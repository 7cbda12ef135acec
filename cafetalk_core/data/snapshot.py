"""Reading a public repository's snapshot (a bare git directory, as ``fetch`` leaves it, or a plain
checkout): the one place the real-data converters (``facegood``, ``captures``) call git."""
from __future__ import annotations

import subprocess
from pathlib import Path


class SnapshotError(ValueError):
    """A snapshot git cannot read; the message names the folder, the command and git's reason."""


def git(snapshot: str | Path, *args: str) -> bytes:
    """``git -C SNAPSHOT ARGS...``'s output."""
    done = subprocess.run(["git", "-C", str(snapshot), *args], capture_output=True)
    if done.returncode != 0:
        raise SnapshotError(f"{snapshot}: git {' '.join(args)} failed: {done.stderr.decode().strip()}")
    return done.stdout


def is_bare_git(snapshot: str | Path) -> bool:
    path = Path(snapshot)
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def read_file(snapshot: str | Path, rel: str) -> bytes:
    """A file of the snapshot's HEAD (bare git) or of the checkout."""
    return git(snapshot, "show", f"HEAD:{rel}") if is_bare_git(snapshot) else (Path(snapshot) / rel).read_bytes()


def head_commit(snapshot: str | Path) -> str | None:
    """The snapshot's commit (None for a plain checkout without git)."""
    return git(snapshot, "rev-parse", "HEAD").decode().strip() if is_bare_git(snapshot) else None
