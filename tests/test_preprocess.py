"""The fused CPU kernel against its float64 definition and against OpenCV."""

from __future__ import annotations

import ctypes
import sys
import threading
import tracemalloc

import cv2
import numpy as np
import pytest

from gesture_rt import Preprocessor, _native
from gesture_rt.reference import preprocess_reference, resized_size
from gesture_rt.testing import camera_like_frame as camera_frame
from gesture_rt.testing import opencv_chain

STEP = 1 / 127.5  # one 8-bit step after scaling to [-1, 1]
SIZES = [(480, 640), (720, 1280), (1080, 1920), (100, 100), (101, 99), (37, 251), (300, 40),
         (1, 1), (2, 3), (1, 500), (99, 1), (4000, 3000)]  # fmt: skip


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_matches_float64_reference(rows, height, width):
    frame = camera_frame(height, width, seed=height * 7 + width)
    out = Preprocessor()(frame)
    assert out.shape == (100, 100, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, preprocess_reference(frame), rtol=0, atol=1e-5)


@pytest.mark.parametrize("channel_order", ["bgr", "rgb", "bgra", "rgba"])
@pytest.mark.parametrize("layout", ["hwc", "chw"])
@pytest.mark.parametrize(
    ("resize_short", "crop"), [(100, 100), (120, 100), (128, (112, 96)), (7, 3)]
)
def test_options_match_reference(rows, channel_order, layout, resize_short, crop):
    frame = camera_frame(480, 640, channels=len(channel_order), seed=3)
    mean, std = (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)  # ImageNet's, per RGB channel
    p = Preprocessor(resize_short, crop, channel_order, mean=mean, std=std, layout=layout)
    want = preprocess_reference(frame, resize_short, crop, channel_order, mean, std, layout)
    out = p(frame)
    assert out.shape == want.shape == p.output_shape
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5 * 127.5 / 57.1)


@pytest.mark.parametrize("layout", ["hwc", "chw"])
@pytest.mark.parametrize(("height", "width"), [(720, 1280), (37, 251), (1, 1), (100, 100)])
def test_float16_is_the_float32_result_rounded(rows, layout, height, width):
    frame = camera_frame(height, width, seed=5)
    out16 = Preprocessor(dtype="float16", layout=layout)(frame)
    out32 = Preprocessor(dtype=np.float32, layout=layout)(frame)
    assert out16.dtype == np.float16
    np.testing.assert_array_equal(out16, out32.astype(np.float16))


def test_float16_rounds_to_nearest_even_with_overflow_and_subnormals(rows):
    """The kernel itself (the compiled class: the public Preprocessor refuses a normalisation
    that overflows float16 up front, so overflow is reached only here)."""
    frame = camera_frame(64, 64, seed=9)
    seen_inf = seen_subnormal = False

    def kernel(dtype, mean, std):
        return _native.Preprocessor(64, 64, 64, "bgr", dtype, (mean,) * 3, (std,) * 3, "hwc")

    for mean, std in [(0.0, 1e-3), (127.5, 1e4), (127.5, 3e6), (0.0, -0.004)]:
        out16, out32 = kernel("float16", mean, std)(frame), kernel("float32", mean, std)(frame)
        with np.errstate(over="ignore"):  # values above 65504 become inf, as they must
            np.testing.assert_array_equal(out16, out32.astype(np.float16))
        seen_inf |= bool(np.isinf(out16).any())
        tiny = np.abs(out16[out16 != 0])
        seen_subnormal |= bool((tiny < np.finfo(np.float16).smallest_normal).any())
    assert seen_inf and seen_subnormal


@pytest.mark.parametrize(("height", "width"), [(480, 640), (720, 1280), (1080, 1920), (97, 333)])
def test_within_one_step_of_opencv(rows, height, width):
    frame = camera_frame(height, width, seed=11)
    diff = np.abs(Preprocessor()(frame) - opencv_chain(frame))
    assert diff.max() <= STEP


