"""The feature catalogue: the one place that says what each feature is.

Every column `build_features` writes is named here, with its family, unit, definition and the
tables it needs; `clout features catalogue` prints this table and writes docs/features.md from it,
and a test checks that the builder writes exactly the catalogued columns a source allows.

Names are templates: `{w}` is a window in days, `{kinds}` an engagement kind in the plural
("retweets"), `{h}` the label horizon in days.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clout.data.kinds import KINDS
from clout.features.config import FeatureConfig

DEFAULTS = FeatureConfig()  # the windows and horizon the generated docs show

#: What a source can offer; a feature lists what it needs.
POSTS, RECEIVED, RETWEETS, EVENTS, FOLLOWS, CREATED, TOPICS, DEPTH, SNAPSHOT = (
    "posts", "received", "retweets", "events", "follows", "created_at", "topics", "cascade_depth",
    "profile_snapshot")
NEEDS_MEANING = {
    POSTS: "a posts table",
    RECEIVED: "engagement received: events, or post counts",
    RETWEETS: "retweets received: events, or post counts",
    EVENTS: "individual engagement events (who engaged)",
    FOLLOWS: "a follower graph with follow times",
    CREATED: "account creation times",
    TOPICS: "post topics",
    DEPTH: "cascade depth on events",
    SNAPSHOT: "profile counters (a snapshot)",
}

RECENCY_HALF_LIFE_DAYS = 14
PAGERANK_DAMPING = 0.85


@dataclass(frozen=True)
class Feature:
    name: str  # template
    family: str
    unit: str
    definition: str
    needs: tuple[str, ...]
    leaks: bool = False  # uses data observed after the cutoff: never in the honest set
    zero_when_absent: bool = False  # a count: no activity means 0, not unknown
    # bought engagement or followers move it (for the account, or against it): heads that learn
    # credible engagement do not see it (`ModelSpec.buyable_features`)
    buyable: bool = False

    @property
    def windowed(self) -> bool:
        return "{w}" in self.name

    @property
    def per_kind(self) -> bool:
        return "{kinds}" in self.name

    def columns(self, windows, kinds) -> list[str]:
        """Concrete column names for these windows and engagement kinds."""
        names = [self.name]
        if self.per_kind:
            names = [n.replace("{kinds}", KINDS.plural(k)) for n in names for k in kinds]
        if self.windowed:
            names = [n.replace("{w}", str(w)) for n in names for w in windows]
        return names


F = Feature
#: Every feature, in the order of the table's columns; a family adds its own through
#: `features.families.register_family` (appended: earlier columns never move).
FEATURES: list[Feature] = [
    # activity
    F("posts_{w}d", "activity", "posts", "Posts published in the w days before the cutoff.",
      (POSTS,), zero_when_absent=True),
    F("active_days_{w}d", "activity", "days", "Days with at least one post in the window.",
      (POSTS,), zero_when_absent=True),
    F("posting_burstiness_{w}d", "activity", "ratio",
      "Coefficient of variation of daily post counts over the window's w days (0 = as regular "
      "as possible; null without posts).", (POSTS,)),
    F("days_since_last_post", "activity", "days",
      "Days from the last post before the cutoff to the cutoff (null if none yet).", (POSTS,)),
    F("account_age_days", "activity", "days", "Days from account creation to the cutoff.",
      (CREATED,)),
    # reach
    F("followers", "reach", "accounts", "Followers at the cutoff (follows made before it).",
      (FOLLOWS,), zero_when_absent=True, buyable=True),
    F("following", "reach", "accounts", "Accounts followed at the cutoff.", (FOLLOWS,),
      zero_when_absent=True, buyable=True),
    F("followers_growth_{w}d", "reach", "ratio",
      "Relative growth of followers over the window: (now - then) / max(then, 1).", (FOLLOWS,),
      buyable=True),
    F("unique_engagers_{w}d", "reach", "accounts",
      "Distinct accounts that engaged with the account in the window (true reach; self "
      "excluded).", (EVENTS,), zero_when_absent=True, buyable=True),
    F("credible_engagers_{w}d", "reach", "accounts",
      "Distinct accounts that engaged with the account in the window, each counted by its "
      "credibility (see `credibility`), none the account engaged with in the same window, none "
      "coordinated: reach that bought accounts cannot add to.", (EVENTS,), zero_when_absent=True),
    F("engaged_follower_share_{w}d", "reach", "share",
      "Share of followers at the cutoff who engaged in the window.", (EVENTS, FOLLOWS),
      buyable=True),
    # amplification
    F("{kinds}_per_post_{w}d", "amplification", "events/post",
      "Engagement of this kind received in the window per post published in it. From events "
      "before the cutoff; where a source only has counts per post, from the counts of posts "
      "published at least `settle_days` before the cutoff (counts observed later, taken as "
      "settled).", (POSTS, RECEIVED), buyable=True),
    F("{kinds}_per_post_decay14d", "amplification", "events/post",
      "Like {kinds}_per_post but over all history before the cutoff, days weighted by "
      "0.5^(age / 14 days): recent behaviour counts most.", (POSTS, RECEIVED), buyable=True),
    F("{kinds}_per_post_log1p_{w}d", "amplification", "log(1 + events)/post",
      "Mean over the window's posts of log(1 + engagement of this kind the post received "
      "before the cutoff): like {kinds}_per_post, but one viral post weighs less. Where a "
      "source only has counts, over the posts whose counts have settled (`settle_days`).",
      (POSTS, RECEIVED), buyable=True),
    F("credible_{kinds}_{w}d", "amplification", "credible events",
      "Engagement of this kind received in the window, each event counted by its engager's "
      "credibility at the cutoff (see `credibility`), none from accounts the account engaged "
      "with in the same window (traded), none coordinated (see "
      "coordinated_engagement_share): what bought and traded engagement cannot inflate.",
      (EVENTS,), zero_when_absent=True),
    F("credible_{kinds}_per_post_{w}d", "amplification", "credible events/post",
      "credible_{kinds} per post published in the window (as {kinds}_per_post).",
      (POSTS, EVENTS)),
    F("engagement_{w}d", "reach", "events",
      "Engagement of every kind received in the window (for count-only sources, the counts "
      "of the window's settled posts): how many reactions, people counted once per post.",
      (RECEIVED,), zero_when_absent=True, buyable=True),
    F("{kinds}_{w}d", "amplification", "events",
      "Engagement of this kind received in the window (for sources with events but no posts).",
      (RECEIVED,), zero_when_absent=True, buyable=True),
    F("retweeted_post_share_{w}d", "amplification", "share",
      "Share of the window's posts retweeted at least once before the cutoff.",
      (POSTS, RETWEETS), buyable=True),
    F("second_hand_retweet_share_{w}d", "amplification", "share",
      "Share of the window's retweets made by accounts that saw the post through another "
      "retweet (cascade depth 2 or more): how far posts travel.", (DEPTH,), buyable=True),
    # network
    F("pagerank", "network", "x mean",
      "PageRank of the account on the engagement graph (engager -> engaged, weighted by events) "
      "of the longest window before the cutoff, divided by the mean over the graph's accounts.",
      (EVENTS,), buyable=True),
    F("credibility", "network", "share",
      "How much the account's own engagement counts at the cutoff, 0 to 1: 1 once it has "
      "acted (posted or engaged) for 90 days, or for half the data's history before the cutoff "
      "if shorter; otherwise the trust established accounts pass to it by engaging with it "
      "(TrustRank on the longest window's engagement graph), relative to the median "
      "established account's, capped at 1. Account age does not count.", (EVENTS,)),
    F("trustrank", "network", "x median",
      "The trust established accounts pass to the account by engaging with it (TrustRank on "
      "the longest window's engagement graph, restarts on the established accounts), relative "
      "to the median established account's: PageRank that only credible accounts feed.",
      (EVENTS,)),
    F("engager_credibility_{w}d", "audience", "share",
      "Event-weighted mean credibility of the window's engagers: bought throwaway, dormant, "
      "sybil and bot engagers have (almost) none.", (EVENTS,), buyable=True),
    F("credible_engagement_share_{w}d", "audience", "share",
      "Share of the window's engagement that is credible (credible_{kinds} over all kinds "
      "/ all engagement received).", (EVENTS,), buyable=True),
    F("coordinated_engagement_share_{w}d", "audience", "share",
      "Share of the window's engagement that is coordinated, in lockstep, in a circle, in a "
      "group or on a spree (see `credibility`): from engagers that engage (nearly) every post "
      "of the account, or of most accounts they engage, as bought engagement and pods do, "
      "that newly took up the same small accounts together, as a bought group does, that "
      "newly took one another up in a circle of small accounts, as a pod taking turns does, "
      "that are one of many accounts each newly taking up a few of the same small accounts, "
      "as lent accounts spread thin are, or that newly took up many small accounts at once, "
      "each heavily, as one aged account serving many targets does; it counts in no "
      "credible_ feature.", (EVENTS,),
      buyable=True),
    F("engager_standing_{w}d", "network", "log(1 + accounts)",
      "Mean standing of the window's credible engagers (those counted in credible_engagers, "
      "weighted by their credibility): each engager's standing is log(1 + its own "
      "credible_engagers over the longest window). Are the people who react influential "
      "themselves? Bought and coordinated engagers are not counted.", (EVENTS,)),
    F("follower_standing", "network", "log(1 + accounts)",
      "Mean standing (as engager_standing) of the followers at the cutoff who have engaged "
      "with the account before it, each weighted by how many accounts it engaged with over "
      "the longest window times its credibility: the audience that reacts. Followers that "
      "never reacted (bought, or followed back in follow-for-follow churn), or whose "
      "reactions are discounted (coordinated_engagement_share), weigh nothing.",
      (EVENTS, FOLLOWS)),
    F("engager_pagerank_{w}d", "network", "x mean",
      "Event-weighted mean PageRank of the accounts that engaged in the window: are the engagers "
      "themselves influential?", (EVENTS,), buyable=True),
    # audience quality
    F("engager_selectivity_{w}d", "audience", "share",
      "Event-weighted mean of 1 / (accounts each engager engaged with in the window): an engager "
      "who engages with everyone counts little.", (EVENTS,), buyable=True),
    F("engager_concentration_{w}d", "audience", "HHI",
      "Herfindahl index of engagement over engagers in the window (1 = one engager does all).",
      (EVENTS,), buyable=True),
    F("reciprocity_{w}d", "audience", "share",
      "Share of the window's engagers that the account engaged with in the same window "
      "(engagement rings are reciprocal).", (EVENTS,), buyable=True),
    F("traded_engagement_share_{w}d", "audience", "share",
      "Share of the window's engagement that came from accounts the account engaged with in the "
      "same window: engagement traded back and forth, as rings do (what the credible labels "
      "leave out).", (EVENTS,), buyable=True),
    F("follower_following_ratio", "audience", "ratio",
      "Followers / (following + 1) at the cutoff.", (FOLLOWS,), buyable=True),
    F("silent_follower_share", "audience", "share",
      "Share of followers at the cutoff who never engaged with the account before it, or "
      "whose engagement is discounted (bought followers stay silent).", (EVENTS, FOLLOWS),
      buyable=True),
    # content
    F("link_share_{w}d", "content", "share", "Share of the window's posts with a link.",
      (POSTS,)),
    F("media_share_{w}d", "content", "share", "Share of the window's posts with media.",
      (POSTS,)),
    F("reply_share_{w}d", "content", "share", "Share of the window's posts that are replies.",
      (POSTS,)),
    F("repost_share_{w}d", "content", "share",
      "Share of the window's posts that re-share someone else's post.", (POSTS,)),
    F("mean_post_length_{w}d", "content", "characters",
      "Mean length of the window's posts.", (POSTS,)),
    F("topic_entropy_{w}d", "content", "bits",
      "Entropy of the topic mix of the window's posts (0 = one topic).", (POSTS, TOPICS)),
    # snapshot counters: observed once, usually after the cutoff
    F("snapshot_followers", "reach", "accounts",
      "Profile follower counter as observed at `observed_at`: leaks when observed after the "
      "cutoff (as on Congress data).", (SNAPSHOT,), leaks=True, buyable=True),
    F("snapshot_following", "reach", "accounts", "Profile following counter, as observed.",
      (SNAPSHOT,), leaks=True, buyable=True),
    F("snapshot_listed", "reach", "lists", "Public lists holding the account, as observed.",
      (SNAPSHOT,), leaks=True, buyable=True),
    F("snapshot_posts", "activity", "posts", "Profile posts counter, as observed.",
      (SNAPSHOT,), leaks=True),
]

LABELS: tuple[Feature, ...] = (
    F("label_posts_{h}d", "label", "posts",
      "Posts published in the h days from the cutoff that can carry engagement (for count-only "
      "sources: those with counts): the exposure of the per-post labels.",
      (POSTS,)),
    F("label_{kinds}_{h}d", "label", "events",
      "Engagement of this kind on the horizon's posts, made before the horizon ends (where only "
      "counts exist, the counts as observed). For sources with events but no posts: all "
      "engagement of this kind received in the horizon.", (RECEIVED,)),
    F("label_engagement_{h}d", "label", "events",
      "Engagement of every kind on the horizon's posts (label_{kinds} summed over kinds): "
      "what the reach head learns where the engagers are unknown (count-only sources).",
      (POSTS, RECEIVED)),
    F("label_{kinds}_per_post_{h}d", "label", "events/post",
      "label_{kinds} / label_posts (null without posts in the horizon).", (POSTS, RECEIVED)),
    F("label_{kinds}_credible_{h}d", "label", "credible events",
      "Like label_{kinds}, each event counted by its engager's credibility at the cutoff (see "
      "`credibility`), none from accounts the author itself engaged with in the longest window "
      "before the cutoff or during the horizon, none from pairs coordinated at the cutoff: "
      "bought and traded engagement is not influence. Needs events (who engaged); for sources "
      "without posts, credible engagement received in the horizon.", (EVENTS,)),
    F("label_engagers_credible_{h}d", "label", "accounts",
      "Distinct accounts that engaged in the h days from the cutoff (on the horizon's posts, "
      "where there are posts), each counted by its credibility at the cutoff, none traded or "
      "coordinated (as credible_engagers): true reach, what the reach head learns.",
      (EVENTS,)),
    F("label_engaged_followers_credible_{h}d", "label", "accounts",
      "Like label_engagers_credible, only the engagers that follow the account (made before "
      "the horizon ends): its own audience that reacted, without the people a retweet "
      "brought (every engager for a source without a follower graph). The exposure of "
      "label_engager_standing.", (EVENTS,)),
    F("label_engager_standing_{h}d", "label", "log(1 + accounts)/engager",
      "Mean standing (as engager_standing) of the engaged followers counted in "
      "label_engaged_followers_credible, weighted as there; null without any: what the "
      "network head learns, per engaged follower.", (EVENTS,)),
    F("label_{kinds}_credible_per_post_{h}d", "label", "credible events/post",
      "label_{kinds}_credible / label_posts (null without posts in the horizon).",
      (POSTS, EVENTS)),
)


ENTRIES: dict[str, Feature] = {f.name: f for f in FEATURES}  # by template
TEMPLATES = {f.name for f in (*FEATURES, *LABELS)}


def register_feature(feature: Feature) -> Feature:
    """A new catalogue entry, its columns after every earlier feature's."""
    if feature.name in TEMPLATES:
        raise ValueError(f"feature {feature.name!r} is already in the catalogue")
    FEATURES.append(feature)
    ENTRIES[feature.name] = feature
    TEMPLATES.add(feature.name)
    return feature


