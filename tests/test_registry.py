"""Extending clout in one place: a new engagement kind is one registration, and flows to the
contract, the feature catalogue, the feature table and a trained head."""

import pytest

from clout.config import Experiment
from clout.data.kinds import KINDS, EngagementKind, registered
from clout.data.validation import validate
from clout.features.build import build_features, load_tables
from clout.features.catalogue import column_features
from clout.features.days import weekly_cutoffs
from clout.models.heads import Split
from clout.pipeline import fit_model

SHARE = EngagementKind("share", "shares", "Sent the post to someone by private message.")


def test_a_registered_kind_flows_to_the_contract_the_catalogue_the_table_and_a_head(
        tiny_world):
    dataset = tiny_world[0]
    # a source that has the new kind: every third like of the tiny world is a share instead
    events = dataset.engagements.copy()
    likes = events.index[events["kind"] == "like"][::3]
    with registered(SHARE):
        events["kind"] = events["kind"].astype(str)
        events.loc[likes, "kind"] = "share"
        clean, report = validate(dataset.__class__(dataset.accounts, dataset.follows,
                                                   dataset.posts, events))
        assert report.rows_quarantined("engagements") == 0
        assert "shares_per_post_90d" in column_features((7, 28, 90))
        tables = load_tables(clean)
        assert "share" in tables.event_kinds
        frame = build_features(tables, weekly_cutoffs(tables, 6, 14))
        for name in ("shares_per_post_7d", "credible_shares_90d",
                     "label_shares_credible_per_post_14d"):
            assert frame[name].notna().any(), name
        experiment = Experiment(name="shares", model={
            "heads": ["shares"], "num_boost_round": 30, "min_boost_rounds": 5,
            "components": False})
        split = Split.by_time(frame["cutoff"].unique(), 14)
        model = fit_model(experiment, frame, split, say=lambda _: None)
        head = model.heads["shares"]
        assert head.label == "label_shares_credible_per_post_14d"
        assert head.booster.num_trees() >= 5 and head.offset.rate_column == (
            "credible_shares_per_post_90d")
    assert "share" not in KINDS and "shares_per_post_90d" not in column_features((7, 28, 90))


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        KINDS.register(EngagementKind("like", "loves"))
    with pytest.raises(ValueError, match="already registered"):
        KINDS.register(EngagementKind("love", "likes"))
