"""Influence by topic against each simulated world's per-topic truth: does the topic score rank
the accounts that post on a topic as their posts on it truly engage, and does it find each
account's best topic?

    python benchmarks/topics.py                     # seeds 7, 8, 9, 4242 and Congress
    python benchmarks/topics.py --seeds 7 8 9 4242 --congress 6 --doc docs/topics.md

Per world: the experiment's model is trained (no MLflow run), every account is scored at the
day after the data end, the topic table is built (`clout.scoring.topics`) and compared with
`true_amplification@<topic>` per topic, over the accounts that posted on it in the longest
window, beside the baselines: the topic's own history (mean and log1p-mean engagement per post
on it) and the account's amplification and score used for every topic. Goals (issue: topics):
Spearman >= 0.90 averaged over topics, above every baseline; the true best topic among an
account's top two >= 0.9.

Attacks (`--gaming SEED`): every attack of the library at its largest size, aimed at one
topic of each of 20 low-score targets (its posts on it only; `gaming.topic_gaming_table`). Goal:
at most +2 topic points.

Congress (real, `--congress N`): at each of the last N weekly cutoffs a model is trained with it
as the test cutoff (rolling origin), topics are learned from the text of the tweets before it
(`clout.data.text_topics`) and the topic score is compared with what each account's original
tweets on the topic drew per post in the 14 days after it (retweets and likes, weighted as the
score weighs them), for the 10 topics with the most accounts, beside the same baselines, with a
bootstrap interval (accounts resampled within each topic) of the topic score's mean Spearman
minus the best baseline's. Goal: the topic score above every baseline at 5 of 6 cutoffs. Over
whom: at the last cutoff, each party and chamber's mean share of its members' credible audience
(the members engaging one another) from each party and chamber. The
topic model's choices (the audience covariate, the strength
chosen by half-split prediction) were made on the small world, seed 7; none of these worlds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clout import tracking  # first: importing clout pins NumPy's kernels before NumPy loads
from clout.config import load_experiment
from clout.gaming import SIZES, attack_date, genuine_accounts, topic_gaming_table
from clout.models.heads import Split
from clout.pipeline import fit_model
from clout.prepare import current_features, prepare
from clout.quality import MEASURED_TOPICS, markdown_table, realised_topic_agreement, rolling_cutoffs
from clout.scoring.topics import (
    TOPIC_BASELINES,
    model_topics,
    topic_agreement,
    topic_truth,
)

RATED = ["topic score", *TOPIC_BASELINES]


def bootstrap(rows, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of (mean over topics of the topic score's Spearman) minus (the best
    baseline's), accounts resampled within each topic."""
    import numpy as np
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    groups = [g for _, g in rows.groupby("topic", sort=True)]
    differences = []
    for _ in range(resamples):
        per_topic = []
        for group in groups:
            pick = group.iloc[rng.integers(0, len(group), len(group))]
            truth = rankdata(pick["truth"])
            per_topic.append([np.corrcoef(rankdata(pick[c]), truth)[0, 1] for c in
                              ("expected_engagement", *TOPIC_BASELINES.values())])
        means = np.nanmean(np.array(per_topic), axis=0)
        differences.append(means[0] - np.nanmax(means[1:]))
    low, high = np.quantile(differences, [0.025, 0.975])
    return float(low), float(high)


def congress(cases: int):
    """Per rolling cutoff: each rival's mean Spearman over the largest topics, the interval,
    and the topics learned at the last cutoff."""
    import pandas as pd

    experiment = load_experiment(Path("experiments/congress.yaml"))
    spec = experiment.cutoffs
    widened = experiment.model_copy(update={"cutoffs": spec.model_copy(
        update={"weeks": spec.weeks + cases - 1})})
    prepared = prepare(widened)
    rows = []
    for cutoffs in rolling_cutoffs(prepared.table.cutoffs, cases, spec.weeks):
        table = prepared.table.where(cutoffs)
        split = Split.of(table)
        model = fit_model(experiment, table, split, say=lambda _: None)
        scores = model.score(split.part(table.frame, "test"))
        cutoff = cutoffs[-1]
        realised = realised_topic_agreement(model, scores, experiment, prepared.tables)
        per_topic = realised.per_topic
        measured = realised.topics.scores.merge(
            realised.outcome[["account_id", "topic", "truth"]], on=["account_id", "topic"])
        measured = measured[measured["topic"].isin(per_topic["topic"])].assign(
            history_mean=lambda f: f["credible_engagement"] / f["posts"])
        means = per_topic[RATED].mean()
        low, high = bootstrap(measured)
        print(f"{cutoff:%Y-%m-%d}: " + per_topic.round(3).to_string(index=False))
        lead = means.iloc[0] - means.iloc[1:].max()
        rows.append({"cutoff": f"{cutoff:%Y-%m-%d}", "accounts (mean per topic)":
                     f"{per_topic['accounts'].mean():.0f}",
                     **{k: f"{v:.3f}" for k, v in means.items()},
                     "topic score - best baseline (95 %)": f"{lead:+.3f} [{low:+.3f}, "
                                                           f"{high:+.3f}]"})
    return (pd.DataFrame(rows), realised.context.learned.labels,
            audiences(realised.topics, realised.context.tables))


