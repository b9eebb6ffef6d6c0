"""The fused preprocessing kernel's Python face: option normalisation and crop geometry.

Every call runs in C++ (``gesture_rt._native``) with the GIL released: resize so the short side
is ``resize_short`` (bilinear, sampled exactly as ``cv2.resize(INTER_LINEAR)``), centre crop,
reorder to RGB and normalise as ``(x - mean) / std``, computing only the pixels inside the crop.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from gesture_rt import _native

Geometry = _native.Geometry
FloatOrTriple = float | Sequence[float]


class Preprocessor(_native.Preprocessor):
    """Turns one camera frame (uint8, HxWx3 or HxWx4, any strides) into one model frame.

    Args:
        resize_short: the frame's short side is resized to this many pixels.
        crop: side of the centre crop, or ``(height, width)``; must fit inside ``resize_short``.
        channel_order: order of the frame's channels, ``"bgr"`` (OpenCV), ``"rgb"``, ``"bgra"``
            or ``"rgba"``; the output is always RGB.
        dtype: ``"float32"`` or ``"float16"`` output.
        mean, std: normalisation ``(x - mean) / std``, scalars or RGB triples; the defaults map
            0..255 onto [-1, 1].
        layout: ``"hwc"`` (crop_h, crop_w, 3) or ``"chw"`` (3, crop_h, crop_w) output.

    Call it as ``preprocessor(frame, out=None)``: it writes into ``out`` (a ring slot, say) or
    into a new array, and returns that array.
    """

    def __init__(
        self,
        resize_short: int = 100,
        crop: int | tuple[int, int] = 100,
        channel_order: str = "bgr",
        dtype: Any = "float32",
        *,
        mean: FloatOrTriple = 127.5,
        std: FloatOrTriple = 127.5,
        layout: str = "hwc",
    ) -> None:
        crop_h, crop_w = _int_pair(crop, "crop")
        dtype, mean, std = _dtype_name(dtype), _triple(mean, "mean"), _triple(std, "std")
        _check_range(dtype, mean, std)
        super().__init__(
            _int(resize_short, "resize_short"),
            crop_h,
            crop_w,
            _str(channel_order, "channel_order").lower(),
            dtype,
            mean,
            std,
            _str(layout, "layout").lower(),
        )

    @property
    def array_module(self) -> Any:
        """The array library of frames and outputs (NumPy here, CuPy for the CUDA twin)."""
        return np

    def geometry(self, height: int, width: int) -> Geometry:
        """Where the crop of a ``height`` x ``width`` frame lies."""
        return super().geometry(_int(height, "height"), _int(width, "width"))

    def crop_box(self, height: int, width: int) -> tuple[float, float, float, float]:
        """The crop as ``(x0, y0, x1, y1)`` in the pixels of a ``height`` x ``width`` frame."""
        g = self.geometry(height, width)
        sx, sy = width / g.resized_w, height / g.resized_h
        return (g.left * sx, g.top * sy, (g.left + g.crop_w) * sx, (g.top + g.crop_h) * sy)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(resize_short={self.resize_short}, crop={self.crop}, "
            f"channel_order={self.channel_order!r}, dtype={self.dtype!r}, mean={self.mean}, "
            f"std={self.std}, layout={self.layout!r})"
        )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"{name} must fit in 32 bits, got {value}")
    return int(value)


def _int_pair(value: Any, name: str) -> tuple[int, int]:
    if _is_sequence(value):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (height, width) pair, got {value!r}")
        return _int(value[0], name), _int(value[1], name)
    side = _int(value, name)
    return side, side


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    values = list(value) if _is_sequence(value) else [value] * 3
    if len(values) != 3 or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    ):
        raise TypeError(f"{name} must be a number or three numbers (R, G, B), got {value!r}")
    return float(values[0]), float(values[1]), float(values[2])


FLOAT16_MAX = 65504.0


def _check_range(dtype: str, mean: tuple, std: tuple) -> None:
    """A float16 output must hold every normalised pixel: (0 - mean) / std to (255 - mean) / std
    past 65504 would be written as inf."""
    if dtype != "float16" or 0.0 in std:
        return  # a zero std is the native constructor's to refuse
    largest = max(max(abs(0 - m), abs(255 - m)) / abs(s) for m, s in zip(mean, std, strict=True))
    if largest > FLOAT16_MAX:
        raise ValueError(f"std: {std} with mean {mean} maps pixels to +-{largest:.3g}, beyond "
                         f"float16's {FLOAT16_MAX:g}; use a larger std or "
                         "dtype='float32'")  # fmt: skip


def _is_sequence(value: Any) -> bool:
    """A list, tuple or 1-d array (a 0-d array is a scalar)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, Sequence) and not isinstance(value, str)


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _dtype_name(dtype: Any) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError as error:
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}") from error
