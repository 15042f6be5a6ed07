"""Writes that a crash cannot leave half done: a file or a folder is written beside its target
under a temporary name, flushed to disk, and renamed into place, so readers see the old one or
the new one, whole, never a mixture."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    """The nearest folder up from `start` (the working directory) that holds a pyproject.toml:
    the project, wherever in it a command or a notebook runs; else `start` itself."""
    start = (start or Path.cwd()).resolve()
    return next((p for p in (start, *start.parents) if (p / "pyproject.toml").is_file()), start)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename in it), to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        fsync_path(path)
    fsync_path(folder)


@contextmanager
def replacing_file(target: Path) -> Iterator[Path]:
    """A temporary path to write `target` to; renamed over it when the block ends without an
    error (removed when it fails)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        yield partial
        fsync_path(partial)
        partial.replace(target)  # atomic
        fsync_path(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    with replacing_file(target) as partial:
        partial.write_text(text)


@contextmanager
def replacing_folder(target: Path) -> Iterator[Path]:
    """A temporary folder to write `target`'s contents to; swapped in when the block ends
    without an error. The previous folder is kept whole until the new one is in place: a crash
    between the two renames leaves both beside the target, under `.<name>.old-*` and
    `.<name>.new-*`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        yield new
        fsync_tree(new)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / target.name)
        new.rename(target)
        fsync_path(target.parent)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(new, ignore_errors=True)
