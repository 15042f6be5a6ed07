"""`clout forget`: the forgotten erased from everything the project wrote before they asked.

In order: the ids go on the do-not-score list (`privacy.DoNotScore`), so every later run, score
and release leaves them out; each release directory that serves them publishes a release
without them through the same gate (forced, with the reason recorded, only if the gate refuses
the erasure itself) and every release on disk is rewritten without them, so no rollback serves
them again; the cache is emptied (its tables were built before the list had them: the next
build pseudonymises them); the outputs under `data/processed` are rewritten without their rows;
and in every training run of the MLflow store the files that name accounts (example
explanations, the topic example, the model's input examples) lose their entries, the report
that showed them is removed (`clout report RUN` rebuilds it) and the model's file digest is
recorded again. Counts are reported, never ids.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clout.cache import PROJECT_CACHE, Cache
from clout.export.release import GateThresholds, ReleaseRefused, Releases
from clout.files import project_root, replacing_file, write_text
from clout.privacy import DoNotScore
from clout.tracking import RUN

Say = Callable[[str], None]
#: a training run's files that name accounts (JSON), and what shows them (removed)
NAMING_FILES = (RUN.explanations, RUN.topic_example, RUN.topics,
                f"{RUN.model}/input_example.json", f"{RUN.model}/serving_input_example.json")
#: a table's columns that name an account beside a row about something else (a topic's most
#: influential account): blanked, where a row about the account itself goes
NAMING_COLUMNS = ("most influential",)
SHOWING = (RUN.report,)
REASON = "erasure: forgotten accounts removed"


@dataclass
class Erased:
    """What `forget` did, in counts."""

    listed: int = 0  # ids newly on the list
    releases: dict[str, int] = field(default_factory=dict)  # directory -> rows erased
    published: dict[str, int] = field(default_factory=dict)  # directory -> new release
    cache_entries: int = 0
    processed_rows: int = 0
    runs: int = 0  # training runs whose files named them


def forget(ids, release_dirs, cache: Cache = PROJECT_CACHE, processed: Path | None = None,
           tracking_uri: str | None = None, forgotten: DoNotScore | None = None,
           say: Say = print) -> Erased:
    forgotten = forgotten or DoNotScore()
    done = Erased(listed=forgotten.add(ids))
    say(f"{done.listed} account(s) newly on the do-not-score list ({len(forgotten)} in all)")
    for directory in release_dirs:
        releases = Releases(directory, forgotten)
        if releases.current is not None and _serves_them(releases):
            done.published[str(directory)] = _republish(releases)
        done.releases[str(directory)] = releases.erase()
    done.cache_entries = cache.clear()
    done.processed_rows = _erase_tables(processed or project_root() / "data" / "processed",
                                        forgotten)
    done.runs = _erase_from_runs(forgotten, tracking_uri)
    say(f"releases: {sum(done.releases.values()):,} row(s) erased in {len(done.releases)} "
        f"director(ies), {len(done.published)} new release(s) served; cache: "
        f"{done.cache_entries} entr(ies) removed; data/processed: {done.processed_rows:,} "
        f"row(s); training runs: {done.runs} cleaned")
    return done


def _serves_them(releases: Releases) -> bool:
    return bool(releases.forgotten.contains(releases.scores()["account_id"]).any())


def _republish(releases: Releases) -> int:
    """The served release again without the forgotten (`publish` leaves them out)."""
    number = releases.current
    batch = (releases.scores(number), GateThresholds())
    extra = {"topics": releases.topics(number), "model": releases.model(number),
             "features": releases.features(number)}
    try:
        return releases.publish(*batch, **extra)[0]
    except ReleaseRefused:  # the erasure is owed whatever the gate thinks of it
        return releases.publish(*batch, force=True, reason=REASON, **extra)[0]


def _erase_tables(folder: Path, forgotten: DoNotScore) -> int:
    """Every Parquet file under `folder` with an account_id column, without their rows."""
    erased = 0
    for path in sorted(folder.rglob("*.parquet")) if folder.is_dir() else []:
        table = pd.read_parquet(path)
        if "account_id" not in table:
            continue
        if (gone := forgotten.contains(table["account_id"].to_numpy())).any():
            with replacing_file(path) as partial:
                table[~gone].to_parquet(partial, index=False)
            erased += int(gone.sum())
    return erased


def _erase_from_runs(forgotten: DoNotScore, tracking_uri: str | None) -> int:
    """Clean the training runs of the store whose files name a forgotten account."""
    import mlflow

    from clout import tracking
    from clout.export.mlflow_model import DIGEST_TAG, artifact_digest

    tracking.use_store(tracking_uri)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    cleaned = 0
    for run in runs:
        root = Path(run.info.artifact_uri.removeprefix("file://"))
        if not root.is_dir():  # a remote artifact store: out of reach here
            continue
        named = [f for f in NAMING_FILES if (root / f).is_file()
                 and _erase_from_json(root / f, forgotten)]
        if not named:
            continue
        cleaned += 1
        for shown in SHOWING:
            shutil.rmtree(root / shown, ignore_errors=True)
        if (root / RUN.model).is_dir():  # its files changed: their digest is recorded again
            mlflow.MlflowClient().set_tag(run.info.run_id, DIGEST_TAG,
                                          artifact_digest(root / RUN.model))
    return cleaned


def _erase_from_json(path: Path, forgotten: DoNotScore) -> bool:
    """Remove from a JSON file every record naming a forgotten account: an object with an
    account_id, or a row of a table split into columns and data; whether any was."""
    before = json.loads(path.read_text())
    after = _without(before, forgotten)
    if after == before:
        return False
    write_text(path, json.dumps(after))
    return True


def _names(value, forgotten: DoNotScore) -> bool:
    try:
        return bool(forgotten.contains([int(value)])[0])
    except (TypeError, ValueError):
        return False


def _without(node, forgotten: DoNotScore):
    if isinstance(node, dict):
        if "columns" in node and "data" in node:  # a table split into columns and rows
            columns, rows = node["columns"], node["data"]
            if "account_id" in columns:
                at = columns.index("account_id")
                rows = [row for row in rows if not _names(row[at], forgotten)]
            blank = [columns.index(c) for c in NAMING_COLUMNS if c in columns]
            rows = [[None if i in blank and _names(v, forgotten) else v
                     for i, v in enumerate(row)] for row in rows]
            return {**node, "data": rows}
        if _names(node.get("account_id"), forgotten):
            return {}
        return {k: _without(v, forgotten) for k, v in node.items()}
    if isinstance(node, list):
        kept = [_without(item, forgotten) for item in node]
        return [k for k, item in zip(kept, node, strict=True)
                if not (isinstance(item, dict) and item and k == {})]
    return node

