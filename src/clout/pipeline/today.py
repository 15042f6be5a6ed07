"""Today's scores and explanations: features as the model was trained on, at a cutoff
(default the day after the data ends), for every account or a logged run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from clout import tracking
from clout.cache import PROJECT_CACHE, Cache
from clout.compute import LOCAL, Engine
from clout.config import DataSpec, Experiment, load_experiment
from clout.data.dataset import Dataset
from clout.export.mlflow_model import load_influence_model
from clout.features.build import load_tables
from clout.features.config import FeatureConfig
from clout.features.days import to_day
from clout.features.families import discount_partials, discounted_pairs
from clout.features.tables import Tables
from clout.prepare import Source, TopicContext, current_features, load_source, topic_context
from clout.privacy import is_pseudonym
from clout.scoring.score import InfluenceModel
from clout.scoring.topics import Topics, model_topics
from clout.tracking import RUN


def score_accounts(model: InfluenceModel, data: Source | Dataset | Tables | str | Path,
                   cutoff=None, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE
                   ) -> pd.DataFrame:
    """Scores of every account that exists at `cutoff` (default: the day after the data ends),
    from features built exactly as the model was trained."""
    return scored_batch(model, data, cutoff, engine, cache)[0]


def scored_batch(model: InfluenceModel, data: Source | Dataset | Tables | str | Path,
                 cutoff=None, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`score_accounts`' scores and the rows they were scored from (account_id and the model's
    input columns): what a release keeps to say why a score moved."""
    features = current_features(data, model.feature_config, cutoff, engine, cache)
    # a forgotten account's pseudonym is never scored
    features = features[~is_pseudonym(features["account_id"])].reset_index(drop=True)
    return engine.score(model, features), features[["account_id", *model.features]]


def run_features(run_id: str, cutoff=None, data_path: str | Path | None = None,
                 cache: Cache = PROJECT_CACHE, source: Source | None = None
                 ) -> tuple[InfluenceModel, pd.DataFrame]:
    """A logged run's model and the features of its data at `cutoff` (default: the day after
    the data ends), built as the run built them: what explanations and audits start from.
    `data_path` points a run on files at another copy of its data; `source`, the run's data
    already read (`run_source`), is used as it is."""
    model = load_influence_model(f"runs:/{run_id}/{RUN.model}")
    source = source or run_source(run_id, data_path, cache)
    return model, current_features(source, model.feature_config, cutoff, cache=cache)


def run_experiment(run_id: str, data_path: str | Path | None = None) -> Experiment:
    """A logged run's experiment (its data at `data_path` when given)."""
    return load_experiment(tracking.artifact(run_id, RUN.experiment),
                           **({"data.path": str(data_path)} if data_path else {}))


def run_source(run_id: str, data_path: str | Path | None = None,
               cache: Cache = PROJECT_CACHE) -> Source:
    """A logged run's data, validated as the run read it (or another copy at `data_path`)."""
    return load_source(run_experiment(run_id, data_path).data, cache)


def account_topics(model: InfluenceModel, scores: pd.DataFrame, spec: DataSpec,
                   tables: Tables) -> tuple[Topics, TopicContext]:
    """Topics and audiences of the accounts in `scores` at their cutoff, from the data's
    `tables` and what its source offers beyond them (`topic_context`)."""
    context = topic_context(spec, tables, scores["cutoff"].iloc[0])
    return model_topics(model, scores, context.tables, context.who), context


def discounted_engagers(config: FeatureConfig, data: Dataset | Tables, account_id, cutoff
                        ) -> pd.DataFrame:
    """Who engaged `account_id` in the longest window before `cutoff` in a way the gaming rules
    discount, with their engagements there and the rule (`Graph.rule`), most engagements first:
    what a discounted account is shown."""
    tables = load_tables(data)
    ids = tables.ids.to_numpy()
    day = to_day(cutoff)
    pairs = discounted_pairs(discount_partials(tables, config, day), tables, day, config.windows)
    mine = pairs.filter((pl.col("engaged") == int(np.flatnonzero(ids == account_id)[0]))
                        & (pl.col("rule") != "")).to_pandas()
    return pd.DataFrame({"engager_id": ids[mine["engager"]],
                         "engagements": mine["engagements"], "rule": mine["rule"]}).sort_values(
        ["engagements", "engager_id"], ascending=[False, True], kind="stable", ignore_index=True)
