"""Export stage: the trained score for production.

- `mlflow_model` and `pyfunc_model`: one MLflow pyfunc model per run, registered and promoted
  by alias; `onnx`: every booster as an ONNX graph, scored with the same code; `release`:
  numbered score releases behind a gate that refuses what looks like a fault.
"""
