"""TensorFlow SavedModel: TensorFlow is imported here, when this engine is opened, never by
``import gesture_rt``.

A SavedModel is a program: its graph may hold any TensorFlow op, file reads and writes included.
This engine therefore opens only with ``allow_bundle_code=True`` and ``engine="auto"`` never picks
it. TensorFlow loads from a private copy of the bundle's verified bytes (``Bundle.extracted``).
"""

from __future__ import annotations

import numpy as np

from gesture_rt.engines.base import Engine, EngineUnavailable


class TensorFlowEngine(Engine):
    name = "tensorflow"
    devices = ("cpu", "gpu")
    formats_run = ("savedmodel",)
    runs_bundle_code = True

    def _load(self) -> None:
        import tensorflow as tf

        if self.device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise EngineUnavailable("device 'gpu': TensorFlow sees no GPU here; use device='cpu'")
        self._tf = tf
        with self.bundle.extracted(self.bundle.network("savedmodel")) as folder:
            self._saved = tf.saved_model.load(str(folder))
        self._serve = self._saved.signatures["serving_default"]
        inputs = list(self._serve.structured_input_signature[1].values())
        outputs = list(self._serve.structured_outputs.values())
        self._check_graph("SavedModel", [s.shape.as_list() for s in inputs],
                          [s.shape.as_list() for s in outputs],
                          [s.dtype.name for s in inputs])  # fmt: skip

    def _run(self, batch: np.ndarray) -> np.ndarray:
        device = "/GPU:0" if self.device == "gpu" else "/CPU:0"
        with self._tf.device(device):
            return self._serve(clip=self._tf.constant(batch))["logits"].numpy()

    def _release(self) -> None:
        self._serve = self._saved = None
