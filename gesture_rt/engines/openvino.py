"""OpenVINO: the CPU default (and Intel GPU/NPU), in fp32, bf16 or int8. The network is compiled
for one clip with a static shape, which OpenVINO runs faster than a dynamic batch; batches run
clip by clip."""

from __future__ import annotations

import functools
import re
import time
from xml.parsers import expat

import numpy as np

from gesture_rt.bundle import INT8_NETWORK, Bundle, BundleError, weights_of
from gesture_rt.engines.base import Engine, EngineUnavailable
from gesture_rt.precision import Choice

# INFERENCE_PRECISION_HINT for each precision: always stated, since OpenVINO's own default on
# CPUs with AVX512_BF16/AMX is bfloat16. INT8 networks keep their unquantised operations in f32.
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
CAPABILITY = {"bf16": "BF16", "int8": "INT8"}  # OPTIMIZATION_CAPABILITIES that each needs
TIMING_RUNS = 5  # clips auto times each qualifying precision on


@functools.cache
def capabilities(device: str = "CPU") -> tuple[str, ...]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of ``device`` (``FP32``, ``BF16``, ``INT8``...)."""
    import openvino as ov

    return tuple(ov.Core().get_property(device.upper(), "OPTIMIZATION_CAPABILITIES"))


STANDARD_OPSET = re.compile(r"opset\d+")  # a layer's version: OpenVINO's own operator sets


def read_ir(bundle: Bundle, name: str):
    """The OpenVINO IR ``name`` (its .xml and .bin) built from the bundle's verified bytes, not
    from paths: OpenVINO reads nothing the manifest did not hash. Layers outside OpenVINO's
    standard operator sets (extensions: custom code) are refused."""
    import openvino as ov

    xml, weights = bundle.read(name), bundle.read(weights_of(name))
    check_operator_sets(xml, f"bundle {bundle.root}: {name}")
    return ov.Core().read_model(xml, ov.Tensor(np.frombuffer(weights, np.uint8)))


def check_operator_sets(xml: bytes, where: str) -> None:
    """An IR's XML (in whatever encoding it declares) with no DTD, so no entities, and every
    layer from a standard ``opsetN``."""
    layers: list[tuple[str, str]] = []

    def start(tag: str, attributes: dict) -> None:
        if tag == "layer":
            layers.append((attributes.get("type", "?"), attributes.get("version", "")))

    def doctype(*_: object) -> None:
        raise BundleError(f"{where} declares a DTD; an OpenVINO IR has none")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as error:
        raise BundleError(f"{where} is not an OpenVINO IR ({error})") from None
    foreign = sorted({f"{kind} ({version})" for kind, version in layers
                      if not STANDARD_OPSET.fullmatch(version)})  # fmt: skip
    if foreign:
        raise BundleError(f"{where} has layers outside OpenVINO's standard operator sets: "
                          f"{foreign[:5]}; extensions (custom operations) are refused")  # fmt: skip


def dims(shape) -> list[int | None]:
    """An OpenVINO (partial) shape as a list, None for a dynamic dimension."""
    if shape.rank.is_dynamic:
        return []
    return [d.get_length() if d.is_static else None for d in shape]


def compile_network(network, device: str, precision: str):
    """``network`` (an ov.Model or an IR path) compiled for latency at ``precision``."""
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": HINTS[precision]}
    return ov.Core().compile_model(network, device.upper(), config)


def compile_ir(network, clip_shape, device: str, precision: str):
    """``network`` (an ov.Model or an IR path) for one clip of ``clip_shape`` (T, H, W, C), a
    static batch of 1 (which OpenVINO runs faster than a dynamic batch), compiled at
    ``precision``."""
    import openvino as ov

    if not isinstance(network, ov.Model):
        network = ov.Core().read_model(str(network))
    network.reshape([1, *clip_shape])
    return compile_network(network, device, precision)


class OpenVINOEngine(Engine):
    name = "openvino"
    devices = ("cpu", "gpu", "npu")
    precisions = ("fp32", "bf16", "int8")
    formats_run = ("openvino",)

    def __init__(self, *args, **kwargs) -> None:
        self._timed: dict = {}  # precision -> compiled network, when auto timed several
        super().__init__(*args, **kwargs)

    def _refused(self) -> dict[str, str]:
        import openvino as ov

        target = self.device.upper()
        found = ov.Core().available_devices
        if target not in found and not any(d.startswith(target) for d in found):
            raise EngineUnavailable(f"device {self.device!r}: OpenVINO sees no {target} device "
                                    f"here (it has {found}); use device='cpu'")  # fmt: skip
        has = capabilities(target)
        refused = {p: f"this {target} has no {p} (OpenVINO's capabilities: {', '.join(has)})"
                   for p, needed in CAPABILITY.items() if needed not in has}  # fmt: skip
        if self.bundle.int8_network is None:
            refused["int8"] = (f"bundle {self.bundle.root} has no INT8 network (export with "
                               "--int8, or add one: python -m training.quantize BUNDLE --int8)")
        return refused

    def _fastest(self, contenders: list[str], rule: Choice) -> Choice:
        """Time one clip (median of TIMING_RUNS, after a warm-up) at each contender; the
        compiled networks are kept for ``_load``."""
        clip = np.zeros((1, *self.input_shape), np.float32)
        timings = {}
        for precision in contenders:
            self._timed[precision] = self._compile(precision)
            request = self._timed[precision].create_infer_request()
            request.infer({0: clip})
            runs = []
            for _ in range(TIMING_RUNS):
                began = time.perf_counter()
                request.infer({0: clip})
                runs.append(time.perf_counter() - began)
            timings[precision] = 1000 * float(np.median(runs))
        best = min(timings, key=timings.get)
        times = ", ".join(f"{p} {ms:.1f} ms" for p, ms in timings.items())
        return Choice(best, f"auto: the fastest here of those that agree with fp32 on >= 99% of "
                            f"the bundle's measured clips (one clip: {times})")  # fmt: skip

    def _compile(self, precision: str):
        name = INT8_NETWORK if precision == "int8" else self.bundle.network("openvino")
        network = read_ir(self.bundle, name)
        shapes = [[dims(p.get_partial_shape()) for p in ports]
                  for ports in (network.inputs, network.outputs)]  # fmt: skip
        types = [p.get_element_type().to_dtype().name for p in network.inputs]
        self._check_graph(f"{precision} OpenVINO", *shapes, types)
        return compile_ir(network, self.input_shape, self.device, precision)

    def _load(self) -> None:
        self._compiled = self._timed.pop(self.precision, None) or self._compile(self.precision)
        self._timed.clear()
        self._request = self._compiled.create_infer_request()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for clip in batch:
            self._request.infer({0: clip[None]})
            out.append(self._request.get_output_tensor(0).data[0].copy())
        return np.stack(out)

    def _release(self) -> None:
        self._request = self._compiled = None
