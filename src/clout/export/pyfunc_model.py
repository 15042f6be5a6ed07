"""The clout score as an MLflow pyfunc model, logged as code ("models from code").

MLflow runs this file to rebuild the model wherever it is loaded: `load_context` reads the saved
`InfluenceModel` (the `clout_model` artifact: model.json and one LightGBM text file per booster)
and `predict` turns feature rows into scores. Loading needs the clout package and nothing else of
the project. A row the model cannot score is refused with a message that names the column and the
rule, which a serving endpoint returns as HTTP 400.

The inference parameter `weights` ("likes:1,replies:3"; empty: the trained ones) weighs the
amplification heads at query time, nothing retrained: the score and amplification recombine
with the same frozen maps (`InfluenceModel.reweighted`). A served request passes it as
`"params": {"weights": "..."}` beside its rows; an unknown head, a negative weight or all zero
is a 400 naming the parameter.
"""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from clout.errors import ConfigError
from clout.scoring.score import InfluenceModel, InvalidFeatures, parse_weights

WEIGHTS_PARAM = "weights"  # the inference parameter: the amplification heads' weights


class CloutScore(PythonModel):
    """Feature rows in; score, components, calibrated rate per head and versions out."""

    def load_context(self, context) -> None:
        self.directory = context.artifacts["clout_model"]  # the saved model, as files
        self.model = InfluenceModel.load(self.directory)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        try:
            weights = parse_weights((params or {}).get(WEIGHTS_PARAM), said=WEIGHTS_PARAM)
            return self.model.reweighted(weights, said=WEIGHTS_PARAM).score(model_input)
        except (InvalidFeatures, ConfigError) as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


set_model(CloutScore())
