"""Inference engines: one small interface over OpenVINO, ONNX Runtime and TensorFlow.

``open_engine(bundle, engine="auto", device="cpu", precision="auto")`` loads the bundle's network
on an engine at a precision (``gesture_rt.precision``); ``engine.infer(clip)`` maps one clip
(T, H, W, C) or a batch (N, T, H, W, C), float32 in the bundle's input shape, to logits (K,) or
(N, K). Each engine imports its library only when opened: importing ``gesture_rt`` never imports
TensorFlow.

"auto" runs only data formats (OpenVINO IR, ONNX); a SavedModel is a program and runs on the
TensorFlow engine only when asked for by name with ``allow_bundle_code=True``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from gesture_rt import bundle as bundles
from gesture_rt.engines.base import GPU_HINT, Engine, EngineUnavailable
from gesture_rt.precision import PrecisionError, check_precision

# Which extra installs each engine's library: pip install 'gesture_rt[EXTRA]'
EXTRAS = {"onnxruntime": "onnx", "tensorflow": "train"}

# engine name -> (module, class, bundle format, library it needs)
ENGINES = {
    "openvino": ("gesture_rt.engines.openvino", "OpenVINOEngine", "openvino", "openvino"),
    "onnxruntime": ("gesture_rt.engines.onnxruntime", "OnnxRuntimeEngine", "onnx", "onnxruntime"),
    "tensorflow": ("gesture_rt.engines.tensorflow", "TensorFlowEngine", "savedmodel", "tensorflow"),
}
# "auto" tries these in order: fastest first, as measured on CPU (OpenVINO 230 ms, ONNX Runtime
# 310 ms for I3D; TensorFlow, 565 ms, runs programs and is never auto's) and, on NVIDIA GPUs,
# ONNX Runtime's CUDA and TensorRT providers.
AUTO_ORDER = {
    "cpu": ("openvino", "onnxruntime"),
    "cuda": ("onnxruntime",),
    "tensorrt": ("onnxruntime",),
    "gpu": ("onnxruntime", "openvino"),
    "npu": ("openvino",),
}


def engine_class(name: str) -> type[Engine]:
    if name not in ENGINES:
        raise ValueError(f"engine must be 'auto' or one of {sorted(ENGINES)}, got {name!r}")
    module, cls, _, _ = ENGINES[name]
    return getattr(importlib.import_module(module), cls)


def available(name: str) -> bool:
    """Whether ``name``'s library is installed (nothing is imported to find out)."""
    return importlib.util.find_spec(ENGINES[name][3]) is not None


def open_engine(
    bundle: bundles.Bundle | str | os.PathLike,
    engine: str = "auto",
    device: str = "cpu",
    precision: str = "auto",
    allow_bundle_code: bool = False,
) -> Engine:
    """Load ``bundle`` (a Bundle, folder or bundled name) on ``engine`` for ``device`` at
    ``precision``. A precision that cannot run raises ``PrecisionError`` naming what the device
    and the bundle have; "auto" engines are not tried further for it. ``allow_bundle_code``
    lets the TensorFlow engine run a SavedModel (a program: trust it as you trust code)."""
    loaded = bundle if isinstance(bundle, bundles.Bundle) else bundles.load(bundle)
    if not isinstance(device, str) or device.lower() not in AUTO_ORDER:
        raise ValueError(f"device must be one of {sorted(AUTO_ORDER)}, got {device!r}")
    device = device.lower()
    check_precision(precision)
    if engine != "auto":
        cls = engine_class(engine)
        if not available(engine):
            raise EngineUnavailable(
                f"engine {engine!r} needs {ENGINES[engine][3]}, which is not installed: pip "
                f"install 'gesture_rt[{EXTRAS.get(engine, engine)}]' (or engine='auto')"
            )
        return cls(loaded, device, precision, allow_bundle_code)
    data_formats = [f for f in loaded.formats if f not in (*bundles.PROGRAM_FORMATS, "keras")]
    if not data_formats:
        raise bundles.BundleError(
            f"bundle {loaded.root} has only {list(loaded.formats)}: a SavedModel is a program "
            "(its graph may read and write files), which engine 'auto' never runs. If you trust "
            "it as you trust code: engine='tensorflow', allow_bundle_code=True (the live app: "
            "--engine tensorflow --allow-bundle-code); better, export it with --formats "
            "openvino,onnx"
        )
    candidates = [n for n in AUTO_ORDER[device]
                  if ENGINES[n][2] in loaded.formats and available(n)]  # fmt: skip
    if precision not in ("auto", "fp32"):  # only engines that offer it
        offering = [n for n in ENGINES if precision in engine_class(n).precisions]
        if candidates and not set(candidates) & set(offering):
            raise PrecisionError(
                f"precision {precision!r} runs on {offering} only, and bundle {loaded.root} has "
                f"no network for it (it has {list(loaded.formats)})"
            )
        candidates = [n for n in candidates if n in offering]
    errors = []
    for name in candidates:
        try:
            return engine_class(name)(loaded, device, precision)
        except (PrecisionError, bundles.BundleError):  # the bundle, not the engine, is wrong
            raise
        except (RuntimeError, ValueError) as error:  # e.g. no CUDA provider on this machine
            errors.append(f"{name}: {error}")
    missing = [f"{n}: pip install 'gesture_rt[{EXTRAS[n]}]'" for n in AUTO_ORDER[device]
               if not available(n) and n in EXTRAS]  # fmt: skip
    hint = GPU_HINT if device in ("cuda", "tensorrt") else "; ".join(missing)
    hint = "" if any(hint in error for error in errors) else hint  # said once is enough
    raise EngineUnavailable(
        f"no engine can run bundle {loaded.root} on {device!r} at precision {precision!r}: it "
        f"has {list(loaded.formats)}; installed engines {[n for n in ENGINES if available(n)]}"
        + (f"; tried {'; '.join(errors)}" if errors else "") + (f". {hint}" if hint else "")
    )


__all__ = ["ENGINES", "Engine", "EngineUnavailable", "PrecisionError", "available",
           "engine_class", "open_engine"]  # fmt: skip
