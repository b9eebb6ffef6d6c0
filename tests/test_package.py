"""Packaging: gesture_rt imports without TensorFlow or CUDA, and its demo runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gesture_rt

REPO = Path(__file__).resolve().parents[1]

# Makes `import tensorflow` / `import cupy` fail, as on a machine where they are not installed.
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {'tensorflow', 'cupy', 'cupyx', 'torch'}:
            raise ImportError('blocked for the test: ' + name)
sys.meta_path.insert(0, Block())
"""


def python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_imports_without_tensorflow_or_cuda(tmp_path):
    result = python(
        BLOCK + "import gesture_rt, gesture_rt.gpu, gesture_rt.reference\n"
        "assert not {'tensorflow', 'cupy', 'training'} & set(sys.modules)\n"
        "print(gesture_rt.__version__)",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == gesture_rt.__version__


def test_gpu_module_says_how_to_get_cupy(tmp_path):
    result = python(
        BLOCK + "from gesture_rt import gpu\n"
        "try:\n    gpu.CudaPreprocessor()(None)\nexcept ImportError as e:\n    print(e)",
        cwd=tmp_path,
    )
    assert "pip install 'gesture_rt[gpu]'" in result.stdout, result.stderr


def test_imports_from_a_source_checkout_after_pip_install():
    # `python -c` from the repository root puts the checkout (no compiled module) first on
    # sys.path; the package borrows the installed compiled module.
    code = "import numpy, gesture_rt\nframe = numpy.zeros((4, 4, 3), 'u1')\n"
    code += "print(gesture_rt.Preprocessor()(frame).shape)"
    result = python(code, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(100, 100, 3)"


def test_three_lines_recognise_a_synthetic_gesture_without_tensorflow(tmp_path):
    # The installed package's bundled model on OpenVINO, TensorFlow blocked.
    code = BLOCK + (
        "from gesture_rt import GestureRecognizer\n"
        "from gesture_rt.synthetic.clips import render_clip\n"
        "clip = render_clip('Thumb Up', 123456, frames=40, size=(64, 112), difficulty=0.2)\n"
        "with GestureRecognizer.create() as recognizer:\n"
        "    print(recognizer.classify_clip(clip.frames).label)\n"
        "assert not {'tensorflow', 'training'} & set(sys.modules)\n"
    )
    result = python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Thumb Up"


def test_public_api():
    assert set(gesture_rt.__all__) >= {"Preprocessor", "ClipRing", "Clip", "Geometry",
                                       "GestureRecognizer", "RecognizerOptions", "Prediction",
                                       "GestureEvent"}  # fmt: skip
    assert gesture_rt._native.__version__ == gesture_rt.__version__


def test_demo_prints_timings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gesture_rt", "--sizes", "320x240", "64x48", "--repeats", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "320x240" in result.stdout and "speed-up" in result.stdout
    assert "ClipRing" in result.stdout


def test_demo_rejects_bad_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gesture_rt", "--sizes", "640by480"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "WIDTHxHEIGHT" in result.stderr