def unregister_feature(name: str) -> None:
    FEATURES.remove(ENTRIES.pop(name))
    TEMPLATES.discard(name)
_PLACEHOLDERS = {"{w}": "window", "{kinds}": "kind", "{h}": "horizon"}


def column(template: str, window: int | None = None, kind: str | None = None,
           horizon: int | None = None) -> str:
    """The one way to name a column: a catalogue template filled in, e.g.
    `column("{kinds}_per_post_{w}d", window=90, kind="retweets")` is "retweets_per_post_90d".
    `kind` is plural (clicks, retweets, ...); a template the catalogue does not define, or a
    placeholder left empty or given in vain, is an error."""
    if template not in TEMPLATES:
        raise KeyError(f"{template!r} is not a catalogue template")
    given = {"window": window, "kind": kind, "horizon": horizon}
    name = template
    for placeholder, argument in _PLACEHOLDERS.items():
        value = given.pop(argument)
        if (placeholder in template) != (value is not None):
            raise TypeError(f"{template!r}: {argument} {'missing' if value is None else 'given'}"
                            f" but the template {'has' if value is None else 'has no'} "
                            f"{placeholder}")
        if value is not None:
            name = name.replace(placeholder, str(value))
    return name


def column_features(windows) -> dict[str, Feature]:
    """The catalogue entry of every feature column these windows can produce (any kind)."""
    return {column: f for f in FEATURES for column in f.columns(windows, KINDS)}


