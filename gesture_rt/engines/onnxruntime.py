"""ONNX Runtime: CPU, or an NVIDIA GPU through its CUDA or TensorRT execution providers."""

from __future__ import annotations

import numpy as np

from gesture_rt.engines.base import Engine

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "gpu": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"
    devices = tuple(PROVIDERS)

    def _load(self) -> None:
        import onnxruntime as ort

        wanted = PROVIDERS[self.device]
        if wanted[0] not in ort.get_available_providers():
            raise RuntimeError(
                f"ONNX Runtime has no {wanted[0]} here (it has {ort.get_available_providers()}); "
                "install onnxruntime-gpu for CUDA and TensorRT"
            )
        self._session = ort.InferenceSession(str(self.bundle.path("onnx")), providers=wanted)
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        self.reads_device_memory = self.device != "cpu"

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]

    def _run_device(self, batch) -> np.ndarray:
        """A CuPy clip bound in place (I/O binding): the clip never leaves the GPU."""
        import cupy

        batch = cupy.ascontiguousarray(batch)
        cupy.cuda.get_current_stream().synchronize()  # the preprocessing kernels have finished
        binding = self._session.io_binding()
        binding.bind_input(self._input, "cuda", batch.device.id, np.float32, tuple(batch.shape),
                           batch.data.ptr)  # fmt: skip
        binding.bind_output(self._output, "cpu")
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def _release(self) -> None:
        self._session = None
