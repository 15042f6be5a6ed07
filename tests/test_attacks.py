"""The attack library: every attack's rows pass the contract, land where they say, cost what
they say, and leave the baseline (the attacker's own presence) apart from the manipulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clout.data.attacks import ATTACKS, NEW_POSTERS, inject
from clout.data.validation import validate
from clout.errors import ConfigError
from clout.features.build import build_features
from clout.features.config import FeatureConfig
from clout.features.credibility import COORDINATED_POSTS, COORDINATED_SHARE, ESTABLISHED_DAYS
from clout.gaming import FEW_POSTED, GOAL_MEAN, LOW_SCORE, SIZES, false_positive_summary

SIZE = 4
#: attacks by someone who has read the defences: under every published threshold
DOC_AWARE = ("aged", "lent", "aged_followers", "lent_followers", "pod_turns", "spread",
             "lent_spread")


@pytest.fixture(scope="module")
def world(tiny_world):
    dataset, truth = tiny_world
    end = dataset.posts["created_at"].max().normalize() + pd.Timedelta(days=1)
    genuine = truth.loc[truth["role"] == "genuine", "account_id"].to_numpy()
    posting = dataset.posts.loc[dataset.posts["created_at"] >= end - pd.Timedelta(days=28),
                                "account_id"].unique()
    return dataset, end, np.sort(np.intersect1d(genuine, posting))[:12]


def added(before, after):
    return len(after) - (0 if before is None else len(before))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_every_attack_passes_validation_and_counts_its_cost(world, attack):
    dataset, end, targets = world
    injection = inject(dataset, attack, targets, SIZE, end, seed=1)
    for data in (injection.attacked, injection.baseline):
        validate(data, as_of=end)  # raises on any failure: an attacker's rows are valid rows
    base, hit = injection.baseline, injection.attacked
    rows = {t: added(getattr(base, t), getattr(hit, t))
            for t in ("follows", "posts", "engagements")}
    unfollows = injection.actions - sum(rows.values())  # the only cost that leaves no row
    assert unfollows > 0 if attack == "churn" else unfollows == 0
    assert sum(rows.values()) > 0
    new = hit.engagements.iloc[len(base.engagements):]
    attackers = set(hit.accounts["account_id"].iloc[len(dataset.accounts):])
    aimed = new[new["account_id"].isin(set(injection.targets) | attackers)]
    assert (aimed["created_at"] < end).all() and (aimed["created_at"]
                                                 >= end - pd.Timedelta(days=28)).all()
    # the manipulation is engagement received by the measured accounts (sybils: and each
    # other); warmed accounts also pass for readers before the attack and the doc-aware ones
    # during it too: likes of others' posts, as readers would
    elsewhere = new[~new.index.isin(aimed.index)]
    if attack == "warmed":
        assert (elsewhere["created_at"] < end - pd.Timedelta(days=28)).all()
    if attack in DOC_AWARE:
        assert (elsewhere["created_at"] >= end - pd.Timedelta(days=28)).any()
    assert elsewhere.empty or (attack in {"warmed", *DOC_AWARE}
                               and (elsewhere["kind"] == "like").all())
    created = added(dataset.accounts, base.accounts)
    if created:  # the attacker made the measured accounts: they are in both datasets
        assert set(injection.targets) == set(base.accounts["account_id"].iloc[-created:])
    else:
        assert set(injection.targets) <= set(targets)


def test_sizes_and_reciprocity_are_what_each_attack_says(world):
    dataset, end, targets = world
    one_way = inject(dataset, "one_way", targets, SIZE, end)
    engaged = one_way.attacked.engagements.iloc[len(dataset.engagements):]
    assert engaged["actor_id"].nunique() == SIZE == one_way.accounts
    # every target post of the window gets one retweet and one like from each bought account
    window = dataset.posts[dataset.posts["account_id"].isin(targets)
                           & (dataset.posts["created_at"] >= end - pd.Timedelta(days=28))]
    assert len(engaged) == len(window) * SIZE * 2
    pod = inject(dataset, "pod", targets, 5, end)
    pairs = set(map(tuple, pod.attacked.engagements.iloc[len(dataset.engagements):]
                    [["actor_id", "account_id"]].to_numpy()))
    assert pairs and not any((b, a) in pairs for a, b in pairs)  # nobody engages both ways
    ring = inject(dataset, "ring", targets, 3, end)
    pairs = set(map(tuple, ring.attacked.engagements.iloc[len(dataset.engagements):]
                    [["actor_id", "account_id"]].to_numpy()))
    assert all((b, a) in pairs for a, b in pairs)  # a ring trades both ways
    poster = inject(dataset, "new_poster", targets, 3, end)
    assert len(poster.targets) == NEW_POSTERS
    assert added(dataset.posts, poster.attacked.posts) == NEW_POSTERS * 3 * 28
    assert poster.baseline.posts is dataset.posts  # measured against the same accounts, silent
    followers = inject(dataset, "followers", targets, SIZE, end)
    assert followers.baseline is dataset
    assert added(dataset.follows, followers.attacked.follows) <= SIZE * len(targets)


@pytest.mark.parametrize("attack", ["one_way", "warmed", "pod"])
def test_engagement_on_every_post_counts_for_nothing(world, attack):
    # bought engagement on every post, even from accounts that acted for months before (warmed)
    # or from established accounts taking turns (pods), is coordinated: the targets' credible
    # engagement does not grow, while the raw counts rise. A pod member engages one or two
    # targets only: that shows on targets with at least COORDINATED_POSTS posts in the window.
    dataset, end, targets = world
    injection = inject(dataset, attack, targets, 5, end, seed=1)
    config = FeatureConfig(windows=(28,), horizon_days=7)
    enough = injection.targets
    if attack == "pod":
        window = dataset.posts[dataset.posts["created_at"] >= end - pd.Timedelta(days=28)]
        posts = window["account_id"].value_counts().reindex(enough, fill_value=0)
        enough = enough[posts.to_numpy() >= COORDINATED_POSTS]
        assert len(enough) >= 5

    def features(data):
        return build_features(data, [end], config, labels=False).set_index(
            "account_id").loc[enough]
    before, after = features(injection.baseline), features(injection.attacked)
    assert (after["likes_per_post_28d"] > before["likes_per_post_28d"]).all()
    assert (after["coordinated_engagement_share_28d"] > 0.3).all()
    for column in ("credible_likes_28d", "credible_retweets_28d", "credible_engagers_28d"):
        # not more (a pod member's earlier engagement with its target is coordinated too)
        assert (after[column] <= 1.05 * before[column] + 0.05).all(), column


@pytest.mark.parametrize("attack", DOC_AWARE)
def test_doc_aware_attacks_stay_under_every_published_threshold(world, attack):
    dataset, end, targets = world
    injection = inject(dataset, attack, targets, 6, end, seed=1)
    new = injection.attacked.engagements.iloc[len(injection.baseline.engagements):]
    aimed = new[new["account_id"].isin(injection.targets)]
    window = dataset.posts[dataset.posts["created_at"] >= end - pd.Timedelta(days=28)]
    posts = window.groupby("account_id").size()
    engaged = aimed.groupby(["actor_id", "account_id"])["post_id"].nunique()
    share = engaged / posts.reindex(engaged.index.get_level_values("account_id")).to_numpy()
    # no engager engages every post of a target (a random share of them)
    assert (share[engaged >= COORDINATED_POSTS] < COORDINATED_SHARE).mean() > 0.8
    assert share.mean() < 0.75
    # never both ways, and not minutes after each post: hours
    pairs = set(engaged.index)
    assert not any((b, a) in pairs for a, b in pairs)
    delay = aimed.merge(window[["post_id", "created_at"]], on="post_id", suffixes=("", "_post"))
    assert (delay["created_at"] - delay["created_at_post"]).median() > pd.Timedelta(hours=2)
    # the engagers had acted long before the attack: established, by the published rule
    # (90 days, or half the history on a short dataset)
    first = injection.attacked.engagements.groupby("actor_id")["created_at"].min()
    span = min(ESTABLISHED_DAYS, (end - first.min()).days // 2)
    assert (first.loc[engaged.index.get_level_values("actor_id").unique()]
            <= end - pd.Timedelta(days=span)).all()


def test_every_attack_is_measured_and_bad_requests_are_refused(world):
    dataset, end, targets = world
    assert set(SIZES) == set(ATTACKS)
    with pytest.raises(ConfigError, match="unknown attack"):
        inject(dataset, "bribe", targets, 3, end)
    with pytest.raises(ConfigError, match="at least 2 members"):
        inject(dataset, "ring", targets, 1, end)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The quick tiny experiment, scored as it is made (with its components), evaluated with
    every attack of the library."""
    from clout.config import load_experiment
    from clout.quality import evaluate
    from support import quick_tiny

    path = quick_tiny(tmp_path_factory.mktemp("gaming"), "gaming")
    path.write_text(path.read_text().replace("components: false", "components: true"))
    return evaluate(load_experiment(path), bootstrap=0, gaming=True, say=lambda _: None)