#: Units of features that cannot be negative: a negative value is a broken input.
NON_NEGATIVE_UNITS = frozenset({"posts", "days", "accounts", "events", "events/post",
                                "credible events", "credible events/post",
                                "log(1 + events)/post", "lists",
                                "characters", "share", "bits", "HHI", "x mean", "x median"})


def catalogue_frame(windows=DEFAULTS.windows, kinds=None, horizon=DEFAULTS.horizon_days
                    ) -> pd.DataFrame:
    """One row per feature template: name, family, unit, needs, leaks, definition."""
    kinds, rows = kinds or KINDS, []
    for f in (*FEATURES, *LABELS):
        example = f.columns(windows, kinds[:1])[0].replace("{h}", str(horizon))
        rows.append({"name": f.name, "family": f.family, "unit": f.unit,
                     "needs": ", ".join(f.needs), "leaks": f.leaks,
                     "zero_when_absent": f.zero_when_absent, "buyable": f.buyable,
                     "example": example, "definition": f.definition})
    return pd.DataFrame(rows)


def markdown(windows=DEFAULTS.windows, horizon=DEFAULTS.horizon_days) -> str:
    """docs/features.md, generated from the catalogue."""
    lines = [
        "# Feature catalogue",
        "",
        "Generated by `clout features catalogue --write docs/features.md` from",
        "`src/clout/features/catalogue.py`; do not edit by hand.",
        "",
        "Every feature of an account at cutoff T uses only what happened before T; labels use",
        "[T, T+h). `{w}` is a window in days (default " + ", ".join(map(str, windows)) + "),",
        "`{kinds}` an engagement kind the source has (clicks, retweets, replies, likes, mentions,",
        f"quotes), `{{h}}` the label horizon (default {horizon}). A source lacking what a feature",
        "needs simply lacks the feature. Features marked *leaks* use data observed after the",
        "cutoff and are left out of the honest feature set unless asked for. Counts marked *0*",
        "are 0 for an account with no such activity; other features are then null (unknown).",
        "Features marked *buyable* move when someone buys engagement or followers (for the",
        "account or against it): heads that learn credible engagement do not see them.",
        "",
        "What a feature can need: " + "; ".join(f"`{k}` = {v}" for k, v in NEEDS_MEANING.items())
        + ".",
        "",
    ]
    frame = catalogue_frame(windows=windows, horizon=horizon)
    for family, group in frame.groupby("family", sort=False):
        lines += [f"## {family}", "", "| name | unit | needs | definition |", "|---|---|---|---|"]
        for row in group.itertuples():
            leak = ((" **(leaks)**" if row.leaks else "") + (" *0*" if row.zero_when_absent else "")
                    + (" *buyable*" if row.buyable else ""))
            lines.append(f"| `{row.name}`{leak} | {row.unit} | {row.needs} | {row.definition} |")
        lines.append("")
    return "\n".join(lines)


def write_markdown(path: str | Path, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(**kwargs))
    return path
