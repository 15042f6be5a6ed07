"""Each contract rule on a three-row fixture: named failure, row count, quarantine with reason."""

import re
from dataclasses import replace

import pandas as pd
import pytest

from clout.data.dataset import read_dataset, write_dataset
from clout.data.schema import TABLES, arrow_schema, conform, empty_frame, schema_frame
from clout.data.validation import DataValidationError, validate, write_quarantine
from clout.errors import DataError
from support import utc


def only_failure(dataset, **kwargs):
    """Validate expecting failures; return them as (table, column, rule, n_rows) tuples."""
    with pytest.raises(DataValidationError) as err:
        validate(dataset, **kwargs)
    return {(f.table, f.column, f.rule, f.n_rows) for f in err.value.report.failures}


def test_the_fixture_is_valid_and_nothing_changes(three_rows):
    clean, report = validate(three_rows)
    assert report.ok
    for name, frame in three_rows.tables().items():
        pd.testing.assert_frame_equal(clean.tables()[name], frame)


def test_schema_lists_every_column_with_type_unit_and_meaning():
    frame = schema_frame()
    assert set(frame["table"]) == set(TABLES)
    assert len(frame) == sum(len(t.columns) for t in TABLES.values())
    assert frame[["type", "unit", "meaning"]].ne("").all().all()


def test_empty_frames_and_arrow_schema_agree_with_the_contract():
    for name, spec in TABLES.items():
        assert list(empty_frame(name).columns) == spec.column_names
        assert arrow_schema(name).names == spec.column_names


def test_missing_and_extra_columns_are_schema_failures(three_rows):
    posts = three_rows.posts.drop(columns="has_link").assign(colour="red")
    broken = replace(three_rows, posts=posts)
    failures = only_failure(broken, on_bad_rows="quarantine")  # columns cannot be quarantined
    assert ("posts", "has_link", "missing column", 3) in failures
    assert ("posts", "colour", "extra column (not in the contract)", 3) in failures


def test_wrong_type_and_non_utc_timestamps(three_rows):
    posts = three_rows.posts.assign(length_chars=["long", "short", "long"])
    naive = three_rows.follows["created_at"].dt.tz_convert(None)
    follows = three_rows.follows.assign(created_at=naive)
    accounts = three_rows.accounts.assign(
        created_at=three_rows.accounts["created_at"].dt.tz_convert("Europe/Paris"))
    failures = only_failure(replace(three_rows, posts=posts, follows=follows, accounts=accounts))
    rules = {(t, c): r for t, c, r, _ in failures}
    assert rules[("posts", "length_chars")].startswith("wrong type: expected int")
    assert rules[("follows", "created_at")] == "timestamps without a timezone, expected UTC"
    assert rules[("accounts", "created_at")] == "timestamps in Europe/Paris, not UTC"


def test_missing_required_table_is_named():
    from clout.data.dataset import Dataset
    with pytest.raises(DataValidationError, match=r"accounts\.\*: missing table"):
        validate(Dataset(accounts=None))


@pytest.mark.parametrize("table, change, column, rule, n_rows", [
    ("accounts", lambda f: f.assign(account_id=[1, 1, 3]), "account_id", "duplicate id", 2),
    ("accounts", lambda f: f.assign(followers_count=pd.array([-5, 0, 1], "Int64")),
     "followers_count", "negative count", 1),
    ("accounts", lambda f: f.assign(observed_at=[pd.NaT, pd.NaT, utc("2024-01-31")]),
     "observed_at", "counters set but their observation time is missing", 2),
    ("accounts", lambda f: f.assign(network=pd.array([None, "x", "y"], "string")),
     "network", "null in a non-nullable column", 1),
    ("posts", lambda f: f.assign(account_id=[1, 99, 3]), "account_id",
     "points to an unknown account (accounts.account_id)", 1),
    ("posts", lambda f: f.assign(created_at=[utc("2024-01-01"), utc("2999-01-01"),
                                             utc("2024-01-03")]),
     "created_at", "timestamp in the future (after 2025-01-01 00:00 UTC)", 1),
    ("posts", lambda f: f.assign(created_at=[utc("2022-12-31"), utc("2024-01-02 10:00"),
                                             utc("2024-01-03")]),
     "created_at", "dated before its author account was created", 1),
    ("follows", lambda f: f.assign(follower_id=[2, 2], followee_id=[1, 1]),
     "follower_id+followee_id", "duplicate id", 2),
    ("engagements", lambda f: f.assign(post_id=pd.array([10, 77, None], "Int64")), "post_id",
     "points to an unknown post (posts.post_id)", 1),
    ("engagements", lambda f: f.assign(kind=["click", "share", "like"]), "kind",
     "value not one of click, retweet, reply, like, mention, quote", 1),
    ("engagements", lambda f: f.assign(created_at=[utc("2023-12-31"), utc("2024-01-01 12:00"),
                                                    utc("2024-01-03 01:00")]),
     "created_at", "engagement dated before its post", 1),
    ("engagements", lambda f: f.assign(account_id=[1, 3, 3]), "account_id",
     "does not match the post's author", 1),
])
def test_row_rules_name_table_column_rule_and_count(three_rows, table, change, column, rule,
                                                    n_rows):
    broken = replace(three_rows, **{table: change(getattr(three_rows, table))})
    failures = only_failure(broken, as_of=utc("2025-01-01"))
    assert (table, column, rule, n_rows) in failures
    # the error message a user sees carries the same facts
    message = re.escape(f"{table}.{column}: {rule} ({n_rows:,} rows)")
    with pytest.raises(DataValidationError, match=message):
        validate(broken, as_of=utc("2025-01-01"))


