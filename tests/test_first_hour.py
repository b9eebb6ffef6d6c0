"""What a newcomer trips on in the first hour, each now a clear message or a right answer:
options of the wrong type, a missing optional engine or GPU, NaN timeouts, a callback that
closes its recognizer, a float16 normalisation that would overflow, a lost recording, the
units of stream timestamps, and library log noise."""

from __future__ import annotations

import json
import math
import resource
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from gesture_rt import ClipRing, GestureRecognizer, Preprocessor
from gesture_rt.engines import EngineUnavailable, available, open_engine
from gesture_rt.live import main
from gesture_rt.live.sources import open_source
from gesture_rt.synthetic import GestureStream


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": "high"}, r"threshold must be a number in \(0, 1\]"),
        ({"threshold": 1.5}, r"threshold must be a number in \(0, 1\]"),
        ({"threshold": True}, r"threshold must be a number"),
        ({"stride": 2.5}, "stride must be an integer >= 1"),
        ({"smoothing": 0}, "smoothing must be an integer >= 1"),
        ({"clip_len": "40"}, "clip_len must be an integer >= 1"),
        ({"match_training_fps": "yes"}, "match_training_fps must be True or False"),
        ({"engine": None}, "engine must be a string"),
        ({"bundle": None}, "bundle must be a bundled model's name .* got NoneType"),
    ],
)
def test_options_of_the_wrong_kind_name_the_option(changes, message):
    with pytest.raises(ValueError, match=message):
        GestureRecognizer.create(**changes)
    with pytest.raises(ValueError, match="options must be a RecognizerOptions"):
        GestureRecognizer({"threshold": 0.5})


@pytest.mark.skipif(available("onnxruntime"), reason="ONNX Runtime is installed here")
def test_a_missing_engine_names_the_extra_to_install(capsys):
    with pytest.raises(EngineUnavailable, match=r"pip install 'gesture_rt\[onnx\]'"):
        open_engine("modified_i3d_synthetic", engine="onnxruntime")
    assert main(["--no-display", "--source", "synthetic", "--engine", "onnxruntime"]) == 2
    assert "pip install 'gesture_rt[onnx]'" in capsys.readouterr().err


def test_a_missing_engine_library_is_a_bad_argument_with_the_extra(monkeypatch, capsys):
    """Wherever ONNX Runtime is installed or not: as if it were not."""
    from gesture_rt import engines

    monkeypatch.setattr(engines, "available", lambda name: name == "openvino")
    with pytest.raises(EngineUnavailable, match=r"needs onnxruntime, which is not installed: "
                                                r"pip install 'gesture_rt\[onnx\]'"):  # fmt: skip
        open_engine("modified_i3d_synthetic", engine="onnxruntime")
    code = main(["--no-display", "--source", "synthetic", "--engine", "onnxruntime"])
    assert code == 2 and "pip install 'gesture_rt[onnx]'" in capsys.readouterr().err


