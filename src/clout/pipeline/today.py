"""Today's scores and explanations: features as the model was trained on, at a cutoff
(default the day after the data ends), for every account or a logged run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clout import tracking
from clout.cache import PROJECT_CACHE, Cache
from clout.compute import LOCAL, Engine
from clout.config import load_experiment
from clout.data.dataset import Dataset
from clout.export.mlflow_model import load_influence_model
from clout.features.tables import Tables
from clout.prepare import Source, current_features, load_source
from clout.scoring.score import (
    InfluenceModel,
)
from clout.tracking import RUN


def score_accounts(model: InfluenceModel, data: Source | Dataset | Tables | str | Path,
                   cutoff=None, engine: Engine = LOCAL, cache: Cache = PROJECT_CACHE
                   ) -> pd.DataFrame:
    """Scores of every account that exists at `cutoff` (default: the day after the data ends),
    from features built exactly as the model was trained."""
    return engine.score(model, current_features(data, model.feature_config, cutoff, engine,
                                                cache))


def run_features(run_id: str, cutoff=None, data_path: str | Path | None = None,
                 cache: Cache = PROJECT_CACHE) -> tuple[InfluenceModel, pd.DataFrame]:
    """A logged run's model and the features of its data at `cutoff` (default: the day after
    the data ends), built as the run built them: what explanations and audits start from.
    `data_path` points a run on files at another copy of its data."""
    spec = load_experiment(tracking.artifact(run_id, RUN.experiment),
                           **({"data.path": str(data_path)} if data_path else {}))
    model = load_influence_model(f"runs:/{run_id}/{RUN.model}")
    source = load_source(spec.data, cache)
    return model, current_features(source, model.feature_config, cutoff, cache=cache)
