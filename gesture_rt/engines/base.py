"""The engine interface: a loaded network that maps clips to logits."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from gesture_rt.bundle import Bundle, BundleError
from gesture_rt.precision import PRECISIONS, Choice, choose, qualifying

log = logging.getLogger("gesture_rt.engines")


class EngineUnavailable(ValueError):
    """An engine or device this machine lacks: a bad choice here, with what to install."""


GPU_HINT = ("CUDA and TensorRT need an NVIDIA GPU and pip install 'gesture_rt[gpu]' (CUDA 13); "
            "or run on the CPU: device='cpu' (--device cpu)")  # fmt: skip


class Engine(ABC):
    """A bundle's network on one library and device at one precision. Subclasses set ``name``,
    ``devices`` and ``precisions`` and implement ``_load`` and ``_run`` (a float32 batch in,
    logits out); calls are serialised. ``precision`` is what runs (``"auto"`` resolved, see
    ``gesture_rt.precision``), ``precision_reason`` why. An engine that ``runs_bundle_code`` (a
    SavedModel's graph can read and write files) opens only with ``allow_bundle_code=True``."""

    name: str = ""
    devices: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ("fp32",)
    runs_bundle_code = False

    def __init__(self, bundle: Bundle, device: str = "cpu", precision: str = "auto",
                 allow_bundle_code: bool = False) -> None:  # fmt: skip
        program = [f for f in self.formats_run if f in bundle.formats]
        if self.runs_bundle_code and program and allow_bundle_code is not True:
            raise BundleError(
                f"bundle {bundle.root}: the {self.name} engine runs its "
                f"{', '.join(program)} network, which is a program (its graph may read "
                "and write files); it runs only for bundles you trust as you trust code: pass "
                "allow_bundle_code=True (the live app: --allow-bundle-code)"
            )
        if device not in self.devices:
            raise ValueError(
                f"device: the {self.name} engine runs on {list(self.devices)}, got {device!r}"
            )
        self.bundle = bundle
        self.device = device
        self.input_shape = bundle.input_shape
        refused = {p: f"the {self.name} engine runs {', '.join(self.precisions)} only (bf16 and "
                      "int8 run on OpenVINO: engine='openvino')"
                   for p in PRECISIONS if p not in self.precisions}  # fmt: skip
        refused.update(self._refused())
        choice = choose(precision, refused, bundle.agreements)  # checks the name too
        contenders = qualifying(refused, bundle.agreements)
        if precision == "auto" and len(contenders) > 1:
            choice = self._fastest(contenders, choice)
        self.precision, self.precision_reason = choice.precision, choice.reason
        log.info("%s on %s runs %s: %s", self.name, device, self.precision, self.precision_reason)
        self._lock = threading.Lock()
        self._closed = False
        self._load()

    formats_run: tuple[str, ...] = ()  # the bundle formats this engine reads

    def _check_graph(self, what: str, inputs: list, outputs: list, input_types: list) -> None:
        """The network's own input and output shapes (None for a dynamic dimension) against the
        manifest's: one float32 clip input (N, T, H, W, C) of exactly the manifest's shape
        (refused, not reshaped) and one output (N, K) with K the number of labels."""
        expected = [None, *self.input_shape]
        classes = len(self.bundle.labels)
        problem = None
        if len(inputs) != 1 or len(outputs) != 1:
            problem = f"has {len(inputs)} inputs and {len(outputs)} outputs; it must have one each"
        elif len(inputs[0]) != 5 or list(inputs[0][1:]) != expected[1:]:
            problem = (f"takes clips of shape {_shape(inputs[0])}, but the manifest's input "
                       f"shape is {_shape(expected)}")  # fmt: skip
        elif input_types != ["float32"]:
            problem = f"takes {input_types[0]} clips; a bundle's network takes float32"
        elif len(outputs[0]) != 2 or outputs[0][1] != classes:
            problem = (f"gives outputs of shape {_shape(outputs[0])}, but the manifest has "
                       f"{classes} labels")  # fmt: skip
        if problem:
            raise BundleError(f"bundle {self.bundle.root}: its {what} network {problem}")

    def _refused(self) -> dict[str, str]:
        """Why this device or bundle cannot run each of ``precisions`` that it cannot."""
        return {}

    def _fastest(self, contenders: list[str], rule: Choice) -> Choice:
        """The fastest of ``contenders`` here. An engine that can time its precisions does
        (OpenVINO); one that cannot keeps ``rule``, the FASTEST_FIRST order's choice."""
        return rule

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _release(self) -> None:
        """Free the library's objects."""

    def infer(self, clip: Any) -> np.ndarray:
        """Logits of one clip (T, H, W, C) -> (K,), or of a batch (N, T, H, W, C) -> (N, K).

        A CuPy clip (a device ring's) goes to ``_run_device``: engines that can read GPU memory
        take it where it is; the others get a host copy."""
        if hasattr(clip, "__cuda_array_interface__"):
            return self.infer(clip.get()) if not self.reads_device_memory else self._device(clip)
        array = np.asarray(clip)
        single = array.ndim == 4
        batch = array[None] if single else array
        if batch.ndim != 5 or batch.shape[1:] != tuple(self.input_shape) or len(batch) == 0:
            raise ValueError(
                f"clip must have shape {tuple(self.input_shape)} (T, H, W, C) or a batch of them, "
                f"got {array.shape}"
            )
        if batch.dtype != np.float32:
            raise ValueError(f"clip must be float32 (preprocessed to [-1, 1]), got {batch.dtype}")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} engine is closed")
            logits = np.asarray(self._run(np.ascontiguousarray(batch)), np.float32)
        return self._checked(logits, len(batch), single)

    def _checked(self, logits: np.ndarray, clips: int, single: bool) -> np.ndarray:
        """Logits of the declared shape: a graph may declare (N, K) and compute another."""
        expected = (clips, len(self.bundle.labels))
        if logits.shape != expected:
            raise BundleError(f"bundle {self.bundle.root}: its {self.name} network gave logits of "
                              f"shape {logits.shape} for {clips} clip(s); it declares "
                              f"{expected}")  # fmt: skip
        return logits[0] if single else logits

    # Engines that set this (ONNX Runtime on CUDA/TensorRT) define ``_run_device(batch)``, which
    # takes a CuPy batch where it lies.
    reads_device_memory = False

    def _device(self, clip: Any) -> np.ndarray:
        single = clip.ndim == 4
        batch = clip[None] if single else clip
        if batch.shape[1:] != tuple(self.input_shape) or batch.dtype != np.float32:
            raise ValueError(f"clip must be float32 of shape {tuple(self.input_shape)} or a "
                             f"batch of them, got {batch.dtype} {tuple(clip.shape)}")  # fmt: skip
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} engine is closed")
            logits = np.asarray(self._run_device(batch), np.float32)
        return self._checked(logits, len(batch), single)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(bundle={str(self.bundle.root)!r}, device={self.device!r}, "
            f"precision={self.precision!r})"
        )


def _shape(dims: list) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"