def test_evaluate_tables_what_each_attack_buys_and_bought_accounts_buy_nothing(evaluated):
    from clout.quality import tables

    table = evaluated.cases[0].gaming
    assert set(table["attack"]) == set(ATTACKS)
    assert (table["targets"] > 0).all() and (table["actions"] > 0).all()
    # engagement from accounts that had not acted before the attack, or that only engage each
    # other, counts for nothing: what they buy is within a point
    bought = table[table["attack"].isin(["one_way", "dormant", "sybil", "burst", "new_ring",
                                         "new_poster", "followers"])]
    assert (bought["gain"] <= 1).all(), bought
    # posting more without more people reacting raises nothing: it lowers the score; at most
    # one account moves up a point, where the extra posts take a fan that engaged nearly every
    # post below the coordinated rule's share (its engagement counts again: the rule's share is
    # of all posts, because a share of engaged posts alone discounts a tenth of genuine
    # accounts, docs/false_positives.md)
    noise = table[table["attack"] == "noise"]
    assert (noise["gain"] < 0).all() and (noise["gain_max"] <= 1).all(), noise
    # engagement on every post is coordinated, even from established accounts (pods) and
    # accounts warmed up as readers for months, and followers who never react (bought, or
    # followed back) are nobody's audience: no such attack buys more than the goal's 2 points
    built_against = table[~table["attack"].isin(DOC_AWARE) & (table["aimed_at"] == LOW_SCORE)]
    assert (built_against["gain"] <= GOAL_MEAN).all(), built_against
    # the controls are left alone (accounts passing for readers like anyone's posts)
    assert (table.loc[~table["attack"].isin({"warmed", *DOC_AWARE}),
                      "control_drift"].abs() <= 1).all()
    assert set(table["aimed_at"]) == {LOW_SCORE, FEW_POSTED}
    assert any(title.startswith("What an attack buys") for title in tables(evaluated))


