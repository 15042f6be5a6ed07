"""One prepared run: an experiment's data made ready to train on, in one step that `train`,
`tune`, `evaluate`, the benchmarks and the tests all take: the validated source (from the cache
when it has it), its tables, the feature table at the experiment's cutoffs with its schema, and
the split by time. Also the features an account is scored on today (`current_features`), and
what topics and audiences read beyond a model's tables (`topic_context`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from clout.cache import PROJECT_CACHE, Cache, digest_files
from clout.compute import LOCAL, Engine
from clout.config import DataSpec, Experiment
from clout.data.attacks import manipulate
from clout.data.dataset import Dataset, read_dataset, read_ground_truth
from clout.data.loaders import LOADERS, WITNESSED
from clout.data.simulator import preset, simulate
from clout.data.text_topics import TEXTS, TextTopics, post_topics
from clout.data.validation import validate
from clout.features.build import load_tables
from clout.features.config import FeatureConfig
from clout.features.days import from_day, to_day, weekly_cutoffs
from clout.features.schema import FeatureTable
from clout.features.tables import Tables
from clout.models.heads import Split
from clout.privacy import DoNotScore, pseudonymise


@dataclass
class Source:
    dataset: Dataset
    truth: pd.DataFrame | None  # the simulator's ground truth, for evaluation only
    quarantined: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""  # the validated dataset's (`Dataset.fingerprint`)


def load_source(spec: DataSpec, cache: Cache = PROJECT_CACHE) -> Source:
    """The experiment's data, validated against the contract (bad rows stop the run, or go to
    quarantine and are counted, as `on_bad_rows` says); kept in the cache, keyed by the spec and
    its input files' bytes."""
    path = spec.resolved_path()
    forgotten = DoNotScore()
    what = {"spec": spec.model_dump(mode="json"),
            "inputs": None if path is None else digest_files(Path(path)),
            **({"forgotten": forgotten.version} if len(forgotten) else {})}
    described = f"{spec.preset} world, seed {spec.seed}" if path is None else str(path)
    return cache.fetch("sources", what, lambda: _read_source(spec, forgotten), _save_source,
                       _load_source, describe=f"validated tables of {spec.source} {described}"
                       + (" with attackers played in" if spec.manipulation else ""))


def _read_source(spec: DataSpec, forgotten: DoNotScore) -> Source:
    truth = None
    if spec.source == "simulator":
        dataset, truth = simulate(preset(spec.preset, seed=spec.seed))
    elif spec.source == "directory":
        dataset = read_dataset(spec.path)
        try:
            truth = read_ground_truth(spec.path)
        except FileNotFoundError:
            pass
    else:
        dataset = LOADERS[spec.source](spec.resolved_path())
    if spec.manipulation:  # more attackers than the source has: played in before validation
        dataset, truth = manipulate(dataset, truth, spec.manipulation, spec.seed)
    clean, report = validate(dataset, on_bad_rows=spec.on_bad_rows)
    # the forgotten renamed before anything is kept: what they did counts, nothing names them
    clean, truth, _ = pseudonymise(clean, truth, forgotten)
    return Source(clean, truth, {t: report.rows_quarantined(t) for t in report.rows_in},
                  clean.fingerprint())


def _save_source(source: Source, folder: Path) -> dict:
    # pandas' own Parquet metadata brings every dtype back as it was: the same fingerprint
    tables = {**source.dataset.tables(), **({} if source.truth is None else {"truth":
                                                                             source.truth})}
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    return {"tables": list(tables), "quarantined": source.quarantined,
            "fingerprint": source.fingerprint}


def _load_source(folder: Path, saved: dict) -> Source:
    tables = {name: pd.read_parquet(folder / f"{name}.parquet") for name in saved["tables"]}
    truth = tables.pop("truth", None)
    return Source(Dataset(**tables), truth, saved["quarantined"], saved["fingerprint"])


