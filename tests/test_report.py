"""Fairness and gaming views, example explanations, and the reviewer report rendered in headless
Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from clout.audit.fairness import BANDS, fairness_table
from clout.audit.report import browser, build_report, log_report, summary
from clout.cli import app
from clout.data.influence import FLOOR
from clout.scoring.evaluation import MANIPULATORS, realised_engagement
from clout.scoring.summary import RunSummary
from clout.tracking import RUN


def test_fairness_bands_cover_every_posting_account_once(tiny_run, tiny_world):
    result, _ = tiny_run
    test = result.split.part(result.features, "test")
    table = result.evaluation.fairness
    posting = realised_engagement(result.model, test)
    for dimension in BANDS:
        rows = table[table["dimension"] == dimension]
        assert rows["accounts"].sum() == posting[dimension].notna().sum()
        # isotonic residuals sum to zero: the bands' gaps, weighted by accounts, balance out
        assert np.average(rows["gap_realised"], weights=rows["accounts"]) == pytest.approx(
            0, abs=1e-9)
        assert (rows["score_q25"] <= rows["score_median"]).all()
        assert (rows["score_median"] <= rows["score_q75"]).all()
    assert {"gap_truth", "gap_truth_se"} <= set(table.columns)
    # without ground truth (real data) the same view, less the truth columns
    plain = fairness_table(result.model, test)
    assert "gap_truth" not in plain.columns
    assert plain["gap_realised"].tolist() == table["gap_realised"].tolist()


def test_realised_engagement_is_the_scores_combination_of_the_labels(tiny_run):
    result, _ = tiny_run
    model = result.model
    rows = realised_engagement(model, result.split.part(result.features, "test"))
    first = rows.iloc[0]
    amplification = sum(model.weights[k] * first[h.label] / h.base_rate
                        for k, h in model.heads.items())
    assert first["amplification"] == pytest.approx(amplification)
    # reach: the credible engagers; network: expm1 of their standing (none: 0)
    reach = first[model.components["reach"].label]
    network = np.expm1(np.nan_to_num(first[model.components["network"].label]))
    weights = model.component_weights
    expected = 10 ** ((weights["reach"] * np.log10(max(reach, FLOOR))
                       + weights["amplification"] * np.log10(max(amplification, FLOOR))
                       + weights["network"] * np.log10(max(network, FLOOR)))
                      / sum(weights.values()))
    assert first["realised"] == pytest.approx(expected)


def test_example_explanations_cover_the_extremes_and_every_manipulation_group(tiny_run):
    from clout.pipeline import load_source

    result, _ = tiny_run
    truth = load_source(result.experiment.data).truth  # the run's own world
    examples = result.evaluation.explanations
    whys = [e["why"] for e in examples]
    assert whys[:3] == ["highest score", "median score", "lowest score"]
    # every manipulation group that shows influence at the test cutoff (bots engaged by nobody
    # credible score 1 and have nothing to explain)
    test = result.split.part(result.features, "test")
    showing = test.loc[~result.model.is_silent(test), "account_id"]
    present = set(truth.loc[truth["account_id"].isin(showing), "role"]) & set(MANIPULATORS)
    assert present and {f"highest-scoring {role}" for role in present} <= set(whys)
    scores = result.evaluation.scores.set_index("account_id")["score"]
    for example in examples:
        assert example["score"] == scores[example["account_id"]]
        assert example["contributions"]
    assert examples[0]["score"] >= examples[1]["score"] >= examples[2]["score"]
    json.dumps(examples, allow_nan=False)  # plain JSON: missing values are null


def _render_check(page: Path, width: int = 1280) -> dict:
    """How headless Chromium lays the page out in a window `width` pixels wide, after load:
    images, images that failed to load, and the right edge of the widest table, image or
    preformatted block (beyond `width`: the reader scrolls sideways)."""
    probe = ("<script>addEventListener('load', () => document.body.setAttribute('data-layout',"
             " JSON.stringify({images: document.images.length, broken: [...document.images]"
             ".filter(i => !i.complete || i.naturalWidth === 0).length, right: Math.max(0, "
             "...[...document.querySelectorAll('table, img, pre')].map("
             "e => Math.ceil(e.getBoundingClientRect().right)))})));</script>")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "probe.html"
        copy.write_text(page.read_text().replace("</body>", probe + "</body>"))
        dom = subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu",
                              f"--user-data-dir={folder}/profile", "--virtual-time-budget=10000",
                              "--hide-scrollbars", f"--window-size={width},900",
                              "--dump-dom", copy.as_uri()],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    return json.loads(html.unescape(re.search(r'data-layout="([^"]*)"', dom).group(1)))


def test_report_is_self_contained_renders_in_chromium_and_is_logged(tiny_run, tmp_path):
    if browser() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium: .ci/run installs it")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    result, _ = tiny_run
    page, shot = log_report(result.run_id, tmp_path)
    text = page.read_text()
    for section in ("Summary", "Data", "Heads against baselines", "Calibration",
                    "What drives each head", "Score", "Topics", "Fairness", "Gaming",
                    "Example explanations", "Experiment"):
        assert f"<h2>{section}" in text
    # the summary comes first and says in words what the tables show
    assert text.index("<h2>Summary") < text.index("<h2>Run")
    for words in ("+10 points means x", "against the truth at Spearman",
                  "the best history-only rival", "own historical mean:", "Manipulation:",
                  "Fairness: the band furthest"):
        assert words in text, words
    sources = re.findall(r'<img [^>]*src="([^"]*)"', text)
    # calibration per head, SHAP summary, score distribution, fairness, gaming
    assert len(sources) == len(result.model.every_head) + 4
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text  # nothing fetched from outside
    layout = _render_check(page)
    assert (layout["images"], layout["broken"]) == (len(sources), 0)
    assert layout["right"] <= 1280  # every table fits the window: no sideways scrolling
    # readable labels: no metric keys, no raw column names, no 1e-16 noise
    for raw in ("score.score_gap", "spearman_true_influence", "poisson_deviance",
                "gap_realised_se", "e-1"):
        assert raw not in text.split("<h2>Experiment")[0], raw
    # tables and dates, never raw JSON or ISO milliseconds
    assert '{"' not in text and not re.search(r"\d{2}:\d{2}:\d{2}\.\d{3}", text)
    assert "rows quarantined by validation: none" in text
    for label in ("Spearman vs truth", "reach vs its truth",
                  "follower buyers: points above genuine",
                  "Poisson deviance", "score q25 / median / q75", "account age (days)"):
        assert label in text, label

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape[1] == 1280 and pixels.std() > 10  # a page was drawn, not a blank
    logged = {f.path for f in mlflow.MlflowClient().list_artifacts(result.run_id, "report")}
    assert logged == {"report/report.html", "report/report.png"}


def test_a_broken_image_and_a_wide_table_are_caught_by_the_render_check(tmp_path):
    # the check above must be able to fail
    if browser() is None:
        pytest.skip("no Chromium on this machine")
    page = tmp_path / "page.html"
    wide = "".join(f"<td>column number {i}</td>" for i in range(40))
    page.write_text("<html><body><img src='data:image/png;base64,AAAA'>"
                    f"<table><tr>{wide}</tr></table></body></html>")
    layout = _render_check(page)
    assert (layout["images"], layout["broken"]) == (1, 1) and layout["right"] > 1280


def test_report_of_a_run_without_ground_truth_leaves_the_gaming_section_out(tiny_run,
                                                                            tmp_path):
    # a run on real data: the same artifacts less the simulator's truth
    result, _ = tiny_run
    client = mlflow.MlflowClient()
    copy = client.create_run(client.get_run(result.run_id).info.experiment_id).info.run_id
    client.download_artifacts(result.run_id, "", str(tmp_path))
    for name in ("score_vs_truth.json", "gaming.png", "report/report.html", "report/report.png"):
        (tmp_path / name).unlink(missing_ok=True)
    client.log_artifacts(copy, str(tmp_path))
    text = build_report(copy)
    assert "<h2>Gaming" not in text and "<h2>Fairness" in text


def test_cli_report_names_an_unknown_run(tiny_run):
    outcome = CliRunner().invoke(app, ["report", "0" * 32, "--no-screenshot"])
    assert outcome.exit_code == 2
    assert "0" * 32 in outcome.output


def test_the_summary_says_where_the_score_stands_in_words():
    heads = pd.DataFrame({"head": ["retweets"] * 2 + ["likes"] * 2,
                          "predictor": ["model", "historical_mean"] * 2,
                          "spearman": [0.80, 0.75, 0.70, 0.72]})
    metrics = {"score.factor_per_10_points": 2.5, "score.spearman_realised": 0.60,
               "score.history_index.spearman_realised": 0.65,
               "score.log1p_index.spearman_realised": 0.62,
               "score.weight_reach": 0.5, "score.factor_per_10_points_reach": 3.0}
    said = summary(RunSummary.from_metrics(metrics), heads, None)
    assert said[0].startswith("The score combines reach") and "x2.50" in said[0]
    # each component's weight and its own +10 points, where the run has them
    assert said[1] == ("Its components: reach (weight 0.50: +10 points = x3.00 expected "
                       "credible engagers in the horizon).")
    assert "realised engagement at Spearman 0.600, below the best history-only rival " \
           "(history index, 0.650)" in said[2]
    assert said[3].endswith("1 of 2 (retweets).")
    gamed = summary(RunSummary.from_metrics(
        {**metrics, "score.score_gap_ring": 3.2, "score.score_gap_bot": 0.1}), heads, None)
    assert "+3.2 points (engagement rings); above the goal of 2." in gamed[-1]


def test_the_report_says_whose_engagement_counts_for_nothing(tiny_run):
    # the tiny world's rings engage each other's every post: the highest-scoring ring member's
    # example says how much of its engagement the rules discounted, and where to see who
    result, _ = tiny_run
    examples = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path=RUN.explanations)).read_text())
    ring = next(e for e in examples if e["why"] == "highest-scoring ring")
    assert ring["discounted"] > 0.2
    text = build_report(result.run_id)
    assert f"{ring['discounted']:.0%} of the engagement it received" in text
    assert f"<code>clout explain {ring['account_id']}</code>" in text
    # an account nobody discounted is not said to be (which example that is depends on the
    # model: the median-scoring account can be a ring's)
    assert not all(e["discounted"] for e in examples)
    assert text.count("counts for nothing") == sum(bool(e["discounted"]) for e in examples)


def test_the_report_says_what_accounts_are_influential_about(tiny_run):
    from clout.audit.report import build_report

    result, _ = tiny_run
    text = build_report(result.run_id)
    assert "<h2>Topics: what accounts are influential about" in text
    topics = result.evaluation.topics.summary()
    assert len(topics) == 8 and topics["accounts"].is_monotonic_decreasing
    assert all(f">{t}<" in text for t in topics["topic"])  # every topic, by its label
    assert "Against the simulator's truth per topic" in text  # simulated: measured
    example = result.evaluation.topics.example()
    assert f"Example: account {example['account_id']} (the best score)" in text
    assert example["topics"][0]["topic_score"] == max(t["topic_score"]
                                                      for t in example["topics"])
