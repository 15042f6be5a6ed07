"""Log the score as one MLflow pyfunc model, register it under one name, promote by alias."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, get_model_info, infer_signature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from clout.errors import ModelError, NotFound
from clout.export import pyfunc_model
from clout.scoring.score import InfluenceModel
from clout.tracking import RUN

MODEL_NAME = "clout"  # the registered model every promoted run becomes a version of
DIGEST_TAG = "clout.model_files_digest"


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
        inferred.outputs,
        ParamSchema([ParamSpec(pyfunc_model.WEIGHTS_PARAM, "string", "")]))  # "": trained
    logged = mlflow.pyfunc.log_model(
        name=RUN.model, python_model=pyfunc_model.__file__,
        artifacts={"clout_model": str(model_dir)}, signature=signature, input_example=example,
        # served with --env-manager local, in the environment clout is installed in
        pip_requirements=["clout"])
    # the digest of every file as stored (code included), kept outside the artifact
    mlflow.set_tag(DIGEST_TAG, artifact_digest(
        Path(mlflow.artifacts.download_artifacts(logged.model_uri))))


def artifact_digest(folder: Path) -> str:
    """sha256 over every file of a model folder, with its relative path (but the registry's
    note of the name and version it was registered under, which registering rewrites)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*")
                       if p.is_file() and p.name != "registered_model_meta"):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def promote(run_id: str, alias: str) -> int:
    """Register the run's model as a new version of MODEL_NAME and point `alias` at it;
    returns the version."""
    # MLflow 3 keeps a run's model as a logged model of its own: registered by its id, not by
    # a path among the run's artifacts (which MLflow would warn does not exist)
    run = mlflow.MlflowClient().get_run(run_id)
    logged = [m.model_id for m in (run.outputs.model_outputs if run.outputs else [])]
    if not logged:
        raise NotFound(f"run {run_id} has no logged model: only training runs have one "
                       "(clout runs shows each run's kind)")
    version = mlflow.register_model(f"models:/{logged[-1]}", MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, alias, version.version)
    return int(version.version)


def registered(uri: str) -> str:
    """`uri` as it is; a `models:/NAME@ALIAS` or `models:/NAME/VERSION` whose name or alias
    the registry does not hold is refused with the command that makes it."""
    if not uri.startswith("models:/"):
        return uri
    name, _, alias = uri.removeprefix("models:/").partition("@")
    name = name.split("/")[0]
    client = mlflow.MlflowClient()
    for lookup, missing in ((lambda: client.get_registered_model(name),
                             f"no model is registered as {name!r} yet"),
                            (lambda: alias and client.get_model_version_by_alias(name, alias),
                             f"no version of {name!r} has the alias {alias!r}")):
        try:
            lookup()
        except MlflowException:
            raise NotFound(f"{uri}: {missing} at {mlflow.get_tracking_uri()}: promote a "
                           f"training run (clout promote RUN{f' --alias {alias}' * bool(alias)}"
                           "; clout runs lists them), or give a run id instead") from None
    return uri


def verified_pyfunc(uri: str) -> mlflow.pyfunc.PyFuncModel:
    """The pyfunc model behind an MLflow model URI, loaded only once every file of it (its
    code included: loading runs it) digests to what its run recorded when it was logged."""
    info = get_model_info(registered(uri))  # reads the MLmodel file only
    folder = Path(mlflow.artifacts.download_artifacts(uri))
    recorded = mlflow.MlflowClient().get_run(info.run_id).data.tags.get(DIGEST_TAG)
    if recorded is None:
        raise ModelError(f"{uri}: its run {info.run_id} recorded no digest of the model's files "
                         "(logged before clout checked them): retrain it")
    if (found := artifact_digest(folder)) != recorded:
        raise ModelError(f"{uri}: the model's files (code included) do not match the digest "
                         f"its run recorded ({found[:12]} != {recorded[:12]}): not loaded")
    return mlflow.pyfunc.load_model(str(folder))


def model_behind(uri: str) -> str:
    """Which model an MLflow model URI stands for, in the words the releases use: its run and
    its model version (the digest every score row carries)."""
    run_id = get_model_info(registered(uri)).run_id
    version = mlflow.MlflowClient().get_run(run_id).data.tags.get("model_version", "unknown")
    return f"run {run_id[:8]}, model {version}"


def load_influence_model(uri: str) -> InfluenceModel:
    """The clout model behind an MLflow model URI (models:/clout@champion, runs:/ID/clout)."""
    return verified_pyfunc(uri).unwrap_python_model().model


def serving_example(uri: str) -> str:
    """The JSON request body the model was logged with (`serving_input_example.json`): rows
    of real features, which `clout serve` scores."""
    folder = Path(mlflow.artifacts.download_artifacts(registered(uri)))
    return (folder / "serving_input_example.json").read_text()


def saved_model_directory(uri: str) -> Path:
    """The saved model's files behind an MLflow model URI, downloaded locally."""
    return Path(verified_pyfunc(uri).unwrap_python_model().directory)
