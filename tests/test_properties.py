"""Property-based checks (hypothesis) over frame shapes, strides, sizes and options."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gesture_rt import Preprocessor, _native
from gesture_rt.reference import preprocess_reference

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def strided_frames(draw):
    """A uint8 view of any size (>= 1) with arbitrary row, pixel and channel strides."""
    height, width = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    channels = draw(st.sampled_from([3, 4]))
    step_y, step_x = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.integers(0, 2))  # pixels wider than their channels
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = rng.integers(0, 256, (height * step_y, width * step_x, channels + pad), dtype=np.uint8)
    view = base[::step_y, ::step_x, :channels]
    if draw(st.booleans()):
        view = view[::-1]
    if draw(st.booleans()):
        view = view[:, ::-1]
    return view


@st.composite
def options(draw):
    resize_short = draw(st.integers(1, 130))
    crop = (draw(st.integers(1, resize_short)), draw(st.integers(1, resize_short)))
    return {
        "resize_short": resize_short,
        "crop": crop,
        "layout": draw(st.sampled_from(["hwc", "chw"])),
    }


@SETTINGS
@given(frame=strided_frames(), opts=options(), simd=st.booleans())
def test_any_strided_frame_matches_the_reference(frame, opts, simd):
    order = "bgr" if frame.shape[2] == 3 else "bgra"
    previous = _native.set_simd(simd)
    try:
        out = Preprocessor(channel_order=order, **opts)(frame)
        out16 = Preprocessor(channel_order=order, dtype="float16", **opts)(frame)
    finally:
        _native.set_simd(previous)
    want = preprocess_reference(np.ascontiguousarray(frame), channel_order=order, **opts)
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out16, out.astype(np.float16))
    assert np.all(np.abs(out) <= 1 + 1e-6)  # uint8 maps into [-1, 1]


@SETTINGS
@given(
    frame=strided_frames(),
    mean=st.floats(-1000, 1000),
    std=st.floats(0.01, 1000) | st.floats(-1000, -0.01),
    simd=st.booleans(),
)
def test_any_normalisation_matches_the_reference_to_float32_precision(frame, mean, std, simd):
    order = "bgr" if frame.shape[2] == 3 else "bgra"
    previous = _native.set_simd(simd)
    try:
        out = Preprocessor(16, 12, order, mean=mean, std=std)(frame)
    finally:
        _native.set_simd(previous)
    want = preprocess_reference(np.ascontiguousarray(frame), 16, 12, order, mean, std)
    # float32 arithmetic on values up to (255 + |mean|) / |std|: a few units in the last place
    scale = (255 + abs(mean)) / abs(std)
    np.testing.assert_allclose(out, want, rtol=0, atol=4 * scale * 2**-24 + 1e-7)


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4),
    dtype=st.sampled_from([np.uint8, np.int8, np.float32, np.uint16, np.bool_]),
)
def test_malformed_frames_raise_and_name_the_frame(shape, dtype):
    frame = np.zeros(shape, dtype)
    valid = dtype is np.uint8 and len(shape) == 3 and shape[2] == 3 and min(shape) > 0
    if valid:
        assert Preprocessor(resize_short=4, crop=2)(frame).shape == (2, 2, 3)
    else:
        with pytest.raises((ValueError, TypeError), match="frame"):
            Preprocessor(resize_short=4, crop=2)(frame)


@SETTINGS
@given(resize_short=st.integers(-3, 200), crop=st.integers(-3, 200))
def test_options_are_accepted_exactly_when_the_crop_fits(resize_short, crop):
    if 1 <= crop <= resize_short:
        assert Preprocessor(resize_short, crop).output_shape == (crop, crop, 3)
    else:
        with pytest.raises(ValueError, match=r"resize_short|crop"):
            Preprocessor(resize_short, crop)
