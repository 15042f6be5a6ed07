"""The errors a user can cause, and only those.

The CLI prints a `CloutError` in one line and exits 2: the message says what was given, what
was expected and, where one helps, what to do. Any other exception is a bug in clout and shows
as one, with its traceback. Each kind also derives from the built-in it refines, so callers of
the Python API may catch `ValueError`, `LookupError` or `FileNotFoundError` as before.
"""

from __future__ import annotations


class CloutError(Exception):
    """Something the user gave cannot be used."""


class ConfigError(CloutError, ValueError):
    """An experiment file, an option or an argument that is not valid."""


class DataError(CloutError, ValueError):
    """Data that breaks the contract, or cannot give what was asked (no posts, no labels, a
    cutoff outside the data)."""


class ModelError(CloutError, ValueError):
    """A model that cannot be used as given: a feature table it cannot score, saved files that
    do not match their recorded version."""


class NotFound(CloutError, LookupError):
    """A run, an account, a release that is not there."""


class MissingFile(CloutError, FileNotFoundError):
    """A file or folder that is not there."""
