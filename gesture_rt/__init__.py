"""gesture_rt: camera-speed hand-gesture recognition.

The runtime never imports TensorFlow or CuPy at import time: ``gesture_rt.gpu`` loads CuPy on
first use, each engine imports its library when opened, and TensorFlow lives in the separate
``training`` package (or inside the SavedModel engine).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gesture_rt.offline import block_telemetry

block_telemetry()  # before anything can import OpenVINO: no network at run time


def _import_native():
    try:
        from gesture_rt import _native
    except ImportError as missing:
        # `python -c` / `python -m` run from a source checkout put the checkout first on sys.path,
        # so its gesture_rt/ (which has no compiled module) shadows the installed package. Borrow
        # the installed package's folder for the compiled module and the kernel sources (they are
        # what was last installed: after changing csrc/, run `pip install .` again).
        here = Path(__file__).resolve().parent
        for entry in sys.path:
            candidate = Path(entry or ".").resolve() / "gesture_rt"
            if candidate != here and any(candidate.glob("_native*")):
                __path__.append(str(candidate))
                from gesture_rt import _native

                return _native
        raise ImportError(
            "gesture_rt._native (the compiled kernels) is missing: install the package with "
            "`pip install .` from the repository root"
        ) from missing
    return _native


_native = _import_native()

from gesture_rt.clip_ring import Clip, ClipRing  # noqa: E402
from gesture_rt.events import GestureEvent  # noqa: E402
from gesture_rt.preprocess import Geometry, Preprocessor  # noqa: E402
from gesture_rt.recognizer import GestureRecognizer, Prediction, RecognizerOptions  # noqa: E402

__version__: str = _native.__version__
__all__ = ["Clip", "ClipRing", "Geometry", "GestureEvent", "GestureRecognizer", "Prediction",
           "Preprocessor", "RecognizerOptions", "__version__"]  # fmt: skip
