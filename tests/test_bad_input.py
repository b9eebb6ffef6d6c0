"""Bad arguments get ValueError or TypeError naming the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from gesture_rt import ClipRing, Preprocessor


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"resize_short": 0}, ValueError, "resize_short"),
        ({"resize_short": -5}, ValueError, "resize_short"),
        ({"resize_short": 2.5}, TypeError, "resize_short"),
        ({"resize_short": True}, TypeError, "resize_short"),
        ({"crop": 0}, ValueError, "crop"),
        ({"crop": (100, -1)}, ValueError, "crop"),
        ({"crop": (1, 2, 3)}, ValueError, "crop"),
        ({"crop": "100"}, TypeError, "crop"),
        ({"resize_short": 100, "crop": 101}, ValueError, "crop"),
        ({"channel_order": "bgrx"}, ValueError, "channel_order"),
        ({"channel_order": 3}, TypeError, "channel_order"),
        ({"dtype": "float64"}, ValueError, "dtype"),
        ({"dtype": "uint8"}, ValueError, "dtype"),
        ({"dtype": "not-a-dtype"}, ValueError, "dtype"),
        ({"layout": "whc"}, ValueError, "layout"),
        ({"std": 0.0}, ValueError, "std"),
        ({"std": (1.0, 0.0, 1.0)}, ValueError, "std"),
        ({"std": (1.0, 2.0)}, TypeError, "std"),
        ({"mean": float("nan")}, ValueError, "mean"),
        ({"std": 1e-300}, ValueError, "std"),
        ({"mean": 1e300}, ValueError, "mean"),
        ({"resize_short": 2**40}, ValueError, "resize_short"),
        ({"crop": (2**31, 1)}, ValueError, "crop"),
        ({"mean": "gray"}, TypeError, "mean"),
    ],
)
def test_bad_options(kwargs, error, names):
    with pytest.raises(error, match=names):
        Preprocessor(**kwargs)


@pytest.mark.parametrize(
    ("frame", "error", "expected"),
    [
        (np.zeros((48, 64, 3), np.float32), TypeError, "uint8"),
        (np.zeros((48, 64, 3), np.uint16), TypeError, "uint8"),
        ([[[0, 0, 0]]], TypeError, "numpy.ndarray"),
        (None, TypeError, "numpy.ndarray"),
        (np.zeros((48, 64), np.uint8), ValueError, r"\(H, W, 3\)"),
        (np.zeros((2, 48, 64, 3), np.uint8), ValueError, r"\(H, W, 3\)"),
        (np.zeros((48, 64, 4), np.uint8), ValueError, "channel_order='bgr'"),
        (np.zeros((48, 64, 1), np.uint8), ValueError, r"\(H, W, 3\)"),
        (np.zeros((0, 64, 3), np.uint8), ValueError, "empty"),
        (np.zeros((48, 0, 3), np.uint8), ValueError, "empty"),
    ],
)
def test_bad_frames(frame, error, expected):
    with pytest.raises(error, match=f"frame.*{expected}|{expected}.*frame"):
        Preprocessor()(frame)


@pytest.mark.parametrize(
    ("out", "error", "expected"),
    [
        (np.zeros((100, 100, 3), np.float64), TypeError, "dtype float32"),
        (np.zeros((100, 100, 3), np.float16), TypeError, "dtype float32"),
        (np.zeros((100, 100, 3), ">f4"), TypeError, "dtype float32"),
        (np.zeros((100, 100, 4), np.float32), ValueError, r"shape \(100, 100, 3\)"),
        (np.zeros((3, 100, 100), np.float32), ValueError, r"shape \(100, 100, 3\)"),
        (np.zeros((100, 100, 3), np.float32, order="F"), ValueError, "C-contiguous"),
        (np.zeros((100, 200, 3), np.float32)[:, ::2], ValueError, "C-contiguous"),
        (np.zeros((100, 100, 3), np.float32)[::-1], ValueError, "C-contiguous"),
        ([0.0] * 30000, TypeError, "numpy.ndarray"),
    ],
)
def test_bad_outputs(out, error, expected):
    frame = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(error, match=f"out must .*{expected}"):
        Preprocessor()(frame, out=out)


def test_a_resize_beyond_int_range_is_refused():
    p = Preprocessor(resize_short=2**30, crop=1)
    with pytest.raises(ValueError, match="resize_short=1073741824"):
        p(np.zeros((1, 3, 3), np.uint8))


def test_channel_strides_must_be_whole_items():
    out = np.lib.stride_tricks.as_strided(
        np.zeros(30010, np.float32), (3, 100, 100), (40002, 400, 4)
    )
    with pytest.raises(ValueError, match="out must be aligned with C-contiguous"):
        Preprocessor(layout="chw")(np.zeros((48, 64, 3), np.uint8), out=out)


def test_an_output_sharing_memory_with_the_frame_is_refused():
    buffer = np.zeros(480 * 640 * 3, np.uint8)
    frame = buffer.reshape(480, 640, 3)
    out = buffer[: 100 * 100 * 3 * 4].view(np.float32).reshape(100, 100, 3)
    with pytest.raises(ValueError, match="out must not share memory with frame"):
        Preprocessor()(frame, out=out)


def test_arrays_and_numpy_scalars_are_accepted_as_options():
    p = Preprocessor(np.int64(120), np.array([100, 90]), mean=np.array(127.5), std=np.ones(3) * 2)
    assert p.crop == (100, 90) and p.mean == (127.5,) * 3 and p.std == (2.0,) * 3
    with pytest.raises(TypeError, match="mean"):
        Preprocessor(mean=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="height must fit in 32 bits"):
        p.geometry(2**31, 10)


def test_read_only_output_is_refused():
    out = np.zeros((100, 100, 3), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        Preprocessor()(np.zeros((48, 64, 3), np.uint8), out=out)


def test_misaligned_output_is_refused():
    raw = np.zeros(100 * 100 * 3 * 4 + 1, np.uint8)
    out = raw[1:].view(np.float32).reshape(100, 100, 3)
    with pytest.raises(ValueError, match=r"out must be .*aligned"):
        Preprocessor()(np.zeros((48, 64, 3), np.uint8), out=out)


def test_channel_first_output_needs_contiguous_planes():
    out = np.zeros((3, 100, 200), np.float32)[:, :, ::2]
    with pytest.raises(ValueError, match="out must be aligned with C-contiguous"):
        Preprocessor(layout="chw")(np.zeros((48, 64, 3), np.uint8), out=out)


def test_nothing_is_written_when_the_frame_is_refused():
    out = np.full((100, 100, 3), 7.0, np.float32)
    with pytest.raises(ValueError):
        Preprocessor()(np.zeros((48, 64, 4), np.uint8), out=out)
    assert (out == 7.0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"clip_len": 0}, ValueError, "clip_len"),
        ({"clip_len": 2.0}, TypeError, "clip_len"),
        ({"height": -1}, ValueError, "height"),
        ({"width": 0}, ValueError, "width"),
        ({"channels": 1}, ValueError, "channels"),
        ({"dtype": "int8"}, ValueError, "dtype"),
        ({"layout": "nhwc"}, ValueError, "layout"),
        ({"preprocessor": Preprocessor(crop=90)}, ValueError, "preprocessor"),
        ({"preprocessor": Preprocessor(dtype="float16")}, ValueError, "preprocessor"),
        ({"preprocessor": Preprocessor(layout="chw")}, ValueError, "preprocessor"),
        ({"preprocessor": lambda f, out: out}, TypeError, "preprocessor"),
    ],
)
def test_bad_ring_options(kwargs, error, names):
    with pytest.raises(error, match=names):
        ClipRing(**kwargs)


def test_bad_ring_hand_off_buffers():
    ring = ClipRing(clip_len=2)
    with pytest.raises(RuntimeError, match="holds 0 of 2 frames"):
        ring.latest()
    ring.push(np.zeros((48, 64, 3), np.uint8))
    ring.push(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"out must have shape \(1, 2, 100, 100, 3\)"):
        ring.latest(out=np.zeros((2, 100, 100, 3), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        ring.latest(out=np.zeros((1, 2, 100, 100, 3), np.float64))
    with pytest.raises(TypeError, match=r"out must be a numpy\.ndarray"):
        ring.latest(out="buffer")
    with pytest.raises(ValueError, match="frame must have shape"):
        ring.push(np.zeros((48, 64), np.uint8))
    assert ring.frames == 2  # a refused frame is not counted
