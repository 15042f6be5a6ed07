"""Data stage: every source becomes the same four tables before anything else touches them.

- `kinds`: the registry of engagement kinds (a new kind is one registration there).
- `schema`: the contract (accounts, follows, posts, engagements: columns, types, units, rules).
- `validation`: every failure names table, column, rule and rows; bad rows stop the run or go
  to quarantine with their reason, never silently away.
- `dataset`: the tables in memory and as Parquet; `config`: where an experiment's data is.
- `simulator`: the embedded default world, with ground truth kept apart; `loaders`: the real
  datasets; `plausibility` and `summary`: what a dataset holds, against Congress.
Nothing here imports a later stage.
"""
