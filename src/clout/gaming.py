"""What an attacker gains: each attack of `data.attacks` at each size, injected into the world a
model was trained on (after training), scored at the attack's end.

Targets are genuine low-score accounts that post (the ones a bought boost would help most);
controls are other genuine posting accounts, left alone. A target's gain is its score on the
attacked data minus its score on the same data without the manipulation; the controls' drift is
the same difference for them (what the attack does to everyone else). Points per 100 actions
divide the mean gain by the attack's cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import mlflow
import numpy as np
import pandas as pd

from clout import tracking
from clout.data.attacks import inject
from clout.data.dataset import Dataset
from clout.data.validation import validate
from clout.errors import ConfigError
from clout.features.build import load_tables
from clout.features.config import FeatureConfig
from clout.features.credibility import DISCOUNT_RULES
from clout.features.days import from_day, to_day
from clout.features.families import discount_partials, discounted_pairs
from clout.features.tables import Tables
from clout.pipeline import Source, score_accounts
from clout.scoring.score import SCORE_MIN, InfluenceModel
from clout.scoring.topics import model_topics, most_posted
from clout.tracking import RUN

#: attack -> sizes measured (accounts, members per ring or pod, posts a day: see the attacks)
SIZES: dict[str, tuple[int, ...]] = {
    "one_way": (5, 20, 50, 500), "dormant": (5, 50), "warmed": (5, 50), "followers": (100, 1000),
    "ring": (3, 5, 10), "pod": (3, 5, 10), "sybil": (10, 50), "burst": (50, 500),
    "churn": (100, 1000), "new_poster": (1, 20), "new_ring": (5, 10), "noise": (2,),
    "aged": (1, 3, 15, 50), "lent": (3, 15), "aged_followers": (15,), "lent_followers": (15,),
    "pod_turns": (5, 10),
    "spread": (50,), "lent_spread": (40,),
}
#: attack -> sizes also measured on accounts that posted once or twice in the attack's window:
#: too few posts for a rule about the share of posts engaged to see anything
FEW_POSTS: dict[str, tuple[int, ...]] = {"pod": (10,), "pod_turns": (10,), "aged": (15,),
                                         "lent": (15,), "lent_spread": (40,)}
LOW_SCORE, FEW_POSTED = "low score", "1-2 posts"  # what the targets are
Say = Callable[[str], None]
#: The goal (issue: a score that cannot be bought), in points: mean gain at most GOAL_MEAN and
#: mean + 2 se at most GOAL_BOUND; at most GOAL_CHEAP for attacks under CHEAP_ACTIONS actions.
GOAL_MEAN, GOAL_BOUND, GOAL_CHEAP, CHEAP_ACTIONS = 2.0, 3.0, 1.0, 1000
#: A genuine account losing more than this share of its engagement to the defences is a false
#: positive (goal: at most 1 % of the genuine accounts)
FALSE_POSITIVE_SHARE = 0.1


def sizes_of(attacks: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """The measured sizes of some attacks (by name)."""
    unknown = sorted(set(attacks) - set(SIZES))
    if unknown:
        raise ConfigError(f"unknown attack(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(SIZES)}")
    return {a: SIZES[a] for a in attacks}


def genuine_accounts(truth: pd.DataFrame | None) -> np.ndarray:
    """The ids whose gains are measured: the ground truth's genuine accounts."""
    if truth is None:
        raise ConfigError("the gaming table measures genuine accounts' gains: it needs the "
                          "simulator's ground truth")
    return truth.loc[truth["role"] == "genuine", "account_id"].to_numpy()


