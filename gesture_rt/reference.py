"""A float64 NumPy statement of the preprocessing definition, for tests and training.

It computes what ``Preprocessor`` computes, one vectorised step at a time and in double
precision, so the fused kernels can be checked against it (they agree to 1e-5). The resize is
``cv2.resize(INTER_LINEAR)``'s: half-pixel centres, sampling positions rounded to float32,
borders replicated, bilinear weights rounded to multiples of 1/2048 (half to even). Where OpenCV
then rounds to uint8 (with some truncation in its SIMD rows), this keeps the exact value; the two
differ by less than one 8-bit step.
"""

from __future__ import annotations

import numpy as np

WEIGHT_ONE = 2048  # cv2's INTER_RESIZE_COEF_SCALE
_ORDERS = {"bgr": (2, 1, 0), "bgra": (2, 1, 0), "rgb": (0, 1, 2), "rgba": (0, 1, 2)}


def resized_size(height: int, width: int, resize_short: int) -> tuple[int, int]:
    """``(round(H * s), round(W * s))`` with ``s = resize_short / min(H, W)``."""
    s = resize_short / min(height, width)
    return round(height * s), round(width * s)


def sample_taps(dst: np.ndarray, scale: float, src_size: int):
    """Source indices ``i0, i1`` and weight ``w`` of ``i1`` for each destination index."""
    pos = ((dst + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(pos)
    frac = pos - i0  # exact in float32
    low, high = i0 < 0, i0 >= src_size - 1
    i0 = np.where(low, 0, np.where(high, src_size - 1, i0)).astype(np.int64)
    frac = np.where(low | high, np.float32(0), frac)
    w = np.rint(frac * np.float32(WEIGHT_ONE)).astype(np.float64) / WEIGHT_ONE  # half to even
    return i0, np.minimum(i0 + 1, src_size - 1), w


def preprocess_reference(
    frame: np.ndarray,
    resize_short: int = 100,
    crop: int | tuple[int, int] = 100,
    channel_order: str = "bgr",
    mean: float | tuple[float, float, float] = 127.5,
    std: float | tuple[float, float, float] = 127.5,
    layout: str = "hwc",
) -> np.ndarray:
    """The model frame of ``frame`` (uint8 HxWxC) as float64, RGB, ``layout`` "hwc" or "chw"."""
    crop_h, crop_w = (crop, crop) if np.isscalar(crop) else crop
    height, width = frame.shape[:2]
    rh, rw = resized_size(height, width, resize_short)
    top, left = (rh - crop_h) // 2, (rw - crop_w) // 2
    y0, y1, wy = sample_taps(np.arange(top, top + crop_h), 1.0 / (rh / height), height)
    x0, x1, wx = sample_taps(np.arange(left, left + crop_w), 1.0 / (rw / width), width)
    rgb = frame[..., list(_ORDERS[channel_order])].astype(np.float64)
    wx, wy = wx[None, :, None], wy[:, None, None]
    upper = rgb[y0][:, x0] * (1 - wx) + rgb[y0][:, x1] * wx
    lower = rgb[y1][:, x0] * (1 - wx) + rgb[y1][:, x1] * wx
    resized = upper * (1 - wy) + lower * wy
    out = (resized - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    return out if layout == "hwc" else out.transpose(2, 0, 1)
