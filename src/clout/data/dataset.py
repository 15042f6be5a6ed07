"""A dataset in the contract: up to four tables, stored as one Parquet file (or folder of parts)
per table in a directory. Ground truth, when a source has it, sits apart in `truth/`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clout.data.schema import TABLES
from clout.errors import DataError, MissingFile

TRUTH_DIR = "truth"  # never read by `read_dataset`: ground truth is not an input to a model


@dataclass
class Dataset:
    """The contract's tables; optional tables are None when a source lacks them."""

    accounts: pd.DataFrame
    follows: pd.DataFrame | None = None
    posts: pd.DataFrame | None = None
    engagements: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, in contract order."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def fingerprint(self) -> str:
        """A digest of every table's columns and values: same fingerprint, same data."""
        digest = hashlib.sha256()
        for name, frame in self.tables().items():
            digest.update(f"{name}:{','.join(frame.columns)}:{len(frame)}".encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


# Arrow -> pandas without detours through float (ids above 2**53 would lose digits) or object.
_ARROW_TO_PANDAS = {
    pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(),
    pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(),
}


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper=_ARROW_TO_PANDAS.get)
    for name, dtype in frame.dtypes.items():
        # Columns without missing values live in plain numpy dtypes: faster and smaller.
        if isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)) and not frame[name].isna().any():
            frame[name] = frame[name].to_numpy(dtype.numpy_dtype)
    return frame


def table_path(directory: Path, name: str) -> Path | None:
    """`<dir>/<name>.parquet`, or `<dir>/<name>/` holding parts; None when absent."""
    for candidate in (directory / f"{name}.parquet", directory / name):
        if candidate.exists():
            return candidate
    return None


def read_table(directory: str | Path, name: str) -> pd.DataFrame | None:
    path = table_path(Path(directory), name)
    if path is None:
        return None
    try:
        return _to_pandas(pq.read_table(path))
    except pa.ArrowException as err:  # empty, truncated or not Parquet at all
        raise DataError(f"{name} table: {path} is not a readable Parquet file ({err})") from err


def read_dataset(directory: str | Path) -> Dataset:
    """Read the contract tables from `directory`. Raises FileNotFoundError without accounts."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MissingFile(f"dataset directory not found: {directory}")
    tables = {name: read_table(directory, name) for name in TABLES}
    if tables["accounts"] is None:
        raise MissingFile(f"{directory} has no accounts table (accounts.parquet)")
    return Dataset(**tables)


def write_dataset(dataset: Dataset, directory: str | Path) -> Path:
    """Write each present table to `<directory>/<table>.parquet`, replacing older copies."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in dataset.tables().items():
        frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def read_ground_truth(directory: str | Path) -> pd.DataFrame:
    """The simulator's ground truth for a dataset (evaluation only, never a model input)."""
    path = Path(directory) / TRUTH_DIR / "ground_truth.parquet"
    if not path.exists():
        raise MissingFile(f"no ground truth at {path}: only simulated datasets have one")
    return _to_pandas(pq.read_table(path))
