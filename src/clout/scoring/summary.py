"""A training's headline numbers, typed: what `clout train` prints, MLflow records, `clout
evaluate` and `clout tune` compare and the report reads.

Two tables: per head and predictor (the model, each history baseline) its deviance, deviance
improvement, Spearman and calibration error on the test cutoff; per scorer (the model's score,
each history index scored the same way) its rank agreement with realised engagement and true
influence, and what manipulation groups gain. MLflow keeps them as dotted metric names
(`clicks.model.spearman`, `score.log1p_index.spearman_realised`): `as_metrics` writes them and
`from_metrics` reads them back, the one place either happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

SCORE = "score"  # the metric names' first part for the score and its rivals
MODEL = "model"  # the model itself, among the scorers
HEAD_COLUMNS = ["head", "predictor", "metric", "value"]
SCORE_COLUMNS = ["scorer", "metric", "value"]


@dataclass(frozen=True)
class RunSummary:
    """`heads`: head, predictor, metric, value; `scores`: scorer, metric, value (scorer
    `model` for the model's score, else a history index)."""

    heads: pd.DataFrame
    scores: pd.DataFrame

    @classmethod
    def of(cls, heads: list[tuple], scores: list[tuple]) -> RunSummary:
        """From (head, predictor, metric, value) and (scorer, metric, value) rows; missing
        values (NaN, None) are left out."""
        def table(rows, columns):
            frame = pd.DataFrame(rows, columns=columns).dropna(subset=["value"])
            return frame.astype({"value": float}).reset_index(drop=True)
        return cls(table(heads, HEAD_COLUMNS), table(scores, SCORE_COLUMNS))

    def head(self, kind: str, metric: str, predictor: str = MODEL) -> float | None:
        hit = self.heads[(self.heads["head"] == kind) & (self.heads["predictor"] == predictor)
                         & (self.heads["metric"] == metric)]["value"]
        return float(hit.iloc[0]) if len(hit) else None

    def score(self, metric: str, scorer: str = MODEL) -> float | None:
        hit = self.scores[(self.scores["scorer"] == scorer)
                          & (self.scores["metric"] == metric)]["value"]
        return float(hit.iloc[0]) if len(hit) else None

    def score_metrics(self, scorer: str = MODEL) -> dict[str, float]:
        """Every metric of one scorer, by name."""
        rows = self.scores[self.scores["scorer"] == scorer]
        return dict(zip(rows["metric"], rows["value"], strict=True))

    @property
    def rivals(self) -> list[str]:
        """The scorers beside the model (history indexes), in order."""
        return [s for s in dict.fromkeys(self.scores["scorer"]) if s != MODEL]

    def as_metrics(self) -> dict[str, float]:
        """The dotted MLflow metric names and their values."""
        heads = {f"{r.head}.{r.predictor}.{r.metric}": r.value
                 for r in self.heads.itertuples()}
        scores = {metric_name(r.scorer, r.metric): r.value for r in self.scores.itertuples()}
        return {**heads, **scores}

    @classmethod
    def from_metrics(cls, metrics: dict[str, float]) -> RunSummary:
        """Back from a run's MLflow metrics (names the summary did not write are ignored)."""
        heads, scores = [], []
        for name, value in metrics.items():
            parts = name.split(".")
            if parts[0] == SCORE and len(parts) in (2, 3):
                scores.append((MODEL if len(parts) == 2 else parts[1], parts[-1], value))
            elif len(parts) == 3:
                heads.append((*parts, value))
        return cls.of(heads, scores)


def metric_name(scorer: str, metric: str) -> str:
    """The MLflow metric name of a scorer's metric: `score.<metric>` for the model's,
    `score.<rival>.<metric>` for a history index's."""
    return f"{SCORE}.{metric}" if scorer == MODEL else f"{SCORE}.{scorer}.{metric}"
