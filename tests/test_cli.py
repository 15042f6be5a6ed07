"""The data commands end to end, including a corrupted copy of a real dataset."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from clout.cli import app
from clout.data.dataset import read_dataset, write_dataset
from clout.data.loaders import load_congress
from support import shared_dataset

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_simulate_validate_summary(tmp_path):
    out = tmp_path / "sim"
    result = invoke("simulate", "--preset", "tiny", "--out", out)
    assert result.exit_code == 0, result.output
    assert "engagements" in result.output
    assert invoke("data", "validate", out).exit_code == 0
    summary = invoke("data", "summary", out)
    assert summary.exit_code == 0 and "fake_follower" in summary.output


def test_schema_prints_every_table():
    result = invoke("data", "schema")
    assert result.exit_code == 0
    for table in ("accounts", "follows", "posts", "engagements"):
        assert table in result.output
    assert invoke("data", "schema", "--table", "nope").exit_code == 2


def test_missing_dataset_is_a_clear_error(tmp_path):
    result = invoke("data", "validate", tmp_path / "nothing")
    assert result.exit_code == 2 and "not found" in result.output


@pytest.mark.realdata
def test_corrupted_congress_is_refused_then_quarantined_without_losing_good_rows(tmp_path):
    congress = load_congress(shared_dataset("congress"))
    posts = congress.posts.copy()
    posts.loc[posts.index[:7], "retweets"] = -3                      # negative counts
    posts.loc[posts.index[10:15], "post_id"] = posts["post_id"].iloc[20]  # 6 rows share an id
    posts.loc[posts.index[30:34], "account_id"] = 123                 # unknown author
    posts.loc[posts.index[40:42], "created_at"] = pd.Timestamp("2099-01-01", tz="UTC")
    congress.posts = posts
    raw = write_dataset(congress, tmp_path / "raw")

    refused = invoke("data", "validate", raw)
    assert refused.exit_code == 1
    for words in ("negative count", "duplicate id", "unknown account", "future"):
        assert words in refused.output, words

    quarantine, clean_dir = tmp_path / "quarantine", tmp_path / "clean"
    result = invoke("data", "validate", raw, "--on-bad-rows", "quarantine",
                    "--quarantine-dir", quarantine, "--output", clean_dir)
    assert result.exit_code == 0, result.output
    bad = pd.read_parquet(quarantine / "posts.parquet")
    assert len(bad) == 7 + 6 + 4 + 2
    clean = read_dataset(clean_dir)
    assert len(clean.posts) + len(bad) == len(posts)  # every row is somewhere
    assert len(clean.accounts) == len(congress.accounts)
    assert posts["post_id"].iloc[20] not in set(clean.posts["post_id"])  # no copy is kept
    untouched = posts.drop(index=posts.index[list(range(7)) + list(range(10, 15)) + [20]
                                            + list(range(30, 34)) + [40, 41]])
    assert set(untouched["post_id"]) <= set(clean.posts["post_id"])


def test_a_users_mistake_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import clout.cli

    bad = runner.invoke(app, ["features", "build", str(tmp_path), "--cutoff", "2024-13-01"])
    assert bad.exit_code == 2 and "expected a date" in bad.output
    missing = runner.invoke(app, ["features", "build", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no accounts table" in missing.output
    assert "Traceback" not in missing.output

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in clout")
    monkeypatch.setattr(clout.cli, "read_dataset", broken)
    bug = runner.invoke(app, ["data", "summary", str(tmp_path)])
    assert isinstance(bug.exception, ZeroDivisionError)  # not turned into a user error
    assert "error:" not in bug.output


def test_whole_numbers_print_as_integers_and_tables_fit_a_log(capsys):
    import numpy as np

    from clout.cli import print_frame

    print_frame(pd.DataFrame({"role": ["genuine", "bot"], "accounts": [13910.0, 25.0],
                              "gap": [0.0, 0.446], "runs": [1.0, np.nan]}))
    shown = capsys.readouterr().out
    assert "13,910" in shown and "13910.000" not in shown and " 25 " in shown
    assert "0.000" in shown and "0.446" in shown  # a column with fractions keeps them
    wide = pd.DataFrame({f"a_rather_long_column_name_{i}": [1.5] for i in range(8)})
    print_frame(wide)
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 100


def test_a_long_stage_is_never_silent(monkeypatch, capsys):
    import time

    from clout.cli import Stages

    monkeypatch.setattr(Stages, "HEARTBEAT", 0.2)
    say = Stages()
    say("training a head")
    shown = ""
    for _ in range(200):  # a stage that says nothing itself, until the watch has spoken twice
        time.sleep(0.05)
        shown += capsys.readouterr().out
        if shown.count("... training a head (") >= 2:
            break
    say.end()
    lines = (shown + capsys.readouterr().out).splitlines()
    assert lines[0].endswith("s  training a head")
    assert len(lines) >= 3 and all("... training a head (" in line for line in lines[1:]), lines


def test_a_missing_experiment_file_is_said_before_anything_is_imported(tmp_path):
    import subprocess
    import sys

    # a fresh interpreter: the refusal must not need the pipeline's modules
    code = ("import sys; from typer.testing import CliRunner; from clout.cli import app; "
            "r = CliRunner().invoke(app, ['train', 'nope.yaml']); print(r.exit_code, r.output); "
            "print(sorted(m for m in ('lightgbm', 'clout.pipeline', 'clout.config', "
            "'clout.features.build') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    assert out.startswith("2 error: experiment file nope.yaml not found"), out
    assert out.strip().endswith("[]"), out
