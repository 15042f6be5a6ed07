"""The reviewer report: one self-contained HTML file from what a training run logged.

Everything comes from the run's MLflow record (tags, metrics, artifacts), so the report of any
past run can be rebuilt without retraining; images are embedded as data URIs, so the file opens
anywhere. Sections whose artifacts a run lacks (the simulator's ground truth on real data,
stability without `stability_seeds`) are left out. `screenshot` renders the file in headless
Chromium.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from clout import tracking
from clout.audit.fairness import DIMENSIONS
from clout.data.influence import COMPONENTS
from clout.errors import MissingFile
from clout.features.credibility import rules_said
from clout.scoring.summary import MODEL, RunSummary
from clout.tracking import RUN

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
IMPORTANCE_COLUMNS = ["head", "feature", "family", "gain_share", "split", "mean_abs_shap",
                      "permutation", "gain_share_rank", "mean_abs_shap_rank", "permutation_rank"]
METRIC_COLUMNS = ["head", "predictor", "poisson_deviance", "deviance_improvement", "spearman",
                  "relative_ece", "calibration"]
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 12.5px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { vertical-align: bottom; max-width: 7em; }  /* long headers wrap: tables fit the page */
th { background: #f4f4f4; } .t { text-align: left; }
img { max-width: 100%; display: block; margin: 0.6em 0; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em; }
.note { color: #555; font-size: 0.92em; max-width: 60em; }
.bar { display: inline-block; height: 10px; vertical-align: middle; }
.up { background: #d62728; } .down { background: #1f77b4; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 12px; }
"""


# column headers as a reader says them (others: underscores read as spaces)
HEADERS = {"poisson_deviance": "Poisson deviance", "deviance_improvement":
           "deviance improvement over the constant", "spearman": "Spearman (accounts)",
           "relative_ece": "relative ECE", "gain_share": "gain share", "mean_abs_shap":
           "mean |SHAP|", "gain_share_rank": "gain rank", "mean_abs_shap_rank": "|SHAP| rank",
           "permutation": "permutation (deviance rise)", "permutation_rank": "permutation rank"}


ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]00:?00)?")


def _cell(value) -> str:
    if pd.isna(value):
        return "–"
    if isinstance(value, str) and ISO_TIME.fullmatch(value):  # a logged table's timestamps
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):  # four digits; float noise (1e-17) is 0; no 1.2e+04
        return "0" if abs(value) < 1e-9 else f"{value:,.0f}" if abs(value) >= 1e4 else \
            f"{value:.4g}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    """A table with readable headers, text columns to the left and numbers to the right."""
    text = ["" if pd.api.types.is_numeric_dtype(frame[c]) else " class='t'" for c in frame]
    head = "".join(f"<th{t}>{html.escape(HEADERS.get(c, c.replace('_', ' ')))}</th>"
                   for c, t in zip(frame.columns, text, strict=True))
    words = frame.assign(predictor=frame["predictor"].str.replace("_", " ")) \
        if "predictor" in frame else frame  # the baselines' names, as words
    rows = "".join("<tr>" + "".join(f"<td{t}>{_cell(v)}</td>" for v, t in
                                    zip(row, text, strict=True)) + "</tr>"
                   for row in words.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _topic_example(example: dict) -> str:
    """The best account's topics and audience, in a sentence and a table."""
    if not example:
        return ""
    audience = example.get("audience")
    said = ("no credible engagers" if audience is None else
            f"{audience['engagers']:,} credible engagers, {audience['influential_engagers']:,} "
            f"of them influential themselves; they post about {audience['audience_topics']}"
            + (f"; their communities: {audience['audience_communities']}"
               if audience.get("audience_communities") else ""))
    return (f"<p>Example: account {html.escape(example['account_id'])} (the best score): "
            f"{html.escape(said)}.</p>" + _table(pd.DataFrame(example["topics"]).head(5)))


