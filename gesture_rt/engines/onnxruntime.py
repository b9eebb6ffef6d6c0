"""ONNX Runtime: CPU, or an NVIDIA GPU through its CUDA or TensorRT execution providers.

The session is built from the bundle's verified bytes (``Bundle.read``), after ``check_onnx``:
standard operator domains only (a custom domain needs a custom-op library, that is code), and
every tensor inside the file (external data would be read from paths the manifest never hashed).
"""

from __future__ import annotations

import numpy as np

from gesture_rt.bundle import BundleError
from gesture_rt.engines.base import GPU_HINT, Engine, EngineUnavailable

STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "gpu": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


class OnnxRuntimeEngine(Engine):
    name = "onnxruntime"
    devices = tuple(PROVIDERS)
    formats_run = ("onnx",)

    def _load(self) -> None:
        import onnxruntime as ort

        wanted = PROVIDERS[self.device]
        if wanted[0] not in ort.get_available_providers():
            raise EngineUnavailable(
                f"device {self.device!r}: ONNX Runtime has no {wanted[0]} here (it has "
                f"{ort.get_available_providers()}). {GPU_HINT}"
            )
        name = self.bundle.network("onnx")
        network = self.bundle.read(name)
        check_onnx(network, f"bundle {self.bundle.root}: {name}")
        settings = ort.SessionOptions()
        settings.add_session_config_entry("session.load_model_format", "ONNX")  # not ORT format
        self._session = ort.InferenceSession(network, settings, providers=wanted)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        self._check_graph("ONNX", [_dims(n.shape) for n in inputs],
                          [_dims(n.shape) for n in outputs],
                          [TYPES.get(n.type, n.type) for n in inputs])  # fmt: skip
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


def _dims(shape: list) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


def check_onnx(data: bytes, where: str) -> None:
    """Refuse an ONNX model with operators outside the standard domains or with any tensor whose
    data lies in another file. Every message in the model is visited (graphs, subgraphs,
    functions, sparse tensors, training info), not a list of places tensors are known to live."""
    try:
        import onnx
    except ImportError:
        raise RuntimeError("checking an ONNX network needs the onnx package: "
                           "pip install 'gesture_rt[onnx]'") from None  # fmt: skip
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise BundleError(f"{where} is not an ONNX model ({error})") from None
    domains, external = set(), []
    messages = [model]
    while messages:
        message = messages.pop()
        kind = message.DESCRIPTOR.name
        if kind in ("NodeProto", "OperatorSetIdProto", "FunctionProto"):
            domains.add(message.domain)
        if kind == "TensorProto" and (message.data_location == onnx.TensorProto.EXTERNAL
                                      or len(message.external_data) > 0):  # fmt: skip
            external.append(message.name or "(unnamed)")
        for field, value in message.ListFields():
            if field.message_type is not None:
                messages.extend([value] if hasattr(value, "ListFields") else value)  # one or many
    foreign = sorted(domains - set(STANDARD_DOMAINS))
    if foreign:
        raise BundleError(f"{where} uses operator domains {foreign}: custom operators are code "
                          f"and are refused (allowed: {list(STANDARD_DOMAINS)})")  # fmt: skip
    if external:
        raise BundleError(f"{where} keeps tensors {sorted(external)[:5]} in external files; a "
                          "bundle's ONNX network must hold all its data")  # fmt: skip

