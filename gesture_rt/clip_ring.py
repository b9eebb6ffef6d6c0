"""ClipRing: the newest ``clip_len`` model frames, filled in place by the preprocessor.

A producer (the capture thread) pushes camera frames; each is preprocessed straight into the
next slot, so nothing is allocated per frame. A consumer (the inference thread) copies the newest
clip, oldest frame first, into a buffer of its own. Pushes and copies hold one lock, so a clip is
never torn: no slot is half old, half new, and frames are always consecutive and in order. A copy
of a 40x100x100x3 float32 clip takes about 0.2 ms (measured), far inside a camera frame's 33 ms.
"""

from __future__ import annotations

import math
import threading
from typing import Any, NamedTuple

import numpy as np

from gesture_rt.preprocess import Preprocessor, _dtype_name, _int, _str

_SLOT_LAYOUT = {"nthwc": "hwc", "ncthw": "chw"}


class Clip(NamedTuple):
    """A clip handed to a consumer."""

    frames: Any  # (1, T, H, W, C) for layout "nthwc", (1, C, T, H, W) for "ncthw"
    last_frame: int  # 0-based index of the newest frame (number of pushes - 1)


class ClipRing:
    """A ring of ``clip_len`` preprocessed frames.

    Args:
        clip_len: frames per clip (the thesis uses 40).
        height, width: model frame size, i.e. the preprocessor's crop.
        channels: model frame channels; the preprocessor writes RGB, so 3.
        dtype: ``"float32"`` or ``"float16"``.
        layout: ``"nthwc"`` (TensorFlow, OpenVINO IR from TF) or ``"ncthw"`` (channel-first).
        preprocessor: the kernel that fills slots; by default a ``Preprocessor`` whose short side
            is ``max(height, width)`` and crop ``(height, width)``. A ``gesture_rt.gpu``
            ``CudaPreprocessor`` makes this a device ring of CuPy arrays.
    """

    def __init__(
        self,
        clip_len: int = 40,
        height: int = 100,
        width: int = 100,
        channels: int = 3,
        dtype: Any = "float32",
        layout: str = "nthwc",
        *,
        preprocessor: Preprocessor | None = None,
    ) -> None:
        for name, value in (("clip_len", clip_len), ("height", height), ("width", width)):
            if _int(value, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if _int(channels, "channels") != 3:
            raise ValueError(f"channels must be 3 (the preprocessor writes RGB), got {channels}")
        dtype = _dtype_name(dtype)
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        layout = _str(layout, "layout").lower()
        if layout not in _SLOT_LAYOUT:
            raise ValueError(f"layout must be 'nthwc' or 'ncthw', got {layout!r}")
        crop = (int(height), int(width))
        if preprocessor is None:
            preprocessor = Preprocessor(max(crop), crop, dtype=dtype, layout=_SLOT_LAYOUT[layout])
        _check_preprocessor(preprocessor, crop, dtype, _SLOT_LAYOUT[layout])

        self.clip_len, self.height, self.width = int(clip_len), int(height), int(width)
        self.channels = int(channels)
        self.dtype, self.layout, self.preprocessor = dtype, layout, preprocessor
        self._xp = preprocessor.array_module
        self._time_axis = 0 if layout == "nthwc" else 1
        storage_shape = self.clip_shape[1:]
        self._storage = self._xp.zeros(storage_shape, dtype=dtype)
        self._slots = [self._storage[self._time_index(i)] for i in range(clip_len)]
        self._device_order = _DeviceOrder(self._xp)
        self._cond = threading.Condition()
        self._count = 0

    @property
    def clip_shape(self) -> tuple[int, ...]:
        t, h, w, c = self.clip_len, self.height, self.width, self.channels
        return (1, t, h, w, c) if self.layout == "nthwc" else (1, c, t, h, w)

    @property
    def frames(self) -> int:
        """Frames pushed since creation (or the last ``reset``)."""
        return self._count

    @property
    def ready(self) -> bool:
        """True once a whole clip has been pushed."""
        return self._count >= self.clip_len

    def push(self, frame: Any) -> int:
        """Preprocesses ``frame`` into the next slot; returns the frame's number (0 first)."""
        with self._cond, self._device_order:
            self.preprocessor(frame, out=self._slots[self._count % self.clip_len])
            self._count += 1
            self._cond.notify_all()
            return self._count - 1

    def latest(self, out: Any = None) -> Clip:
        """Copies the newest clip, oldest frame first, into ``out`` (or a new array).

        Pass the same ``out`` every time for a consumer that allocates nothing per clip.
        Raises RuntimeError before ``clip_len`` frames have been pushed.
        """
        out = self._checked_out(out)
        with self._cond, self._device_order:
            if self._count < self.clip_len:
                raise RuntimeError(
                    f"ClipRing holds {self._count} of {self.clip_len} frames; wait until ready"
                )
            oldest = self._count % self.clip_len
            newer = self.clip_len - oldest  # slots oldest..end, then 0..oldest
            clip = out[0]
            clip[self._time_index(slice(0, newer))] = self._storage[
                self._time_index(slice(oldest, None))
            ]
            clip[self._time_index(slice(newer, None))] = self._storage[
                self._time_index(slice(0, oldest))
            ]
            return Clip(out, self._count - 1)

    def wait_for_frames(self, count: int, timeout: float | None = None) -> bool:
        """Blocks until ``count`` frames have been pushed; False if ``timeout`` seconds passed
        first (None or ``inf``: no timeout)."""
        if timeout is not None:
            number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
            if not number or math.isnan(timeout):
                raise ValueError(f"timeout must be a number of seconds or None, got {timeout!r}")
            # past TIMEOUT_MAX (inf included) threading raises OverflowError: that is no timeout
            timeout = None if timeout > threading.TIMEOUT_MAX else max(0.0, float(timeout))
        with self._cond:
            return self._cond.wait_for(lambda: self._count >= count, timeout)

    def reset(self) -> None:
        """Forgets every frame (after a camera switch, say); keeps the memory."""
        with self._cond:
            self._count = 0

    def _time_index(self, index: int | slice) -> tuple[Any, ...]:
        return (slice(None),) * self._time_axis + (index,)

    def _checked_out(self, out: Any) -> Any:
        if out is None:
            return self._xp.empty(self.clip_shape, dtype=self.dtype)
        if not isinstance(out, self._xp.ndarray):
            raise TypeError(f"out must be a {self._xp.__name__}.ndarray, got {type(out).__name__}")
        if out.dtype != np.dtype(self.dtype):
            raise TypeError(f"out must have dtype {self.dtype}, got {out.dtype}")
        if tuple(out.shape) != self.clip_shape:
            raise ValueError(f"out must have shape {self.clip_shape}, got {tuple(out.shape)}")
        return out

    def __repr__(self) -> str:
        return (
            f"ClipRing(clip_len={self.clip_len}, height={self.height}, width={self.width}, "
            f"dtype={self.dtype!r}, layout={self.layout!r}, frames={self._count})"
        )


def _check_preprocessor(p: Any, crop: tuple[int, int], dtype: str, layout: str) -> None:
    if not isinstance(p, Preprocessor):
        raise TypeError(f"preprocessor must be a gesture_rt.Preprocessor, got {type(p).__name__}")
    if tuple(p.crop) != crop or p.dtype != dtype or p.layout != layout:
        raise ValueError(
            f"preprocessor must write crop={crop}, dtype={dtype!r}, layout={layout!r} to fill "
            f"this ring, got crop={tuple(p.crop)}, dtype={p.dtype!r}, layout={p.layout!r}"
        )


class _DeviceOrder:
    """Orders a device ring's kernels and copies (a no-op for NumPy rings).

    They run on the ring's own CUDA stream, after whatever the caller's current stream had
    queued (the frame's upload, say); the caller's stream then waits for them, so memory the
    caller frees afterwards (a temporary frame) is not reused while the ring still reads it,
    and a handed-over clip is complete.
    """

    def __init__(self, xp: Any) -> None:
        self._cuda = None if xp is np else xp.cuda
        self._stream = None if xp is np else xp.cuda.Stream(non_blocking=True)
        self._caller: Any = None

    def __enter__(self) -> None:
        if self._cuda is not None:
            self._caller = self._cuda.get_current_stream()
            self._stream.wait_event(self._caller.record())
            self._stream.use()

    def __exit__(self, *exc_info: object) -> None:
        if self._cuda is not None:
            self._caller.use()
            self._caller.wait_event(self._stream.record())
