"""The synthetic source must never limit a 30 fps stream: at least 300 frames/s of 640x480 on
one core. Measured against the fused preprocessing of the same frame size, in the same run.

pytest bench --benchmark-enable
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gesture_rt import Preprocessor
from gesture_rt.synthetic import GestureStream

GROUP = "synthetic 640x480"


@pytest.fixture
def one_core():
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


def test_synthetic_stream_frame(measure, one_core):
    frames = iter(GestureStream(fps=30, size=(480, 640), seed=0))
    frame = measure(GROUP, "synthetic frame", lambda: next(frames))
    assert frame.image.shape == (480, 640, 3)


def test_preprocess_of_the_same_frame(measure, one_core):
    image = next(iter(GestureStream(size=(480, 640), seed=0))).image
    p = Preprocessor()
    out = np.empty(p.output_shape, np.float32)
    assert measure(GROUP, "fused kernel", p, image, out=out) is out
