"""ONNX Runtime: CPU, or an NVIDIA GPU through its CUDA or TensorRT execution providers.

The session is built from the bundle's verified bytes (``Bundle.read``), after ``check_onnx``:
standard operator domains only (a custom domain needs a custom-op library, that is code), and
every tensor inside the file (external data would be read from paths the manifest never hashed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gesture_rt.bundle import BundleError
from gesture_rt.engines.base import Engine

STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")

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
            raise RuntimeError(
                f"ONNX Runtime has no {wanted[0]} here (it has {ort.get_available_providers()}); "
                "install onnxruntime-gpu for CUDA and TensorRT"
            )
        name = self.bundle.network("onnx")
        network = self.bundle.read(name)
        check_onnx(network, f"bundle {self.bundle.root}: {name}")
        self._session = ort.InferenceSession(network, providers=wanted)
        self._check_graph("ONNX", [_dims(n.shape) for n in self._session.get_inputs()],
                          [_dims(n.shape) for n in self._session.get_outputs()])  # fmt: skip
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
    """Refuse an ONNX model with operators outside the standard domains (in any graph, subgraph
    or function) or with tensors whose data lies in other files."""
    try:
        import onnx
    except ImportError:
        raise RuntimeError("checking an ONNX network needs the onnx package: "
                           "pip install 'gesture_rt[onnx]'") from None  # fmt: skip
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise BundleError(f"{where} is not an ONNX model ({error})") from None
    domains = {o.domain for o in model.opset_import} | {f.domain for f in model.functions}
    external = []
    graphs = [model.graph, *model.functions]
    while graphs:
        graph = graphs.pop()
        tensors = list(getattr(graph, "initializer", []))
        tensors += [s.values for s in getattr(graph, "sparse_initializer", [])]
        for node in graph.node:
            domains.add(node.domain)
            for attribute in node.attribute:
                graphs += [attribute.g] if attribute.HasField("g") else []
                graphs += list(attribute.graphs)
                tensors += [attribute.t] if attribute.HasField("t") else []
                tensors += list(attribute.tensors)
        external += [t.name for t in tensors if _is_external(t)]
    foreign = sorted(domains - set(STANDARD_DOMAINS))
    if foreign:
        raise BundleError(f"{where} uses operator domains {foreign}: custom operators are code "
                          f"and are refused (allowed: {list(STANDARD_DOMAINS)})")  # fmt: skip
    if external:
        raise BundleError(f"{where} keeps tensors {sorted(external)[:5]} in external files; a "
                          "bundle's ONNX network must hold all its data")  # fmt: skip


def _is_external(tensor: Any) -> bool:
    import onnx

    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0
