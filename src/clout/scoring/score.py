"""From calibrated heads to the 1-100 score and its three components.

Influence has three parts (`clout.data.influence`), each predicted by heads on the feature table:
- **amplification**, expected engagement per post: the per-kind heads' calibrated rates, each
  divided by its base rate so that every head counts on the same footing,
  `A = sum_k c_k * rate_k / base_k` with the contributions `c_k` summing to 1 (equal by
  default). A = 1 is an account with average engagement per post on every kind;
- **reach**, the expected number of distinct credible engagers in the horizon (the reach head);
- **network**, the typical credible engager's own reach: expm1 of the network head's mean
  log(1 + engager's credible engagers).
The score is their weighted geometric mean (`score.components` in the experiment): a source
without events (who engaged) has amplification alone.

Every map to 1-100 is linear in log10 of its quantity, frozen when the model is trained: the low
quantile of the validation population maps to 1 and the high one to 100. A point therefore
always means the same factor, whatever the month: see `ScoreMap.factor(points)`; each component
has its own map and factor. An account with no posts in the longest window, or (heads on
credible engagement) no credible engagement in it, has shown no influence and scores 1 on all
of them, with expected values of 0 and the reason in `why_score_1`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from clout.data.influence import log10_influence
from clout.errors import ConfigError, DataError, MissingFile, ModelError
from clout.features.catalogue import NON_NEGATIVE_UNITS, column_features
from clout.features.config import FeatureConfig
from clout.features.schema import FeatureSchema, Target
from clout.files import replacing_folder
from clout.models.calibration import Calibrator
from clout.models.compiled import compile_booster
from clout.models.heads import Columns, Head, HistoryOffset

SCORE_MIN, SCORE_MAX = 1, 100
FLOOR = 1e-6  # expected engagement below this scores as if it were this
BOOSTER_PARAMETERS = "\nparameters:\n"  # where LightGBM's model text echoes its parameters


@dataclass(frozen=True)
class ScoreMap:
    """score = clip(round(1 + 99 * (log10 E - low) / (high - low)), 1, 100)."""

    low: float  # log10 E that scores 1
    high: float  # log10 E that scores 100
    version: str = "log10-linear-v1"

    @classmethod
    def fit(cls, expected, low_quantile: float, high_quantile: float) -> ScoreMap:
        log_e = np.log10(np.maximum(np.asarray(expected, float), FLOOR))
        low, high = np.quantile(log_e, [low_quantile, high_quantile])
        if not high > low:
            raise DataError("expected engagement is the same for the whole population: "
                             "there is nothing to score")
        return cls(float(low), float(high))

    def continuous(self, expected) -> np.ndarray:
        log_e = np.log10(np.maximum(np.asarray(expected, float), FLOOR))
        return SCORE_MIN + (SCORE_MAX - SCORE_MIN) * (log_e - self.low) / (self.high - self.low)

    def __call__(self, expected) -> np.ndarray:
        return np.clip(np.rint(self.continuous(expected)), SCORE_MIN, SCORE_MAX).astype(np.int16)

    def factor(self, points: float = 10) -> float:
        """How many times more expected engagement `points` more points mean."""
        return float(10 ** (points * (self.high - self.low) / (SCORE_MAX - SCORE_MIN)))

    def expected_at(self, score) -> np.ndarray:
        """The expected engagement a score stands for (the inverse map)."""
        score = np.asarray(score, float)
        return 10 ** (self.low + (score - SCORE_MIN) * (self.high - self.low)
                      / (SCORE_MAX - SCORE_MIN))

    @property
    def id(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{self.version}-{digest[:8]}"


MAX_FEATURE_VALUE = 1e12  # no count, rate or age of a real account comes near it


def booster_files(heads, components) -> list[str]:
    """The booster files of a saved model, the amplification heads first, by kind, then the
    component heads by name (`heads` and `components` map those to anything)."""
    return [f"heads/score-{kind}.txt" for kind in heads] + [
        f"heads/{name}.txt" for name in components]


class InvalidFeatures(ModelError):
    """A feature table the model cannot score; the message names each column and rule."""


def has_posts(frame: pd.DataFrame, targets: Iterable[Target]) -> np.ndarray:
    """Which rows posted in the longest window (every row, for a source without posts): the
    `targets` (the heads' `Target`s) share their history's posts."""
    posting = next(iter(targets)).history_posts
    if posting is None or posting not in frame.columns:
        return np.ones(len(frame), bool)
    return (frame[posting] > 0).to_numpy()


def evidence_columns(targets: Iterable[Target]) -> list[str]:
    """The engagement of the longest window that shows influence, per kind the `targets` (the
    heads' `Target`s) learn: credible engagement for a head that learns it, and what a
    per-account head (a source without posts) received; with none of it an account has shown
    no influence."""
    return [t.evidence for t in targets if t.evidence is not None]


def silence_reasons(frame: pd.DataFrame, targets: Iterable[Target]) -> np.ndarray:
    """Per row, why it has shown no influence and scores 1 ("" where it has): no posts in the
    longest window, or no credible engagement in it (the targets' evidence columns)."""
    targets = list(targets)
    window = targets[0].window
    reasons = np.full(len(frame), "", dtype=object)
    if evidence := evidence_columns(targets):
        none = ~(frame[evidence].fillna(0).to_numpy(float).sum(axis=1) > 0)
        what = "credible engagement" if any(t.credible for t in targets) else "engagement"
        reasons[none] = f"no {what} in {window} days"
    reasons[~has_posts(frame, targets)] = f"no posts in {window} days"
    return reasons


def shows_nothing(frame: pd.DataFrame, targets: Iterable[Target]) -> np.ndarray:
    """Which rows have no posts in the longest window, or no credible engagement in it: they
    score 1."""
    return silence_reasons(frame, targets) != ""


def normalise_weights(heads: list[str], weights: dict[str, float] | None,
                      said: str = "score.weights") -> dict[str, float]:
    """Contributions per head summing to 1; equal when not given. `said`: what the weights
    are called where they come from, for the errors."""
    if weights is None:
        return {k: 1 / len(heads) for k in heads}
    unknown = set(weights) - set(heads)
    if unknown:
        raise ConfigError(f"{said} names heads the model does not have: "
                          f"{', '.join(sorted(unknown))} (heads: {', '.join(heads)})")
    if negative := sorted(k for k, w in weights.items() if not w >= 0):  # NaN too
        raise ConfigError(f"{said}: a head's weight cannot be negative: {', '.join(negative)}")
    total = sum(weights.get(k, 0.0) for k in heads)
    if not total > 0 or not np.isfinite(total):
        raise ConfigError(f"{said}: the weights must add up to a positive number (all zero)")
    return {k: weights.get(k, 0.0) / total for k in heads}


def parse_weights(text: str, said: str = "weights") -> dict[str, float] | None:
    """'likes:1,replies:3' as {head: weight}; None for an empty text (the trained weights)."""
    weights = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        head, _, value = (p.strip() for p in part.partition(":"))
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not head or not np.isfinite(weight):
            raise ConfigError(f"{said}: head:weight pairs separated by commas, like "
                              f"likes:1,replies:3; got {part[:40]!r}")
        weights[head] = weight
    return weights or None


def expected_engagement(rates: dict[str, np.ndarray], base_rates: dict[str, float],
                        weights: dict[str, float]) -> np.ndarray:
    """Relative expected engagement per post: 1 = average on every kind."""
    return sum(weights[k] * rates[k] / base_rates[k] for k in base_rates)


def overall(values: dict[str, np.ndarray], component_weights: dict[str, float]) -> np.ndarray:
    """The quantity the score maps: the components' weighted geometric mean, or amplification
    where it is the only one (a source without components)."""
    if set(values) == {"amplification"}:
        return values["amplification"]
    return 10 ** log10_influence(values, component_weights)


@dataclass(frozen=True)
class Recipe:
    """How a scored row's expected values become its score and components, frozen with the
    model: the amplification heads' base rates and weights, the components' weights and the
    maps. A release keeps it, so that its scores can be recombined under other head weights
    with no model (`rescore`)."""

    base_rates: dict[str, float]
    weights: dict[str, float]
    component_weights: dict[str, float]
    score_map: ScoreMap
    component_maps: dict[str, ScoreMap]

    def points(self, values: dict[str, np.ndarray], silent: np.ndarray) -> dict[str, np.ndarray]:
        """The score and each component in points; 1 where `silent`."""
        return {"score": np.where(silent, SCORE_MIN,
                                  self.score_map(overall(values, self.component_weights))),
                **{name: np.where(silent, SCORE_MIN, score_map(values[name]))
                   for name, score_map in self.component_maps.items()}}

    def reweighted(self, weights: dict[str, float] | None, said: str = "weights") -> Recipe:
        """The recipe with other amplification head weights (normalised; None: its own)."""
        if weights is None:
            return self
        return replace(self, weights=normalise_weights(list(self.base_rates), weights, said))

    def rescore(self, rows: pd.DataFrame) -> pd.DataFrame:
        """`rows` of a scored batch (`InfluenceModel.score`'s columns) with the score, the
        components and the expected engagement recombined by this recipe."""
        rates = {k: rows[f"expected_{k}_per_post"].to_numpy(float) for k in self.base_rates}
        values = {"amplification": expected_engagement(rates, self.base_rates, self.weights)}
        for name, column in VALUE_COLUMNS.items():
            if name in self.component_maps:
                values[name] = rows[column].to_numpy(float)
        # a silent account's expected values are all 0 (`InfluenceModel.score`)
        silent = ~np.any([v != 0 for v in [*rates.values(), *values.values()]], axis=0)
        return rows.assign(**self.points(values, silent),
                           expected_engagement=np.where(silent, 0.0, values["amplification"]))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: dict) -> Recipe:
        return cls(entry["base_rates"], entry["weights"], entry["component_weights"],
                   ScoreMap(**entry["score_map"]),
                   {name: ScoreMap(**m) for name, m in entry["component_maps"].items()})


#: a scored row's column holding each component's expected value (amplification's is
#: recombined from the per-head rates)
VALUE_COLUMNS = {"reach": "expected_engagers", "network": "engagers_reach"}


@dataclass
class InfluenceModel:
    """Everything from a feature row to the score: heads, calibrators, weights, frozen maps."""

    heads: dict[str, Head]  # amplification: per engagement kind, per post
    components: dict[str, Head]  # reach and network (none: the score is amplification alone)
    weights: dict[str, float]  # of each amplification head
    score_map: ScoreMap | None = None  # set by `freeze`
    info: dict = field(default_factory=dict)  # experiment name, feature config, split, seed
    schema: FeatureSchema | None = None  # the feature table it was trained on
    component_maps: dict[str, ScoreMap] = field(default_factory=dict)  # by component
    component_weights: dict[str, float] = field(default_factory=dict)  # in the score

    @property
    def feature_config(self) -> FeatureConfig:
        """How the model's features were built: its input is built the same way."""
        return FeatureConfig(**self.info["features"])

    @property
    def features(self) -> list[str]:
        """Every column the model reads, sorted: the input it needs."""
        return sorted({f for head in self.every_head.values() for f in head.inputs}
                      | set(self.evidence))

    @property
    def targets(self) -> dict[str, Target]:
        """What each head learns, by kind."""
        return {kind: head.target for kind, head in self.heads.items()}

    @property
    def evidence(self) -> list[str]:
        return evidence_columns(self.targets.values())

    def expected_engagement(self, rates: dict[str, np.ndarray]) -> np.ndarray:
        return expected_engagement(rates, self.base_rates, self.weights)

    @property
    def base_rates(self) -> dict[str, float]:
        return {k: head.base_rate for k, head in self.heads.items()}

    @property
    def recipe(self) -> Recipe:
        """How its scored rows' expected values become points (what a release keeps)."""
        return Recipe(self.base_rates, dict(self.weights), dict(self.component_weights),
                      self.score_map, dict(self.component_maps))

    @property
    def every_head(self) -> dict[str, Head]:
        """The amplification heads by kind, then the component heads by name."""
        return {**self.heads, **self.components}

    def outputs(self, columns: Columns) -> dict[str, np.ndarray]:
        """Every head's calibrated prediction, by kind or component name."""
        return {name: head(columns) for name, head in self.every_head.items()}

    def component_values(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each component's expected value from the heads' `outputs`: amplification (relative
        expected engagement per post), reach (credible engagers in the horizon) and network
        (the typical engager's credible engagers); amplification alone without components."""
        values = {"amplification": self.expected_engagement({k: outputs[k] for k in self.heads})}
        if "reach" in self.components:
            values["reach"] = outputs["reach"]
        if "network" in self.components:
            values["network"] = np.expm1(outputs["network"])  # the head learns the log1p
        return values

    def freeze(self, validation: pd.DataFrame, low_quantile: float, high_quantile: float
               ) -> InfluenceModel:
        """Fit the maps to 1-100 (the score's and each component's) on the validation cutoff's
        rows. The scale is set by the accounts that show influence: accounts that never post
        (fake followers, pure readers) or that no credible account engages with score 1
        anyway, and would otherwise fill the bottom of the scale and squeeze everyone else."""
        anchor = validation[~self.is_silent(validation)]
        values = self.component_values(self.outputs(anchor))
        self.score_map = ScoreMap.fit(self.overall(values), low_quantile, high_quantile)
        self.component_maps = {name: ScoreMap.fit(v, low_quantile, high_quantile)
                               for name, v in values.items()} if self.components else {}
        return self

    def points_meaning(self) -> str:
        """What +10 points mean, for the score and for each component."""
        combined = " x ".join(f"{name}^{weight:g}"
                              for name, weight in self.component_weights.items()
                              if name in self.component_maps) or "expected engagement"
        return f"+10 points = x{self.score_map.factor(10):.2f} {combined}" + "".join(
            f"; {name} x{m.factor(10):.2f}" for name, m in self.component_maps.items())

    def overall(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """The quantity the score maps: the components' weighted geometric mean (or
        amplification alone)."""
        return overall(values, self.component_weights)

    def reweighted(self, weights: dict[str, float] | None, said: str = "weights"
                   ) -> InfluenceModel:
        """The model with other amplification head weights (None: its own), nothing retrained:
        the heads and the frozen maps are shared."""
        if weights is None:
            return self
        return replace(self, weights=normalise_weights(list(self.heads), weights, said))

    def compile_trees(self, cache: Path) -> InfluenceModel:
        """Score with every booster's trees compiled to machine code (`models.compiled`,
        cached in `cache`), where they compile; the same scores, faster in batches."""
        for head in self.every_head.values():
            head.booster = compile_booster(head.booster, cache)
        return self

    @cached_property
    def _counts(self) -> tuple[list[int], list[str]]:
        """Positions (in `features`) and units of the inputs that cannot be negative, from the
        catalogue; looked up once, not on every request."""
        catalogue = column_features(self.feature_config.windows)
        found = [(i, catalogue[c].unit) for i, c in enumerate(self.features)
                 if c in catalogue and catalogue[c].unit in NON_NEGATIVE_UNITS]
        return [i for i, _ in found], [u for _, u in found]

    def columns(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The model's input columns as float arrays, refusing a table it cannot score: the
        message names each column, the rule and the number of rows (missing columns, values
        that are not numbers, negative counts)."""
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise InvalidFeatures(f"feature table lacks {len(missing)} column(s) the model "
                                  f"needs: {', '.join(missing[:10])}"
                                  f"{' ...' if len(missing) > 10 else ''}")
        table = frame[self.features]
        problems = [f"{c}: expected numbers, found {t} ({len(table)} rows)"
                    for c, t in table.dtypes.items()
                    if not (pd.api.types.is_numeric_dtype(t) or table[c].isna().all())]
        if problems:
            raise InvalidFeatures("feature table: " + "; ".join(problems))
        matrix = table.to_numpy(dtype=np.float64, na_value=np.nan)  # one conversion, not 90
        # missing is allowed (no history); infinite or absurdly large is a broken input that
        # would otherwise saturate the score
        absurd = (np.isinf(matrix) | (np.abs(np.nan_to_num(matrix)) > MAX_FEATURE_VALUE)).sum(0)
        problems = [f"{self.features[i]}: {n} row(s) infinite or beyond "
                    f"{MAX_FEATURE_VALUE:.0e}" for i, n in enumerate(absurd) if n]
        if problems:
            raise InvalidFeatures("feature table: " + "; ".join(problems))
        counted, units = self._counts
        negatives = (matrix[:, counted] < 0).sum(axis=0)
        problems = [f"{self.features[i]}: {n} row(s) negative, but a {unit} value cannot be"
                    for i, unit, n in zip(counted, units, negatives, strict=True) if n]
        if problems:
            raise InvalidFeatures("feature table: " + "; ".join(problems))
        return {c: matrix[:, i] for i, c in enumerate(self.features)}

    def is_silent(self, frame: pd.DataFrame) -> np.ndarray:
        """No posts in the longest window, or (heads on credible engagement) no credible
        engagement in it: no influence shown, whatever the heads extrapolate. Nothing for
        nothing: a new account, or one engaged only by bought accounts, scores 1."""
        return shows_nothing(frame, self.targets.values())

    def continuous_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The score before it is rounded (within 1-100; 1 for an account that has shown
        nothing): what an explanation splits into parts."""
        values = self.component_values(self.outputs(self.columns(frame)))
        continuous = np.clip(self.score_map.continuous(self.overall(values)), SCORE_MIN,
                             SCORE_MAX)
        return np.where(self.is_silent(frame), SCORE_MIN, continuous)

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row: score, components, expected engagement and rate per kind,
        and the versions of the model and of the score map that produced them."""
        outputs = self.outputs(self.columns(frame))
        values = self.component_values(outputs)
        out = {c: frame[c].reset_index(drop=True) for c in ("account_id", "cutoff")
               if c in frame.columns}
        reasons = silence_reasons(frame, self.targets.values())
        silent = reasons != ""
        points = self.recipe.points(values, silent)
        out["score"] = points.pop("score")
        # every 1 says why: nothing shown, or shown but at the bottom of the frozen scale
        out["why_score_1"] = np.where(~silent & (out["score"] == SCORE_MIN),
                                      "expected influence at or below the scale's low end",
                                      reasons)
        out |= points
        # nothing shown, nothing expected: the heads' extrapolation for such an account is not
        # what its score stands for
        out["expected_engagement"] = np.where(silent, 0.0, values["amplification"])
        for name, column in VALUE_COLUMNS.items():
            if name in values:
                out[column] = np.where(silent, 0.0, values[name])
        for kind in self.heads:
            out[f"expected_{kind}_per_post"] = np.where(silent, 0.0, outputs[kind])
        out["model_version"], out["score_version"] = self.version, self.score_map.id
        # built once from its columns: a column at a time costs more than the trees for a
        # request's few rows
        return pd.DataFrame(out)

    # -- persistence: one JSON file and LightGBM's own text format per booster -----------------

    def _booster_files(self) -> dict[str, Head]:
        return dict(zip(booster_files(self.heads, self.components),
                        [*self.heads.values(), *self.components.values()], strict=True))

    def _manifest(self) -> dict:
        def head_entry(head: Head) -> dict:
            return {"label": head.label, "features": head.features, "base_rate": head.base_rate,
                    "offset": None if head.offset is None else asdict(head.offset),
                    "calibrator": head.calibrator.to_dict(),
                    "calibration_deviances": head.calibration_deviances}
        return {"heads": {k: head_entry(h) for k, h in self.heads.items()},
                "components": {n: head_entry(h) for n, h in self.components.items()},
                "weights": self.weights, "score_map": asdict(self.score_map),
                "component_maps": {n: asdict(m) for n, m in self.component_maps.items()},
                "component_weights": self.component_weights, "info": self.info}

    @staticmethod
    def _digest(manifest: dict, boosters: dict[str, str]) -> str:
        digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode())
        for name, text in sorted(boosters.items()):
            # the trees, not the echo of the training parameters after them: those include the
            # thread count, which does not change a single tree (see `heads.lgb_params`)
            digest.update(name.encode() + text.split(BOOSTER_PARAMETERS)[0].encode())
        return digest.hexdigest()[:12]

    @cached_property
    def version(self) -> str:
        """A digest of the saved form of everything that decides a score: same version, same
        scores. Computed once (it reads every booster), recorded in model.json."""
        return self._digest(self._manifest(), {name: head.booster.model_to_string()
                                               for name, head in self._booster_files().items()})

    def save(self, directory: str | Path) -> Path:
        """Write the model to `directory`, replacing a model there only once the new one is
        whole on disk (a crash while saving leaves the previous model as it was)."""
        directory = Path(directory)
        with replacing_folder(directory) as folder:
            (folder / "heads").mkdir()
            for name, head in self._booster_files().items():
                head.booster.save_model(folder / name)
            # the schema restates the digested info and labels in typed form: not digested, so
            # versions from before it stay the same; checked against them when loaded
            manifest = {**self._manifest(), "version": self.version,
                        "feature_schema": None if self.schema is None else self.schema.to_dict()}
            (folder / "model.json").write_text(json.dumps(manifest, indent=1))  # order kept
        return directory

    @classmethod
    def load(cls, directory: str | Path, booster=None) -> InfluenceModel:
        """Read a saved model and check it against its recorded version. `booster(path)` reads
        one booster file (default: LightGBM; the ONNX export passes its own)."""
        directory = Path(directory)
        booster = booster or (lambda path: lgb.Booster(model_file=str(path)))
        if not (directory / "model.json").is_file():
            raise MissingFile(f"{directory} holds no clout model (model.json missing)")
        manifest = json.loads((directory / "model.json").read_text())
        recorded = manifest.pop("version")
        saved_schema = manifest.pop("feature_schema", None)
        # the files as written must digest to the version recorded when they were written,
        # checked before any of them is parsed (a damaged booster can abort LightGBM)
        names = booster_files(manifest["heads"], manifest["components"])
        if missing := [n for n in names if not (directory / n).is_file()]:
            raise MissingFile(f"{directory}: model files missing: {', '.join(missing)}")
        texts = {name: (directory / name).read_text(errors="replace") for name in names}
        if (found := cls._digest(manifest, texts)) != recorded:
            raise ModelError(f"{directory}: model files do not match the version recorded in "
                             f"model.json ({found} != {recorded})")

        config = FeatureConfig(**manifest["info"]["features"])
        schema = (FeatureSchema.describe((), config) if saved_schema is None
                  else FeatureSchema.from_dict(saved_schema))
        if (schema.windows, schema.horizon_days) != (config.windows, config.horizon_days):
            raise ModelError(f"{directory}: model.json's feature_schema (windows "
                             f"{schema.windows}, horizon {schema.horizon_days}) disagrees with "
                             f"the features it was trained on ({config.windows}, "
                             f"{config.horizon_days})")

        def head(target: Target, entry: dict, file: str) -> Head:
            offset = entry["offset"] and HistoryOffset(**{
                k: tuple(v) if isinstance(v, list) else v for k, v in entry["offset"].items()})
            return Head(target, entry["features"], booster(directory / file),
                        Calibrator.from_dict(entry["calibrator"]), entry["base_rate"],
                        entry["calibration_deviances"], offset)
        component_targets = schema.component_targets() if manifest["components"] else {}
        model = cls(
            heads={k: head(schema.target_labelled(k, e["label"]), e, f"heads/score-{k}.txt")
                   for k, e in manifest["heads"].items()},
            components={n: head(component_targets[n], e, f"heads/{n}.txt")
                        for n, e in manifest["components"].items()},
            weights=manifest["weights"], score_map=ScoreMap(**manifest["score_map"]),
            info=manifest["info"], schema=None if saved_schema is None else schema,
            component_maps={n: ScoreMap(**m) for n, m in manifest["component_maps"].items()},
            component_weights=manifest["component_weights"])
        model.version = recorded
        return model
