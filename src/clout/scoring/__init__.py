"""Scoring stage: calibrated heads combined into expected engagement, mapped onto 1-100.

- `score`: `InfluenceModel` (heads, components, weights, the frozen `ScoreMap`), its input
  checks, and its saved form (one JSON file and LightGBM's text per booster, versioned).
- `config`: the experiment's `score:` part (weights, the map's quantiles).
- `evaluation`: the score against true influence and realised engagement, the manipulation
  gaps, and the history indexes scored the same way (the rivals the model must beat).
- `distributed`: scores on a Dask cluster, all rows or an error.
- `summary`: `RunSummary`, a training's headline numbers as typed tables, and the one place
  their MLflow metric names are written and read.
A new score map is a class beside `ScoreMap` (`fit`, `__call__`, `factor`, `expected_at`, its
own `version` string), saved in model.json with the model.
"""
