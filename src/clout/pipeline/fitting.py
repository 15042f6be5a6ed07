"""Fitting: the heads on a feature table (amplification per kind, reach, network), their
weights and the frozen score maps: one `InfluenceModel`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from clout.compute import LOCAL, Engine
from clout.config import Experiment
from clout.features.schema import FeatureSchema, FeatureTable, Target
from clout.models.heads import Head, Split, fit_head
from clout.scoring.score import InfluenceModel, normalise_weights

Say = Callable[[str], None]


def with_model(experiment: Experiment, **changes) -> Experiment:
    """The experiment with some `model` fields changed (another seed, no calibration, ...)."""
    return experiment.model_copy(update={"model": experiment.model.model_copy(update=changes)})


def fit_heads(experiment: Experiment, schema: FeatureSchema, targets: dict[str, Target],
              features: list[str], train: pd.DataFrame, validation: pd.DataFrame,
              engine: Engine = LOCAL, say: Say = lambda _: None) -> dict[str, Head]:
    spec = experiment.model
    heads = {}
    for kind, target in targets.items():
        say(f"head {kind}: {target.label}")
        heads[kind] = fit_head(spec.head_spec(target, features, schema, experiment.num_threads),
                               train, validation, spec.seed, engine.trainer)
    return heads


def fit_model(experiment: Experiment, table: FeatureTable, split: Split, say: Say = print,
              engine: Engine = LOCAL) -> InfluenceModel:
    """The amplification heads (one per kind), the reach and network heads where the table
    has their labels, and the score maps, frozen on the validation cutoff's population."""
    frame, schema = table.frame, table.schema
    targets = experiment.model.targets(schema)
    weights = normalise_weights(list(targets), experiment.score.weights)  # checked before training
    features = experiment.model.inputs(schema, targets)
    train, validation = split.part(frame, "train"), split.part(frame, "validation")
    say(f"heads on {len(features)} features, {len(train):,} training rows")
    heads = fit_heads(experiment, schema, targets, features, train, validation, engine, say)
    components = {}
    if experiment.model.components and (of := schema.component_targets()):
        components = fit_heads(experiment, schema, of, features, train, validation, engine,
                               say)
    model = InfluenceModel(heads, components, weights, info={
        "experiment": experiment.name, "data_seed": experiment.data.seed,
        "model_seed": experiment.model.seed,
        "features": experiment.features.model_dump(mode="json"), **split.describe()},
        schema=schema, component_weights=dict(experiment.score.components) if components else {})
    return model.freeze(validation, experiment.score.low_quantile, experiment.score.high_quantile)
