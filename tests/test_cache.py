"""The cache of validated data and features: a second command reads what the first built, the
same tables to the last bit; `--no-cache` builds again; any change of input, configuration or
code is another key."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from clout import cache as cache_module
from clout import prepare
from clout.cache import Cache
from clout.cli import app
from clout.data.config import DataSpec
from clout.features.build import load_tables
from clout.features.config import FeatureConfig
from clout.features.days import weekly_cutoffs


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def counted(calls: list):
    def build():
        calls.append(1)
        return {"value": len(calls)}
    return build


def save(value, folder):
    (folder / "value.json").write_text(json.dumps(value))
    return {"saved": True}


def load(folder, saved):
    assert saved == {"saved": True}
    return json.loads((folder / "value.json").read_text())


def test_an_entry_is_built_once_then_read_and_rebuilt_only_when_asked(tmp_path):
    calls = []
    cache = Cache(tmp_path)
    assert cache.fetch("things", {"a": 1}, counted(calls), save, load) == {"value": 1}
    assert cache.fetch("things", {"a": 1}, counted(calls), save, load) == {"value": 1}
    assert len(calls) == 1  # read, not built
    assert cache.fetch("things", {"a": 2}, counted(calls), save, load) == {"value": 2}
    rebuilt = Cache(tmp_path, rebuild=True).fetch("things", {"a": 1}, counted(calls), save, load)
    assert rebuilt == {"value": 3}  # --no-cache: built again, and stored in place of the old
    assert cache.fetch("things", {"a": 1}, counted(calls), save, load) == {"value": 3}
    Cache(tmp_path, enabled=False).fetch("things", {"a": 9}, counted(calls), save, load)
    assert [e["holds"] for e in cache.entries()] == ["", ""] and len(calls) == 4
    assert cache.clear() == 2 and cache.entries() == []


def test_a_damaged_entry_is_built_again_with_a_warning(tmp_path):
    calls, cache = [], Cache(tmp_path)
    cache.fetch("things", {"a": 1}, counted(calls), save, load)
    (next(tmp_path.glob("things/*")) / "value.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.fetch("things", {"a": 1}, counted(calls), save, load) == {"value": 2}


def test_the_key_covers_the_code_that_builds_the_entries(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    before = cache.key("things", {"a": 1})
    monkeypatch.setattr(cache_module, "code_version", lambda: "edited")
    assert cache.key("things", {"a": 1}) != before


def test_cached_data_and_features_are_the_built_ones_to_the_last_bit(tmp_path, monkeypatch):
    spec = DataSpec(source="simulator", preset="tiny", seed=5)
    cache, config = Cache(tmp_path), FeatureConfig()
    built = prepare.load_source(spec, cache)
    tables = load_tables(built.dataset)
    cutoffs = weekly_cutoffs(tables, 3, config.horizon_days)
    frame = prepare.source_features(built, tables, cutoffs, config, cache=cache)

    def never(*args, **kwargs):
        raise AssertionError("built again instead of read from the cache")
    monkeypatch.setattr(prepare, "_read_source", never)
    read = prepare.load_source(spec, cache)
    assert read.fingerprint == built.fingerprint == read.dataset.fingerprint()
    for name, table in built.dataset.tables().items():
        pd.testing.assert_frame_equal(read.dataset.tables()[name], table)
    pd.testing.assert_frame_equal(read.truth, built.truth)
    assert read.quarantined == built.quarantined
    engine = type("NoBuild", (), {"features": never})()
    again = prepare.source_features(read, tables, cutoffs, config, engine=engine, cache=cache)
    pd.testing.assert_frame_equal(again, frame)
    with pytest.raises(AssertionError, match="built again"):  # another seed: another key
        prepare.load_source(spec.model_copy(update={"seed": 6}), cache)
    with pytest.raises(AssertionError, match="built again"):  # other windows: other features
        prepare.source_features(read, tables, cutoffs, FeatureConfig(windows=(7, 28)),
                                 engine=engine, cache=cache)


def test_a_file_source_is_keyed_by_its_bytes(tmp_path, tiny_world):
    from clout.data.dataset import write_dataset

    folder = write_dataset(tiny_world[0], tmp_path / "world")
    spec, cache = DataSpec(source="directory", path=folder), Cache(tmp_path / "cache")
    first = cache.key("sources", {"inputs": cache_module.digest_files(folder)})
    table = pd.read_parquet(folder / "posts.parquet")
    table.iloc[:-1].to_parquet(folder / "posts.parquet", index=False)  # one post fewer
    assert cache.key("sources", {"inputs": cache_module.digest_files(folder)}) != first
    assert prepare.load_source(spec, cache).dataset.posts.shape[0] == len(table) - 1


def test_score_and_explain_read_what_train_built_and_no_cache_builds_again(
        tmp_path, monkeypatch):
    from support import quick_tiny

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUT_CACHE", str(tmp_path / "interim"))
    path = quick_tiny(tmp_path, "cached")
    assert invoke("train", path).exit_code == 0
    listed = invoke("cache", "list")
    from clout.cache import PROJECT_CACHE
    holds = [e["holds"] for e in PROJECT_CACHE.entries()]
    assert "validated tables of simulator tiny world, seed 3" in holds
    words = " ".join(listed.output.replace("│", " ").split())  # the table may wrap it
    assert all(word in words for word in ("validated", "tables", "simulator", "seed 3"))
    builds = []
    real = prepare._read_source
    monkeypatch.setattr(prepare, "_read_source",
                        lambda spec, *rest: builds.append(spec) or real(spec, *rest))
    scored = invoke("score", path, "--out", tmp_path / "a.parquet")
    assert scored.exit_code == 0, scored.output
    # it ends as make run does: where the scores are, what they mean, what to run next
    ending = [line.split(":")[0] for line in scored.output.splitlines() if ":" in line][-3:]
    assert ending == ["scores", "meaning", "next"], scored.output
    account = pd.read_parquet(tmp_path / "a.parquet").sort_values("score")["account_id"].iloc[-1]
    assert invoke("explain", account).exit_code == 0
    assert builds == []  # score and explain read the data train validated
    again = invoke("score", path, "--out", tmp_path / "b.parquet", "--no-cache")
    assert again.exit_code == 0 and len(builds) == 1
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"),
                                  pd.read_parquet(tmp_path / "b.parquet"))
    assert invoke("cache", "clear").exit_code == 0
    assert not list((tmp_path / "interim").glob("*/*/entry.json"))


def test_the_cache_is_the_projects_whatever_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.delenv("CLOUT_CACHE")
    for where in (project, project / "notebooks"):
        monkeypatch.chdir(where)
        # beside, not over, what `clout data load` writes to data/interim
        assert cache_module.default_root() == project / "data" / "interim" / "cache"