def audiences(topics, tables):
    """Whose engagement makes each community's accounts' scores, at the last cutoff: per
    community of the engaged accounts, the mean share of their credible audience from each
    community (accounts with credible engagers among the members), beside each community's
    share of all the members."""
    import pandas as pd

    shares = topics.audience_communities.pivot_table(
        index="account_id", columns="community", values="share", fill_value=0.0)
    community = pd.Series(tables.accounts["community"].to_numpy(), index=tables.ids.to_numpy())
    table = shares.groupby(community.reindex(shares.index).to_numpy()).mean()
    table.insert(0, "accounts", shares.groupby(community.reindex(shares.index).to_numpy()).size())
    members = community.value_counts(normalize=True).reindex(table.columns[1:]).fillna(0.0)
    table.loc["(share of the members)"] = [community.notna().sum(), *members]
    return table.rename_axis("engaged accounts' community").reset_index()


def main() -> None:
    import pandas as pd  # after clout (see the imports)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 8, 9, 4242])
    parser.add_argument("--congress", type=int, default=6,
                        help="Congress rolling cutoffs (0: none; needs ../shared/data)")
    parser.add_argument("--gaming", type=int, metavar="SEED",
                        help="also aim every attack (its largest size) at one topic of 20 "
                             "targets in this world")
    parser.add_argument("--doc", type=Path, help="write the tables to this markdown file")
    args = parser.parse_args()
    start = time.perf_counter()
    means, precision, seconds = [], [], []
    for seed in args.seeds:
        experiment = load_experiment(args.experiment, **{"data.seed": seed})
        run = prepare(experiment)
        model = fit_model(experiment, run.table, run.split, say=lambda _: None)
        began = time.perf_counter()
        scores = model.score(current_features(run.source, model.feature_config))
        scored = time.perf_counter() - began
        topics = model_topics(model, scores, run.tables)
        topic_seconds = time.perf_counter() - began - scored
        seconds.append({"world": f"seed {seed}", "features and scores (s)": f"{scored:.1f}",
                        "topics and audience (s)": f"{topic_seconds:.1f}",
                        "with topics / without": f"{1 + topic_seconds / scored:.2f}"})
        per_topic, best = topic_agreement(topics.scores, topic_truth(run.source.truth))
        print(f"seed {seed}: prior {topics.prior}")
        print(per_topic.round(3).to_string(index=False))
        means.append({"world": f"seed {seed}", "topics": len(per_topic),
                      **per_topic.drop(columns=["topic", "accounts"]).mean().round(3)})
        precision.append({"world": f"seed {seed}", **{
            k: f"{v:.3f}" if isinstance(v, float) else f"{v:,}" for k, v in best.items()},
            "prior strength": f"{topics.prior.strength:.3g}",
            "audience coefficient": f"{topics.prior.audience:.2f}"})
    gamed = None
    if args.gaming is not None:
        experiment = load_experiment(args.experiment, **{"data.seed": args.gaming})
        run = prepare(experiment)
        model = fit_model(experiment, run.table, run.split, say=lambda _: None)
        largest = {attack: (max(sizes),) for attack, sizes in SIZES.items()}
        gamed = topic_gaming_table(model, run.source.dataset, genuine_accounts(
            run.source.truth), attack_date(run.source.dataset), largest, say=print)
    real, labels, audience = congress(args.congress) if args.congress else (None,) * 3
    command = " ".join(["python benchmarks/topics.py", "--experiment", str(args.experiment),
                        "--seeds", *map(str, args.seeds), "--congress", str(args.congress),
                        *([] if args.gaming is None else ["--gaming", str(args.gaming)])])
    lines = [f"Measured {pd.Timestamp.now(tz='UTC').date()} at commit "
             f"`{tracking.git_commit()[:12]}` by `{command}` "
             f"({time.perf_counter() - start:.0f} s).", "",
             "## Ranking accounts within a topic", "",
             "Spearman against the world's per-topic truth (expected genuine engagement per "
             "post on the topic), averaged over its topics, over the accounts that posted on "
             "each in the 90 days before the day after the data end:", "",
             *markdown_table(pd.DataFrame(means)), "",
             "## Finding each account's best topic", "",
             "Accounts that posted on three topics or more: how often the topic they truly "
             "engage most on is among their top two topic scores; the prior the cutoff "
             "fitted:", "", *markdown_table(pd.DataFrame(precision)), "",
             "## Cost", "", "Seconds to build the features of every account at one cutoff and "
             "score them (no cache), and to add their topics and audience (goal: with topics "
             "at most 1.5 times without):", "",
             *markdown_table(pd.DataFrame(seconds))]
    if gamed is not None:
        lines += ["", f"## Attacks aimed at one topic (seed {args.gaming})", "",
                  "Every attack of the library at its largest size, on 20 genuine low-score "
                  "accounts' posts on their most-posted topic of the attack's 28 days only: "
                  "their mean and largest gain in topic points on that topic, and in score "
                  "points (goal: every attack at most +2 topic points on average):", "",
                  *markdown_table(gamed.round(2))]
    if real is not None:
        lines += ["", "## Congress (real): rolling cutoffs", "",
                  f"Mean Spearman over the {MEASURED_TOPICS} topics with the most accounts, "
                  "against what each account's tweets on the topic drew per post in the next 14 "
                  "days; topics learned from the tweets before each cutoff:", "",
                  *markdown_table(real), "",
                  "The topics learned at the last cutoff (top terms): "
                  + "; ".join(labels) + ".", "",
                  "## Congress (real): over whom", "",
                  "At the last cutoff, the members' credible engagement of one another "
                  "(retweets, quotes, replies, mentions) in the 365 days before it: for the "
                  "accounts of each party and chamber, the mean share of their credible "
                  "audience from each (each account weighs the same), and each community's "
                  "share of the members:", "",
                  *markdown_table(audience.round(3))]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.doc:
        args.doc.write_text("# Influence by topic: measured\n\n" + text)


if __name__ == "__main__":
    main()
