"""Experiment files: the shipped ones load, and a bad one names the file and every bad field."""

from __future__ import annotations

import pytest

from clout.config import ExperimentError, load_experiment
from support import ROOT


@pytest.mark.parametrize("name", ["default", "small", "congress"])
def test_shipped_experiments_load(name):
    experiment = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    assert experiment.name == name
    assert experiment.features.horizon_days == 14
    assert experiment.cutoffs.weeks >= 3


def test_congress_reads_the_shared_data_by_default_and_takes_an_override():
    experiment = load_experiment(ROOT / "experiments" / "congress.yaml")
    assert experiment.data.resolved_path().as_posix().endswith("shared/data/congress")
    moved = load_experiment(ROOT / "experiments" / "congress.yaml", **{"data.path": "/x/c"})
    assert moved.data.resolved_path().as_posix() == "/x/c"


def test_errors_name_the_file_and_each_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n"
                    "data: {source: simulator, preset: huge}\n"
                    "model: {num_boost_round: 0, params: {objective: huber}, colour: red}\n"
                    "score: {high_quantile: 2}\n")
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    message = str(err.value)
    assert str(path) in message
    for field in ("data:", "model.num_boost_round", "model.colour", "score.high_quantile"):
        assert field in message, field
    assert "preset 'huge' unknown" in message


def test_a_mistyped_key_gets_the_nearest_valid_one(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text("cutofs: {weeks: 8}\n"
                    "data: {sourc: simulator}\n"
                    "model: {num_boost_rounds: 50, colour: red}\n")
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    lines = {line.strip().split(":")[0]: line.strip() for line in
             str(err.value).splitlines()[1:]}
    assert lines["cutofs"] == ("cutofs: Extra inputs are not permitted "
                               "(did you mean `cutoffs`?)")
    assert lines["data.sourc"].endswith("(did you mean `source`?)")
    assert lines["model.num_boost_rounds"].endswith("(did you mean `num_boost_round`?)")
    assert "did you mean" not in lines["model.colour"]  # nothing near it


def test_params_may_not_override_what_reproducibility_fixes(tmp_path):
    path = tmp_path / "seeded.yaml"
    path.write_text("model: {params: {seed: 3, num_threads: 8, force_row_wise: true}}\n")
    with pytest.raises(ExperimentError, match="force_row_wise, num_threads, seed"):
        load_experiment(path)


def test_the_early_stopping_floor_fits_within_the_rounds(tmp_path):
    path = tmp_path / "floor.yaml"
    path.write_text("model: {num_boost_round: 50, min_boost_rounds: 100}\n")
    with pytest.raises(ExperimentError, match=r"min_boost_rounds \(100\) is more than "
                                              r"num_boost_round \(50\)"):
        load_experiment(path)


def test_one_seed_for_the_world_and_one_for_training(tmp_path):
    path = tmp_path / "one-seed.yaml"
    path.write_text("seed: 3\n")
    with pytest.raises(ExperimentError, match="data.seed .* and model.seed"):
        load_experiment(path)
    path.write_text("data: {seed: 3}\nmodel: {seed: 4}\n")
    experiment = load_experiment(path)
    assert (experiment.data.seed, experiment.model.seed) == (3, 4)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ExperimentError, match="not found"):
        load_experiment(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ExperimentError, match="expected a mapping"):
        load_experiment(tmp_path / "list.yaml")


def test_name_defaults_to_the_file_stem_and_round_trips(tmp_path):
    path = tmp_path / "quick-try.yaml"
    path.write_text("data: {preset: tiny}\n")
    experiment = load_experiment(path)
    assert experiment.name == "quick-try"
    path.write_text(experiment.to_yaml())
    assert load_experiment(path) == experiment


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("name: ..\n", "name: String should match pattern"),
    ("name: a/b\n", "name: String should match pattern"),
    ("mlflow_experiment: ../../x\n", "mlflow_experiment: String should match pattern"),
    ("model: {params: {colour: red, num_leaves: 7}}\n", "LightGBM has no parameter colour"),
    ("model: {params: {num_leaves: -3}}\n", "num_leaves: -3 refused"),
    ("model: {params: {learning_rate: fast}}\n", "learning_rate: 'fast' refused"),
    ("model: {seed: 1180591620717411303424}\n", "model.seed: Input should be less than or "
                                                "equal to 2147483647"),
    ("data: {seed: -1}\n", "data.seed: Input should be greater than or equal to 0"),
    ("score: {weights: {retweets: 1, clickz: 1}}\n", "no head is called clickz"),
], ids=["empty", "dot-dot name", "name with a separator", "experiment path", "unknown param",
        "invalid value", "invalid type", "seed 2**70", "negative seed", "unknown head"])
def test_a_bad_experiment_is_refused_before_any_work(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_more_weeks_than_the_data_holds_is_refused(tiny_world):
    from clout.errors import ConfigError
    from clout.features.build import load_tables
    from clout.features.days import weekly_cutoffs

    tables = load_tables(tiny_world[0])
    assert len(weekly_cutoffs(tables, 8, 14)) == 8
    with pytest.raises(ConfigError, match=r"weeks: 500 weekly cutoffs reach back to .* but the "
                                          r"data begins on .*; at most \d+ fit"):
        weekly_cutoffs(tables, 500, 14)
