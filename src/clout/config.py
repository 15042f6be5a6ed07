"""An experiment, as declared in a YAML file in `experiments/`, validated by pydantic.

Every parameter of a run lives here: the data source, the cutoffs, the feature windows and
horizon, the heads, LightGBM's parameters, the score's weights, and two seeds: `data.seed` for
the simulated world and `model.seed` for training, so that a model can be retrained on the same
world. Errors name the file and the field (`model.params.num_leaves: ...`).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from clout.compute import ComputeSpec
from clout.data.config import DataSpec
from clout.errors import ConfigError
from clout.export.release import GateThresholds
from clout.features.config import CutoffSpec, FeatureConfig
from clout.models.config import ModelSpec
from clout.scoring.config import ScoreSpec

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # names become folder names (outputs, releases, MLflow artifacts): one plain segment, no
    # separator and no leading dot (so neither "." nor "..")
    name: str = Field(pattern=NAME)
    description: str = ""
    data: DataSpec = DataSpec()
    cutoffs: CutoffSpec = CutoffSpec()
    features: FeatureConfig = FeatureConfig()
    model: ModelSpec = ModelSpec()
    score: ScoreSpec = ScoreSpec()
    release: GateThresholds = GateThresholds()
    mlflow_experiment: str = Field("clout", pattern=NAME,
                                   description="MLflow experiment the run goes to")
    num_threads: int | None = Field(
        None, ge=1, description="LightGBM's threads (default: every core); speed only, the "
                                "trees are the same at any count")
    compute: ComputeSpec = ComputeSpec()
    _source: Path | None = PrivateAttr(None)  # the file it was read from, if any

    @property
    def source(self) -> Path | None:
        """The YAML file this experiment was read from (None when built in code): a run
        records it, so two files with the same `name` keep their runs apart."""
        return self._source

    @model_validator(mode="before")
    @classmethod
    def _one_seed_per_stage(cls, raw):
        if isinstance(raw, dict) and "seed" in raw:
            raise ValueError("seed: set data.seed (the simulated world) and model.seed "
                             "(training) instead of one seed for both")
        return raw

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class ExperimentError(ConfigError):
    """An experiment file that cannot be used; the message names the file and every field."""


def _fields_at(loc: tuple) -> list[str]:
    """The field names the experiment accepts beside the key at `loc` (none past a free-form
    mapping, such as LightGBM's params)."""
    model: type[BaseModel] | None = Experiment
    for key in loc[:-1]:
        field = model.model_fields.get(key) if model else None
        annotation = field.annotation if field else None
        model = annotation if isinstance(annotation, type) and issubclass(
            annotation, BaseModel) else None
    return list(model.model_fields) if model else []


def _describe(err: ValidationError) -> list[str]:
    """One line per error: the dotted field and what is wrong; an unknown key gets the
    nearest valid one."""
    lines = []
    for e in err.errors():
        line = f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
        if e["type"] == "extra_forbidden" and (near := difflib.get_close_matches(
                str(e["loc"][-1]), _fields_at(e["loc"]), n=1, cutoff=0.6)):
            line += f" (did you mean `{near[0]}`?)"
        lines.append(line)
    return lines


def load_experiment(path: str | Path, **overrides) -> Experiment:
    """Read and validate an experiment YAML. `overrides` are dotted fields, e.g.
    `{"data.path": "/data/congress"}`, applied before validation."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"experiment file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ExperimentError(f"{path}: not valid YAML: {err}") from None
    if raw is None:  # an empty file would silently run every default
        raise ExperimentError(f"{path}: the file is empty; an experiment names at least its "
                              "data (see experiments/default.yaml)")
    if not isinstance(raw, dict):
        raise ExperimentError(f"{path}: expected a mapping of fields, got {type(raw).__name__}")
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    raw.setdefault("name", path.stem)
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as err:
        raise ExperimentError(f"{path}: {err.error_count()} invalid field(s)\n  "
                              + "\n  ".join(_describe(err))) from None
    experiment._source = path
    return experiment
