"""Preprocessing: the fused kernel against the OpenCV + NumPy chain it replaces, in one run.

pytest bench --benchmark-enable
"""

from __future__ import annotations

import numpy as np
import pytest

from gesture_rt import ClipRing, Preprocessor
from gesture_rt.testing import camera_like_frame, opencv_chain

SIZES = [(640, 480), (1280, 720), (1920, 1080)]


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def frame(request):
    width, height = request.param
    return camera_like_frame(height, width)


def group_of(frame: np.ndarray) -> str:
    return f"preprocess {frame.shape[1]}x{frame.shape[0]}"


def test_opencv_chain(measure, frame):
    out = measure(group_of(frame), "OpenCV chain", opencv_chain, frame)
    assert out.shape == (100, 100, 3)


def test_fused_kernel(measure, frame):
    p = Preprocessor()
    out = np.empty(p.output_shape, np.float32)
    assert measure(group_of(frame), "fused kernel", p, frame, out=out) is out


def test_fused_kernel_float16(measure, frame):
    p = Preprocessor(dtype="float16")
    out = np.empty(p.output_shape, np.float16)
    measure(group_of(frame), "fused kernel fp16", p, frame, out=out)


def test_clip_ring_push(measure):
    ring = ClipRing()
    frame = camera_like_frame(720, 1280)
    measure("clip ring (1, 40, 100, 100, 3)", "push 1280x720", ring.push, frame)
    assert ring.frames >= 1


def test_clip_ring_hand_off(measure):
    ring = ClipRing()
    frame = camera_like_frame(720, 1280)
    for _ in range(ring.clip_len):
        ring.push(frame)
    out = np.empty(ring.clip_shape, np.float32)
    clip = measure("clip ring (1, 40, 100, 100, 3)", "hand-off copy", ring.latest, out=out)
    assert clip.frames is out
