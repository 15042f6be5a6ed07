"""Where the data stage reads an experiment's data from, as declared in its YAML (`data:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clout.data.attacks import ATTACKS
from clout.data.loaders import LOADERS
from clout.data.simulator import PRESETS

SHARED_DATA = Path("../shared/data")  # the real datasets, beside the project
# a seed LightGBM and NumPy both take as given (LightGBM's is a 32-bit int: 2**70 became 0)
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class ManipulationSpec(BaseModel):
    """One attack of the attack library played into the data before anything reads it: a
    world with more attackers is one line of an experiment (`data.manipulation`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attack: Literal[*ATTACKS]
    targets: int = Field(20, ge=1, description="accounts attacked (genuine posting accounts "
                                                "where the truth is known), drawn at random")
    size: int = Field(5, ge=1, description="the attack's size (see clout.data.attacks)")
    days: int = Field(28, ge=1, description="it runs over the last `days` of the data")


class DataSpec(BaseModel):
    """Where the accounts' histories come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["simulator", "directory", *LOADERS] = "simulator"
    preset: str = Field("default", description="simulator preset (tiny, small, default, large)")
    seed: Seed = Field(7, description="the simulated world's seed (simulator only)")
    path: Path | None = Field(
        None, description="directory in the contract (source: directory) or the raw files of a "
                          "real dataset (default: ../shared/data/<source>)")
    on_bad_rows: Literal["error", "quarantine"] = "error"
    manipulation: tuple[ManipulationSpec, ...] = Field(
        (), description="attacks played into the data (its targets' role becomes 'attacked')")

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
