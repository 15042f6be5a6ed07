"""How to build the feature table (`features:`: windows, horizon, settling of counts, leaking
features) and at which cutoffs (`cutoffs:`)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FeatureConfig(BaseModel):
    """How to build the feature table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: tuple[int, ...] = Field((7, 28, 90), description="window lengths in days")
    horizon_days: int = Field(14, ge=1, description="labels read [T, T + horizon)")
    settle_days: int = Field(
        3, ge=0, description="count-only sources: a post's counts are used once it is this old")
    include_leaking: bool = Field(False, description="add features observed after the cutoff")

    @field_validator("windows")
    @classmethod
    def _positive_sorted(cls, windows):
        if not windows or min(windows) < 1:
            raise ValueError("windows must be one or more positive numbers of days")
        return tuple(sorted(set(windows)))


class CutoffSpec(BaseModel):
    """The weekly cutoffs: the last `weeks` Mondays whose label horizon fits the data, or dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weeks: int = Field(12, ge=3, description="at least train, validation and test")
    dates: list[date] | None = None
