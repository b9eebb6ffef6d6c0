"""``GestureRecognizer``: push camera frames, get predictions and gesture events.

Shaped like MediaPipe's Tasks API: a ``RecognizerOptions`` dataclass, ``create(options)``, a
context manager, and three ways in:

- ``classify_clip(frames)``: one clip of raw frames -> ``Prediction``;
- ``push(frame, timestamp_ms)``: a video stream, inference on the caller's thread every
  ``stride`` frames -> ``Prediction`` or None;
- ``push_async(frame, timestamp_ms)``: a live stream; inference on a worker thread, results to
  ``options.result_callback``; the newest clip wins, clips that were due while the worker was busy
  are counted in ``skipped_clips``; the caller never waits for inference.

Frames are raw uint8 images of any size (BGR by default, as OpenCV gives them); preprocessing
(resize, centre crop, normalisation into the clip ring) is the recognizer's job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gesture_rt import bundle as bundles
from gesture_rt.clip_ring import ClipRing
from gesture_rt.engines import EngineUnavailable, open_engine
from gesture_rt.events import EventDetector, GestureEvent, firing_labels
from gesture_rt.preprocess import Preprocessor

DEFAULT_BUNDLE = "modified_i3d_synthetic"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The network's verdict on one clip."""

    label: str  # the most probable class
    score: float  # its (smoothed) probability
    probabilities: np.ndarray  # every class, in ``GestureRecognizer.labels`` order (smoothed)
    first_frame: int  # numbers of the oldest and newest frames of the clip (0 = first pushed)
    last_frame: int
    start_ms: float | None  # their timestamps (None for classify_clip)
    end_ms: float | None
    inference_ms: float
    labels: Sequence[str] = field(repr=False, default=())
    event: GestureEvent | None = None  # the gesture this clip fired, if any

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable (label, probability) pairs."""
        order = np.argsort(-self.probabilities)[:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]


@dataclass
class RecognizerOptions:
    """How to recognise. ``None`` for stride, threshold or smoothing takes the bundle's default
    (an export's: 20, 0.5, 1; the bundled synthetic model's measured point: 10, 0.5, 2).

    ``smoothing``: probabilities are averaged over this many recent predictions before the
    threshold (1: none). ``match_training_fps``: resample the stream by timestamp to the frame
    rate the network was trained at (sample-and-hold: faster cameras drop frames, slower ones
    repeat them); off feeds every frame, as the thesis's application fed its 30 fps camera.
    ``allow``/``deny``: labels that may fire (default: all but "No gesture" and "Doing other
    things"). ``result_callback(prediction)`` receives push_async's results on the worker thread.
    ``precision``: "fp32", "bf16", "int8" or "auto", the fastest that this device runs and that
    agrees with fp32 on at least 99% of the bundle's measured clips (``gesture_rt.precision``).
    ``allow_bundle_code``: let ``engine="tensorflow"`` run the bundle's SavedModel, a program that
    may read and write files (only for bundles you trust as you trust code; see docs/export.md,
    "What a bundle may do").
    """

    bundle: str | os.PathLike = DEFAULT_BUNDLE
    engine: str = "auto"
    device: str = "cpu"
    precision: str = "auto"
    clip_len: int = 40
    stride: int | None = None
    threshold: float | None = None
    smoothing: int | None = None
    match_training_fps: bool = False
    allow: Sequence[str] | None = None
    deny: Sequence[str] = ()
    channel_order: str = "bgr"
    result_callback: Callable[[Prediction], Any] | None = None
    allow_bundle_code: bool = False


class GestureRecognizer:
    """See the module docstring. Create with ``GestureRecognizer.create(options)``."""

    def __init__(self, options: RecognizerOptions) -> None:
        if not isinstance(options, RecognizerOptions):
            raise ValueError(f"options must be a RecognizerOptions, got {type(options).__name__}")
        _check_options(options)
        self.options = options
        self.bundle = bundles.load(options.bundle)
        t, h, w, _ = self.bundle.input_shape
        if options.clip_len != t:
            raise ValueError(f"clip_len: the bundle's network takes clips of {t} frames, got "
                             f"{options.clip_len!r}")  # fmt: skip
        stride = options.stride if options.stride is not None else self.bundle.stride
        self.stride = _positive_int("stride", stride)
        threshold = options.threshold if options.threshold is not None else self.bundle.threshold
        if options.result_callback is not None and not callable(options.result_callback):
            raise ValueError("result_callback must be callable")
        fire = firing_labels(self.bundle.labels, options.allow, options.deny)
        smoothing = options.smoothing if options.smoothing is not None else self.bundle.smoothing
        self._events = EventDetector(self.labels, threshold, smoothing, fire)
        self._engine = open_engine(self.bundle, options.engine, options.device, options.precision,
                                   options.allow_bundle_code)  # fmt: skip
        # GPU path: an engine that reads device memory gets a device ring filled by the CUDA
        # kernel, and the clip never makes a host round trip.
        self._xp = np
        preprocessor = Preprocessor
        if self._engine.reads_device_memory:
            from gesture_rt.gpu import CudaPreprocessor, cupy

            try:
                self._xp, preprocessor = cupy(), CudaPreprocessor
            except ImportError as missing:  # the GPU engine is here, CuPy is not
                self._engine.close()
                raise EngineUnavailable(f"device {options.device!r}: {missing}") from None
        prep = self.bundle.preprocessing
        self._preprocessor = preprocessor(prep.resize_short, (h, w), options.channel_order,
                                          mean=prep.mean, std=prep.std)  # fmt: skip
        self._ring = ClipRing(t, h, w, preprocessor=self._preprocessor)
        self._clip = self._xp.empty(self._ring.clip_shape, np.float32)  # push's hand-off buffer
        self._frames: deque[tuple[int, float]] = deque(maxlen=t)  # (frame number, timestamp)
        self._pushed = 0
        self._last_ms: float | None = None
        self._next_due: float | None = None
        self._mode: str | None = None
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self.skipped_clips = 0
        self._closed = False

    @classmethod
    def create(cls, options: RecognizerOptions | None = None, **changes: Any) -> GestureRecognizer:
        """A recognizer for ``options`` (defaults: the bundled model, OpenVINO on CPU)."""
        options = options or RecognizerOptions()
        if changes:
            options = RecognizerOptions(**{**options.__dict__, **changes})
        return cls(options)

    @property
    def labels(self) -> list[str]:
        """Class names in the network's output order."""
        return self.bundle.labels

    @property
    def manifest(self) -> dict:
        return self.bundle.manifest

    @property
    def engine(self):
        return self._engine

    @property
    def precision(self) -> str:
        """What the network computes in: "fp32", "bf16" or "int8" (``"auto"`` resolved); the
        engine's ``precision_reason`` says why."""
        return self._engine.precision

    @property
    def crop_box(self) -> Callable[[int, int], tuple[float, float, float, float]]:
        """``crop_box(height, width)``: the network's view of a frame, in that frame's pixels."""
        return self._preprocessor.crop_box

    def classify_clip(self, frames: Sequence[Any]) -> Prediction:
        """Classify ``clip_len`` raw frames (a sequence or a (T, H, W, 3) uint8 array)."""
        self._check_open()
        count = len(frames)
        if count != self.options.clip_len:
            raise ValueError(f"frames: a clip is {self.options.clip_len} frames, got {count}")
        clip = self._xp.empty((1, *self.bundle.input_shape), np.float32)
        for i, frame in enumerate(frames):
            self._preprocessor(self._on_device(frame), out=clip[0, i])
        probabilities, ms = self._infer(clip)
        return self._prediction(probabilities, (0, count - 1), (None, None), ms)

    def push(self, frame: Any, timestamp_ms: float) -> Prediction | None:
        """Add one frame of a stream; a ``Prediction`` when it completed a due clip."""
        due = self._accept(frame, timestamp_ms, "push")
        if due is None:
            return None
        probabilities, ms = self._infer(self._ring.latest(out=self._clip).frames)
        return self._stream_prediction(probabilities, due, ms)

    def push_async(self, frame: Any, timestamp_ms: float) -> None:
        """Add one frame of a live stream; due clips go to the worker thread (newest wins)."""
        if self.options.result_callback is None:
            raise ValueError("push_async needs RecognizerOptions.result_callback")
        due = self._accept(frame, timestamp_ms, "push_async")
        if due is None:
            return
        if self._worker is None:
            self._worker = _Worker(self)
        if self._worker.offer(self._ring, due):
            self.skipped_clips += 1

    def close(self) -> None:
        """Finish the clip in flight, stop the worker and free the engine (idempotent). From
        ``result_callback`` (the worker's own thread) too: the worker then ends after it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._worker is not None:
            self._worker.stop()
        self._engine.close()

    def __enter__(self) -> GestureRecognizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the recognizer is closed")

    def _accept(self, frame: Any, timestamp_ms: float, mode: str):
        """Push ``frame`` (resampled if asked); the clip's (frames, timestamps) when one is due."""
        self._check_open()
        if self._mode not in (None, mode):
            raise RuntimeError(
                f"{mode}: this recognizer is fed by {self._mode}; use one per stream"
            )
        self._mode = mode
        ts = _timestamp(timestamp_ms, self._last_ms)
        copies, next_due = 1, self._next_due
        if self.options.match_training_fps:
            period = 1000.0 / self.bundle.training_fps
            next_due = ts if next_due is None else next_due
            copies = 0
            while next_due <= ts and copies < self.options.clip_len:
                copies += 1
                next_due += period
            if next_due <= ts:  # a long gap: sample again from now
                next_due = ts + period
        number, due = self._pushed, False
        for _ in range(copies):
            self._ring.push(self._on_device(frame))  # raises on a bad frame before any change
            self._frames.append((number, ts))
            filled = self._ring.frames - self.options.clip_len
            due |= filled >= 0 and filled % self.stride == 0
        self._pushed, self._last_ms, self._next_due = number + 1, ts, next_due
        if not due:
            return None
        (first, start), (last, end) = self._frames[0], self._frames[-1]
        return (first, last), (start, end)

    def _on_device(self, frame: Any) -> Any:
        """The frame where the preprocessor reads it (uploaded for the GPU path)."""
        if self._xp is np or not isinstance(frame, np.ndarray):
            return frame
        return self._xp.asarray(frame)

    def _infer(self, clip: np.ndarray) -> tuple[np.ndarray, float]:
        begin = time.perf_counter()
        logits = self._engine.infer(clip)[0]
        ms = (time.perf_counter() - begin) * 1000
        shifted = np.exp(logits - logits.max())
        return shifted / shifted.sum(), ms

    def _stream_prediction(self, probabilities, due, ms) -> Prediction:
        (frames, times) = due
        smoothed = self._events.smoothed(probabilities)
        event = self._events.update(smoothed, frames[1], times[1])
        return self._prediction(smoothed, frames, times, ms, event)

    def _prediction(self, probabilities, frames, times, ms, event=None) -> Prediction:
        best = int(np.argmax(probabilities))
        return Prediction(
            self.labels[best], float(probabilities[best]), probabilities, *frames, *times, ms,
            self.labels, event,
        )  # fmt: skip


class _Worker:
    """push_async's inference thread: one pending clip slot that the newest due clip overwrites."""

    def __init__(self, recognizer: GestureRecognizer) -> None:
        self._recognizer = recognizer
        shape, xp = (1, *recognizer.bundle.input_shape), recognizer._xp
        self._pending, self._working = xp.empty(shape, np.float32), xp.empty(shape, np.float32)
        self._pending_meta = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="gesture_rt-infer", daemon=True)
        self._thread.start()

    def offer(self, ring: ClipRing, due) -> bool:
        """Hand over the ring's newest clip; True if it replaced one the worker had not taken."""
        with self._cond:
            replaced = self._pending_meta is not None
            ring.latest(out=self._pending)
            self._pending_meta = due
            self._cond.notify()
        return replaced

    def stop(self) -> None:
        """Stop after the clip in flight; from a result_callback (this thread), at once: its
        engine is about to close, so a clip still pending is dropped."""
        own_thread = threading.current_thread() is self._thread
        with self._cond:
            self._stopping = True
            if own_thread:
                self._pending_meta = None
            self._cond.notify()
        if not own_thread:
            self._thread.join()

    def _run(self) -> None:
        recognizer = self._recognizer
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending_meta is not None or self._stopping)
                if self._pending_meta is None:
                    return
                self._pending, self._working = self._working, self._pending
                due, self._pending_meta = self._pending_meta, None
            try:
                probabilities, ms = recognizer._infer(self._working)
                prediction = recognizer._stream_prediction(probabilities, due, ms)
                recognizer.options.result_callback(prediction)
            except Exception:  # a failing callback must not stop the stream
                log.exception("gesture_rt: push_async inference or result_callback failed")