def test_lockstep_catches_lent_accounts_once_the_data_cover_the_longest_window(world,
                                                                              monkeypatch):
    import clout.features.families as families
    from clout.data.attacks import inject
    from clout.features.build import build_features
    from clout.features.config import FeatureConfig

    dataset, end, targets = world
    # established accounts of the world, under every published threshold
    lent = inject(dataset, "lent", targets, 3, end).attacked
    judged, rule = [], families.lockstep  # how many pairs each call judges new
    monkeypatch.setattr(families, "lockstep",
                        lambda *args: judged.append(int(args[2].sum())) or rule(*args))

    def discounted(data, longest):  # the targets' engagement that counts for nothing
        judged.clear()
        frame = build_features(data, [end], FeatureConfig(windows=(7, 28, longest)),
                               labels=False).set_index("account_id")
        return frame.loc[targets, f"coordinated_engagement_share_{longest}d"]
    # the tiny world's 70 days do not cover 90: no engager was seen over the whole window, where
    # every pair would look new, so the rule judges no pair
    assert (end - dataset.engagements["created_at"].min()).days < 90
    discounted(lent, 90)
    assert judged and not any(judged)
    # they cover 56 days: the three accounts, newly taking up the same small accounts
    # together, are in lockstep
    assert (discounted(lent, 56) - discounted(dataset, 56)).mean() > 0.2 and any(judged)


def _rules_on(data, targets, end) -> pd.Series:
    """The rule on each pair of a target's in `data` at `end`, by its engager, with windows
    7, 28 and 56 days (the tiny world's 70 days cover 56)."""
    from clout.features.build import load_tables
    from clout.features.days import to_day
    from clout.features.families import discount_partials, discounted_pairs

    config = FeatureConfig(windows=(7, 28, 56))
    tables = load_tables(validate(data, as_of=end)[0])
    day = to_day(end)
    pairs = discounted_pairs(discount_partials(tables, config, day), tables, day,
                             config.windows).to_pandas()
    ids = tables.ids.to_numpy()
    pairs = pairs.assign(engaged=ids[pairs["engaged"]], engager=ids[pairs["engager"]])
    return pairs[pairs["engaged"].isin(targets)].set_index("engager")["rule"]


