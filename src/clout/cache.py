"""Intermediate datasets kept between commands (in cookiecutter's `data/interim`): the validated
tables of a source and the feature tables built from them, so that a second `train`, `score` or
`explain` on the same data reads them instead of simulating, validating and building again.

An entry's key is a digest of everything its contents depend on: what the caller names (the
data spec and its input files' bytes; or the data's fingerprint, the feature configuration and
the cutoffs), the code that builds it (the `data` and `features` packages' source) and the
versions of the libraries that compute it. Change any of these and the key changes, so an entry
is never stale, only unused; `clout cache clear` removes them all. Each entry is a folder written
whole or not at all (see `files.replacing_folder`), its `entry.json` naming what it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

from clout.files import project_root, replacing_folder

T = TypeVar("T")

ENTRY = "entry.json"  # written last: a folder without it is not an entry
# The code an entry's contents come from: editing it makes new keys.
_PACKAGE = Path(__file__).parent
_BUILDERS = ("data", "features", "numerics.py")
_LIBRARIES = ("numpy", "pandas", "polars", "pyarrow", "scipy")


def default_root() -> Path:
    """$CLOUT_CACHE, else data/interim/cache at the project's root (beside what `clout data
    load` writes to data/interim, which `clear` leaves alone)."""
    return Path(os.environ.get("CLOUT_CACHE") or project_root() / "data" / "interim" / "cache")


def digest_files(path: Path) -> str:
    """A digest of a file's bytes, or of every file under a folder with its relative path."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@cache
def code_version() -> str:
    """The builders' source and the numeric libraries' versions, as one digest."""
    digest = hashlib.sha256()
    for name in _BUILDERS:
        path = _PACKAGE / name
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            digest.update(file.relative_to(_PACKAGE).as_posix().encode() + file.read_bytes())
    digest.update(" ".join(f"{lib} {version(lib)}" for lib in _LIBRARIES).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Cache:
    """Where entries live and whether to use them. `rebuild` (`--no-cache`): build again and
    store the new entry in place of the old; `enabled=False`: neither read nor write."""

    root: Path | None = None  # None: `default_root()` when used
    rebuild: bool = False
    enabled: bool = True
    say: Callable[[str], None] = field(default=lambda _: None, compare=False)  # a hit is said

    @property
    def folder(self) -> Path:
        return self.root or default_root()

    def key(self, kind: str, what: dict) -> str:
        text = json.dumps({"kind": kind, "what": what, "code": code_version()},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def fetch(self, kind: str, what: dict, build: Callable[[], T],
              save: Callable[[T, Path], dict], load: Callable[[Path, dict], T],
              describe: str = "") -> T:
        """The entry of `kind` keyed by `what`, loaded; else `build()`, saved, and returned.
        `save(value, folder)` writes the value's files and returns what `load(folder, info)`
        needs besides them (kept in the entry's `entry.json`)."""
        if not self.enabled:
            return build()
        entry = self.folder / kind / self.key(kind, what)
        if not self.rebuild and (entry / ENTRY).is_file():
            info = json.loads((entry / ENTRY).read_text())
            try:
                value = load(entry, info["saved"])
                self.say(f"from the cache: {describe or kind} (clout cache list; --no-cache "
                         "builds it again)")
                return value
            except (OSError, ValueError, KeyError) as err:  # damaged by hand: build it again
                warnings.warn(f"cache entry {entry} is unreadable ({err}); rebuilding it",
                              stacklevel=2)
        value = build()
        with replacing_folder(entry) as partial:
            saved = save(value, partial)
            (partial / ENTRY).write_text(json.dumps({
                "kind": kind, "describe": describe, "code": code_version(),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "what": what, "saved": saved}, indent=1, default=str))
        return value

    def entries(self) -> list[dict]:
        """Every entry: kind, key, what it holds, size in bytes, when it was made."""
        rows = []
        for marker in sorted(self.folder.glob(f"*/*/{ENTRY}")):
            info = json.loads(marker.read_text())
            size = sum(p.stat().st_size for p in marker.parent.rglob("*") if p.is_file())
            rows.append({"kind": info["kind"], "key": marker.parent.name,
                         "holds": info["describe"], "bytes": size, "created": info["created"],
                         "current_code": info["code"] == code_version()})
        return rows

    def clear(self) -> int:
        """Remove every entry (and any a crash left half written); the number of entries."""
        removed = len(list(self.folder.glob(f"*/*/{ENTRY}")))
        for kind in (p for p in self.folder.glob("*") if p.is_dir()):
            shutil.rmtree(kind)
        return removed


PROJECT_CACHE = Cache()
NO_CACHE = Cache(enabled=False)
