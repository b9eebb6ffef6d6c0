"""OpenVINO: the CPU default (and Intel GPU/NPU). The network is compiled for one clip with a
static shape, which OpenVINO runs faster than a dynamic batch; batches run clip by clip."""

from __future__ import annotations

import numpy as np

from gesture_rt.engines.base import Engine


class OpenVINOEngine(Engine):
    name = "openvino"
    devices = ("cpu", "gpu", "npu")

    def _load(self) -> None:
        import openvino as ov

        core = ov.Core()
        target = self.device.upper()
        if target not in core.available_devices and not any(
            d.startswith(target) for d in core.available_devices
        ):
            raise RuntimeError(
                f"OpenVINO sees no {target} device (it has {core.available_devices})"
            )
        network = core.read_model(str(self.bundle.path("openvino")))
        network.reshape([1, *self.input_shape])
        self._compiled = core.compile_model(network, target, {"PERFORMANCE_HINT": "LATENCY"})
        self._request = self._compiled.create_infer_request()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for clip in batch:
            self._request.infer({0: clip[None]})
            out.append(self._request.get_output_tensor(0).data[0].copy())
        return np.stack(out)

    def _release(self) -> None:
        self._request = self._compiled = None
