"""Scoring stage: calibrated heads combined into expected engagement, mapped onto 1-100.

- `score`: `InfluenceModel` (heads, components, weights, the frozen `ScoreMap`), its input
  checks, and its saved form (one JSON file and LightGBM's text per booster, versioned).
- `config`: the experiment's `score:` part (weights, the map's quantiles).
- `evaluation`: the score against true influence and realised engagement, the manipulation
  gaps, and the history indexes scored the same way (the rivals the model must beat).
- `distributed`: scores on a Dask cluster, all rows or an error.
"""
