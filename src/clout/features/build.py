"""The entry points of the features stage: `build_features` (one row per account and cutoff,
features then labels, see the package's docstring), `load_tables`, `write_features`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import polars as pl

from clout.data.dataset import Dataset
from clout.errors import ConfigError, DataError
from clout.features.config import FeatureConfig
from clout.features.days import from_day, to_day
from clout.features.families import Cutoff, Graph, features_at
from clout.features.labels import labels_at
from clout.features.partials import Partials, partials
from clout.features.tables import Tables, tables_from_dataset, tables_from_directory


def cutoff_table(p: Partials, tables: Tables, day: int, config: FeatureConfig, labels: bool,
                 graph: Graph | None = None) -> pl.DataFrame:
    """One cutoff's rows: features, then labels when asked, and the cutoff. `graph`: the whole
    engagement graph's, when `p` is one account partition's (Dask)."""
    at = Cutoff(p, tables, day, config, graph)  # the pairs and graph, once for both
    frame = features_at(at)
    if labels:
        frame = frame.join(labels_at(p, tables, day, config, at.graph), on="account_id",
                           how="left")
    return frame.with_columns(cutoff=pl.lit(from_day(day)).dt.cast_time_unit("us"))


def load_tables(source: Dataset | Tables | str | Path) -> Tables:
    if isinstance(source, Tables):
        return source
    if isinstance(source, Dataset):
        return tables_from_dataset(source)
    return tables_from_directory(source)


def cutoff_days(tables: Tables, cutoffs: Sequence, config: FeatureConfig, labels: bool
                ) -> list[int]:
    """The cutoffs as sorted day numbers; refuses none at all, and a horizon past the data's
    last day when labels are asked for (they would be silently short)."""
    days = sorted({to_day(c) for c in cutoffs})
    if not days:
        raise ConfigError("no cutoffs given")
    if labels and days[-1] + config.horizon_days > tables.last_day + 1:
        raise DataError(
            f"cutoff {from_day(days[-1]).date()} + {config.horizon_days}-day horizon runs past "
            f"the data's last day {from_day(tables.last_day).date()}: labels would be incomplete")
    return days


def feature_frame(tables: Tables, table: pl.DataFrame) -> pd.DataFrame:
    """The built rows as the feature table: original account ids, account and cutoff first."""
    table = table.with_columns(account_id=tables.ids.gather(table["account_id"]))
    return table.select("account_id", "cutoff", pl.exclude("account_id", "cutoff")).to_pandas()


def build_features(source: Dataset | Tables | str | Path, cutoffs: Sequence,
                   config: FeatureConfig | None = None, labels: bool = True,
                   progress=None) -> pd.DataFrame:
    """The feature table: one row per (account, cutoff), features then labels.

    `source` is a dataset (validated), a directory in the contract, or prepared `Tables`.
    `cutoffs` are UTC midnights (see `cutoff_days`). `progress(done, total)` is called after
    each cutoff. `features.distributed.build_features_on` builds the same table on Dask.
    """
    config = config or FeatureConfig()
    tables = load_tables(source)
    days = cutoff_days(tables, cutoffs, config, labels)
    p = partials(tables, config)
    # Two cutoffs at a time: their NumPy and Polars steps overlap on two cores. Each cutoff's
    # result does not depend on the other's, and float sums run in a fixed order (see
    # `partials`), so the table is the same as one built cutoff by cutoff.
    frames = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done, frame in enumerate(pool.map(
                lambda day: cutoff_table(p, tables, day, config, labels), days), start=1):
            frames.append(frame)
            if progress:
                progress(done, len(days))
    return feature_frame(tables, pl.concat(frames))


def write_features(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path