def test_quarantine_keeps_every_good_row_and_says_why(three_rows, tmp_path):
    posts = three_rows.posts.assign(account_id=[1, 99, 3])  # post 11 points nowhere
    engagements = pd.concat([three_rows.engagements, conform(pd.DataFrame({
        "actor_id": [3], "account_id": [1], "post_id": [11], "kind": ["like"],
        "created_at": [utc("2024-01-02 11:00")]}), "engagements")], ignore_index=True)
    broken = replace(three_rows, posts=posts, engagements=engagements)

    clean, report = validate(broken, on_bad_rows="quarantine")

    assert list(clean.posts["post_id"]) == [10, 12]
    assert len(clean.engagements) == 3  # the like on post 11 went with its post
    quarantined = report.quarantine
    assert quarantined["posts"]["reason"].tolist() == [
        "account_id: points to an unknown account (accounts.account_id)"]
    assert quarantined["engagements"]["reason"].str.contains("unknown post").all()
    counts = report.counts().set_index("table")
    assert (counts["rows_kept"] + counts["rows_quarantined"] == counts["rows_in"]).all()

    written = write_quarantine(report, tmp_path)
    assert sorted(p.name for p in written) == ["engagements.parquet", "posts.parquet"]
    back = pd.read_parquet(tmp_path / "posts.parquet")
    assert back["post_id"].tolist() == [11] and "reason" in back
    # a later clean run leaves no stale quarantine behind
    _, clean_report = validate(three_rows, on_bad_rows="quarantine")
    assert write_quarantine(clean_report, tmp_path) == []
    assert not list(tmp_path.glob("*.parquet"))


def test_several_rules_on_one_row_are_all_given(three_rows):
    accounts = three_rows.accounts.assign(
        followers_count=pd.array([-1, 0, 1], "Int64"),
        observed_at=[pd.NaT, utc("2024-01-31"), utc("2024-01-31")])
    _, report = validate(replace(three_rows, accounts=accounts), on_bad_rows="quarantine")
    reason = report.quarantine["accounts"]["reason"].iloc[0]
    assert "negative count" in reason and "observation time is missing" in reason
    # the quarantined account takes its posts, follows and engagements with it
    assert report.rows_quarantined("posts") == 2 and report.rows_quarantined("follows") == 2


def test_round_trip_through_parquet_keeps_types(three_rows, tmp_path):
    write_dataset(three_rows, tmp_path)
    back = read_dataset(tmp_path)
    validate(back)
    assert back.engagements["post_id"].tolist() == [10, 10, 12]
    assert str(back.posts["created_at"].dtype) == "datetime64[us, UTC]"


def test_an_engagement_loaded_twice_is_reported_and_one_copy_kept(three_rows):
    events = three_rows.engagements
    twice = replace(three_rows, engagements=pd.concat([events, events.iloc[[1]]],
                                                      ignore_index=True))
    assert ("engagements", "*", "exact copy of an earlier row", 1) in only_failure(twice)
    clean, report = validate(twice, on_bad_rows="quarantine")
    pd.testing.assert_frame_equal(clean.engagements, events)  # the first copy stays
    assert len(report.quarantine["engagements"]) == 1


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_parquet_file_is_a_data_error_naming_the_table(three_rows, tmp_path, damage):
    write_dataset(three_rows, tmp_path)
    path = tmp_path / "posts.parquet"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"")
    with pytest.raises(DataError, match=r"posts table: .*posts\.parquet is not a readable"):
        read_dataset(tmp_path)


def test_bad_on_bad_rows_value_is_refused(three_rows):
    with pytest.raises(ValueError, match="on_bad_rows must be"):
        validate(three_rows, on_bad_rows="drop")


@pytest.mark.parametrize("case", ["extra column in accounts", "every post to an unknown account",
                                  "no accounts"])
def test_tables_left_empty_by_earlier_failures_are_reported_not_a_crash(three_rows, case):
    # the rules that look a row's post or account up used to index an empty table (IndexError)
    dataset = {
        "extra column in accounts": replace(three_rows,
                                            accounts=three_rows.accounts.assign(extra=1)),
        "every post to an unknown account": replace(
            three_rows, posts=three_rows.posts.assign(account_id=99)),
        "no accounts": replace(three_rows, accounts=three_rows.accounts.iloc[:0]),
    }[case]
    failures = only_failure(dataset)
    # every post fails its account, so every engagement fails its post: each rule named, counted
    assert ("engagements", "post_id", "points to an unknown post (posts.post_id)", 3) in {
        (t, c, r.split(";")[0], n) for t, c, r, n in failures}
    if case != "extra column in accounts":  # a schema failure stops the run: no quarantine
        clean, report = validate(dataset, on_bad_rows="quarantine")
        assert len(clean.engagements) == 0 and len(report.quarantine["engagements"]) == 3
