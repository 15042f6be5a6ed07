"""ONNX export: every booster matches LightGBM on its raw output, and the score computed from
the ONNX outputs equals the pyfunc model's."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from clout.export.onnx import export_onnx, load_onnx_model
from clout.scoring.score import InfluenceModel

TOLERANCE = 1e-5  # on the raw output (log rate) of each booster


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory):
    _, _, saved, _ = built
    return export_onnx(saved, tmp_path_factory.mktemp("onnx") / "model")


def test_every_booster_matches_lightgbm_on_the_raw_output(built, exported):
    model, rows, _, _ = built  # missing values and all
    lightgbm, onnx = InfluenceModel.load(exported), load_onnx_model(exported)
    files = onnx._booster_files()
    assert len(files) == len(model.heads) + len(model.components)
    worst = 0.0
    for name, head in lightgbm._booster_files().items():
        X = rows[head.features]
        reference = head.booster.predict(X, raw_score=True, num_threads=1)
        worst = max(worst, np.abs(files[name].booster.predict(X, raw_score=True)
                                  - reference).max())
    print(f"max |ONNX - LightGBM| on the raw output over {len(rows)} rows: {worst:.2e}")
    assert worst <= TOLERANCE


def test_the_score_from_onnx_equals_the_pyfunc_score(built, exported):
    model, test, _, run_id = built
    rows = test[["account_id", *model.features]]
    served = mlflow.pyfunc.load_model(f"runs:/{run_id}/clout").predict(rows)
    onnx = load_onnx_model(exported).score(rows)
    assert (onnx["score"] == served["score"]).all()
    for component in model.component_maps:
        assert (onnx[component] == served[component]).all()
    np.testing.assert_allclose(onnx["expected_engagement"], served["expected_engagement"],
                               rtol=1e-5)
    pd.testing.assert_series_equal(onnx["model_version"], served["model_version"])


def test_cli_exports_a_promoted_or_logged_model(built, tmp_path):
    from typer.testing import CliRunner

    from clout.cli import app

    model, _, _, run_id = built
    out = tmp_path / "onnx"
    done = CliRunner().invoke(app, ["export", f"runs:/{run_id}/clout", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert (out / "model.json").is_file() and len(list((out / "heads").glob("*.onnx"))) > 0
    assert load_onnx_model(out).version == model.version
    failed = CliRunner().invoke(app, ["export", "models:/clout@nobody", "--out", str(out)])
    assert failed.exit_code == 2 and "cannot export" in failed.output