def test_within_one_step_of_opencv_on_real_video(rows, real_frames):
    p = Preprocessor()
    for frame in real_frames:  # 224x224: an upscale-free downscale to 100x100
        assert np.abs(p(frame) - opencv_chain(frame)).max() <= STEP
    big = cv2.resize(real_frames[40], (1280, 720), interpolation=cv2.INTER_CUBIC)
    assert np.abs(p(big) - opencv_chain(big)).max() <= STEP
    np.testing.assert_allclose(p(big), preprocess_reference(big), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "view",
    [
        lambda f: f[:, 100:740],  # a column band: row stride larger than the width
        lambda f: f[::2, ::3],  # every other row, every third pixel
        lambda f: f[::-1, ::-1],  # negative strides
        lambda f: f[50:600, 7:],  # odd start address
        lambda f: np.broadcast_to(f[:1], f.shape),  # zero row stride
    ],
    ids=["band", "decimated", "reversed", "offset", "broadcast"],
)
def test_strided_views_work_without_copy(rows, view):
    frame = view(camera_frame(720, 1280, seed=2))
    assert not frame.flags.c_contiguous
    p, out = Preprocessor(), np.empty((100, 100, 3), np.float32)
    p(frame, out=out)  # warm up: the kernel's per-thread tables
    tracemalloc.start()
    try:
        p(frame, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4096  # a copy of the frame would be 100 kB at least
    np.testing.assert_allclose(out, preprocess_reference(np.ascontiguousarray(frame)), atol=1e-5)


def test_channel_stride_view_reads_rgb_from_bgr_memory(rows):
    bgr = camera_frame(480, 640, seed=4)
    as_rgb = bgr[..., ::-1]  # channel stride -1: the same memory read as RGB
    np.testing.assert_allclose(
        Preprocessor(channel_order="rgb")(as_rgb), Preprocessor()(bgr), atol=1e-6
    )


def test_bgra_alpha_is_ignored(rows):
    bgra = camera_frame(480, 640, channels=4, seed=6)
    other_alpha = bgra.copy()
    other_alpha[..., 3] = 255 - other_alpha[..., 3]
    p = Preprocessor(channel_order="bgra")
    np.testing.assert_array_equal(p(bgra), p(other_alpha))
    np.testing.assert_allclose(p(bgra), Preprocessor()(bgra[..., :3]), atol=1e-6)


def test_single_row_and_column_crops_accept_any_contiguous_output():
    out = np.zeros((2, 100, 3), np.float32)[::2]  # C-contiguous: the stride of a length-1 axis
    frame = camera_frame(480, 640, seed=1)
    Preprocessor(100, (1, 100))(frame, out=out)
    np.testing.assert_allclose(out, preprocess_reference(frame, 100, (1, 100)), atol=1e-5)


def test_writes_in_place_into_the_given_array():
    p = Preprocessor()
    ring = np.zeros((3, 100, 100, 3), np.float32)
    returned = p(camera_frame(480, 640), out=ring[1])
    assert np.shares_memory(returned, ring)
    assert not ring[0].any() and not ring[2].any() and ring[1].any()


def test_chw_slot_of_a_channel_first_ring():
    ring = np.zeros((3, 5, 100, 100), np.float32)  # (C, T, H, W)
    frame = camera_frame(480, 640, seed=8)
    Preprocessor(layout="chw")(frame, out=ring[:, 2])
    np.testing.assert_allclose(ring[:, 2], preprocess_reference(frame, layout="chw"), atol=1e-5)
    assert not ring[:, [0, 1, 3, 4]].any()


def test_simd_rows_run_where_they_can_and_match_the_scalar_rows_bit_for_bit():
    if not _native.simd_available():
        pytest.skip("this CPU lacks AVX2/F16C: only the scalar rows run")
    frame = camera_frame(720, 1280, seed=7)
    for dtype in ("float32", "float16"):
        for layout in ("hwc", "chw"):
            p = Preprocessor(dtype=dtype, layout=layout)
            before = _native.simd_row_count()
            simd = p(frame)
            assert _native.simd_row_count() - before == 100  # every row
            previous = _native.set_simd(False)
            try:
                scalar = p(frame)
            finally:
                _native.set_simd(previous)
            np.testing.assert_array_equal(simd, scalar)
    before = _native.simd_row_count()
    Preprocessor()(frame[:, ::2])  # 6-byte pixels: no wide loads, scalar rows only
    assert _native.simd_row_count() == before


@pytest.mark.parametrize(
    ("height", "width", "resized", "origin"),
    [
        (480, 640, (100, 133), (0, 16)),
        (720, 1280, (100, 178), (0, 39)),
        (640, 480, (133, 100), (16, 0)),
        (3, 2, (150, 100), (25, 0)),
        (100, 100, (100, 100), (0, 0)),
    ],
)
def test_geometry(height, width, resized, origin):
    g = Preprocessor().geometry(height, width)
    assert (g.resized_h, g.resized_w) == resized == resized_size(height, width, 100)
    assert (g.top, g.left) == origin
    assert (g.crop_h, g.crop_w) == (100, 100)


def test_crop_box_maps_the_crop_onto_the_frame():
    x0, y0, x1, y1 = Preprocessor().crop_box(720, 1280)
    assert (y0, y1) == (0, 720)
    assert x0 == pytest.approx(39 * 1280 / 178) and x1 == pytest.approx(139 * 1280 / 178)


def loops_while_running(call) -> int:
    """How often the main thread loops while another thread makes ``call``.

    With a long switch interval the interpreter does not take the GIL from a thread by force,
    so the main thread runs only while the other thread has given the GIL up itself.
    """
    started, finished = threading.Event(), threading.Event()

    def work():
        started.set()
        call()
        finished.set()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.2)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        loops = 0
        while not finished.is_set():
            loops += 1
        worker.join()
    finally:
        sys.setswitchinterval(previous)
    return loops


def test_releases_the_gil_while_it_runs():
    p = Preprocessor(2000, 2000, dtype="float16")  # one long call: about 4M pixels
    frame = camera_frame(2000, 3000, seed=1)
    assert loops_while_running(lambda: p(frame)) > 1000


def test_the_gil_check_catches_a_call_that_holds_the_gil():
    libc = ctypes.PyDLL(None)  # PyDLL calls keep the GIL
    assert loops_while_running(lambda: libc.usleep(50_000)) < 1000
