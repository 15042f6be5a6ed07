"""Heads, metrics and calibration on small synthetic tables with known answers."""

from __future__ import annotations

from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from clout.features.config import FeatureConfig
from clout.features.schema import FeatureSchema, FeatureTable, Target
from clout.models.calibration import Calibrator, choose_calibrator
from clout.models.heads import (
    Boosting,
    HeadSpec,
    HistoryOffset,
    Split,
    StoppingRule,
    early_stopping,
    fit_head,
    lgb_params,
)
from clout.models.metrics import (
    calibration_error,
    poisson_deviance,
    rate_metrics,
    reliability_table,
)

H = 14


def synthetic(n: int, seed: int, cutoff: str) -> pd.DataFrame:
    """Accounts whose true rate is exp(quality), with posts as exposure and Poisson counts."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1, n)
    posts = rng.integers(1, 20, n)
    events = rng.poisson(np.exp(quality) * posts)
    history_posts = rng.integers(0, 30, n)
    history = rng.poisson(np.exp(quality) * history_posts)
    return pd.DataFrame({
        "account_id": np.arange(n), "cutoff": pd.Timestamp(cutoff, tz="UTC"),
        "quality": quality, "noise": rng.normal(size=n),
        "posts_90d": history_posts,
        "retweets_per_post_90d": np.where(history_posts > 0,
                                          history / np.maximum(history_posts, 1), np.nan),
        f"label_posts_{H}d": posts, f"label_retweets_{H}d": events,
        f"label_retweets_per_post_{H}d": events / posts, "true_rate": np.exp(quality)})


def test_exposure_weighted_deviance_ranks_models_as_post_level_deviance_does():
    # Post-level deviance and the exposure-weighted deviance of rates differ by a term that
    # does not depend on the prediction, so the difference between two predictors is the same.
    rng = np.random.default_rng(0)
    posts = rng.integers(1, 6, 200)
    per_post = [rng.poisson(2.0, p) for p in posts]
    rate = np.array([c.mean() for c in per_post])
    a, b = rng.uniform(1, 3, 200), rng.uniform(1, 3, 200)

    def post_level(pred):
        y = np.concatenate(per_post)
        mu = np.repeat(pred, posts)
        return poisson_deviance(y, mu, np.ones_like(y))

    ours = poisson_deviance(rate, a, posts) - poisson_deviance(rate, b, posts)
    assert ours == pytest.approx(post_level(a) - post_level(b), rel=1e-9)


def test_reliability_table_and_calibration_error_by_hand():
    predicted = np.repeat([1.0, 2.0], 5)
    observed = np.repeat([1.0, 3.0], 5)
    table = reliability_table(observed, predicted, np.ones(10), bins=2)
    assert table["predicted"].tolist() == [1.0, 2.0]
    assert table["observed"].tolist() == [1.0, 3.0]
    error = calibration_error(table)
    assert error["ece"] == pytest.approx(0.5)  # half the posts are off by 1
    assert error["relative_ece"] == pytest.approx(0.25)  # of an observed mean of 2


def test_rate_metrics_of_a_perfect_and_a_constant_prediction():
    rng = np.random.default_rng(1)
    truth = rng.gamma(2, 1, 2000)
    posts = rng.integers(1, 50, 2000)
    rate = rng.poisson(truth * posts) / posts
    good = rate_metrics(rate, truth, posts, base_rate=truth.mean())
    assert good["deviance_improvement"] > 0.5
    assert good["spearman"] > 0.8
    assert good["relative_ece"] < 0.05


def test_glm_recalibration_undoes_a_scale_error_and_auto_keeps_a_calibrated_model():
    rng = np.random.default_rng(2)
    truth = rng.gamma(2, 1, 4000)
    posts = rng.integers(1, 30, 4000)
    rate = rng.poisson(truth * posts) / posts
    calibrator, deviances = choose_calibrator("auto", 2 * truth, rate, posts, seed=0)
    assert calibrator.method != "none"
    assert deviances[calibrator.method] < deviances["none"]
    assert np.allclose(calibrator(2 * truth), truth, rtol=0.1)
    kept, _ = choose_calibrator("auto", truth, rate, posts, seed=0)
    assert kept.method == "none"
    assert np.array_equal(kept(truth), truth)


@pytest.mark.parametrize("method", ["glm", "isotonic"])
def test_calibrators_are_monotone_positive_and_round_trip(method):
    rng = np.random.default_rng(3)
    predicted = rng.gamma(2, 1, 500)
    rate = rng.poisson(predicted * 3) / 3
    calibrator = Calibrator.fit(method, predicted, rate, np.full(500, 3.0))
    grid = np.linspace(0, 10, 200)
    out = calibrator(grid)
    assert (np.diff(out) >= 0).all() and (out > 0).all()
    assert np.array_equal(Calibrator.from_dict(calibrator.to_dict())(grid), out)
    # above anything seen when fitting, a higher prediction still means a higher rate
    beyond = calibrator(np.array([predicted.max() * 2, predicted.max() * 4]))
    assert beyond[1] > beyond[0] > calibrator(predicted.max())


def test_split_leaves_a_horizon_between_its_parts():
    weeks = pd.date_range("2024-01-01", periods=12, freq="7D", tz="UTC")
    split = Split.by_time(weeks, horizon_days=14)
    assert split.test == weeks[-1]
    assert split.validation == weeks[-3]  # weeks[-2]'s horizon would reach past the test cutoff
    assert split.train == tuple(weeks[:-4])
    assert max(split.train) + pd.Timedelta(days=14) <= split.validation
    with pytest.raises(ValueError, match="add weeks"):
        Split.by_time(weeks[:3], horizon_days=14)


def test_history_offset_shrinks_towards_the_base_rate():
    frame = pd.DataFrame({"retweets_per_post_90d": [4.0, np.nan, 10.0],
                          "posts_90d": [5, 0, 0]})
    offset = HistoryOffset.for_target(Target("retweets", H, 90), prior_posts=5)
    assert offset.covariates == ()
    fitted = offset.fit(frame, np.array([2.0, 2.0, 2.0]), np.ones(3), frame, None, None)
    # 20 events over 5 posts with 5 posts' worth of a base rate of 2: 30 / 10
    assert fitted(frame) == pytest.approx([3.0, 2.0, 2.0])


def test_a_per_account_start_counts_the_window_in_horizons():
    # a source without posts: 6 events over a 90-day window are 2 per 30-day horizon
    frame = pd.DataFrame({"retweets_90d": [6.0, 0.0]})
    target = Target("retweets", 30, 90, per_post=False)
    assert target.label == "label_retweets_30d" and target.exposure is None
    offset = HistoryOffset.for_target(target, prior_posts=5)
    assert (offset.rate_column, offset.posts_column, offset.periods) == ("retweets_90d", None, 3)
    assert offset.own_rate(frame) == pytest.approx([2.0, 0.0])
    fitted = offset.fit(frame, np.array([1.0, 1.0]), np.ones(2), frame, None, None)
    # 6 events over 3 horizons with 5 horizons' worth of a base rate of 1: 11 / 8
    assert fitted(frame) == pytest.approx([11 / 8, 5 / 8])
    rows, rate, exposure = target.labelled(frame.assign(label_retweets_30d=[4, 0]))
    assert len(rows) == 2 and list(rate) == [4, 0] and list(exposure) == [1, 1]


def test_early_stopping_keeps_at_least_its_floor():
    # labels that are pure noise: the validation deviance is best after a few trees
    rng = np.random.default_rng(0)
    X, X_val = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5))
    y, y_val = rng.poisson(1.0, 2000), rng.poisson(1.0, 2000)
    params = lgb_params("poisson", {"learning_rate": 0.3, "num_leaves": 31}, 1, 2)

    def booster(callback):
        train = lgb.Dataset(X, y, free_raw_data=False)
        valid = lgb.Dataset(X_val, y_val, reference=train)
        return lgb.train(params, train, 500, valid_sets=[valid], callbacks=[callback])
    own = booster(lgb.early_stopping(20, verbose=False))
    assert own.best_iteration < 30
    unfloored = booster(early_stopping(20))
    assert unfloored.best_iteration == own.best_iteration  # LightGBM's own, without a floor
    floored = booster(early_stopping(20, min_rounds=60))
    assert 60 <= floored.best_iteration < 500  # and still stopped by the patience
    # the engine that cannot stop early (Dask) replays every round's loss through the same rule
    losses = {}
    booster(lgb.record_evaluation(losses))
    replayed = StoppingRule(20, 60).replay(next(iter(losses["valid_0"].values())))
    assert replayed == floored.best_iteration


def test_history_offset_is_the_gamma_poisson_posterior_mean():
    frame = pd.DataFrame({"retweets_per_post_90d": [4.0, np.nan, 10.0],
                          "posts_90d": [5, 0, 0], "account_age_days": [0.0, np.e - 1, 0.0]})
    covariates = FeatureSchema.describe(frame.columns, FeatureConfig(windows=(7, 90))
                                        ).prior_covariates()
    offset = HistoryOffset.for_target(Target("retweets", H, 90), None, covariates)
    assert offset.covariates == ("posts_90d", "account_age_days")
    # prior mean exp(log 2 + 1 * log1p(age)): 2, 2e, 2; weight 2 events
    prior = replace(offset, coefficients=(np.log(2.0), 0.0, 1.0), strength=2.0)
    assert prior.prior_mean(frame) == pytest.approx([2.0, 2 * np.e, 2.0])
    # 20 events over 5 posts with a prior of 2 events over 1 post: 22 / 6; no history: the prior
    assert prior(frame) == pytest.approx([22 / 6, 2 * np.e, 2.0])


def test_history_offset_learns_its_prior_from_accounts_like_it():
    # rates rise with age; quiet accounts (1 post) are shrunk towards accounts of their age, and
    # the fitted strength is the one that best predicts the validation horizon
    rng = np.random.default_rng(0)

    def rows(n):
        age = rng.uniform(0, 2000, n)
        rate = rng.gamma(4.0, np.exp(-1 + age / 1000) / 4.0)
        posts = rng.choice([1, 3, 30], n)
        return pd.DataFrame({"posts_90d": posts, "account_age_days": age,
                             "retweets_per_post_90d": rng.poisson(rate * posts) / posts}), rate
    (train, rate), (validation, val_rate) = rows(4000), rows(4000)
    covariates = FeatureSchema.describe(train.columns, FeatureConfig(windows=(90,))
                                        ).prior_covariates()
    offset = HistoryOffset.for_target(Target("retweets", H, 90), None, covariates)
    horizon = np.full(len(train), 5.0)
    fitted = offset.fit(train, rng.poisson(rate * 5) / 5, horizon, validation,
                        rng.poisson(val_rate * 5) / 5, horizon)
    assert fitted.coefficients[2] > 0.5  # older accounts: higher prior mean
    assert 1.0 <= fitted.strength <= 10.0  # gamma shape 4: about four events' worth of prior
    quiet = (validation["posts_90d"] == 1).to_numpy()
    raw = validation["retweets_per_post_90d"].to_numpy()
    error = {name: np.mean((np.log1p(v[quiet]) - np.log1p(val_rate[quiet])) ** 2)
             for name, v in (("raw", raw), ("shrunk", fitted(validation)))}
    assert error["shrunk"] < 0.6 * error["raw"]


@pytest.mark.parametrize("with_offset", [False, True])
def test_a_head_learns_per_post_rates_deterministically(with_offset):
    train = pd.concat([synthetic(3000, s, f"2024-01-0{s}") for s in (1, 2)])
    validation, test = synthetic(1500, 8, "2024-02-01"), synthetic(1500, 9, "2024-03-01")
    target = Target("retweets", H, 90)
    offset = HistoryOffset.for_target(target) if with_offset else None
    label = target.label
    spec = HeadSpec(target, ("quality", "noise"), Boosting(
        lgb_params("poisson", {"learning_rate": 0.1, "num_leaves": 7}, 1, 2), 300, 20),
        "auto", offset)

    def fit():
        return fit_head(spec, train, validation, seed=1)
    head = fit()
    metrics = rate_metrics(test[label], head(test), test[f"label_posts_{H}d"], head.base_rate)
    assert metrics["deviance_improvement"] > 0.6
    assert metrics["relative_ece"] < 0.1
    assert np.corrcoef(np.log(head(test)), test["quality"])[0, 1] > 0.95
    assert fit().booster.model_to_string() == head.booster.model_to_string()


@pytest.mark.parametrize("prior_posts", [5.0, None])
def test_slice_features_to_heads_on_the_tiny_world(tiny_world, prior_posts):
    # the models stage on the features stage's table, without the pipeline: every head learns
    # more than the constant and than the account's own historical mean
    from clout.features.build import build_features, load_tables
    from clout.features.days import weekly_cutoffs
    from clout.models.config import ModelSpec
    from clout.models.evaluation import history_baselines
    from clout.models.metrics import poisson_deviance

    tables = load_tables(tiny_world[0])
    frame = build_features(tables, weekly_cutoffs(tables, 8, H))
    split = Split.by_time(frame["cutoff"].unique(), H)
    spec = ModelSpec(params={"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20},
                     prior_posts=prior_posts)
    schema = FeatureTable.of(frame, FeatureConfig(horizon_days=H)).schema
    features = list(schema.features)
    train, validation = split.part(frame, "train"), split.part(frame, "validation")
    test = split.part(frame, "test")
    targets = spec.targets(schema)
    assert {t.credible for t in targets.values()} == {True}  # events: credible labels
    for target in targets.values():
        head = fit_head(spec.head_spec(target, features, schema, 2), train, validation, seed=1)
        rows, rate, posts = target.labelled(test)
        baselines = history_baselines(rows, head)
        model = poisson_deviance(rate, head(rows), posts)
        for name in ("constant", "historical_mean"):
            assert model < poisson_deviance(rate, baselines[name], posts), (target.kind, name)
