"""How the models stage fits the heads, as declared in an experiment's YAML (`model:`)."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clout.data.config import Seed
from clout.errors import ConfigError, DataError
from clout.features.catalogue import column_features
from clout.features.schema import FeatureSchema, Target
from clout.models.heads import Boosting, HeadSpec, HistoryOffset, lgb_params


def _lightgbm_names() -> set[str] | None:
    """Every parameter name and alias LightGBM knows (None if this version cannot say)."""
    try:
        from lightgbm.basic import _ConfigAliases
        aliases = _ConfigAliases._get_all_param_aliases()
    except (ImportError, AttributeError):
        return None
    return set(aliases) | {a for names in aliases.values() for a in names}


def check_lightgbm_params(objective: str, params: dict) -> None:
    """Refuse, before any data is read, parameters LightGBM does not know and values it
    refuses: one tree on a few rows with all of them, then, on failure, with each alone, so
    the message names the parameter at fault."""
    known = _lightgbm_names()
    if known is not None and (unknown := sorted(set(params) - known)):
        raise ValueError(f"params: LightGBM has no parameter {', '.join(unknown)}")
    rows = np.arange(40, dtype=float).reshape(20, 2)

    def refusal(given: dict) -> str | None:
        try:
            lgb.train(lgb_params(objective, given, 0, 1), lgb.Dataset(rows, rows[:, 0] % 3), 1)
        except (lgb.basic.LightGBMError, ValueError, TypeError) as err:
            return str(err).strip().splitlines()[0]
        return None
    if refusal(params) is None:
        return
    faults = [f"{k}: {v!r} refused ({why})" for k, v in params.items()
              if (why := refusal({k: v})) is not None]
    raise ValueError("params: " + ("; ".join(faults) or "LightGBM refuses them together: "
                                   + refusal(params)))


class ModelSpec(BaseModel):
    """The LightGBM heads: one per engagement kind, on counts with posts as exposure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heads: list[str] | None = Field(
        None, description="kinds to predict (clicks, retweets, replies, likes); default: every "
                          "kind the source has")
    exclude_features: list[str] = Field(
        default_factory=list, description="feature names or glob patterns the heads do not "
                                          "see (e.g. counters that can be bought)")
    buyable_features: bool = Field(
        False, description="let heads that learn credible engagement see the features bought "
                           "engagement or followers move (the catalogue's buyable ones); heads "
                           "on count-only sources learn all engagement and always see them")
    target: Literal["auto", "credible", "all"] = Field(
        "auto", description="credible: learn engagement counted by its engagers' credibility, "
                            "none traded back (needs events: who engaged); all: every "
                            "engagement; auto: credible where the source has events, else all")
    seed: Seed = Field(7, description="LightGBM's seed, the calibrators' cross-fitting and the "
                                      "audit's samples (not the data: that is data.seed)")
    objective: Literal["poisson", "tweedie"] = "poisson"
    num_boost_round: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1, description="patience: stop this many "
                                       "rounds after the best validation deviance")
    min_boost_rounds: int = Field(
        100, ge=1, description="the fewest rounds early stopping may keep, so one validation "
                               "cutoff cannot stop a head at its first trees (docs/quality.md)")
    params: dict[str, Any] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0})
    history_offset: bool = Field(
        True, description="start each head from the account's own per-post rate over the "
                          "longest window, shrunk towards a prior: trees learn corrections")
    prior_posts: float | None = Field(
        5.0, ge=0, description="that prior: the base rate worth this many posts; null: empirical "
                               "Bayes, a prior mean from what is known of the account before "
                               "the cutoff and a weight chosen on validation (ranks better, "
                               "but a few bought credible events move quiet accounts more)")
    calibration: Literal["auto", "none", "glm", "isotonic"] = Field(
        "auto", description="auto: the recalibration with the best cross-fitted validation "
                            "deviance, or none when none improves it")
    components: bool = Field(True, description="fit the reach and network heads too, so the "
                                               "score combines all three components (off: "
                                               "amplification alone)")
    stability_seeds: list[Seed] = Field(
        default_factory=list, description="retrain the heads with these seeds too, to show how "
                                          "far importance ranks move (audit only)")

    @model_validator(mode="after")
    def _check(self):
        reserved = {"objective", "seed", "deterministic", "num_threads", "verbosity",
                    "force_row_wise", "force_col_wise"}
        if self.min_boost_rounds > self.num_boost_round:
            raise ValueError(f"min_boost_rounds ({self.min_boost_rounds}) is more than "
                             f"num_boost_round ({self.num_boost_round})")
        if clash := reserved & set(self.params):
            raise ValueError(f"params may not set {', '.join(sorted(clash))}: the experiment "
                             "sets them (objective, model.seed, num_threads) or fixes them for "
                             "reproducibility")
        check_lightgbm_params(self.objective, self.params)
        return self

    def targets(self, schema: FeatureSchema) -> dict[str, Target]:
        """What each head learns, by kind, as `heads` and `target` ask of this feature table
        (a source without posts has per-account labels: what each account received)."""
        has_credible = bool(schema.offered(credible=True))
        if self.target == "credible" and not has_credible:
            raise ConfigError("model.target: credible engagement needs events (who engaged); "
                              "this source has only counts: use target all or auto")
        credible = self.target == "credible" or (self.target == "auto" and has_credible)
        offered = schema.offered(credible)
        if not offered:
            raise DataError("the source has no engagement labels (it needs engagement "
                            "received): there is nothing for the heads to learn")
        kinds = self.heads or offered
        if missing := sorted(set(kinds) - set(offered)):
            raise ConfigError(f"model.heads: {', '.join(missing)} not in this source (it has "
                              f"{', '.join(offered)})")
        return {kind: schema.target(kind, credible) for kind in kinds}

    def inputs(self, schema: FeatureSchema, targets: dict[str, Target]) -> list[str]:
        """The feature columns the heads see, in table order: not those that match
        `exclude_features`, and (for heads on credible engagement, unless `buyable_features`)
        not those an attacker moves by buying engagement or followers."""
        buyable = set()
        if not self.buyable_features and any(t.credible for t in targets.values()):
            buyable = set(schema.buyable)
        return [c for c in schema.features if c not in buyable
                and not any(fnmatch(c, p) for p in self.exclude_features)]

    def boosting(self, num_threads: int | None) -> Boosting:
        """How every head's booster is grown."""
        return Boosting(lgb_params(self.objective, self.params, self.seed, num_threads),
                        self.num_boost_round, self.early_stopping_rounds,
                        self.min_boost_rounds)

    def head_spec(self, target: Target, features: list[str], schema: FeatureSchema,
                  num_threads: int | None) -> HeadSpec:
        """How to fit the head of `target` on `features`; it starts from the account's
        history when `history_offset` is on and the table holds that history. A target that
        learns from one feature family sees only those of `features`."""
        if target.family is not None:
            catalogue = column_features(schema.windows)
            features = [f for f in features if f in catalogue
                        and catalogue[f].family == target.family]
        offset = None
        if self.history_offset:
            history = HistoryOffset.for_target(target, self.prior_posts,
                                               schema.prior_covariates())
            offset = history if set(history.columns) <= set(schema.features) else None
        return HeadSpec(target, tuple(features), self.boosting(num_threads), self.calibration,
                        offset)
