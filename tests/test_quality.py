"""The quality instrument: cases over worlds and cutoffs, baselines, the paired bootstrap, the
document it writes, and the quality bar `make test` holds the model to."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.config import load_experiment
from clout.models.heads import Split
from clout.quality import (
    Case,
    QualityResult,
    bar_checks,
    evaluate,
    headlines,
    paired_bootstrap,
    quote_headlines,
    write_section,
)
from support import ROOT, quick_tiny, shared_dataset, utc


def synthetic_case(name: str, rng, model_noise: float, rival_noise: float, n: int = 400) -> Case:
    """A case whose model and history index are the target plus noise of the given sizes."""
    target = rng.lognormal(size=n)
    model = target + rng.normal(0, model_noise, n)
    rival = target + rng.normal(0, rival_noise, n)
    rate = rng.poisson(3 * target) / 3
    values = pd.DataFrame(
        [("score", "all", "model", "spearman_truth", 0.9),
         ("score", "all", "history_index", "spearman_truth", 0.8),
         ("head", "retweets", "model", "spearman", 0.7),
         ("head", "retweets", "historical_mean", "spearman", 0.6),
         ("head", "retweets", "model", "deviance", 1.0),
         ("head", "retweets", "historical_mean", "deviance", 1.2)],
        columns=["section", "item", "predictor", "measure", "value"])
    cutoffs = [utc("2024-01-01"), utc("2024-01-15"), utc("2024-01-29")]
    return Case(name, 1, 7, Split((cutoffs[0],), cutoffs[1], cutoffs[2]), "abc", n, values,
                {"score": pd.DataFrame({"target": target, "model": model,
                                        "history_index": rival}),
                 "retweets": pd.DataFrame({"rate": rate, "posts": np.full(n, 3.0),
                                           "model": np.maximum(model, 0.01),
                                           "historical_mean": np.maximum(rival, 0.01)})})


def test_pairwise_agreement_counts_the_pairs_a_person_orders_the_same_way():
    from clout.quality import pairwise_agreement

    judged = np.array([1.0, 2.0, 3.0, 3.0])  # five ordered pairs: the tie says nothing
    assert pairwise_agreement(judged * 10, judged) == 1.0
    assert pairwise_agreement(-judged, judged) == 0.0
    assert pairwise_agreement(np.zeros(4), judged) == 0.5  # a tied prediction counts half
    assert pairwise_agreement(np.array([2.0, 1.0, 3.0, 4.0]), judged) == 4 / 5


def test_paired_bootstrap_sees_a_real_difference_and_none_where_there_is_none():
    rng = np.random.default_rng(0)
    better = [synthetic_case(f"seed {s}", rng, 0.1, 1.0) for s in (1, 2)]
    deltas = paired_bootstrap(better, 200).set_index(["item", "measure"])
    assert (deltas["best_baseline"] == ["history_index", "historical_mean",
                                        "historical_mean"]).all()
    assert deltas.loc[("all", "spearman_truth"), "low"] > 0  # the model ranks better
    assert deltas.loc[("retweets", "deviance"), "high"] < 0  # and fits better
    same = [synthetic_case("seed 1", rng, 0.5, 0.5)]
    same[0].accounts["score"]["model"] = same[0].accounts["score"]["history_index"]
    row = paired_bootstrap(same, 200).iloc[0]
    assert row["difference"] == 0 and row["low"] == 0 == row["high"]


def result_of(cases, name="synthetic") -> QualityResult:
    experiment = load_experiment(ROOT / "experiments" / "small.yaml", name=name)
    return QualityResult(experiment, cases, paired_bootstrap(cases, 50))


def test_the_document_keeps_other_sections_and_the_readme_quotes_it(tmp_path):
    rng = np.random.default_rng(1)
    doc, readme = tmp_path / "quality.md", tmp_path / "README.md"
    first = result_of([synthetic_case("seed 1", rng, 0.1, 1.0)], "first")
    write_section(first, doc)
    write_section(result_of([synthetic_case("seed 2", rng, 0.1, 1.0)], "second"), doc)
    write_section(first, doc)  # again: replaced in place, not appended
    text = doc.read_text()
    assert text.startswith("# Quality") and text.count("## first") == 1
    assert text.index("## first") < text.index("## second")
    assert [line.split("**")[1] for line in headlines(doc)] == ["first", "second"]
    readme.write_text("intro\n<!-- quality headlines -->\nstale\n<!-- end quality headlines -->\n"
                      "outro\n")
    quote_headlines(readme, doc)
    quoted = readme.read_text()
    assert "stale" not in quoted and quoted.startswith("intro") and quoted.endswith("outro\n")
    assert all(line in quoted for line in headlines(doc))


def test_real_data_takes_rolling_cutoffs_not_seeds():
    congress = load_experiment(ROOT / "experiments" / "congress.yaml")
    with pytest.raises(ValueError, match="--rolling"):
        evaluate(congress, seeds=[1, 2])


def test_rolling_origin_tests_each_cutoff_with_a_model_of_the_cutoffs_before(tmp_path):
    path = quick_tiny(tmp_path, "tiny-quality")
    result = evaluate(load_experiment(path), rolling=2, bootstrap=0, say=lambda _: None)
    first, second = result.cases
    assert second.test_cutoff - first.test_cutoff == pd.Timedelta(weeks=1)
    for case in result.cases:
        # 8 weekly cutoffs, 14-day horizons: 4 training, a gap, validation, a gap, test
        assert len(case.split.train) == 4
        assert max(case.split.train) < case.split.validation < case.test_cutoff
    assert first.model_version != second.model_version
    assert first.name == "seed 3, " + f"{first.test_cutoff:%Y-%m-%d}"
    summary = result.summary()
    assert {"mean", "std", first.name, second.name} <= set(summary.columns)
    from clout.scoring.topics import TOPIC_BASELINES
    topics = summary[summary["section"] == "topic"]  # a simulated world: against topic truth
    assert set(topics["predictor"]) == {"model", *TOPIC_BASELINES}
    assert topics["mean"].between(-1, 1).all()


def test_cli_evaluate_logs_a_parent_run_with_a_child_per_case(tmp_path):
    path = quick_tiny(tmp_path, "tiny-quality")
    doc, readme = tmp_path / "quality.md", tmp_path / "README.md"
    readme.write_text("<!-- quality headlines -->\n<!-- end quality headlines -->\n")
    result = CliRunner().invoke(app, ["evaluate", str(path), "--seeds", "3,4", "--bootstrap",
                                      "20", "--doc", str(doc), "--readme", str(readme)])
    assert result.exit_code == 0, result.output
    assert "history index" in result.output and "paired bootstrap" in result.output
    assert "## tiny-quality" in doc.read_text() and "tiny-quality" in readme.read_text()
    parent = mlflow.search_runs(search_all_experiments=True,
                                filter_string="tags.`clout.kind` = 'evaluate'").iloc[0]
    children = mlflow.search_runs(search_all_experiments=True, filter_string=(
        f"tags.mlflow.parentRunId = '{parent['run_id']}'"))
    assert sorted(children["tags.mlflow.runName"]) == ["seed 3", "seed 4"]
    assert parent["metrics.score.all.model.spearman_truth.mean"] == pytest.approx(
        children["metrics.score.all.model.spearman_truth"].mean())
    assert parent["tags.env.numpy"] == np.__version__


def test_the_readme_quotes_every_section_of_docs_quality():
    doc = ROOT / "docs" / "quality.md"
    lines = headlines(doc)
    assert [line.split("**")[1] for line in lines] == [
        "default", "congress", "empirical-bayes", "higgs", "default-tuned"]
    readme = (ROOT / "README.md").read_text()
    assert all(line in readme for line in lines)


# -- the quality bar: the small world, two data seeds -------------------------------------------

@pytest.fixture(scope="module")
def small_world_quality():
    experiment = load_experiment(ROOT / "experiments" / "small.yaml")
    return {c.name: c for c in bar_checks(evaluate(experiment, seeds=[7, 8], bootstrap=0,
                                                   say=lambda _: None))}


def below_the_bar(reason: str):
    # strict: once the model clears the bar this fails, and the marker must go
    return pytest.mark.xfail(strict=True, reason=reason)


@pytest.mark.parametrize("name", [
    "score",
    # within the bar, still below its historical mean: 0.686 against 0.691 since followers
    # whose engagement is discounted stopped counting (0.679 before)
    "clicks",
    "retweets",
    pytest.param("replies", marks=below_the_bar(
        "replies rank accounts below their historical mean (issue 14)")),
    "likes",
    "reach",
    "network",
])
def test_the_model_clears_the_quality_bar(small_world_quality, name):
    check = small_world_quality[name]
    assert check.passed, str(check)


def test_congress_rolling_cutoffs_measure_the_model_against_its_history():
    congress = load_experiment(ROOT / "experiments" / "congress.yaml",
                               **{"data.path": str(shared_dataset("congress"))})
    result = evaluate(congress, rolling=2, bootstrap=0, say=lambda _: None)
    assert [c.name for c in result.cases] == [f"{c.test_cutoff:%Y-%m-%d}" for c in result.cases]
    values = result.values
    # reach, where engagers are unknown: the engagement the horizon's posts receive
    assert set(values.loc[values["section"] == "head", "item"]) == {"retweets", "likes",
                                                                     "reach"}
    # and how the score agrees with people: the lists that hold each account
    human = values[values["section"] == "human"]
    assert {"model", "followers", "history_index", "engagement_received"} <= set(
        human["predictor"])
    assert human["value"].between(-1, 1).all()
    assert "spearman_truth" not in set(values["measure"])  # no ground truth on real data
    # topics learned from the tweets before each test cutoff, against what each account's
    # tweets on them drew afterwards: the topic score above the topics' own history
    topic = values[(values["section"] == "topic") & (values["item"] == "mean over topics")]
    by = topic.pivot_table(index="case", columns="predictor", values="value")
    assert len(by) == 2 and (by["model"] > by["history log1p-mean"]).all(), by
