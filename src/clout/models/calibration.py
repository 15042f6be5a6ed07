"""Recalibration of a head's predicted rates, applied only where it helps held-out data.

Two candidates: a small Poisson GLM on the log prediction (`exp(a + b log mu)`, two parameters,
smooth) and isotonic regression (a monotone step function, proportional above its range).
`choose_calibrator` cross-fits each on halves of the validation accounts and keeps the one with
the lowest held-out deviance, or none when neither beats the raw prediction. A calibrator is
stored as plain numbers (JSON), applied with NumPy, so a saved model needs neither pickle nor
scikit-learn to be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import PoissonRegressor

from clout.models.metrics import FLOOR, poisson_deviance

METHODS = ("none", "glm", "isotonic")
# A recalibration must lower held-out deviance by this share to be applied: a two-parameter
# GLM beats a well-calibrated model by a hair about half the time, by chance.
MIN_GAIN = 0.005


@dataclass
class Calibrator:
    method: str = "none"
    params: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, method: str, predicted, rate, exposure) -> Calibrator:
        predicted = np.maximum(np.asarray(predicted, float), FLOOR)
        if method == "none":
            return cls()
        if method == "glm":
            glm = PoissonRegressor(alpha=0.0, max_iter=1000)
            glm.fit(np.log(predicted)[:, None], rate, sample_weight=exposure)
            return cls("glm", {"intercept": [float(glm.intercept_)],
                               "slope": [float(glm.coef_[0])]})
        if method == "isotonic":
            # floor the steps: a zero rate would make any later event infinitely surprising
            iso = IsotonicRegression(y_min=FLOOR, out_of_bounds="clip")
            iso.fit(predicted, rate, sample_weight=exposure)
            return cls("isotonic", {"x": iso.X_thresholds_.tolist(),
                                    "y": iso.y_thresholds_.tolist()})
        raise ValueError(f"calibration method {method!r} unknown; choose one of {METHODS}")

    def __call__(self, predicted) -> np.ndarray:
        predicted = np.asarray(predicted, float)
        if self.method == "none":
            return predicted
        if self.method == "glm":
            slope, intercept = self.params["slope"][0], self.params["intercept"][0]
            return np.exp(intercept + slope * np.log(np.maximum(predicted, FLOOR)))
        x, y = np.asarray(self.params["x"]), np.asarray(self.params["y"])
        # sklearn's predict inside the fitted range; above it, the ratio at the top end: a rate
        # above any seen in validation (a later cutoff, a growing account) still ranks above
        # the rest instead of being capped there
        return np.where(predicted > x[-1], y[-1] * predicted / x[-1], np.interp(predicted, x, y))

    def to_dict(self) -> dict:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(data["method"], data["params"])


def cross_fitted_deviance(method: str, predicted, rate, exposure, seed: int) -> float:
    """Held-out deviance of `method`: fit on one half of the accounts, measured on the other,
    both ways round."""
    half = np.random.default_rng(seed).permutation(len(rate)) % 2 == 0
    total = 0.0
    for fit_on in (half, ~half):
        calibrator = Calibrator.fit(method, predicted[fit_on], rate[fit_on], exposure[fit_on])
        held = ~fit_on
        total += poisson_deviance(rate[held], calibrator(predicted[held]),
                                  exposure[held]) * exposure[held].sum()
    return total / exposure.sum()


def choose_calibrator(method: str, predicted, rate, exposure, seed: int
                      ) -> tuple[Calibrator, dict[str, float]]:
    """The calibrator to apply and the cross-fitted deviance of every candidate.

    `method="auto"` keeps the candidate with the lowest held-out deviance if it is at least
    MIN_GAIN below the raw prediction's, else none; any other method is used as asked.
    """
    predicted, rate, exposure = (np.asarray(a, float) for a in (predicted, rate, exposure))
    deviances = {m: cross_fitted_deviance(m, predicted, rate, exposure, seed) for m in METHODS}
    chosen = method
    if method == "auto":
        best = min(METHODS, key=deviances.get)
        chosen = best if deviances[best] < (1 - MIN_GAIN) * deviances["none"] else "none"
    return Calibrator.fit(chosen, predicted, rate, exposure), deviances
