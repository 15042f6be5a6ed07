"""The clout score as an MLflow pyfunc model, logged as code ("models from code").

MLflow runs this file to rebuild the model wherever it is loaded: `load_context` reads the saved
`InfluenceModel` (the `clout_model` artifact: model.json and one LightGBM text file per booster)
and `predict` turns feature rows into scores. Loading needs the clout package and nothing else of
the project. A row the model cannot score is refused with a message that names the column and the
rule, which a serving endpoint returns as HTTP 400.
"""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from clout.scoring.score import InfluenceModel, InvalidFeatures


class CloutScore(PythonModel):
    """Feature rows in; score, components, calibrated rate per head and versions out."""

    def load_context(self, context) -> None:
        self.directory = context.artifacts["clout_model"]  # the saved model, as files
        self.model = InfluenceModel.load(self.directory)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        try:
            return self.model.score(model_input)
        except InvalidFeatures as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


set_model(CloutScore())
