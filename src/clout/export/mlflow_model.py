"""Log the score as one MLflow pyfunc model, register it under one name, promote by alias."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import ColSpec, Schema

from clout.export import pyfunc_model
from clout.scoring.score import InfluenceModel
from clout.tracking import RUN

MODEL_NAME = "clout"  # the registered model every promoted run becomes a version of


def log_pyfunc(model: InfluenceModel, model_dir: Path, features: pd.DataFrame) -> None:
    """Log the saved model in `model_dir` as a pyfunc in the active run, with a signature and an
    input example taken from `features` (a few rows of the feature table)."""
    example = features[["account_id", *model.features]].head(5).reset_index(drop=True)
    with warnings.catch_warnings():
        # MLflow warns that integer columns cannot hold missing values: ours are counts, which
        # the feature builder fills with 0, never missing
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
        inferred = infer_signature(example, model.score(example))
    # every input optional: the model checks its columns itself and names the one at fault,
    # where MLflow's own check answers a missing column by echoing the whole request back
    signature = ModelSignature(
        Schema([ColSpec(c.type, c.name, required=False) for c in inferred.inputs.inputs]),
        inferred.outputs)
    mlflow.pyfunc.log_model(
        name=RUN.model, python_model=pyfunc_model.__file__,
        artifacts={"clout_model": str(model_dir)}, signature=signature, input_example=example,
        # served with --env-manager local, in the environment clout is installed in
        pip_requirements=["clout"])


def promote(run_id: str, alias: str) -> int:
    """Register the run's model as a new version of MODEL_NAME and point `alias` at it;
    returns the version."""
    version = mlflow.register_model(f"runs:/{run_id}/{RUN.model}", MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, alias, version.version)
    return int(version.version)


def load_influence_model(uri: str) -> InfluenceModel:
    """The clout model behind an MLflow model URI (models:/clout@champion, runs:/ID/clout)."""
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def saved_model_directory(uri: str) -> Path:
    """The saved model's files behind an MLflow model URI, downloaded locally."""
    return Path(mlflow.pyfunc.load_model(uri).unwrap_python_model().directory)
