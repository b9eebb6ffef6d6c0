"""Shared fixtures: real video frames from ../shared (skipped where absent), SIMD on/off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gesture_rt import _native

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CRICKET_GIF = SHARED / "reference" / "kinetics-i3d" / "v_CricketShot_g04_c01_rgb.gif"


@pytest.fixture(scope="session")
def real_frames() -> list[np.ndarray]:
    """The 79 frames of a real UCF101 clip (224x224), as BGR uint8, like OpenCV gives them."""
    if not CRICKET_GIF.is_file():
        pytest.skip(f"{CRICKET_GIF} is absent (../shared is not part of a user's clone)")
    from PIL import Image, ImageSequence

    with Image.open(CRICKET_GIF) as gif:
        rgb = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    return [np.ascontiguousarray(f[..., ::-1]) for f in rgb]


@pytest.fixture(params=[True, False], ids=["simd", "scalar"])
def rows(request):
    """Runs a test with the SIMD rows allowed (where the CPU has them) and with scalar rows only."""
    previous = _native.set_simd(request.param)
    yield request.param
    _native.set_simd(previous)
