"""ONNX export of every booster of a model, and the same model scoring through ONNX Runtime.

Each booster becomes one ONNX graph (onnxmltools) with input `features`, float32, in the head's
feature order, and output the booster's prediction (per-post rate before the history offset and
calibration: LightGBM's `predict`). Everything else a score needs (offsets, calibrators, weights,
the score map) is plain numbers in model.json, applied by the same code as for LightGBM: an
`InfluenceModel` whose boosters are `OnnxBooster`s scores exactly as the pyfunc does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxmltools
import onnxruntime as ort
from onnxmltools.convert.common.data_types import FloatTensorType

from clout.models.heads import Head
from clout.scoring.score import InfluenceModel

OPSET = 15  # the highest onnxmltools' LightGBM converter supports


def head_to_onnx(head: Head):
    return onnxmltools.convert_lightgbm(
        head.booster, initial_types=[("features", FloatTensorType([None, len(head.features)]))],
        target_opset=OPSET, zipmap=False)


def export_onnx(model_dir: Path, out: Path) -> Path:
    """Copy the saved model in `model_dir` to `out` and write an ONNX graph beside each booster
    (`heads/<name>.onnx`); the LightGBM files stay, so the model's version can be checked."""
    shutil.copytree(model_dir, out, dirs_exist_ok=True)
    model = InfluenceModel.load(out)
    for name, head in model._booster_files().items():
        (out / name).with_suffix(".onnx").write_bytes(head_to_onnx(head).SerializeToString())
    return out


class OnnxBooster:
    """Stands in for a LightGBM booster: the same `predict`, from ONNX Runtime."""

    def __init__(self, path: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # scoring is parallel across requests, not inside one
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])

    def predict(self, features, raw_score: bool = False, **_):
        out = self.session.run(None, {"features": np.asarray(features, np.float32)})[0].ravel()
        return np.log(out) if raw_score else out  # heads are log-link (Poisson, Tweedie)


def load_onnx_model(directory: Path) -> InfluenceModel:
    """The exported model in `directory`, scoring through ONNX Runtime instead of LightGBM."""
    return InfluenceModel.load(directory, booster=lambda path: OnnxBooster(
        Path(path).with_suffix(".onnx")))
