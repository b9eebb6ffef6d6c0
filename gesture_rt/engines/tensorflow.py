"""TensorFlow SavedModel: TensorFlow is imported here, when this engine is opened, never by
``import gesture_rt``."""

from __future__ import annotations

import numpy as np

from gesture_rt.engines.base import Engine


class TensorFlowEngine(Engine):
    name = "tensorflow"
    devices = ("cpu", "gpu")

    def _load(self) -> None:
        import tensorflow as tf

        if self.device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise RuntimeError("TensorFlow sees no GPU")
        self._tf = tf
        self._saved = tf.saved_model.load(str(self.bundle.path("savedmodel")))
        self._serve = self._saved.signatures["serving_default"]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        device = "/GPU:0" if self.device == "gpu" else "/CPU:0"
        with self._tf.device(device):
            return self._serve(clip=self._tf.constant(batch))["logits"].numpy()

    def _release(self) -> None:
        self._serve = self._saved = None