def _attackers(attack, dataset, end) -> np.ndarray:
    """The accounts whose new engagement is on the attack's targets."""
    rows = attack.attacked.engagements.merge(dataset.engagements, how="left", indicator=True)
    return rows.loc[(rows["_merge"] == "left_only") & rows["account_id"].isin(attack.targets),
                    "actor_id"].unique()


def test_the_group_rule_catches_lent_accounts_spread_thin_over_one_or_two_post_accounts(
        tiny_world, monkeypatch):
    import clout.features.families as families
    from clout.gaming import attack_date, few_posts_accounts, genuine_accounts

    dataset, truth = tiny_world
    end = attack_date(dataset)
    targets = few_posts_accounts(dataset, genuine_accounts(truth), end, 28)
    attack = inject(dataset, "lent_spread", targets, 15, end)
    lent = _attackers(attack, dataset, end)
    # their pairs with the targets are discounted (on the tiny world, with few targets, some
    # of them share enough to be in step too)
    assert (_rules_on(attack.attacked, targets, end).loc[lent] != "").mean() > 0.9
    # without the lockstep rule, the group rule alone catches them, and finds no group
    # without them
    monkeypatch.setattr(families, "lockstep", lambda engaged, *_: np.zeros(len(engaged), bool))
    assert (_rules_on(attack.attacked, targets, end).loc[lent] == "group").mean() > 0.9
    assert not (_rules_on(dataset, targets, end) == "group").any()


def test_the_spree_rule_catches_one_aged_account_engaging_many_targets(tiny_world):
    from clout.features.credibility import SPREE_AUTHORS
    from clout.gaming import attack_date, genuine_accounts

    dataset, truth = tiny_world
    end = attack_date(dataset)
    posted = dataset.posts.loc[dataset.posts["created_at"] >= end - pd.Timedelta(days=28),
                               "account_id"]
    targets = np.intersect1d(genuine_accounts(truth), posted)[:24]
    attack = inject(dataset, "aged", targets, 1, end)
    (aged,) = _attackers(attack, dataset, end)
    # alone, it has no partner to be in step with; its pairs with the targets that few engaged
    # before are on a spree (17 of its 22 on the tiny world; 2 more engage every post)
    rules = _rules_on(attack.attacked, targets, end)
    assert (rules.loc[[aged]] == "spree").sum() >= SPREE_AUTHORS
    # and no genuine engager of the targets is
    assert not (rules.drop(aged) == "spree").any()
    assert not (_rules_on(dataset, targets, end) == "spree").any()


def test_false_positives_count_genuine_engagement_the_rules_discount(tiny_world):
    from clout.data.attacks import inject
    from clout.features.config import FeatureConfig
    from clout.gaming import attack_date, discounted_engagement, genuine_accounts

    dataset, truth = tiny_world
    genuine = genuine_accounts(truth)
    clean = discounted_engagement(FeatureConfig(), dataset, genuine)
    # every genuine account engaged by genuine accounts, most discounted first
    assert len(clean) > 100 and clean["discounted"].between(0, 1).all()
    assert clean["discounted"].is_monotonic_decreasing and (clean["engagers"] > 0).all()
    summary = false_positive_summary(clean)
    assert summary["share discounted > 10%"] == (clean["discounted"] > 0.1).mean()
    assert summary["of their loss, by lockstep"] == summary["of their loss, by circle"] == 0
    # genuine accounts in a pod, engaging every post of each other (three or more, to be seen),
    # lose that engagement; the simulator's rings and bots engaging genuine accounts are no
    # false positive, a pod of genuine accounts is
    end = attack_date(dataset)
    posted = dataset.posts.loc[dataset.posts["created_at"] >= end - pd.Timedelta(days=28),
                               "account_id"].value_counts()
    undiscounted = clean.loc[clean["discounted"] == 0, "account_id"]
    targets = np.intersect1d(posted.index[posted >= 3], undiscounted)[:10]
    pod = inject(dataset, "pod", targets, 10, end)
    attacked = discounted_engagement(FeatureConfig(), pod.attacked, genuine).set_index(
        "account_id")
    assert len(targets) == 10 and (attacked.loc[targets, "discounted"] > 0.2).all()
    # by the coordination rule (every post): the tiny world's 70 days are shorter than the
    # longest window, so the lockstep rule judges no pair here
    assert (attacked["by_lockstep"] == 0).all() and (clean["by_lockstep"] == 0).all()


