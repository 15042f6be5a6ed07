"""Features stage: point-in-time features and horizon labels, one row per (account, cutoff).

Nothing at or after a cutoff T enters a feature at T (a property test checks this on random
data); labels read [T, T + horizon). Two stages, both on Polars:
1. `partials`: per-day aggregates, computed once per dataset and sorted in a fixed order; each
   is registered once (`register_partial`: its plan, order and Dask halo).
2. For each cutoff, `families.features_at` and `labels.labels_at`: sums of those partials over
   each window (`window`) and a few graph computations (`network`: PageRank). Features are built
   by registered families (`register_family`: catalogue entries, partials, one build
   function); a new family is one file and one registration.

- `catalogue`: what each feature is (names, family, unit, definition): the one source of truth.
- `schema`: the built table's `FeatureSchema` (windows, horizon, cutoffs, feature and label
  columns, buyable and leaking ones) and each `Target`'s columns: later stages read names from
  these, never rebuild them.
- `config`: how to build (windows, horizon, settling of counts); `days`: time in whole days.
- `tables`: the contract's tables in the form the builder reads (dense ids, day numbers).
- `build`: the entry points, `build_features` and `load_tables`; `distributed`: the same table
  built on a Dask cluster.
"""
