"""Compiled trees: the same scores as LightGBM's predict, and LightGBM wherever they do not
compile."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest

from clout.models.compiled import CompiledBooster, compile_booster
from clout.scoring.score import InfluenceModel
from support import hand_built_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The hand-built model twice: with LightGBM's predict, and with its trees compiled."""
    plain, test = hand_built_model()
    compiled, _ = hand_built_model()
    cache = tmp_path_factory.mktemp("compiled")
    return plain, compiled.compile_trees(cache), test, cache


def test_compiled_trees_give_the_same_scores(models):
    plain, compiled, test, _ = models
    assert all(isinstance(h.booster, CompiledBooster) for h in compiled.every_head.values())
    expected, got = plain.score(test), compiled.score(test)
    assert (got["score"] == expected["score"]).all()
    for name in ("reach", "amplification", "network"):
        assert (got[name] == expected[name]).all()
    values = [c for c in expected if c.startswith("expected_") or c == "engagers_reach"]
    assert values
    for c in values:
        np.testing.assert_allclose(got[c], expected[c], rtol=1e-9, atol=0)
    # one request's rows (one thread) as well as the batch
    one = test.iloc[:3]
    np.testing.assert_allclose(compiled.continuous_score(one), plain.continuous_score(one),
                               rtol=1e-9, atol=0)


def test_everything_but_raw_predictions_is_lightgbms(models, tmp_path):
    plain, compiled, test, _ = models
    head, reference = compiled.heads["likes"], plain.heads["likes"]
    X = test[head.features].to_numpy(float)
    # contributions (explanations, SHAP) and transformed predictions go to LightGBM
    np.testing.assert_array_equal(head.booster.predict(X, pred_contrib=True),
                                  reference.booster.predict(X, pred_contrib=True))
    np.testing.assert_array_equal(head.booster.predict(X), reference.booster.predict(X))
    # saved, the model is the one trained: same files, same version
    assert InfluenceModel.load(compiled.save(tmp_path / "model")).version == plain.version


def test_a_compiled_booster_travels_to_another_process_and_compiles_there(models):
    _, compiled, test, cache = models
    head = compiled.heads["retweets"]
    copy = pickle.loads(pickle.dumps(head.booster))
    assert isinstance(copy, CompiledBooster) and copy.cache == cache
    X = test[head.features].to_numpy(float)
    np.testing.assert_array_equal(copy.predict(X, raw_score=True),
                                  head.booster.predict(X, raw_score=True))
    assert compile_booster(copy, cache) is copy  # compiled once


def test_a_booster_that_does_not_compile_is_scored_by_lightgbm(models, monkeypatch):
    import lleaves

    plain, _, _, cache = models
    booster = plain.heads["likes"].booster

    def refuse(self, *args, **kwargs):
        raise NotImplementedError("linear trees")
    monkeypatch.setattr(lleaves.Model, "compile", refuse)
    with pytest.warns(UserWarning, match="could not compile a booster .*linear trees"):
        assert compile_booster(booster, cache / "elsewhere") is booster
    assert isinstance(booster, lgb.Booster)