def choose_accounts(scores: pd.DataFrame, genuine: np.ndarray, n_targets: int = 20,
                    n_controls: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets: genuine posting accounts between the 10th and 40th percentile of the score;
    controls: other genuine posting accounts."""
    rng = np.random.default_rng(seed)
    posting = scores[scores["account_id"].isin(genuine) & (scores["score"] > SCORE_MIN)]
    low, high = posting["score"].quantile([0.1, 0.4])
    pool = posting.loc[posting["score"].between(low, high), "account_id"].to_numpy()
    targets = rng.choice(np.sort(pool), min(n_targets, len(pool)), replace=False)
    rest = np.setdiff1d(posting["account_id"].to_numpy(), targets)
    return np.sort(targets), np.sort(rng.choice(rest, min(n_controls, len(rest)), replace=False))


def few_posts_accounts(dataset: Dataset, genuine: np.ndarray, end: pd.Timestamp, days: int,
                       n_targets: int = 20, seed: int = 0) -> np.ndarray:
    """Targets: genuine accounts that posted once or twice in the `days` before `end`."""
    at = dataset.posts["created_at"]
    posted = dataset.posts.loc[(at >= end - pd.Timedelta(days=days)) & (at < end),
                               "account_id"].value_counts()
    pool = np.intersect1d(posted.index[posted <= 2].to_numpy(), genuine)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, min(n_targets, len(pool)), replace=False))


def score_dataset(model: InfluenceModel, dataset: Dataset, end: pd.Timestamp) -> pd.Series:
    clean, _ = validate(dataset, as_of=end)  # an attacker's rows pass the contract
    return score_accounts(model, clean, end).set_index("account_id")["score"].astype(float)


def gaming_table(model: InfluenceModel, dataset: Dataset, genuine: np.ndarray, end,
                 sizes: Mapping[str, Sequence[int]] = SIZES, days: int = 28, seed: int = 0,
                 say: Say = print) -> pd.DataFrame:
    """One row per attack, size and kind of target (low-score accounts, and for the attacks of
    `FEW_POSTS` accounts that posted once or twice): targets, cost, mean gain ± se, controls'
    drift."""
    end = pd.Timestamp(end)
    clean = score_dataset(model, dataset, end)
    targets, controls = choose_accounts(clean.reset_index(), genuine, seed=seed)
    aimed = {LOW_SCORE: (targets, sizes)}
    few = {a: FEW_POSTS[a] for a in sizes if a in FEW_POSTS}
    if few:
        aimed[FEW_POSTED] = (few_posts_accounts(dataset, genuine, end, days, seed=seed), few)
    rows = []
    for aim, (targets, attack_sizes) in aimed.items():
        rows += _gains(model, dataset, clean, controls, end, targets, aim, attack_sizes, days,
                       seed, say)
    return pd.DataFrame(rows)


def _gains(model, dataset, clean, controls, end, targets, aim, sizes, days, seed, say
           ) -> list[dict]:
    rows = []
    for attack, attack_sizes in sizes.items():
        for size in attack_sizes:
            injection = inject(dataset, attack, targets, size, end, days, seed)
            before = (clean if injection.baseline is dataset
                      else score_dataset(model, injection.baseline, end))
            after = score_dataset(model, injection.attacked, end)
            gain = (after - before).loc[injection.targets].to_numpy()
            drift = (after - clean).loc[controls].to_numpy()
            rows.append({
                "attack": attack, "size": size, "aimed_at": aim, "targets": len(gain),
                "accounts": injection.accounts, "actions": injection.actions,
                "gain": gain.mean(), "gain_se": gain.std(ddof=1) / np.sqrt(len(gain)),
                "gain_max": gain.max(), "control_drift": drift.mean(),
                "control_max": np.abs(drift).max(),
                "points_per_100_actions": 100 * gain.mean() / max(injection.actions, 1)})
            say(f"{attack} x {size} on {aim}: {gain.mean():+.2f} points "
                f"({injection.actions:,} actions)")
    return rows


def topic_gaming_table(model: InfluenceModel, dataset: Dataset, genuine: np.ndarray, end,
                       sizes: Mapping[str, Sequence[int]] = SIZES, days: int = 28,
                       seed: int = 0, say: Say = print) -> pd.DataFrame:
    """Each attack aimed at one topic: on each low-score target's posts on its most-posted
    topic of the `days` before `end` only. One row per attack and size: the targets' mean and
    largest gain in topic points on that topic, and in score points."""
    end = pd.Timestamp(end)

    def scored(data: Dataset) -> tuple[pd.Series, pd.Series]:
        clean_data, _ = validate(data, as_of=end)
        scores = score_accounts(model, clean_data, end)
        table = model_topics(model, scores, load_tables(clean_data)).scores
        return (scores.set_index("account_id")["score"].astype(float),
                table.set_index(["account_id", "topic"])["topic_score"].astype(float))

    clean, clean_topics = scored(dataset)
    targets, _ = choose_accounts(clean.reset_index(), genuine, seed=seed)
    at = dataset.posts["created_at"]
    recent = dataset.posts[dataset.posts["account_id"].isin(targets)
                           & (at >= end - pd.Timedelta(days=days)) & (at < end)]
    topic_of = most_posted(recent.groupby(["account_id", "topic"], observed=True).size()
                           .rename("posts").reset_index()).astype(str)
    targets = topic_of.index.to_numpy()
    aimed = pd.MultiIndex.from_arrays([targets, topic_of.to_numpy()])
    rows = []
    for attack, attack_sizes in sizes.items():
        for size in attack_sizes:
            injection = inject(dataset, attack, targets, size, end, days, seed,
                               topics=topic_of.to_dict())
            before, before_topics = ((clean, clean_topics) if injection.baseline is dataset
                                     else scored(injection.baseline))
            after, after_topics = scored(injection.attacked)
            on = [key for key in aimed if key[0] in set(injection.targets)]
            if not on:  # the attacker's own new accounts: no topic of a target to measure
                say(f"{attack}: its targets are its own new accounts, skipped")
                continue
            gain = (after_topics.reindex(on).fillna(1) - before_topics.reindex(on).fillna(1)
                    ).to_numpy()
            score_gain = (after - before).loc[[a for a, _ in on]].to_numpy()
            rows.append({"attack": attack, "size": size, "targets": len(gain),
                         "actions": injection.actions, "topic gain": gain.mean(),
                         "topic gain max": gain.max(), "score gain": score_gain.mean()})
            say(f"{attack} x {size} on one topic: {gain.mean():+.2f} topic points "
                f"({injection.actions:,} actions)")
    return pd.DataFrame(rows)


def attack_date(data: Dataset | Tables) -> pd.Timestamp:
    """When attacks on a dataset end and are scored: the day after its data ends."""
    return from_day(load_tables(data).last_day + 1)


def world_gaming(model: InfluenceModel, source: Source, seed: int = 0,
                 sizes: Mapping[str, Sequence[int]] = SIZES, say: Say = print) -> pd.DataFrame:
    """`gaming_table` on a simulated world: targets and controls among its genuine accounts,
    every attack ending the day after its data ends."""
    end = attack_date(source.dataset)
    return gaming_table(model, source.dataset, genuine_accounts(source.truth), end, sizes,
                        seed=seed, say=say)


def discounted_engagement(config: FeatureConfig, dataset: Dataset,
                          counted: np.ndarray | None = None) -> pd.DataFrame:
    """False positives: the accounts engaged in the longest window before the attacks' date,
    with how many accounts engaged them, the share of that engagement the discount rules
    (`DISCOUNT_RULES`) take, and each rule's part of it (`by_<rule>`), most discounted first.
    Only engagement among the `counted` ids counts: on a simulated world its genuine accounts
    (engagement from its rings, bots and bought followers is left out: discounting it is the
    rules' job); on real data, where nobody is known to be fake, every account."""
    tables = load_tables(dataset)
    n_accounts = len(tables.ids)
    cutoff = to_day(attack_date(tables))
    pairs = discounted_pairs(discount_partials(tables, config, cutoff), tables, cutoff,
                             config.windows)
    engaged = pairs["engaged"].to_numpy()
    counts = (np.ones(n_accounts, dtype=bool) if counted is None
              else np.isin(tables.ids.to_numpy(), counted))
    weight = np.where(counts[engaged] & counts[pairs["engager"].to_numpy()],
                      pairs["engagements"].to_numpy().astype(float), 0.0)
    rule = pairs["rule"].to_numpy()

    def per_account(w):
        return np.bincount(engaged, weights=w, minlength=n_accounts)
    total, engagers = per_account(weight), per_account(weight > 0)
    shown = engagers > 0
    return pd.DataFrame({
        "account_id": tables.ids.to_numpy()[shown],
        "engagers": engagers[shown].astype(int),
        "discounted": per_account(weight * (rule != ""))[shown] / total[shown],
        **{f"by_{r}": per_account(weight * (rule == r))[shown] / total[shown]
           for r in DISCOUNT_RULES},
    }).sort_values(["discounted", "engagers"], ascending=False, kind="stable").reset_index(
        drop=True)


def false_positive_summary(discounted: pd.DataFrame) -> dict[str, float]:
    """How many accounts lose more than `FALSE_POSITIVE_SHARE` of their engagement, and how
    much of what they lose each rule takes."""
    hit = discounted["discounted"] > FALSE_POSITIVE_SHARE
    lost = discounted.loc[hit, "discounted"].sum()
    return {"accounts engaged": len(discounted),
            f"share discounted > {FALSE_POSITIVE_SHARE:.0%}": hit.mean(),
            **{f"of their loss, by {r}": (discounted.loc[hit, f"by_{r}"].sum() / lost
                                          if lost else 0.0) for r in DISCOUNT_RULES},
            "mean share discounted": discounted["discounted"].mean(),
            "largest share discounted": discounted["discounted"].max()}


def gaming_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The gains as MLflow metrics, `gaming.<attack>.<size>.gain` (`....few_posts.gain` on
    accounts that posted once or twice)."""
    return {f"gaming.{r.attack}.{r.size}{'' if r.aimed_at == LOW_SCORE else '.few_posts'}.gain":
            float(r.gain) for r in table.itertuples()}


def log_gaming(run_id: str, table: pd.DataFrame, uri: str | None = None) -> None:
    """Add a gaming table to a finished run: the table as the report shows it, the gains as
    metrics."""
    tracking.use_store(uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_table(display(table), RUN.attacks)
        mlflow.log_metrics(gaming_metrics(table))


def within_goal(row) -> bool:
    """Whether one attack and size gains no more than the goal allows (see GOAL_MEAN)."""
    limit = GOAL_CHEAP if row["actions"] < CHEAP_ACTIONS else GOAL_MEAN
    return bool(row["gain"] <= limit and row["gain"] + 2 * row["gain_se"] <= GOAL_BOUND)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text, one row per attack and size (and world, when it has one)."""
    return pd.DataFrame({
        **({"world": table["world"]} if "world" in table else {}),
        "attack": table["attack"], "size": table["size"], "aimed at": table["aimed_at"],
        "accounts": [f"{n:,}" for n in table["accounts"]],
        "actions": [f"{n:,}" for n in table["actions"]],
        "actions / target": [f"{n / t:,.0f}" for n, t in zip(table["actions"], table["targets"],
                                                              strict=True)],
        "gain ± se": [f"{g:+.2f} ± {e:.2f}" for g, e in zip(table["gain"], table["gain_se"],
                                                            strict=True)],
        "max": [f"{m:+.0f}" for m in table["gain_max"]],
        "controls' drift": [f"{d:+.2f} (max {m:.0f})" for d, m in
                            zip(table["control_drift"], table["control_max"], strict=True)],
        "points / 100 actions": [f"{p:+.3f}" for p in table["points_per_100_actions"]],
        "within goal": ["yes" if within_goal(r) else "**no**" for _, r in table.iterrows()],
    }).reset_index(drop=True)


def cost_curve(table: pd.DataFrame) -> pd.DataFrame:
    """Gain against cost, one row per attack and kind of target: each size's actions per target
    and mean gain (over the worlds, when there are several), cheapest first."""
    per_target = table.assign(cost=table["actions"] / table["targets"])
    means = (per_target.groupby(["attack", "aimed_at", "size"], sort=False)
             .agg(cost=("cost", "mean"), gain=("gain", "mean"), top=("gain_max", "max"))
             .reset_index().sort_values("cost", kind="stable"))
    return pd.DataFrame([
        {"attack": attack, "aimed at": aim,
         "actions per target → mean gain (max)": ";  ".join(
             f"{c:,.0f} → {g:+.1f} ({t:+.0f})" for c, g, t in
             zip(rows["cost"], rows["gain"], rows["top"], strict=True))}
        for (attack, aim), rows in means.groupby(["attack", "aimed_at"], sort=False)])


def goal_text() -> str:
    return (f"Goal: mean gain ≤ {GOAL_MEAN:g} points and mean + 2 se ≤ {GOAL_BOUND:g}; "
            f"≤ {GOAL_CHEAP:g} for attacks under {CHEAP_ACTIONS:,} actions.")