def test_a_gpu_device_without_a_gpu_is_a_bad_argument_naming_the_gpu_extra(capsys):
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed: this machine may have the GPU path")
    except ImportError:
        pass
    code = main(["--no-display", "--source", "synthetic", "--seconds", "1", "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'gesture_rt[gpu]'" in err and "device='cpu'" in err


@pytest.mark.parametrize("timeout", [math.nan, "1", True])
def test_wait_for_frames_refuses_a_timeout_that_is_not_seconds(timeout):
    ring = ClipRing(4, 8, 8)
    with pytest.raises(ValueError, match="timeout must be a number of seconds or None"):
        ring.wait_for_frames(1, timeout=timeout)


def test_wait_for_frames_takes_inf_as_no_timeout_and_returns_when_frames_come():
    ring = ClipRing(4, 8, 8)
    frame = np.zeros((8, 8, 3), np.uint8)  # a raw camera frame
    ring.push(frame)  # fails here, not silently in the timer's thread, if the frame is wrong
    threading.Timer(0.2, ring.push, args=(frame,)).start()
    assert ring.wait_for_frames(2, timeout=math.inf) is True
    assert ring.wait_for_frames(5, timeout=0.05) is False and ring.wait_for_frames(1, 1e300)


def test_a_float16_normalisation_that_would_overflow_is_refused_up_front():
    with pytest.raises(ValueError, match=r"std: .* beyond float16's 65504; use a larger std"):
        Preprocessor(64, 64, dtype="float16", mean=0.0, std=1e-3)
    Preprocessor(64, 64, dtype="float32", mean=0.0, std=1e-3)  # float32 holds it
    prep = Preprocessor(64, 64, dtype="float16", mean=0.0, std=0.004)  # just inside: 63750
    out = prep(np.full((64, 64, 3), 255, np.uint8))
    assert np.isfinite(out).all()


def test_a_callback_that_closes_its_recognizer_closes_it_cleanly():
    closed = threading.Event()
    recognizer = None

    def close_on_first(prediction):
        recognizer.close()  # from the worker thread: no "cannot join current thread"
        closed.set()

    recognizer = GestureRecognizer.create(stride=1, result_callback=close_on_first)
    frames = GestureStream(fps=30, size=(120, 160), seed=3)
    for frame in frames:
        try:
            recognizer.push_async(frame.image, frame.timestamp_ms)
        except RuntimeError:  # closed by the callback: the stream's end
            break
        if frame.index > 200:
            break
    assert closed.wait(30) and recognizer._closed and recognizer.engine._closed
    recognizer._worker._thread.join(10)
    assert not recognizer._worker._thread.is_alive()


def test_stream_frames_carry_milliseconds_for_push():
    frames = iter(GestureStream(fps=25, size=(120, 160), seed=1))
    first, second = next(frames), next(frames)
    assert (first.timestamp_ms, second.timestamp_ms) == (0.0, pytest.approx(40.0))
    assert second.timestamp_ms == second.timestamp * 1000


def test_a_folder_of_frames_plays_at_jesters_12_fps(tmp_path):
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), np.zeros((60, 80, 3), np.uint8))
    with open_source(str(tmp_path)) as source:
        assert source.fps == 12.0
        stamps = [source.read()[1] for _ in range(3)]
    assert stamps == pytest.approx([0.0, 1000 / 12, 2000 / 12])
    with open_source(str(tmp_path), fps=30) as source:
        assert source.fps == 30.0


def test_precision_and_recall_are_null_when_there_is_nothing_to_divide(capsys):
    code = main(["--no-display", "--source", "synthetic", "--seconds", "4", "--no-pace",
                 "--every-frame", "--size", "160x120", "--threshold", "1.0"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert code == 0 and summary["events"] == 0 and summary["precision"] is None
    assert summary["events_right"] == 0


def test_a_recording_the_disk_cannot_hold_fails_the_run(tmp_path):
    """A file-size limit stands in for a full disk: OpenCV's writer does not say its writes
    failed, so the app checks what the file plays back."""
    record = tmp_path / "out.mp4"

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    command = [sys.executable, "-m", "gesture_rt.live", "--no-display", "--source", "synthetic",
               "--seconds", "6", "--no-pace", "--record", str(record)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            preexec_fn=small_disk)  # fmt: skip
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert result.returncode == 1, result.stderr
    assert "could not be written whole" in summary["recording_error"]
    assert "recording" not in summary and not list(tmp_path.iterdir())  # no unplayable file


def test_a_missing_camera_prints_one_clear_line_not_opencvs_noise():
    command = [sys.executable, "-m", "gesture_rt.live", "--no-display", "--source", "7"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gesture_rt.live: camera 7 could not be opened (no camera there, or it is in use); try "
        "--source synthetic"
    ]


def test_the_synthetic_sources_difficulty_is_a_flag(capsys, monkeypatch):
    from gesture_rt.live import sources

    seen = []
    real = sources.SyntheticSource.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        seen.append(self.stream)

    monkeypatch.setattr(sources.SyntheticSource, "__init__", spy)
    argv = ["--no-display", "--source", "synthetic", "--seconds", "4", "--no-pace", "--size",
            "160x120"]  # fmt: skip
    assert main([*argv, "--difficulty", "0.6"]) == 0 and seen[-1].difficulty == 0.6
    assert main(argv) == 0 and seen[-1].difficulty == 0.2  # the bundled model's, by default
    capsys.readouterr()
    assert main([*argv, "--difficulty", "7"]) == 2
    assert "difficulty must be a number in [0, 1], got 7.0" in capsys.readouterr().err