def _timestamp(value: Any, last: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"timestamp_ms must be a number of milliseconds, got {value!r}")
    ts = float(value)
    if not np.isfinite(ts):
        raise ValueError(f"timestamp_ms must be finite, got {value!r}")
    if last is not None and ts <= last:
        raise ValueError(f"timestamp_ms must increase: got {ts:g} after {last:g}")
    return ts


def _check_options(options: RecognizerOptions) -> None:
    """Each option of the right type, named when it is not (before anything is loaded)."""
    for name in ("engine", "device", "precision", "channel_order"):
        if not isinstance(getattr(options, name), str):
            raise ValueError(f"{name} must be a string, got {getattr(options, name)!r}")
    for name in ("match_training_fps", "allow_bundle_code"):
        if not isinstance(getattr(options, name), bool):
            raise ValueError(f"{name} must be True or False, got {getattr(options, name)!r}")
    _positive_int("clip_len", options.clip_len)
    for name in ("stride", "smoothing"):
        if getattr(options, name) is not None:
            _positive_int(name, getattr(options, name))
    threshold = options.threshold
    if threshold is not None and not (isinstance(threshold, int | float)
                                      and not isinstance(threshold, bool)
                                      and 0 < threshold <= 1):  # fmt: skip
        raise ValueError(f"threshold must be a number in (0, 1] (or None: the bundle's), got "
                         f"{threshold!r}")  # fmt: skip


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value
