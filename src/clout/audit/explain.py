"""One account's score, explained in score points that add up.

The score is a function of each head's log output (margin): `S(m) = map(I(m))`, with `I` the
weighted geometric mean of the components (amplification from the per-kind heads, reach and
network from theirs), computed from every head's calibrated `exp(m)`. A head's margin splits
exactly into TreeSHAP contributions of its features (`pred_contrib`), its expected value, and
the history it starts from. The explanation walks the straight path from the baseline margins
(every SHAP contribution zero, the history at the population's median) to the account's, in
STEPS steps; each step's change in the continuous score is shared between the heads by their
linearised effect, and a head's share between its features in proportion to their SHAP
values. The parts therefore add up exactly to the account's continuous score minus the
baseline's; the integer score is that value rounded and clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clout.errors import NotFound
from clout.features.catalogue import column
from clout.scoring.evaluation import MANIPULATORS
from clout.scoring.score import InfluenceModel

STEPS = 64
HISTORY = "(own history)"  # the pseudo-feature for the rate a head starts from
HISTORY_MEANS = (
    f"{HISTORY} is where the heads start before any tree: the account's own engagement over the "
    "last {window} days (per post, engagers and their reach), shrunk towards the population's, "
    "against the typical account's; the features say how far the trees move from there")


@dataclass
class Explanation:
    account_id: object
    score: int
    components: dict[str, int]
    baseline: float  # continuous score of a typical account (all contributions zero)
    continuous: float  # the account's continuous score
    contributions: pd.DataFrame  # feature, points, value, typical; largest |points| first
    # share of the engagement received in the longest window that the discount rules take
    # (`features.credibility`): NaN when none was received or the source cannot tell who engaged
    discounted: float = float("nan")
    silent: str = ""  # why the account has shown no influence ("" when it has)

    def top(self, n: int = 10) -> pd.DataFrame:
        """The `n` largest parts and, when there are more, one row for all the others: the
        rows always add up to the account's continuous score minus the typical account's."""
        shown, rest = self.contributions.head(n), self.contributions.iloc[n:]
        if rest.empty:
            return shown
        others = pd.DataFrame({"feature": [f"(all {len(rest)} other features)"],
                               "points": [rest["points"].sum()], "value": [np.nan],
                               "typical": [np.nan]})
        return pd.concat([shown, others], ignore_index=True)


def _score_of_margins(model: InfluenceModel, margins: dict[str, float]) -> float:
    heads = model.every_head
    outputs = {k: heads[k].calibrator(np.exp([m]))[0:1] for k, m in margins.items()}
    return float(model.score_map.continuous(model.overall(model.component_values(outputs)))[0])


def explain(model: InfluenceModel, frame: pd.DataFrame, account_id) -> Explanation:
    """Explain `account_id`'s score among the accounts of `frame` (one cutoff's features)."""
    matches = frame.index[frame["account_id"] == account_id]
    if len(matches) == 0:
        raise NotFound(f"account {account_id} is not in the feature table "
                          f"({len(frame):,} accounts at this cutoff)")
    row = frame.loc[matches[:1]]
    scored = model.score(row).iloc[0]
    components = {c: int(scored[c]) for c in model.component_maps}
    share = column("coordinated_engagement_share_{w}d", window=max(model.feature_config.windows))
    discounted = float(row[share].iloc[0]) if share in row else float("nan")
    if model.is_silent(row)[0]:  # no posts or no credible engagement: 1, nothing to explain
        return Explanation(account_id, int(scored["score"]), components, float("nan"),
                           float("nan"), pd.DataFrame(columns=["feature", "points", "value",
                                                               "typical"]), discounted,
                           scored["why_score_1"])
    columns = model.columns(row)
    # typical values and the history baseline: the accounts that show influence, as the scale
    pop_columns = model.columns(frame[~model.is_silent(frame)])

    heads = model.every_head
    shap, delta, start = {}, {}, {}
    for kind, head in heads.items():
        X = np.column_stack([columns[f] for f in head.features])
        contrib = head.booster.predict(X, pred_contrib=True)[0]
        parts = dict(zip(head.features, contrib[:-1], strict=True))
        history_now = history_typical = 0.0
        if head.offset is not None:
            history_now = float(head.offset.log(columns)[0])
            history_typical = float(np.median(head.offset.log(pop_columns)))
            parts[HISTORY] = history_now - history_typical
        shap[kind] = parts
        start[kind] = float(contrib[-1]) + history_typical
        delta[kind] = sum(parts.values())

    # the path from the baseline margins to the account's, shared between heads step by step
    shares = dict.fromkeys(heads, 0.0)
    previous = _score_of_margins(model, start)
    baseline = previous
    for t in np.linspace(0, 1, STEPS + 1)[1:]:
        at = {k: start[k] + t * delta[k] for k in heads}
        now = _score_of_margins(model, at)
        effects = {}
        for k in heads:  # linearised effect of head k's part of this step
            before = {**at, k: at[k] - delta[k] / STEPS}
            effects[k] = now - _score_of_margins(model, before)
        total = sum(effects.values())
        for k in heads:
            weight = effects[k] / total if total else 1 / len(heads)
            shares[k] += (now - previous) * weight
        previous = now

    points: dict[str, float] = {}
    for k, parts in shap.items():
        for feature, value in parts.items():
            if delta[k]:
                points[feature] = points.get(feature, 0.0) + shares[k] * value / delta[k]
    typical = {f: float(np.nanmedian(pop_columns[f])) for f in points if f in pop_columns}
    table = pd.DataFrame({
        "feature": list(points), "points": list(points.values()),
        "value": [float(columns[f][0]) if f in columns else np.nan for f in points],
        "typical": [typical.get(f, np.nan) for f in points]})
    table = table.reindex(table["points"].abs().sort_values(ascending=False).index)
    return Explanation(account_id, int(scored["score"]), components, baseline, previous,
                       table.reset_index(drop=True), discounted)


def example_explanations(model: InfluenceModel, frame: pd.DataFrame,
                         truth: pd.DataFrame | None = None, top: int = 8) -> list[dict]:
    """Explanations a reviewer can read side by side: the highest, median and lowest scoring
    accounts that post and, with the simulator's truth, the highest scoring account of each
    manipulation group. As plain data (JSON), `top` features each."""
    posting = frame[~model.is_silent(frame)]
    scores = model.score(posting).set_index("account_id")["score"].sort_values(kind="stable")
    picks = {"highest score": scores.index[-1], "median score": scores.index[len(scores) // 2],
             "lowest score": scores.index[0]}
    if truth is not None:
        roles = truth.set_index("account_id")["role"].reindex(scores.index)
        picks |= {f"highest-scoring {role}": scores[roles == role].index[-1]
                  for role in MANIPULATORS if (roles == role).any()}
    out = []
    for why, account in picks.items():
        e = explain(model, frame, account)
        parts = e.top(top)
        out.append({"why": why, "account_id": account.item() if hasattr(account, "item")
                    else account, "score": e.score, "components": e.components,
                    "baseline": e.baseline, "continuous": e.continuous,
                    "discounted": None if np.isnan(e.discounted) else e.discounted,
                    # missing values as null: JSON has no NaN
                    "contributions": parts.astype(object).where(parts.notna(), None)
                    .to_dict(orient="records")})
    return out