def _explanation(example: dict) -> str:
    parts = pd.DataFrame(example["contributions"])
    scale = max(parts["points"].abs().max(), 1e-9)
    rows = "".join(
        f"<tr><td>{html.escape(str(r.feature))}</td><td>{r.points:+.2f}</td>"
        f"<td style='text-align:left'><span class='bar {'up' if r.points > 0 else 'down'}' "
        f"style='width:{120 * abs(r.points) / scale:.0f}px'></span></td>"
        f"<td>{'–' if pd.isna(r.value) else f'{r.value:.4g}'}</td>"
        f"<td>{'–' if pd.isna(r.typical) else f'{r.typical:.4g}'}</td></tr>"
        for r in parts.itertuples())
    components = ", ".join(f"{k} {v}" for k, v in example["components"].items())
    account = html.escape(str(example["account_id"]))
    discounted = example.get("discounted") or 0  # runs logged before it was recorded: none
    said = (f"{discounted:.0%} of the engagement it received in the longest window counts for "
            f"nothing: {rules_said()}, as bought engagement is; <code>clout explain "
            f"{account}</code> lists the engagers. " if discounted > 0 else "")
    return (f"<h3>{html.escape(example['why'])}: account {account}, score {example['score']}"
            f"</h3><p class='note'>{said}components: {components}; a typical "
            f"account scores {example['baseline']:.1f}, this one {example['continuous']:.1f} "
            f"before rounding; the points below are the largest of the parts that add up to the "
            f"difference.</p><table><tr><th>feature</th><th>points</th><th></th><th>value</th>"
            f"<th>typical</th></tr>{rows}</table>")


class _Run:
    """A run's logged files, fetched on demand."""

    def __init__(self, run_id: str):
        self.id = run_id
        self.client = MlflowClient()
        self.info = self.client.get_run(run_id)
        self.paths = self._list("")

    def _list(self, folder: str) -> set[str]:
        found = set()
        for item in self.client.list_artifacts(self.id, folder or None):
            found |= self._list(item.path) if item.is_dir else {item.path}
        return found

    def has(self, path: str) -> bool:
        return path in self.paths

    def file(self, path: str) -> Path:
        return tracking.artifact(self.id, path)

    def table(self, path: str) -> pd.DataFrame:
        return tracking.logged_table(self.id, path)

    def image(self, path: str, alt: str) -> str:
        return _image(self.file(path), alt) if self.has(path) else ""


FACTS = {"data_source": "data source", "data_fingerprint": "data fingerprint",
         "git_commit": "code (git commit)", "clout.experiment_file": "experiment file",
         "model_version": "model version", "score_version": "score map",
         "clout.parent_run": "parent run", "clout.changes": "changed from the parent"}
SCORE_FACTS = {"median": ("median score", "{:.0f}"),
               "factor_per_10_points": ("+10 points", "x{:.2f} the components' combination")}
RIVALS = {"history_index": "history index", "history_start": "heads' start",
          "log1p_index": "log1p index", "engagers_index": "engagers index"}  # as readers say them


ROLES = {"bought_followers": "follower buyers", "ring": "engagement rings", "bot": "bots"}
COMPONENT_UNITS = {"reach": "expected credible engagers in the horizon",
                   "amplification": "expected engagement per post",
                   "network": "the typical engager's own credible engagers"}


def score_table(metrics: RunSummary) -> pd.DataFrame:
    """The score beside its history-only rivals, one row each: Spearman against the truth it
    estimates (all accounts, genuine ones), of each component against its own truth, against
    realised engagement, and what each manipulation group gains over genuine accounts of the
    same truth, in points."""
    columns = {"spearman_truth": "Spearman vs truth",
               "spearman_truth_genuine": "Spearman vs truth, genuine",
               **{f"spearman_true_{c}": f"{c} vs its truth" for c in COMPONENTS},
               "spearman_realised": "Spearman vs realised engagement",
               **{f"score_gap_{role}": f"{name}: points above genuine"
                  for role, name in ROLES.items()}}
    rows = []
    for scorer, label in {MODEL: "the model", **RIVALS}.items():
        row = {label: metrics.score(key, scorer) for key, label in columns.items()}
        if any(v is not None for v in row.values()):
            rows.append({"scored by": label, **row})
    table = pd.DataFrame(rows).dropna(axis=1, how="all")
    points = [c for c in table if c.endswith("points above genuine")]
    return table.round({c: 1 if c in points else 3 for c in table.columns[1:]})


