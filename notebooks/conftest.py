"""The notebooks run in `make test` (nbmake) on the tiny world, with their MLflow runs in a
throw-away store: the kernels inherit this environment."""

from __future__ import annotations

import os
import shutil
import tempfile


def pytest_configure(config):
    store = tempfile.mkdtemp(prefix="clout-notebooks-")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"
    os.environ["CLOUT_NOTEBOOK_PRESET"] = "tiny"
    config.add_cleanup(lambda: shutil.rmtree(store, ignore_errors=True))
