"""Where an experiment's heavy steps run: `compute: {engine: local}` (this process) or
`compute: {engine: dask, address: ...}` (a Dask cluster; with no address a LocalCluster that the
run starts and closes). Nothing else in the experiment changes between the two: the pipeline
asks its `Engine` for features, a booster trainer and scores, and each engine gives the same
thing its own way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clout.features.build import build_features
from clout.features.config import FeatureConfig
from clout.models.heads import local_booster

if TYPE_CHECKING:
    from clout.scoring.score import InfluenceModel


class ComputeSpec(BaseModel):
    """Where the heavy steps run. `local`: this process. `dask`: a Dask cluster at `address`, or
    with no address a LocalCluster of `workers` processes, started and closed by the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


def partitions(client, wanted: int | None = None) -> int:
    """Account partitions: `wanted`, else two per worker (one running, one waiting)."""
    return wanted or 2 * len(client.scheduler_info()["workers"])


@dataclass(frozen=True)
class Engine:
    """What runs where; the engine is chosen once, here (see `session`)."""

    client: object | None = None  # a dask.distributed.Client; None: this process
    partitions: int | None = None  # account partitions on the cluster (default: 2 per worker)

    @property
    def name(self) -> str:
        return "local" if self.client is None else "dask"

    def features(self, tables, cutoffs, config: FeatureConfig, labels: bool = True
                 ) -> pd.DataFrame:
        if self.client is None:
            return build_features(tables, cutoffs, config, labels)
        from clout.features.distributed import build_features_on
        return build_features_on(self.client, partitions(self.client, self.partitions), tables,
                                 cutoffs, config, labels)

    @property
    def trainer(self):
        if self.client is None:
            return local_booster
        from clout.models.distributed import dask_booster
        return dask_booster(self.client, partitions(self.client, self.partitions))

    def score(self, model: InfluenceModel, frame: pd.DataFrame) -> pd.DataFrame:
        if self.client is None:
            return model.score(frame)
        from clout.scoring.distributed import score_frame
        return score_frame(model, frame, self.client,
                           partitions(self.client, self.partitions))


LOCAL = Engine()


@contextmanager
def session(spec: ComputeSpec) -> Iterator[Engine]:
    """The engine for a run; a cluster it started is closed when the block ends."""
    if spec.engine == "local":
        yield LOCAL
        return
    from dask.distributed import Client, LocalCluster

    if spec.address is not None:
        with Client(spec.address) as client:
            yield Engine(client, spec.partitions)
        return
    # dashboard on a free port: two clusters on one machine do not fight over 8787
    with LocalCluster(n_workers=spec.workers, threads_per_worker=spec.threads_per_worker,
                      processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield Engine(client, spec.partitions)