def fairness_view(table: pd.DataFrame) -> pd.DataFrame:
    """The fairness table for reading: quartiles in one column, gaps with their standard
    errors, numbers rounded."""
    def with_se(gap: str) -> pd.Series:
        return table[gap].map("{:+.1f}".format) + " ± " + table[f"{gap}_se"].map("{:.1f}".format)
    view = pd.DataFrame({
        "dimension": table["dimension"].replace(DIMENSIONS), "band": table["band"],
        "accounts": table["accounts"],
        "score q25 / median / q75": table[["score_q25", "score_median", "score_q75"]].apply(
            lambda q: " / ".join(f"{v:.0f}" for v in q), axis=1),
        "median realised engagement": table["realised_median"].round(2),
        "engaged accounts (top quarter)": table["engaged_accounts"],
        "their median score": table["engaged_median_score"],
        "Spearman vs realised": table["spearman_realised"].round(3),
        "gap vs same realised (points)": with_se("gap_realised")})
    if "gap_truth" in table:
        view["gap vs same true influence (points)"] = with_se("gap_truth")
    return view


def summary(metrics: RunSummary, heads: pd.DataFrame,
            fairness: pd.DataFrame | None) -> list[str]:
    """The report's first screen in words: what the score is, how it ranks against the best
    history-only rival, how the heads compare with their history, what manipulation and the
    fairness bands get."""
    said = []
    if (factor := metrics.score("factor_per_10_points")) is not None:
        said.append(f"The score combines reach (how many credible people react), "
                    f"amplification (expected credible engagement per post) and network (how "
                    f"influential those who react are), where the source shows them, into one "
                    f"1-100 number on a log scale: +10 points means x{factor:.2f} their "
                    f"weighted geometric mean; accounts with no credible engagement in the "
                    f"longest window score 1.")
        parts = [f"{name} (weight {weight:.2f}: +10 points = x{factor:.2f} "
                 f"{COMPONENT_UNITS[name]})" for name in COMPONENTS
                 if (weight := metrics.score(f"weight_{name}")) is not None
                 and (factor := metrics.score(f"factor_per_10_points_{name}")) is not None]
        if parts:
            said.append("Its components: " + "; ".join(parts) + ".")
    against = ("the truth" if metrics.score("spearman_truth") is not None
               else "realised engagement")
    key = "spearman_truth" if against == "the truth" else "spearman_realised"
    if (model := metrics.score(key)) is not None:
        rivals = {label: value for name, label in RIVALS.items()
                  if (value := metrics.score(key, name)) is not None}
        if rivals:
            best = max(rivals, key=rivals.get)
            verdict = "above" if model > rivals[best] else "below" if model < rivals[best] \
                else "level with"
            said.append(f"It ranks accounts against {against} at Spearman {model:.3f}, "
                        f"{verdict} the best history-only rival ({best}, {rivals[best]:.3f}).")
    table = heads.set_index(["head", "predictor"])["spearman"]
    kinds = list(dict.fromkeys(heads["head"]))
    beat = [k for k in kinds if (k, "historical_mean") in table
            and table[(k, "model")] >= table[(k, "historical_mean")]]
    if kinds:
        said.append(f"Heads that rank accounts at least as well as their own historical mean: "
                    f"{len(beat)} of {len(kinds)}" + (f" ({', '.join(beat)})." if beat else "."))
    gaps = {k.removeprefix("score_gap_"): v for k, v in metrics.score_metrics().items()
            if k.startswith("score_gap_") and not k.endswith("_genuine")}
    if gaps:
        worst = max(gaps, key=gaps.get)
        said.append(f"Manipulation: the most any manipulation group gains over genuine accounts "
                    f"of the same true influence is {gaps[worst]:+.1f} points "
                    f"({ROLES.get(worst, worst)})"
                    + ("; within the goal of 2." if gaps[worst] <= 2 else "; above the goal of "
                                                                          "2."))
    if fairness is not None and "gap_realised" in fairness and len(fairness):
        worst = fairness.loc[fairness["gap_realised"].abs().idxmax()]
        said.append(f"Fairness: the band furthest from accounts with the same realised "
                    f"engagement is {DIMENSIONS.get(worst['dimension'], worst['dimension'])} "
                    f"{worst['band']}, at "
                    f"{worst['gap_realised']:+.1f} points.")
    return said


