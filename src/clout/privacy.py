"""The scored person's right to be forgotten: a do-not-score list, pseudonyms for what the
forgotten did, and erasure from what the project has already written.

- The list (`DoNotScore`, in `data/privacy/` or $CLOUT_PRIVACY_DIR, never committed) holds
  keyed digests of the forgotten ids (HMAC-SHA256 under a random key kept beside it), not the
  ids: it answers whether an id is on it and never which ids are.
- From then on the data stage (`pseudonymise`, before anything is cached) renames every
  forgotten account to a pseudonym, an id from `PSEUDONYM_BASE` up in the order of their
  digests: their engagement of others still counts (and the others' features do not move),
  nothing names them, and a pseudonym is never scored (`is_pseudonym`) nor served.
- `clout forget` erases them from what was written before (`clout.cli`): the releases, the
  cache and the training runs' files that name accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from clout.data.dataset import Dataset
from clout.data.schema import TABLES
from clout.errors import ConfigError
from clout.files import project_root, write_text

#: ids from here up are pseudonyms of forgotten accounts (real ids stay below: Twitter's are
#: under 2**61)
PSEUDONYM_BASE = 2**62


def is_pseudonym(ids) -> np.ndarray:
    return np.asarray(ids, dtype=np.int64) >= PSEUDONYM_BASE


def _account_columns() -> dict[str, list[str]]:
    """Per contract table, its columns that hold an account id."""
    return {name: [c.name for c in table.columns
                   if c.references == "accounts.account_id"
                   or (name == "accounts" and c.name == "account_id")]
            for name, table in TABLES.items()}


class DoNotScore:
    """The forgotten accounts of a project, as keyed digests."""

    def __init__(self, folder: Path | None = None):
        # $CLOUT_PRIVACY_DIR, else data/privacy at the project's root (data/*/* is never
        # committed)
        self.folder = Path(folder or os.environ.get("CLOUT_PRIVACY_DIR")
                           or project_root() / "data" / "privacy")
        self._path, self._key_path = self.folder / "forgotten.json", self.folder / "key"

    def _key(self, create: bool = False) -> bytes | None:
        if not self._key_path.exists():
            if not create:
                return None
            self.folder.mkdir(parents=True, exist_ok=True)
            write_text(self._key_path, secrets.token_hex(32))
            self._key_path.chmod(0o600)
        return bytes.fromhex(self._key_path.read_text().strip())

    def digests(self) -> set[str]:
        if not self._path.exists():
            return set()
        try:
            return set(json.loads(self._path.read_text())["digests"])
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"do-not-score list {self._path}: unreadable ({err})") from None

    @staticmethod
    def _digest(key: bytes, account_id) -> str:
        return hmac.new(key, str(int(account_id)).encode(), hashlib.sha256).hexdigest()

    def add(self, ids) -> int:
        """Put `ids` on the list; how many were not on it yet."""
        key, known = self._key(create=True), self.digests()
        new = {self._digest(key, i) for i in ids} - known
        write_text(self._path, json.dumps({"digests": sorted(known | new)}) + "\n")
        self._path.chmod(0o600)
        return len(new)

    def contains(self, ids) -> np.ndarray:
        """Which of `ids` are on the list."""
        ids, known, key = np.asarray(ids), self.digests(), self._key()
        if not known or key is None:
            return np.zeros(len(ids), dtype=bool)
        return np.array([self._digest(key, i) in known for i in ids], dtype=bool)

    def __len__(self) -> int:
        return len(self.digests())

    @property
    def version(self) -> str:
        """Changes whenever the list does: what a cache of the data stage is keyed by."""
        return hashlib.sha256("".join(sorted(self.digests())).encode()).hexdigest()[:16]

    def pseudonyms(self, ids) -> dict[int, int]:
        """Each listed id among `ids` -> its pseudonym (PSEUDONYM_BASE + k, k its rank among
        them by digest: nothing about the id shows in it)."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        listed = ids[self.contains(ids)]
        if not len(listed):
            return {}
        key = self._key()
        order = sorted(listed.tolist(), key=lambda i: self._digest(key, i))
        return {int(i): PSEUDONYM_BASE + k for k, i in enumerate(order)}


def pseudonymise(dataset: Dataset, truth: pd.DataFrame | None, forgotten: DoNotScore
                 ) -> tuple[Dataset, pd.DataFrame | None, int]:
    """`dataset` (and the simulator's `truth`) with every listed account renamed to its
    pseudonym, in every column that holds an account id; and how many were renamed."""
    mapping = forgotten.pseudonyms(dataset.accounts["account_id"])
    if not mapping:
        return dataset, truth, 0

    def renamed(frame: pd.DataFrame, columns) -> pd.DataFrame:
        return frame.assign(**{c: frame[c].replace(mapping) for c in columns if c in frame})
    tables = {name: renamed(frame, _account_columns()[name])
              for name, frame in dataset.tables().items()}
    return (Dataset(**tables), None if truth is None else renamed(truth, ["account_id"]),
            len(mapping))
