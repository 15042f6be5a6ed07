"""Influence by topic against each simulated world's per-topic truth: does the topic score rank
the accounts that post on a topic as their posts on it truly engage, and does it find each
account's best topic?

    python benchmarks/topics.py                                   # seeds 7, 8, 9, 4242
    python benchmarks/topics.py --seeds 7 8 9 4242 --doc docs/topics.md

Per world: the experiment's model is trained (no MLflow run), every account is scored at the
day after the data end, the topic table is built (`clout.scoring.topics`) and compared with
`true_amplification@<topic>` per topic, over the accounts that posted on it in the longest
window, beside the baselines: the topic's own history (mean and log1p-mean engagement per post
on it) and the account's amplification and score used for every topic. Goals (issue: topics):
Spearman >= 0.90 averaged over topics, above every baseline; the true best topic among an
account's top two >= 0.9. The topic model's choices (the audience covariate, the strength
chosen by half-split prediction) were made on the small world, seed 7; none of these worlds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clout import tracking  # first: importing clout pins NumPy's kernels before NumPy loads
from clout.config import load_experiment
from clout.pipeline import fit_model
from clout.prepare import current_features, prepare
from clout.quality import markdown_table
from clout.scoring.topics import model_topics, topic_agreement


def main() -> None:
    import pandas as pd  # after clout (see the imports)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[7, 8, 9, 4242])
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
        per_topic, best = topic_agreement(topics.scores, run.source.truth)
        print(f"seed {seed}: prior {topics.prior}")
        print(per_topic.round(3).to_string(index=False))
        means.append({"world": f"seed {seed}", "topics": len(per_topic),
                      **per_topic.drop(columns=["topic", "accounts"]).mean().round(3)})
        precision.append({"world": f"seed {seed}", **{
            k: f"{v:.3f}" if isinstance(v, float) else f"{v:,}" for k, v in best.items()},
            "prior strength": f"{topics.prior.strength:.3g}",
            "audience coefficient": f"{topics.prior.audience:.2f}"})
    command = " ".join(["python benchmarks/topics.py", "--experiment", str(args.experiment),
                        "--seeds", *map(str, args.seeds)])
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
    text = "\n".join(lines) + "\n"
    print(text)
    if args.doc:
        args.doc.write_text("# Influence by topic: measured\n\n" + text)


if __name__ == "__main__":
    main()
