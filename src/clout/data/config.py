"""Where the data stage reads an experiment's data from, as declared in its YAML (`data:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clout.data.loaders import LOADERS
from clout.data.simulator import PRESETS

SHARED_DATA = Path("../shared/data")  # the real datasets, beside the project


class DataSpec(BaseModel):
    """Where the accounts' histories come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