def build_report(run_id: str) -> str:
    """The report of a training run as an HTML string (MLflow's current store)."""
    run = _Run(run_id)
    tags, metrics = run.info.data.tags, RunSummary.from_metrics(run.info.data.metrics)
    name = tags.get("mlflow.runName", run_id)
    html_parts = [f"<h1>clout reviewer report: {html.escape(name)}</h1>", "<h2>Summary</h2>",
                  "<ul class='summary'>" + "".join(
                      f"<li>{html.escape(line)}</li>" for line in summary(
                          metrics, run.table(RUN.metrics),
                          run.table(RUN.fairness) if run.has(RUN.fairness) else None))
                  + "</ul>"]
    facts = pd.DataFrame([
        ("run", run_id), ("started", pd.Timestamp(run.info.info.start_time, unit="ms",
                                                  tz="UTC").strftime("%Y-%m-%d %H:%M UTC")),
        *[(label, tags[k]) for k, label in FACTS.items() if k in tags],
        *[(label, form.format(value)) for k, (label, form) in SCORE_FACTS.items()
          if (value := metrics.score(k)) is not None]], columns=["", "value"])
    machine = pd.DataFrame([(k.removeprefix("env."), tags[k]) for k in sorted(tags)
                            if k.startswith("env.")], columns=["", "value"])
    html_parts += ["<h2>Run</h2>", _table(facts),
                   "<h3>The score against history-only rivals</h3>",
                   "<p class='note'>Rank correlation with what each predictor should rank, and "
                   "(with the simulator's ground truth) the points each manipulation group "
                   "gains over genuine accounts of the same true influence.</p>",
                   _table(score_table(metrics))]
    if len(machine):
        html_parts.append("<details><summary>Computed with (libraries, CPU, kernels)"
                          "</summary>" + _table(machine) + "</details>")

    html_parts.append("<h2>Data</h2>")
    for path in (RUN.data_tables, RUN.data_engagement):
        if run.has(path):
            html_parts.append(_table(run.table(path)))
    quarantined = {k.removeprefix("rows_quarantined."): v for k, v in run.info.data.params.items()
                   if k.startswith("rows_quarantined.")}
    if quarantined:
        said = ", ".join(f"{table} {int(n):,}" for table, n in quarantined.items() if int(n))
        html_parts.append(f"<p class='note'>rows quarantined by validation: "
                          f"{html.escape(said or 'none')}</p>")

    html_parts += [
        "<h2>Heads against baselines (test cutoff)</h2>",
        "<p class='note'>Poisson deviance per post (lower is better), its improvement over the "
        "constant, account-level Spearman, and relative expected calibration error, for each "
        "head's model and the baselines trained or computed on the same split.</p>"]
    table = run.table(RUN.metrics)
    html_parts.append(_table(table[[c for c in METRIC_COLUMNS if c in table]]))
    html_parts.append("<h2>Calibration</h2><div class='grid'>" + "".join(
        run.image(p, p) for p in sorted(run.paths) if p.startswith(f"{RUN.calibration_folder}/")
        and p.endswith(".png")) + "</div>")

    html_parts += ["<h2>What drives each head</h2>",
                   "<p class='note'>Top features per head by mean |SHAP|, with gain share, "
                   "split count and permutation importance (rise in test deviance) side by "
                   "side, and each measure's rank: where the ranks disagree, read the "
                   "measures' definitions in the importance module.</p>"]
    importance = run.table(RUN.importance)
    html_parts.append(_table(importance.groupby("head", sort=False).head(10)[
        [c for c in IMPORTANCE_COLUMNS if c in importance]]))
    html_parts.append(run.image(RUN.shap, "SHAP summary"))
    if run.has(RUN.stability):
        stability = run.table(RUN.stability)
        html_parts += ["<h3>Rank stability across seeds (top 8 per head)</h3>",
                       _table(stability.groupby("head", sort=False).head(8))]

    html_parts.append("<h2>Score</h2>")
    if run.has(RUN.score_map):
        score_map = json.loads(run.file(RUN.score_map).read_text())
        html_parts.append(f"<p class='note'>+10 points = ×{score_map['factor_per_10_points']:.2f}"
                          f" expected engagement; map {html.escape(score_map['id'])}.</p>")
    html_parts.append(run.image(RUN.distribution, "score distribution"))

    if run.has(RUN.topics):
        html_parts += ["<h2>Topics: what accounts are influential about</h2>",
                       "<p class='note'>Per topic at the test cutoff: the accounts that posted "
                       "on it in the longest window, their topic scores (the amplification's "
                       "scale: expected credible engagement per post on the topic) and the most "
                       "influential account about it (clout.scoring.topics).</p>",
                       _table(run.table(RUN.topics))]
        if run.has(RUN.topic_truth):
            html_parts += ["<p class='note'>Against the simulator's truth per topic: the "
                           "Spearman of the topic score and of each baseline, over the "
                           "accounts that posted on the topic.</p>",
                           _table(run.table(RUN.topic_truth))]
        if run.has(RUN.topic_example):
            html_parts.append(_topic_example(json.loads(run.file(RUN.topic_example)
                                                        .read_text())))
        if run.has(RUN.topic_terms):
            html_parts += ["<p class='note'>The topics learned from the posts' text before "
                           "the test cutoff (TF-IDF and NMF), each named by its top three "
                           "terms:</p>", _table(run.table(RUN.topic_terms))]

    html_parts.append("<h2>Fairness: follower count and account age</h2>")
    if run.has(RUN.fairness):
        html_parts += ["<p class='note'>Per band: the score's quartiles, the median score of "
                       "accounts whose realised engagement (what their audience did over the "
                       "horizon) is in the top quarter, and the gap in points to accounts with "
                       "the same realised engagement (and, on simulated data, the same true "
                       "influence), ± its standard error.</p>",
                       run.image(RUN.fairness_plot, "fairness"),
                       _table(fairness_view(run.table(RUN.fairness)))]
    else:
        html_parts.append("<p class='note'>Not measured: the source has neither follower "
                          "counts nor account ages.</p>")
    if run.has(RUN.gaps):
        html_parts += ["<h2>Gaming: manipulation groups against true influence</h2>",
                       run.image(RUN.gaming, "gaming"), _table(run.table(RUN.gaps))]
    if run.has(RUN.attacks):
        html_parts += ["<h2>Gaming: what each attack buys</h2>",
                       "<p class='note'>Each attack of the attack library injected into the "
                       "run's world after training, over the 28 days before the day after the "
                       "data ends, on 20 genuine low-score accounts: their mean gain in points, "
                       "the drift of 200 untouched controls, and the cost (clout.gaming).</p>",
                       _table(run.table(RUN.attacks))]

    if run.has(RUN.explanations):
        html_parts.append("<h2>Example explanations</h2>")
        html_parts += [_explanation(e) for e in json.loads(run.file(RUN.explanations)
                                                           .read_text())]
    if run.has(RUN.experiment):
        html_parts += ["<h2>Experiment</h2>",
                       f"<pre>{html.escape(run.file(RUN.experiment).read_text())}</pre>"]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>clout report "
            f"{html.escape(name)} {run_id[:8]}</title><style>{STYLE}</style></head><body>"
            + "\n".join(html_parts) + "</body></html>")


def browser() -> str | None:
    """A headless-capable Chromium on PATH, if any."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 6000) -> Path:
    """A PNG of the HTML file as headless Chromium renders it (the top `height` pixels)."""
    executable = browser()
    if executable is None:
        raise MissingFile(f"no Chromium found on PATH (tried {', '.join(BROWSERS)}); "
                                "on Debian: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([executable, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={png.resolve()}",
                        page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return png


def log_report(run_id: str, folder: Path, with_screenshot: bool = True) -> list[Path]:
    """Write `report.html` into `folder` and log it to the run under `report/`, with its
    screenshot `report.png` when asked and a Chromium is present; returns the files."""
    text = build_report(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(text, encoding="utf-8")
    files = [page]
    if with_screenshot and browser() is not None:
        files.append(screenshot(page, folder / "report.png"))
    client = MlflowClient()
    for path in files:
        client.log_artifact(run_id, str(path), RUN.report)
    return files
