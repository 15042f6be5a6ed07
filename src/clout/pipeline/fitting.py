"""Fitting: the heads on a feature table, per score and per component, their weights and
the frozen score map: one `InfluenceModel`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from clout.compute import LOCAL, Engine
from clout.config import COMPONENTS, Experiment
from clout.features.catalogue import column_features
from clout.features.schema import FeatureSchema, FeatureTable, Target
from clout.models.heads import Head, Split, fit_head
from clout.scoring.score import (
    InfluenceModel,
    ScoreMap,
    expected_engagement,
    normalise_weights,
    shows_nothing,
)

Say = Callable[[str], None]


def with_model(experiment: Experiment, **changes) -> Experiment:
    """The experiment with some `model` fields changed (another seed, no calibration, ...)."""
    return experiment.model_copy(update={"model": experiment.model.model_copy(update=changes)})


def fit_heads(experiment: Experiment, schema: FeatureSchema, targets: dict[str, Target],
              features: list[str], train: pd.DataFrame, validation: pd.DataFrame,
              engine: Engine = LOCAL) -> dict[str, Head]:
    spec = experiment.model
    return {kind: fit_head(spec.head_spec(target, features, schema, experiment.num_threads),
                           train, validation, spec.seed, engine.trainer)
            for kind, target in targets.items()}


def fit_model(experiment: Experiment, table: FeatureTable, split: Split, say: Say = print,
              engine: Engine = LOCAL) -> InfluenceModel:
    """Heads on every feature, and per component on that family's features alone; weights;
    and the score map, frozen on the validation cutoff's population."""
    frame, schema = table.frame, table.schema
    targets = experiment.model.targets(schema)
    weights = normalise_weights(list(targets), experiment.score.weights)  # checked before training
    features = experiment.model.inputs(schema, targets)
    train, validation = split.part(frame, "train"), split.part(frame, "validation")
    say(f"heads {', '.join(t.label for t in targets.values())} on {len(features)} features, "
        f"{len(train):,} training rows")
    heads = fit_heads(experiment, schema, targets, features, train, validation, engine)
    components = {}
    if experiment.model.components:
        catalogue = column_features(schema.windows)
        for name in COMPONENTS:
            own = [f for f in features if f in catalogue and catalogue[f].family == name]
            if own:
                say(f"component {name}: {len(own)} features")
                components[name] = fit_heads(experiment, schema, targets, own, train,
                                             validation, engine)
    # The scale is set by the accounts that show influence: accounts that never post (fake
    # followers, pure readers) or that no credible account engages with score 1 anyway, and
    # would otherwise fill the bottom of the scale and squeeze everyone else.
    anchor = validation[~shows_nothing(validation, targets.values())]
    expected = expected_engagement({k: h(anchor) for k, h in heads.items()}, heads, weights)
    score_map = ScoreMap.fit(expected, experiment.score.low_quantile,
                             experiment.score.high_quantile)
    return InfluenceModel(heads, components, weights, score_map, info={
        "experiment": experiment.name, "data_seed": experiment.data.seed,
        "model_seed": experiment.model.seed,
        "features": experiment.features.model_dump(mode="json"), **split.describe()},
        schema=schema)