def test_the_rules_read_only_the_window_yet_judge_as_with_the_whole_history(tiny_world):
    from clout.features.build import load_tables
    from clout.features.config import FeatureConfig
    from clout.features.families import discount_partials, discounted_pairs
    from clout.features.partials import partials

    dataset, _ = tiny_world
    tables = load_tables(dataset)
    config = FeatureConfig(windows=(7, 28))  # 28 days of the tiny world's 70: history before
    whole = partials(tables, config)
    for cutoff in (tables.last_day + 1, tables.last_day - 20):
        judged = discounted_pairs(discount_partials(tables, config, cutoff), tables, cutoff,
                                  config.windows)
        assert judged.equals(discounted_pairs(whole, tables, cutoff, config.windows))
        assert (judged["rule"] != "").any()  # some pairs are discounted: a real comparison


@pytest.mark.xfail(strict=True, reason="issue 27: an attacker who stays under the published "
                   "thresholds, or aims at accounts with one or two posts, buys points")
def test_no_attack_buys_more_than_the_goal(evaluated):
    table = evaluated.cases[0].gaming
    assert (table["gain"] <= GOAL_MEAN).all(), table


def test_a_world_with_more_attackers_is_one_line_of_an_experiment(tmp_path):
    from clout.config import load_experiment
    from clout.pipeline import load_source
    from support import quick_tiny

    path = quick_tiny(tmp_path, "attacked")
    path.write_text(path.read_text().replace(
        "data: {source: simulator, preset: tiny, seed: 3}",
        "data:\n  source: simulator\n  preset: tiny\n  seed: 3\n  manipulation:\n"
        "    - {attack: one_way, targets: 6, size: 4}\n    - {attack: pod, targets: 6, size: 3}"))
    spec = load_experiment(path).data
    clean, attacked = load_source(spec.model_copy(update={"manipulation": ()})), load_source(spec)
    truth = attacked.truth.set_index("account_id")
    assert (truth["role"] == "attacked").sum() == 12
    assert truth.loc[truth["role"] == "attacked", "attack"].value_counts().to_dict() == {
        "one_way": 6, "pod": 6}
    assert (truth["role"] == "attacker").sum() == 4  # the one-way attack's throwaways
    added = len(attacked.dataset.engagements) - len(clean.dataset.engagements)
    assert added > 0 and len(attacked.dataset.posts) == len(clean.dataset.posts)
    assert load_source(spec).dataset.fingerprint() == attacked.dataset.fingerprint()


