"""``python -m gesture_rt.live``: headless runs on every kind of source, the overlay checked on the
image, a camera that disconnects, SIGINT with a recording, bad sources, and the on-screen path
under a virtual X server where one is installed."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest

from gesture_rt import GestureRecognizer
from gesture_rt.engines import openvino as openvino_engine
from gesture_rt.events import BACKGROUND
from gesture_rt.live import LiveApp, LiveOptions, OverlayState, draw_overlay, main
from gesture_rt.live.capture import CaptureThread, FrameQueue, QueueClosed
from gesture_rt.live.sources import Disconnected, Source, SourceError, open_source
from gesture_rt.preprocess import Preprocessor
from gesture_rt.recognizer import RecognizerOptions

SMALL = ["--size", "160x120"]  # synthetic frames: small keeps the suite fast


def run_headless(argv: list[str], capsys) -> tuple[int, list[dict], str]:
    code = main(["--no-display", *argv])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_a_headless_synthetic_run_fires_the_streams_gestures(capsys):
    code, lines, _ = run_headless(
        ["--source", "synthetic", "--seconds", "60", "--no-pace", "--seed", "7", *SMALL], capsys
    )
    assert code == 0
    *events, last = lines
    summary = last["summary"]
    assert all(set(e) == {"event", "score", "timestamp_ms", "frame"} for e in events)
    assert all(e["event"] not in BACKGROUND and e["score"] >= 0.5 for e in events)
    assert summary["frames"] == summary["frames_captured"] == 1800  # 60 s at 30 fps
    # --no-pace evaluates every clip that comes due: 60 s at the bundle's 12 fps is 720
    # frames, a clip at frame 40 and every 10th after (stride 10)
    assert summary["clips_evaluated"] == (60 * 12 - 40) // 10 + 1 and summary["clips_skipped"] == 0
    assert summary["events"] == len(events) and summary["gestures"] >= 10
    assert summary["precision"] >= 0.9 and summary["recall"] >= 0.9, summary
    with GestureRecognizer.create() as recognizer:  # what auto picks here, the summary says
        assert summary["inference_precision"] == recognizer.precision


def test_a_source_too_short_for_one_clip_exits_1_with_the_summary(capsys):
    code, lines, err = run_headless(["--source", "synthetic", "--seconds", "2", "--no-pace",
                                     *SMALL], capsys)  # fmt: skip
    assert code == 1 and lines[-1]["summary"]["clips_evaluated"] == 0
    assert "no clip was evaluated: the source gave 60 frames and a clip needs 40 frames at the " \
           "bundle's 12 fps (3.3 s); try --seconds 4 or more or --every-frame (a clip of 40 " \
           "source frames)" in err  # only remedies that work: --loop does nothing here


def test_a_short_folder_is_told_to_loop_not_to_feed_every_frame(tmp_path, capsys):
    for i in range(20):  # 20 frames: too few for a clip at any rate
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), np.zeros((60, 80, 3), np.uint8))
    code, _, err = run_headless(["--source", str(tmp_path), "--no-pace"], capsys)
    assert code == 1 and "try --loop to replay it" in err and "--every-frame" not in err


def test_output_paths_that_cannot_be_written_are_refused_before_the_run(tmp_path, capsys):
    for flag, path in (("--record", "/proc/x.mp4"), ("--screenshot", "/proc/x.png")):
        code, _, err = run_headless(["--source", "synthetic", "--seconds", "5", flag, path],
                                    capsys)  # fmt: skip
        assert code == 2 and f"{flag[2:]}: cannot write in /proc" in err, err


def test_a_folder_planted_in_the_working_directory_is_not_the_default_model(
    tmp_path, monkeypatch, capsys
):
    planted = tmp_path / RecognizerOptions.bundle
    planted.mkdir()
    (planted / "manifest.json").write_text("{ a bundle that must never be loaded")
    monkeypatch.chdir(tmp_path)
    code, lines, _ = run_headless(["--source", "synthetic", "--seconds", "5", "--no-pace",
                                   *SMALL], capsys)  # fmt: skip
    assert code == 0 and lines[-1]["summary"]["clips_evaluated"] > 0
    code, _, err = run_headless(["--source", "synthetic", "--seconds", "5", "--bundle",
                                 f"./{RecognizerOptions.bundle}"], capsys)  # fmt: skip
    assert code == 2 and "unreadable manifest.json" in err  # as a path it is that folder


def test_an_unknown_precision_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--source", "synthetic", "--precision", "fp16"])
    assert exit_.value.code == 2
    assert "invalid choice: 'fp16' (choose from 'auto', 'fp32', 'bf16', 'int8')" in (
        capsys.readouterr().err)  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "int8", "bf16"])
def test_the_precision_flag_runs_that_precision_and_says_so(precision, capsys):
    has_bf16 = "BF16" in openvino_engine.capabilities("CPU")
    if precision == "bf16" and not has_bf16:  # refused, naming what the CPU has
        code, lines, err = run_headless(["--source", "synthetic", "--seconds", "2",
                                         "--precision", "bf16", *SMALL], capsys)  # fmt: skip
        assert code == 2 and not lines and "this CPU has no bf16 (OpenVINO's capabilities" in err
        return
    code, lines, err = run_headless(["--source", "synthetic", "--seconds", "4", "--no-pace",
                                     "--precision", precision, *SMALL], capsys)  # fmt: skip
    assert code == 0 and lines[-1]["summary"]["inference_precision"] == precision
    assert f"openvino on cpu, {precision} (asked for" in err  # one line: what runs and why


def test_verbose_prints_every_prediction(capsys):
    code, lines, _ = run_headless(
        ["--source", "synthetic", "--seconds", "8", "--no-pace", "--verbose", *SMALL], capsys
    )
    predictions = [line for line in lines if "prediction" in line]
    assert code == 0 and len(predictions) == lines[-1]["summary"]["clips_evaluated"] > 0
    first = predictions[0]
    assert len(first["top"]) == 3 and first["top"][0][0] == first["prediction"]
    assert first["frames"][1] - first["frames"][0] > 39  # 40 samples at 12 fps of a 30 fps stream


def test_a_video_file_is_read_whole_and_recorded(tmp_path, capsys):
    video = tmp_path / "in.avi"
    frames = write_video(video, count=120, fps=30)  # 4 s: 48 frames at 12 fps, one clip
    record, shot = tmp_path / "out.mp4", tmp_path / "shot.png"
    code, lines, _ = run_headless(
        ["--source", str(video), "--no-pace", "--record", str(record), "--screenshot", str(shot)],
        capsys,
    )
    summary = lines[-1]["summary"]
    assert code == 0 and summary["frames"] == 120 and summary["stopped_by"] == "end of source"
    assert summary["recording"] == str(record) and summary["clips_evaluated"] == 1
    assert count_frames(record) == 120  # one recorded frame per 1/30 s of the source
    image = cv2.imread(str(shot))
    assert image.shape == frames[0].shape
    assert not list(tmp_path.glob(".*partial*"))


def test_a_folder_of_images_is_a_source(tmp_path, capsys):
    for i in range(50):
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), np.full((60, 80, 3), i * 5, np.uint8))
    code, lines, _ = run_headless(["--source", str(tmp_path), "--no-pace", "--every-frame"], capsys)
    summary = lines[-1]["summary"]
    assert code == 0 and summary["frames"] == 50 and summary["clips_evaluated"] >= 1


def test_a_paced_source_runs_at_its_frame_rate(capsys):
    began = time.monotonic()
    code, lines, _ = run_headless(
        ["--source", "synthetic", "--seconds", "3", "--fps", "15", "--every-frame", *SMALL], capsys
    )
    elapsed = time.monotonic() - began
    summary = lines[-1]["summary"]
    assert code == 0 and summary["frames"] + summary["frames_dropped_at_capture"] == 45
    assert elapsed >= 2.9  # 45 frames at 15 fps are not delivered faster than 3 s


def test_the_overlay_status_line_names_the_precision():
    frame = np.zeros((480, 640, 3), np.uint8)
    state = OverlayState(inference_ms=33.0)
    plain = draw_overlay(frame, state)[-30:].max(axis=(0, 2)).nonzero()[0].max()
    named = draw_overlay(frame, replace(state, precision="int8"))[-30:]
    assert named.max(axis=(0, 2)).nonzero()[0].max() > plain + 30  # " int8" widens the line


def test_the_overlay_draws_the_crop_box_and_the_labels():
    frame = np.zeros((480, 640, 3), np.uint8)
    box = Preprocessor(120, 120).crop_box(480, 640)  # the centre 480 x 480 square
    assert box == (80.0, 0.0, 560.0, 480.0)
    state = OverlayState(crop_box=box, fired="Thumb Up",
                         top=[("Thumb Up", 0.91), ("Thumb Down", 0.05)])  # fmt: skip
    image = draw_overlay(frame, state)
    white = np.all(image == 255, axis=2)
    assert white[200:440, 80].all() and white[200:440, 559].all()  # the box's sides
    assert not white[200:440, 81:559].any()  # nothing else white inside it, below the text
    green = (image[..., 1] > 150) & (image[..., 0] < 80) & (image[..., 2] < 80)
    blue = (image[..., 0] > 200) & (image[..., 1] < 120) & (image[..., 2] < 60)
    assert green[:60].sum() > 100 and not green[100:].any()  # the fired label, at the top
    assert blue[60:160].sum() > 100  # the probabilities under it
    hidden = draw_overlay(frame, OverlayState(crop_box=box, top=state.top,
                                              show_probabilities=False))  # fmt: skip
    assert not ((hidden[..., 0] > 200) & (hidden[..., 1] < 120)).any()  # t hides the panel
    assert frame.max() == 0  # drawn on a copy
    with pytest.raises(ValueError, match="frame must be an H x W x 3 uint8 image"):
        draw_overlay(np.zeros((48, 64), np.uint8), state)


class FlakyCamera(Source):
    """A live source that delivers ``before`` frames, disconnects, and reconnects only if
    ``comes_back``."""

    name = "camera 9"
    live = True

    def __init__(self, before: int, comes_back: bool) -> None:
        self.before, self.comes_back = before, comes_back
        self.count, self.reopened = 0, 0
        self.connected = True

    def read(self):
        if not self.connected or self.count == self.before:
            self.connected = False
            raise Disconnected(f"{self.name} stopped delivering frames")
        self.count += 1
        time.sleep(0.002)
        return np.full((48, 64, 3), self.count % 255, np.uint8), self.count * 33.3

    def reopen(self) -> None:
        self.reopened += 1
        if not self.comes_back:
            raise SourceError(f"{self.name} could not be opened")
        self.connected, self.before = True, self.before * 2


def test_a_camera_that_disconnects_is_retried_then_the_run_ends_cleanly(monkeypatch):
    camera = FlakyCamera(before=60, comes_back=False)
    monkeypatch.setattr("gesture_rt.live.app.open_source", lambda *a, **k: camera)
    out = io.StringIO()
    options = LiveOptions(source="9", display=False, reconnect_attempts=2, reconnect_delay_s=0.01)
    app = LiveApp(options, out=out)
    began = time.monotonic()
    assert app.run() == 1
    summary = json.loads(out.getvalue().splitlines()[-1])["summary"]
    assert camera.reopened == 2 and summary["frames_captured"] == 60
    assert "gave up after 2 reconnection attempts" in summary["stopped_by"]
    assert time.monotonic() - began < 10
    assert not [t for t in threading.enumerate() if t.name.startswith("gesture_rt")]


def test_capture_reconnects_a_camera_that_comes_back():
    camera = FlakyCamera(before=10, comes_back=True)
    queue, stop = FrameQueue(1000), threading.Event()
    capture = CaptureThread(camera, queue, stop, reconnect_delay_s=0.0)
    capture.start()
    time.sleep(0.3)
    stop.set()
    capture.join(5)
    assert capture.reconnections >= 1 and capture.frames > 10 and capture.error is None


def test_the_frame_queue_keeps_the_newest_frames():
    queue = FrameQueue(2)
    for i in range(5):
        queue.put(i)
    assert queue.dropped == 3 and queue.get(0) == 3 and queue.get(0) == 4
    assert queue.get(0.01) is None
    queue.close()
    with pytest.raises(QueueClosed):
        queue.get(0)


def test_sigint_stops_a_run_and_finalises_the_recording(tmp_path):
    record = tmp_path / "run.mp4"
    command = [sys.executable, "-m", "gesture_rt.live", "--source", "synthetic", "--no-display",
               "--record", str(record), "--verbose", *SMALL]  # fmt: skip
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:  # fmt: skip
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")))
        reader.start()
        deadline = time.monotonic() + 120
        while not lines and time.monotonic() < deadline:  # running: a prediction was printed
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            process.kill()
            reader.join(10)
        err = process.stderr.read()
    assert process.returncode == 0, err
    summary = json.loads(lines[-1])["summary"]
    assert summary["stopped_by"] == "user" and summary["frames"] > 0
    assert count_frames(record) > 0 and not list(tmp_path.glob(".*partial*"))


def test_a_failure_mid_run_ends_with_the_summary_and_exit_1(monkeypatch):
    class BackwardsClock(Source):  # the 50th frame's timestamp goes back: the recognizer refuses
        name, count = "backwards", 0

        def read(self):
            self.count += 1
            return np.zeros((48, 64, 3), np.uint8), (
                10.0 if self.count == 50 else self.count * 33.3
            )

    monkeypatch.setattr("gesture_rt.live.app.open_source", lambda *a, **k: BackwardsClock())
    out = io.StringIO()
    app = LiveApp(LiveOptions(source="x", display=False, pace=False, seconds=5), out=out)
    assert app.run() == 1
    summary = json.loads(out.getvalue().splitlines()[-1])["summary"]
    assert summary["stopped_by"].startswith("error: ValueError: timestamp_ms must increase")
    assert summary["frames"] == 49


def test_recording_over_the_source_is_refused(tmp_path, capsys):
    video = tmp_path / "in.avi"
    write_video(video, count=10, fps=30)
    before = video.read_bytes()
    code, _, err = run_headless(["--source", str(video), "--record", str(video)], capsys)
    assert code == 2 and "is the source" in err and video.read_bytes() == before


def test_the_recorder_holds_each_frame_until_the_next(tmp_path):
    from gesture_rt.live.recording import Recorder

    recorder = Recorder(tmp_path / "held.avi", fps=10)
    black, grey = np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)
    recorder.write(black, 0.0)
    recorder.write(grey, 1000.0)  # 1 s later: 9 slots of black, then grey
    recorder.write(cv2.resize(black, (32, 24)), 1100.0)  # another size is resized, not lost
    assert recorder.close() == tmp_path / "held.avi" and recorder.frames == 12
    capture = cv2.VideoCapture(str(tmp_path / "held.avi"))
    means = [frame.mean() for ok, frame in iter(capture.read, (False, None)) if ok]
    capture.release()
    assert len(means) == 12 and max(means[:10]) < 30 and means[10] > 150 and means[11] < 30


def test_a_gif_loops_and_pause_holds_a_file_source(tmp_path):
    from PIL import Image

    gif = tmp_path / "wave.gif"
    images = [Image.new("RGB", (64, 48), (i * 20, 0, 0)) for i in range(10)]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=100, loop=0)
    source = open_source(str(gif), loop=True)
    assert source.fps == pytest.approx(10, abs=0.5)
    queue, stop, paused = FrameQueue(1000), threading.Event(), threading.Event()
    capture = CaptureThread(source, queue, stop, pace=True, seconds=3.0, paused=paused)
    paused.set()
    capture.start()
    time.sleep(0.5)
    assert capture.frames <= 1  # held while paused (at most the frame read before the pause)
    paused.clear()
    capture.join(10)
    assert capture.frames == 30 and capture.ended_by == "seconds"  # 3 s of a looped 1-s GIF
    source.close()


def test_no_camera_exits_2_naming_it_and_suggesting_synthetic():
    command = [sys.executable, "-m", "gesture_rt.live", "--source", "7", "--no-display"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "camera 7" in last and "--source synthetic" in last
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "missing.mp4"], "does not exist"),
        (["--source", "synthetic", "--record", "out.gif"], "needs one of the extensions"),
        (["--source", "synthetic", "--fps", "-3"], "fps must be a frame rate in"),
        (["--source", "synthetic", "--screenshot", "shot.xyz"], "screenshot: shot.xyz needs"),
        (["--source", "synthetic", "--screenshot", "no/such/dir/s.png"], "folder no/such/dir"),
        (["--source", "²"], "does not exist"),
        (["--source", "synthetic", "--bundle", "no_such_model"], "no_such_model"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, lines, err = run_headless([*argv, "--seconds", "2", *SMALL], capsys)  # bounded if not
    assert code == 2 and message in err and not lines


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--stride", "0", "argument --stride: expected a whole number >= 1, got '0'"),
    ("--smoothing", "1.5", "argument --smoothing: expected a whole number >= 1"),
    ("--threshold", "2", "argument --threshold: expected a probability in (0, 1], got '2'"),
])  # fmt: skip
def test_numbers_out_of_range_are_named_by_their_flag(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--no-display", "--source", "synthetic", flag, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_an_unreadable_video_is_refused(tmp_path, capsys):
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    code, _, err = run_headless(["--source", str(damaged)], capsys)
    assert code == 2 and "is not a video OpenCV can read" in err
    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(tmp_path))  # a folder without images


def test_display_refuses_cleanly_without_a_screen(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["--source", "synthetic", "--seconds", "1", *SMALL])
    assert code == 2 and "--no-display" in capsys.readouterr().err


def test_an_unreachable_display_is_refused_before_qt_can_abort(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DISPLAY", ":59")  # no X server there
    record = tmp_path / "never.mp4"
    code = main(["--source", "synthetic", "--seconds", "1", "--record", str(record), *SMALL])
    assert code == 2 and "cannot open a window on display ':59'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb (a virtual X server) not installed")
def test_the_on_screen_path_runs_under_a_virtual_x_server(tmp_path):
    display = ":97"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(1.5)
        shot = tmp_path / "screen.png"
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        command = [sys.executable, "-m", "gesture_rt.live", "--source", "synthetic",
                   "--seconds", "8", "--screenshot", str(shot), *SMALL]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout.splitlines()[-1])["summary"]
        assert summary["frames"] > 0 and cv2.imread(str(shot)) is not None
    finally:
        server.terminate()
        server.wait(10)


def write_video(path, count: int, fps: float) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (96, 72))
    frames = [np.full((72, 96, 3), (i * 3) % 255, np.uint8) for i in range(count)]
    for frame in frames:
        writer.write(frame)
    writer.release()
    return frames


def count_frames(path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_recognizer_options_reach_the_recognizer():
    options = LiveOptions(source="synthetic", display=False, seconds=6, pace=False, size=(120, 160))
    app = LiveApp(options, RecognizerOptions(stride=10, match_training_fps=True), out=io.StringIO())
    assert app.run() == 0
    # 6 s at 12 fps = 72 samples: clips end at samples 40, 50, 60 and 70
    assert app.summary["clips_evaluated"] == 4