def source_features(source: Source, tables: Tables, cutoffs, config: FeatureConfig,
                    labels: bool = True, engine: Engine = LOCAL,
                    cache: Cache = PROJECT_CACHE) -> pd.DataFrame:
    """The feature table of a source's `tables` (`load_tables(source.dataset)`) at `cutoffs`,
    kept in the cache, keyed by the data's fingerprint, the feature configuration and the
    cutoffs."""
    days = sorted({to_day(c) for c in cutoffs})
    what = {"data": source.fingerprint, "features": config.model_dump(mode="json"),
            "cutoffs": days, "labels": labels}
    first, last = from_day(days[0]), from_day(days[-1])
    return cache.fetch(
        "features", what, lambda: engine.features(tables, cutoffs, config, labels),
        lambda frame, folder: frame.to_parquet(folder / "features.parquet", index=False) or {},
        lambda folder, _: pd.read_parquet(folder / "features.parquet"),
        describe=f"features of data {source.fingerprint}, {len(days)} cutoff(s) "
                 f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, windows {list(config.windows)}"
                 + ("" if labels else ", no labels"))


def cutoffs_for(experiment: Experiment, tables: Tables) -> list[pd.Timestamp]:
    spec = experiment.cutoffs
    if spec.dates:
        return [pd.Timestamp(d, tz="UTC") for d in spec.dates]
    return weekly_cutoffs(tables, spec.weeks, experiment.features.horizon_days)


@dataclass
class PreparedRun:
    """An experiment's data made ready: the validated source, its tables, the feature table
    (frame and schema) at the experiment's cutoffs, and the split of those cutoffs by time."""

    source: Source
    tables: Tables
    table: FeatureTable
    split: Split

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame


def prepare(experiment: Experiment, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE,
            say: Callable[[str], None] = lambda _: None) -> PreparedRun:
    """The experiment's source, tables, feature table and split, from the cache when it has
    them (`cache`; `NO_CACHE` builds afresh)."""
    source = load_source(experiment.data, cache)
    tables = load_tables(source.dataset)
    cutoffs = cutoffs_for(experiment, tables)
    say(f"features: {len(cutoffs)} cutoffs, {cutoffs[0]:%Y-%m-%d} to {cutoffs[-1]:%Y-%m-%d} "
        f"({engine.name} engine)")
    frame = source_features(source, tables, cutoffs, experiment.features, engine=engine,
                            cache=cache)
    table = FeatureTable.of(frame, experiment.features)
    return PreparedRun(source, tables, table, Split.of(table))


def current_features(data: Source | Dataset | Tables | str | Path, config: FeatureConfig,
                     cutoff=None, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE
                     ) -> pd.DataFrame:
    """Every account's features (no labels) at `cutoff`, default the day after the data ends:
    what scores and explanations start from. From the cache when `data` is a loaded `Source`
    (its fingerprint is the key)."""
    tables = load_tables(data.dataset if isinstance(data, Source) else data)
    cutoffs = [from_day(tables.last_day + 1 if cutoff is None else to_day(cutoff))]
    if isinstance(data, Source):
        return source_features(data, tables, cutoffs, config, False, engine, cache)
    return engine.features(tables, cutoffs, config, labels=False)


@dataclass
class TopicContext:
    """What topics and audiences read at one cutoff (`clout.scoring.topics.model_topics`): the
    tables with each post's topic, learned from text made before the cutoff where the source's
    posts have text but no topic (`learned`, the topic model: an artifact of the run), and
    the tables saying who engaged where the source's own only count (`who`)."""

    tables: Tables
    who: Tables | None = None
    learned: TextTopics | None = None

    def terms(self) -> pd.DataFrame | None:
        """The learned topics and their top terms (None where topics were not learned)."""
        return None if self.learned is None else self.learned.terms()


def topic_context(spec: DataSpec, tables: Tables, cutoff) -> TopicContext:
    """The `TopicContext` of the experiment's data (`spec`, its `tables`) at `cutoff`."""
    texts, witnessed = TEXTS.get(spec.source), WITNESSED.get(spec.source)
    if texts is None and witnessed is None:
        return TopicContext(tables)
    path = spec.resolved_path()
    learned = who = None
    if texts is not None:
        assigned, learned = post_topics(texts(path), pd.Timestamp(cutoff))
        tables = tables.with_post_topics(assigned)
    if witnessed is not None:
        who = _witnessed_tables(spec.source, str(path), spec.on_bad_rows)
    return TopicContext(tables, who, learned)


@functools.lru_cache(maxsize=2)  # rolling cutoffs ask for the same source's events each time
def _witnessed_tables(source: str, path: str, on_bad_rows: str) -> Tables:
    return load_tables(validate(WITNESSED[source](Path(path)), on_bad_rows=on_bad_rows)[0])