def test_train_with_gaming_logs_what_each_attack_buys_and_the_report_shows_it(tmp_path):
    import mlflow
    from typer.testing import CliRunner

    from clout import tracking
    from clout.audit.report import build_report
    from clout.cli import app
    from support import ROOT, quick_tiny

    experiment = quick_tiny(tmp_path, "train-gaming")
    result = CliRunner().invoke(app, ["train", str(experiment), "--gaming",
                                      "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "what each attack buys" in result.output
    run_id = tracking.latest_run(run_name="train-gaming")
    logged = tracking.logged_table(run_id, tracking.RUN.attacks)
    assert set(logged["attack"]) == set(ATTACKS)
    gains = mlflow.get_run(run_id).data.metrics
    assert {f"gaming.one_way.{size}.gain" for size in SIZES["one_way"]} <= set(gains)
    assert "Gaming: what each attack buys" in build_report(run_id)
    # real data has no genuine accounts to measure gains on: refused before any training
    refused = CliRunner().invoke(app, ["train", str(ROOT / "experiments/congress.yaml"),
                                       "--gaming"])
    assert refused.exit_code == 2 and "ground truth" in " ".join(refused.output.split())


def test_the_red_team_finds_the_best_tactic_within_its_budget(tmp_path):
    import mlflow
    from typer.testing import CliRunner

    from clout import tracking
    from clout.cli import app
    from support import quick_tiny

    experiment = quick_tiny(tmp_path, "redteam")
    doc = tmp_path / "redteam.md"
    result = CliRunner().invoke(app, ["redteam", str(experiment), "--budget", "300",
                                      "--trials", "6", "--doc", str(doc)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "best tactics within 300 actions per target" in result.output
    # the doc says which command, commit and model, and holds the best tactics
    written = doc.read_text()
    assert written.startswith("# The best attack a red team found")
    assert "--budget 300 --trials 6" in written and "mean_gain" in written
    assert written.count("\n| ") == 1 + 6  # the header and every trial (fewer than ten)
    run = mlflow.get_run(tracking.latest_run(run_name="redteam redteam"))
    trials = tracking.logged_table(run.info.run_id, "trials.json")
    assert len(trials) == 6
    scored = trials[trials["state"] == "COMPLETE"]
    # every scored trial kept within the budget; those over it were pruned unscored
    assert (scored["actions_per_target"] <= 300).all()
    assert trials.loc[trials["state"] == "PRUNED", "mean_gain"].isna().all()
    assert (trials.loc[trials["state"] == "PRUNED", "actions_per_target"] > 300).all()
    # the best is the best scored trial, its parameters and gains logged
    assert run.data.metrics["best_mean_gain"] == pytest.approx(scored["mean_gain"].max())
    assert run.data.params["budget"] == "300.0"
    assert {"best.accounts", "best.engagers", "best.share", "best.aimed_at"} <= set(
        run.data.params)
    assert run.data.tags[tracking.KIND_TAG] == "redteam"


def test_a_tactic_is_what_the_named_doc_aware_attacks_play(world):
    from clout.data.attacks import Tactic

    dataset, end, targets = world
    named = inject(dataset, "aged", targets, 4, end, seed=1)
    tactic = inject(dataset, Tactic("aged", 4), targets, 99, end, seed=1)  # its own size
    assert tactic.attacked.fingerprint() == named.attacked.fingerprint()
    assert (tactic.size, tactic.actions) == (4, named.actions)
    with pytest.raises(ConfigError, match="at least 1"):
        inject(dataset, Tactic("aged", 0), targets, 1, end)


def test_an_attack_aimed_at_one_topic_engages_only_that_topics_posts(tiny_world):
    from clout.gaming import attack_date

    world, _ = tiny_world
    end = attack_date(world)
    recent = world.posts[world.posts["created_at"] >= end - pd.Timedelta(days=28)]
    targets = recent["account_id"].value_counts().index[:3].to_numpy()
    topic_of = {int(a): str(recent.loc[recent["account_id"] == a, "topic"].mode().iloc[0])
                for a in targets}
    injection = inject(world, "pod", targets, 3, end, topics=topic_of)
    added = injection.attacked.engagements.iloc[len(world.engagements):]
    topics = world.posts.set_index("post_id")["topic"].astype(str)
    engaged = added[added["account_id"].isin(targets)]
    assert len(engaged) and (topics.reindex(engaged["post_id"]).to_numpy()
                             == engaged["account_id"].map(topic_of).to_numpy()).all()


def test_a_pod_taking_turns_closes_circles_the_circle_rule_discounts(world, tiny_world,
                                                                     monkeypatch):
    import clout.features.families as families
    from clout.features.build import load_tables
    from clout.features.days import to_day
    from clout.features.families import discount_partials, discounted_pairs
    from clout.gaming import genuine_accounts

    dataset, end, targets = world
    config = FeatureConfig(windows=(7, 28, 56))  # covered by the tiny world's 70 days

    def rules(data):  # each pair's rule, with whether both accounts are targets
        tables = load_tables(validate(data)[0])
        cutoff = to_day(end)
        pairs = discounted_pairs(discount_partials(tables, config, cutoff), tables, cutoff,
                                 config.windows).to_pandas()
        ids = tables.ids.to_numpy()
        return pairs.assign(
            engaged=ids[pairs["engaged"]], engager=ids[pairs["engager"]],
            in_pod=np.isin(ids[pairs["engaged"]], targets)
            & np.isin(ids[pairs["engager"]], targets))
    # five established accounts per pod, each engaging a random 60 % of the next two's posts,
    # never both ways: under the coverage threshold; the circle they close is discounted, even
    # where the members are not in lockstep (the rule left out)
    pod_turns = inject(dataset, "pod_turns", targets, 5, end).attacked
    attacked = rules(pod_turns)
    assert (attacked.loc[attacked["in_pod"], "rule"] != "").mean() > 0.5
    monkeypatch.setattr(families, "lockstep", lambda engaged, *_: np.zeros(len(engaged), bool))
    alone = rules(pod_turns)
    assert (alone.loc[alone["in_pod"], "rule"] == "circle").mean() > 0.3
    # genuine audiences seldom close a circle: under 0.1 % of the clean world's genuine
    # engagement (here through the simulator's rings)
    clean = rules(dataset)
    genuine = genuine_accounts(tiny_world[1])
    among = clean[clean["engaged"].isin(genuine) & clean["engager"].isin(genuine)]
    share = among.loc[among["rule"] == "circle", "engagements"].sum() / among["engagements"].sum()
    assert share < 0.001
