"""The CUDA twin: installed kernel sources always; parity with the C++ kernel where a GPU is."""

from __future__ import annotations

import numpy as np
import pytest

from gesture_rt import ClipRing, Preprocessor, gpu
from gesture_rt.testing import camera_like_frame


def test_kernel_sources_are_installed_as_package_data():
    source = gpu.kernel_path()
    assert source.name == "preprocess.cu"
    assert '#include "pixel_math.h"' in source.read_text()
    assert gpu.kernel_path("pixel_math.h").is_file()
    with pytest.raises(FileNotFoundError, match=r"missing\.cu"):
        gpu.kernel_path("missing.cu")


def _cupy_with_a_gpu():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gesture_rt[gpu]')")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cp.cuda.runtime.CUDARuntimeError as error:
        pytest.skip(f"no usable CUDA device: {error}")
    return cp


@pytest.fixture(scope="module")
def cp():
    return _cupy_with_a_gpu()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["hwc", "chw"])
@pytest.mark.parametrize(
    ("height", "width"), [(480, 640), (720, 1280), (1080, 1920), (37, 251), (1, 1)]
)
def test_matches_the_cpu_kernel(cp, dtype, layout, height, width):
    frame = camera_like_frame(height, width, seed=height + width)
    want = Preprocessor(dtype=dtype, layout=layout)(frame)
    got = gpu.CudaPreprocessor(dtype=dtype, layout=layout)(cp.asarray(frame))
    assert isinstance(got, cp.ndarray) and got.dtype == want.dtype
    tolerance = 1e-5 if dtype == "float32" else 1e-3
    np.testing.assert_allclose(cp.asnumpy(got).astype(np.float32), want, rtol=0, atol=tolerance)


@pytest.mark.gpu
@pytest.mark.parametrize("order", ["bgr", "rgb", "bgra", "rgba"])
def test_strided_device_frames_and_channel_orders(cp, order):
    host = camera_like_frame(720, 1280, channels=len(order), seed=3)
    device = cp.asarray(host)
    for view in (lambda f: f[:, 100:740], lambda f: f[::2, ::-3], lambda f: f[::-1]):
        want = Preprocessor(120, 100, order)(view(host))
        got = gpu.CudaPreprocessor(120, 100, order)(view(device))
        np.testing.assert_allclose(cp.asnumpy(got), want, rtol=0, atol=1e-5)


@pytest.mark.gpu
def test_device_ring_is_filled_in_place_and_handed_over_whole(cp):
    ring = ClipRing(clip_len=8, preprocessor=gpu.CudaPreprocessor())
    cpu_ring = ClipRing(clip_len=8)
    for n in range(20):
        frame = camera_like_frame(480, 640, seed=n)
        ring.push(cp.asarray(frame))
        cpu_ring.push(frame)
    clip = ring.latest()
    assert isinstance(clip.frames, cp.ndarray) and clip.last_frame == 19
    np.testing.assert_allclose(cp.asnumpy(clip.frames), cpu_ring.latest().frames, atol=1e-5)


@pytest.mark.gpu
def test_kernels_compile_once_per_device(cp):
    first = gpu.kernel_module(0)
    assert gpu.kernel_module(0) is first


@pytest.mark.gpu
def test_bad_device_input(cp):
    p = gpu.CudaPreprocessor()
    with pytest.raises(TypeError, match=r"frame must be a cupy\.ndarray"):
        p(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        p(cp.zeros((48, 64, 3), cp.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        p(cp.zeros((48, 64, 3), cp.uint8), out=cp.zeros((3, 100, 100), cp.float32))
