"""How the scoring stage combines heads and maps them to 1-100 (`score:` in an experiment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clout.data.influence import COMPONENTS, INFLUENCE_WEIGHTS
from clout.data.kinds import KINDS


class ScoreSpec(BaseModel):
    """How calibrated heads combine into expected engagement, and how that maps to 1-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    components: dict[str, float] = Field(
        default_factory=lambda: dict(INFLUENCE_WEIGHTS),
        description="the weight of each component (reach, amplification, network) in the "
                    "score, their weighted geometric mean; a source without events (who "
                    "engaged) has amplification alone")
    weights: dict[str, float] | None = Field(
        None, description="within amplification, the relative contribution of each head "
                          "(default: equal); each head is divided by its base rate first, so "
                          "1 = an average account")
    low_quantile: float = Field(0.01, gt=0, lt=0.5, description="maps to score 1")
    high_quantile: float = Field(0.999, gt=0.5, lt=1, description="maps to score 100")

    @model_validator(mode="after")
    def _check(self):
        if set(self.components) != set(COMPONENTS) or min(self.components.values()) < 0 \
                or sum(self.components.values()) <= 0:
            raise ValueError(f"components: a non-negative weight for each of "
                             f"{', '.join(COMPONENTS)}, with a positive sum")
        if self.weights is not None and (not self.weights or min(self.weights.values()) < 0
                                         or sum(self.weights.values()) <= 0):
            raise ValueError("weights must be non-negative with a positive sum")
        if self.weights and (unknown := sorted(set(self.weights) - set(KINDS.plurals()))):
            raise ValueError(f"weights: no head is called {', '.join(unknown)} (heads are "
                             f"named by kind: {', '.join(KINDS.plurals())})")
        return self
