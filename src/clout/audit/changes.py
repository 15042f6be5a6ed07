"""Why an account's score moved between two releases, in points that add up to the move.

The move from release A (model M_A, the account's features x_A at A's cutoff) to release B (M_B,
x_B) has five causes: the account's own data, in four groups of features (`GROUPS`, by the
catalogue's families), and the model with its map. Each cause gets its exact Shapley value: its
mean effect on the continuous score over every order in which the causes could switch from A's
to B's (2^5 = 32 scorings of each account, no sampling; every account of a release pair in one
batch per model). The five parts add up to the move of the continuous scores; `rounding` is what
rounding them to whole points adds, so that the parts add up to the move of the released scores
exactly.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import pandas as pd

from clout.features.catalogue import column_features
from clout.scoring.score import InfluenceModel

#: the account's own data, by catalogue family
GROUPS = {"own posts": ("activity", "content"),
          "engagement received": ("reach", "amplification"),
          "engagers' standing": ("network",),
          "audience and discounted engagement": ("audience",)}
OTHER = "other data"  # a feature the catalogue does not name
MODEL = "model and map"
ROUNDING = "rounding"


def feature_groups(model: InfluenceModel, features) -> dict[str, list[str]]:
    """`features` by the group of `GROUPS` their family is in (every group, empty when the
    model reads none of it; OTHER when the catalogue does not name a feature)."""
    family_of = {name: f.family for name, f in
                 column_features(model.feature_config.windows).items()}
    group_of = {family: group for group, families in GROUPS.items() for family in families}
    groups: dict[str, list[str]] = {group: [] for group in GROUPS}
    for feature in features:
        groups.setdefault(group_of.get(family_of.get(feature), OTHER), []).append(feature)
    return groups


#: accounts in a release: the model, the feature rows it scored and the released scores,
#: both indexed by account id
Scored = tuple[InfluenceModel, pd.DataFrame, pd.Series]


def score_changes(since: Scored, now: Scored) -> pd.DataFrame:
    """Why the scores of the accounts in both releases moved from one release (`since`) to
    another (`now`): one row per account (indexed by id), one column of points per cause,
    adding up to the move of the released scores. A feature one model reads and the other
    release lacks is missing (NaN) there."""
    (before, x_before, score_before), (after, x_after, score_after) = since, now
    accounts = x_after.index.intersection(x_before.index)
    features = sorted(set(before.features) | set(after.features))
    x_before, x_after = (x.reindex(index=accounts, columns=features).astype(float)
                         for x in (x_before, x_after))
    groups = feature_groups(after, features)
    causes = [*groups, MODEL]
    subsets = [frozenset(s) for k in range(len(causes) + 1) for s in combinations(causes, k)]
    value = {}  # subset -> each account's continuous score with those causes switched
    for model, switched in ((before, False), (after, True)):
        chosen = [s for s in subsets if (MODEL in s) == switched]
        rows = pd.concat([x_before.assign(**x_after[[f for g in s if g != MODEL
                                                     for f in groups[g]]]) for s in chosen])
        scored = model.continuous_score(rows.reset_index(drop=True))
        value |= dict(zip(chosen, scored.reshape(len(chosen), len(accounts)), strict=True))
    n = len(causes)
    parts = {c: sum(factorial(len(s)) * factorial(n - len(s) - 1) / factorial(n)
                    * (value[s | {c}] - value[s]) for s in subsets if c not in s)
             for c in causes}
    move = (score_after.reindex(accounts) - score_before.reindex(accounts)).to_numpy()
    parts[ROUNDING] = move - (value[frozenset(causes)] - value[frozenset()])
    return pd.DataFrame(parts, index=accounts).assign(move=move)
