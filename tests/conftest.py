"""Shared fixtures: real video frames from ../shared (skipped where absent), SIMD on/off."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from gesture_rt import _native

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KINETICS_I3D = SHARED / "reference" / "kinetics-i3d"
CRICKET_GIF = KINETICS_I3D / "v_CricketShot_g04_c01_rgb.gif"

# training/ runs from the checkout (`python -m training...`), it is not installed: append the
# checkout, so that `import training` finds it and `import gesture_rt` still finds the installed
# package (with its compiled module) first.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


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


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print what tests measured (``record_property("measured: ...", value)``), pass or fail."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", "call") != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name.startswith("measured: "):
                    lines.append(f"{name.removeprefix('measured: ')}: {value}")
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)
