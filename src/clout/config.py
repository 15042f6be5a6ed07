"""An experiment, as declared in a YAML file in `experiments/`, validated by pydantic.

Every parameter of a run lives here: the data source, the cutoffs, the feature windows and
horizon, the heads, LightGBM's parameters, the score's weights, and two seeds: `data.seed` for
the simulated world and `model.seed` for training, so that a model can be retrained on the same
world. Errors name the file and the field (`model.params.num_leaves: ...`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clout.data.loaders import LOADERS
from clout.data.simulator import PRESETS
from clout.errors import ConfigError
from clout.export.release import GateThresholds
from clout.features.config import FeatureConfig

SHARED_DATA = Path("../shared/data")
COMPONENTS = ("reach", "amplification", "network")  # catalogue families scored on their own


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(Strict):
    """Where the accounts' histories come from."""

    source: Literal["simulator", "directory", *LOADERS] = "simulator"
    preset: str = Field("default", description="simulator preset (tiny, small, default, large)")
    seed: int = Field(7, description="the simulated world's seed (simulator only)")
    path: Path | None = Field(
        None, description="directory in the contract (source: directory) or the raw files of a "
                          "real dataset (default: ../shared/data/<source>)")
    on_bad_rows: Literal["error", "quarantine"] = "error"

    @model_validator(mode="after")
    def _check(self):
        if self.source == "simulator" and self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} unknown; choose one of {', '.join(PRESETS)}")
        if self.source == "directory" and self.path is None:
            raise ValueError("source 'directory' needs a path")
        return self

    def resolved_path(self) -> Path | None:
        if self.path is not None or self.source in ("simulator", "directory"):
            return self.path
        return SHARED_DATA / self.source


class CutoffSpec(Strict):
    """The weekly cutoffs: the last `weeks` Mondays whose label horizon fits the data, or dates."""

    weeks: int = Field(12, ge=3, description="at least train, validation and test")
    dates: list[date] | None = None


class ModelSpec(Strict):
    """The LightGBM heads: one per engagement kind, on counts with posts as exposure."""

    heads: list[str] | None = Field(
        None, description="kinds to predict (clicks, retweets, replies, likes); default: every "
                          "kind the source has")
    exclude_features: list[str] = Field(
        default_factory=list, description="feature names or glob patterns the heads do not "
                                          "see (e.g. counters that can be bought)")
    target: Literal["auto", "independent", "all"] = Field(
        "auto", description="independent: learn engagement that is not traded back (needs "
                            "events); all: every engagement; auto: independent where the "
                            "source has events, else all")
    seed: int = Field(7, description="LightGBM's seed, the calibrators' cross-fitting and the "
                                      "audit's samples (not the data: that is data.seed)")
    objective: Literal["poisson", "tweedie"] = "poisson"
    num_boost_round: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    params: dict[str, Any] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0})
    history_offset: bool = Field(
        True, description="start each head from the account's own per-post rate over the "
                          "longest window (shrunk to the base rate): trees learn corrections")
    prior_posts: float = Field(
        5.0, ge=0, description="shrinkage of that history: this many posts at the base rate")
    calibration: Literal["auto", "none", "glm", "isotonic"] = Field(
        "auto", description="auto: the recalibration with the best cross-fitted validation "
                            "deviance, or none when none improves it")
    components: bool = Field(True, description="also score reach, amplification and network")
    stability_seeds: list[int] = Field(
        default_factory=list, description="retrain the heads with these seeds too, to show how "
                                          "far importance ranks move (audit only)")

    @model_validator(mode="after")
    def _check(self):
        reserved = {"objective", "seed", "deterministic", "num_threads", "verbosity",
                    "force_row_wise", "force_col_wise"}
        if clash := reserved & set(self.params):
            raise ValueError(f"params may not set {', '.join(sorted(clash))}: the experiment "
                             "sets them (objective, model.seed, num_threads) or fixes them for "
                             "reproducibility")
        return self


class ScoreSpec(Strict):
    """How calibrated heads combine into expected engagement, and how that maps to 1-100."""

    weights: dict[str, float] | None = Field(
        None, description="relative contribution of each head (default: equal); each head is "
                          "divided by its base rate first, so 1 = an average account")
    low_quantile: float = Field(0.01, gt=0, lt=0.5, description="maps to score 1")
    high_quantile: float = Field(0.999, gt=0.5, lt=1, description="maps to score 100")

    @model_validator(mode="after")
    def _check(self):
        if self.weights is not None and (not self.weights or min(self.weights.values()) < 0
                                         or sum(self.weights.values()) <= 0):
            raise ValueError("weights must be non-negative with a positive sum")
        return self


class ComputeSpec(Strict):
    """Where the heavy steps run. `local`: this process. `dask`: a Dask cluster at `address`, or
    with no address a LocalCluster of `workers` processes, started and closed by the run."""

    engine: Literal["local", "dask"] = "local"
    address: str | None = Field(None, description="scheduler, e.g. tcp://10.0.0.5:8786")
    workers: int = Field(2, ge=1, description="LocalCluster only: worker processes")
    threads_per_worker: int = Field(1, ge=1, description="LocalCluster only")
    partitions: int | None = Field(None, ge=1, description="account partitions (default: "
                                   "2 per worker)")

    @model_validator(mode="after")
    def _address_needs_dask(self):
        if self.address is not None and self.engine != "dask":
            raise ValueError("compute.address is for engine: dask")
        return self


class Experiment(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    data: DataSpec = DataSpec()
    cutoffs: CutoffSpec = CutoffSpec()
    features: FeatureConfig = FeatureConfig()
    model: ModelSpec = ModelSpec()
    score: ScoreSpec = ScoreSpec()
    release: GateThresholds = GateThresholds()
    mlflow_experiment: str = Field("clout", description="MLflow experiment the run goes to")
    num_threads: int | None = Field(
        None, ge=1, description="LightGBM's threads (default: every core); speed only, the "
                                "trees are the same at any count")
    compute: ComputeSpec = ComputeSpec()

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


def _describe(err: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
            for e in err.errors()]


def load_experiment(path: str | Path, **overrides) -> Experiment:
    """Read and validate an experiment YAML. `overrides` are dotted fields, e.g.
    `{"data.path": "/data/congress"}`, applied before validation."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentError(f"experiment file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ExperimentError(f"{path}: not valid YAML: {err}") from None
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
        return Experiment.model_validate(raw)
    except ValidationError as err:
        raise ExperimentError(f"{path}: {err.error_count()} invalid field(s)\n  "
                              + "\n  ".join(_describe(err))) from None
