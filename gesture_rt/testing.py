"""Helpers for tests, benchmarks and demos: camera-like frames and the OpenCV chain that the
fused kernel replaces."""

from __future__ import annotations

import cv2
import numpy as np

from gesture_rt.reference import resized_size


def camera_like_frame(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A uint8 frame of smooth gradients, a fine pattern and noise: both sharp and smooth
    content, as a camera gives (BGR, or BGRA with ``channels=4``)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = [x * 255 / width, y * 255 / height, (x ^ y) & 255, np.full(x.shape, 200)]
    base = np.stack(planes[:channels], -1)
    return np.clip(base + rng.integers(-60, 61, base.shape), 0, 255).astype(np.uint8)


def opencv_chain(frame: np.ndarray, resize_short: int = 100, crop: int = 100) -> np.ndarray:
    """What a user would otherwise write: cv2.resize, slice, cvtColor, scale to [-1, 1]."""
    rh, rw = resized_size(frame.shape[0], frame.shape[1], resize_short)
    resized = cv2.resize(frame, (rw, rh), interpolation=cv2.INTER_LINEAR)
    top, left = (rh - crop) // 2, (rw - crop) // 2
    rgb = cv2.cvtColor(resized[top : top + crop, left : left + crop], cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 127.5 - 1
