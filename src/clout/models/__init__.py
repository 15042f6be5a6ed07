"""Models stage: one LightGBM head per engagement kind, learning engagement per post.

- `heads`: a `HeadSpec` (how to fit a head), `fit_head` (boosting from the account's own
  history, early stopped and calibrated on the validation cutoff), the time `Split`, and `Head`
  itself. What a head learns is a `features.schema.Target`: every column name comes from it.
- `config`: the experiment's `model:` part, which turns a feature table's schema into targets
  and specs.
- `calibration`: recalibration applied only where held-out deviance says it helps.
- `metrics` and `evaluation`: deviance, rank, calibration error, and the history baselines.
- `distributed`: the same boosters trained with lightgbm.dask (one `Boosting` spec and one
  `StoppingRule` for both engines).
A new target (what a head learns) is a label in `features.labels` and the `Target` that names
its columns in `features.schema`; nothing here rebuilds a column name.
"""
