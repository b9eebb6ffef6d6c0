"""``python -m gesture_rt.live``: gestures recognised live from a camera, a video, a folder of
images or the synthetic stream (thesis section 5.2), on screen or headless.

Three threads, as in OpenCV's threaded capture samples: capture reads the source into a small
queue where the newest frame wins (a slow model never stalls the camera); inference feeds the
GestureRecognizer (``push_async``: the network runs on the recognizer's worker, newest clip
wins); the main thread draws the overlay, shows it, records it and reads the keys. Headless, one
JSON line is printed per event (and per prediction with ``--verbose``), then a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from gesture_rt.events import BACKGROUND, match_events
from gesture_rt.live.capture import CaptureThread, FrameQueue, QueueClosed
from gesture_rt.live.overlay import OverlayState, draw_overlay
from gesture_rt.live.recording import Recorder
from gesture_rt.live.sources import Source, SourceError, open_source
from gesture_rt.precision import CHOICES
from gesture_rt.recognizer import GestureRecognizer, Prediction, RecognizerOptions
from gesture_rt.synthetic.clips import size_from_text
from gesture_rt.synthetic.dataset import check_image_path, write_image

WINDOW = "gesture_rt"
SLACK_S = 3.5  # an event may come this long after its gesture's end (a 40-frame clip at 12 fps)
QUIT_KEYS = (ord("q"), 27)  # q, Esc


@dataclass
class LiveOptions:
    """How to run. ``seconds``: stop after that much of the source's time (None: until it ends
    or the user quits). ``pace``: play files at their frame rate (off: as fast as inference
    allows, every clip evaluated, nothing dropped). ``size``: the synthetic stream's frames."""

    source: str = "0"
    fps: float | None = None
    pace: bool = True
    loop: bool = False
    seconds: float | None = None
    display: bool = True
    verbose: bool = False
    record: str | None = None
    screenshot: str | None = None
    difficulty: float = 0.2  # the synthetic source's: the bundled model's training difficulty
    seed: int = 0
    size: tuple[int, int] = (480, 640)
    top: int = 3  # probabilities shown
    event_hold_s: float = 1.5  # a fired gesture stays on screen this long
    reconnect_attempts: int = 3  # a camera that stops delivering is reopened this often
    reconnect_delay_s: float = 1.0


class RateMeter:
    """Events per second, smoothed over the last few intervals."""

    def __init__(self, smoothing: float = 0.1) -> None:
        self._last: float | None = None
        self._interval: float | None = None
        self._smoothing = smoothing

    def tick(self, seconds: float) -> None:
        if self._last is not None and seconds > self._last:
            step = seconds - self._last
            self._interval = step if self._interval is None else (
                self._interval + self._smoothing * (step - self._interval))  # fmt: skip
        self._last = seconds

    @property
    def rate(self) -> float:
        return 0.0 if not self._interval else 1.0 / self._interval


class LiveApp:
    """One run of the live application. ``run()`` returns the exit status; ``stop()`` (any
    thread, or a signal handler) ends it cleanly; ``summary`` holds the final figures."""

    def __init__(self, options: LiveOptions, recognizer: RecognizerOptions | None = None,
                 out: TextIO | None = None) -> None:  # fmt: skip
        self.options = options
        self.recognizer_options = recognizer or RecognizerOptions(match_training_fps=True)
        self.out = out or sys.stdout
        self.summary: dict[str, Any] = {}
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._lock = threading.Lock()  # guards the state below, written by the inference side
        self._predictions: list[Prediction] = []
        self._events: list = []
        self._latest: Prediction | None = None
        self._fired: tuple[str, float] | None = None  # (label, its timestamp ms)
        self._show_probabilities = True
        self._processed = 0
        self._processing = RateMeter()
        self._camera = RateMeter()
        self._last_ms: float | None = None
        self._span: tuple[float | None, float | None] = (None, None)  # first, last frame's time
        self._error: str | None = None
        self._stopped_by_user = False

    def stop(self) -> None:
        """End the run as the user asked (q, Esc, Ctrl+C)."""
        self._stopped_by_user = True
        self._stop.set()

    def run(self) -> int:
        """Open everything, run until the end, print the summary; 0 when the run ended normally,
        1 when something failed mid-run (a camera that did not come back, a frame the recognizer
        refused, a recording the disk refused). Bad options raise before anything starts."""
        options = self.options
        _check_options(options)
        recorder = Recorder(options.record, 30.0) if options.record else None  # checks the path
        if options.display:
            _check_screen()
        with open_source(options.source, options.fps, options.loop, options.seconds,
                         options.seed, options.size, options.difficulty) as source:  # fmt: skip
            if recorder is not None:
                recorder.fps = source.fps
            sync = not options.pace  # every clip evaluated when nothing runs against a clock
            callback = None if sync else self._on_prediction
            recognizer = GestureRecognizer.create(
                replace(self.recognizer_options, result_callback=callback)
            )
            engine = recognizer.engine
            print(f"gesture_rt.live: {engine.name} on {engine.device}, {engine.precision} "
                  f"({engine.precision_reason})", file=sys.stderr)  # fmt: skip
            frames, shown = FrameQueue(2), FrameQueue(1)
            capture = CaptureThread(source, frames, self._stop, options.pace, options.seconds,
                                    options.reconnect_attempts, options.reconnect_delay_s,
                                    paused=self._paused)  # fmt: skip
            inference = threading.Thread(target=self._infer, args=(recognizer, frames, shown, sync),
                                         name="gesture_rt-feed", daemon=True)  # fmt: skip
            began, cpu = time.monotonic(), _cpu_seconds()
            capture.start()
            inference.start()
            try:
                self._present(recognizer, shown, recorder)
            except Exception as error:  # e.g. a recording the disk refuses: stop, report, exit 1
                self._error = self._error or f"{type(error).__name__}: {error}"
            finally:
                self._stop.set()
                capture.join(10)  # a camera stuck in read() is a daemon thread: let it be
                inference.join()
                recognizer.close()  # waits for the clip in flight
                saved, record_error = _finish(recorder)
                if options.display:
                    cv2.destroyAllWindows()
            wall = time.monotonic() - began
            self.summary = self._summarise(source, capture, frames, recognizer, wall,
                                           _cpu_seconds() - cpu, saved)  # fmt: skip
            if record_error is not None:
                self.summary["recording_error"] = record_error
        self._print({"summary": self.summary})
        failure = (self._error or capture.error or record_error
                   or self._nothing_evaluated(recognizer, source))  # fmt: skip
        if failure is not None:
            print(f"gesture_rt.live: {failure}", file=sys.stderr)
            return 1
        return 0

    # -- threads ------------------------------------------------------------------------------

    def _infer(self, recognizer: GestureRecognizer, frames: FrameQueue, shown: FrameQueue,
               sync: bool) -> None:  # fmt: skip
        """The inference thread: every captured frame into the recognizer, then to the screen."""
        try:
            while not self._stop.is_set():
                try:
                    item = frames.get(timeout=0.1)
                except QueueClosed:
                    break
                if item is None:
                    continue
                frame, timestamp = item
                if sync:
                    prediction = recognizer.push(frame, timestamp)
                    if prediction is not None:
                        self._on_prediction(prediction)
                else:
                    recognizer.push_async(frame, timestamp)
                now = time.monotonic()
                with self._lock:
                    self._processed += 1
                    self._processing.tick(now)
                    self._span = (self._span[0] or now, now)
                    self._camera.tick(timestamp / 1000)
                    self._last_ms = timestamp
                shown.put(item, block=sync, abort=self._stop)  # offline: every frame shown
        except Exception as error:  # e.g. a frame the recogniser refuses: end the run cleanly
            self._error = f"{type(error).__name__}: {error}"
            self._stop.set()
        finally:
            shown.close()

    def _on_prediction(self, prediction: Prediction) -> None:
        """Every prediction, from the recognizer's worker (or the inference thread)."""
        with self._lock:
            self._predictions.append(prediction)
            self._latest = prediction
            if prediction.event is not None:
                self._events.append(prediction.event)
                self._fired = (prediction.event.label, prediction.end_ms)
        if prediction.event is not None:
            event = prediction.event
            self._print({"event": event.label, "score": round(event.score, 4),
                         "timestamp_ms": round(event.timestamp_ms, 1),
                         "frame": event.frame})  # fmt: skip
        if self.options.verbose:
            self._print({
                "prediction": prediction.label, "score": round(prediction.score, 4),
                "top": [[label, round(p, 4)] for label, p in prediction.top(self.options.top)],
                "frames": [prediction.first_frame, prediction.last_frame],
                "inference_ms": round(prediction.inference_ms, 2),
            })  # fmt: skip

    def _present(self, recognizer: GestureRecognizer, shown: FrameQueue,
                 recorder: Recorder | None) -> None:  # fmt: skip
        """The main thread: overlay, window, recording, screenshot and keys, until the end."""
        options, screenshot_taken, last_image, last_item = self.options, False, None, None
        drawing = options.display or recorder is not None or options.screenshot
        while not self._stop.is_set():
            try:
                item = shown.get(timeout=0.05)
            except QueueClosed:
                break
            if item is not None and drawing:
                frame, timestamp = last_item = item
                last_image = draw_overlay(frame, self._overlay(recognizer, frame, timestamp))
                if recorder is not None:
                    recorder.write(last_image, timestamp)
                if options.screenshot and not screenshot_taken and self._fired is not None:
                    write_image(options.screenshot, last_image)
                    screenshot_taken = True
            elif options.display and last_item is not None and self._paused.is_set():
                frame, timestamp = last_item  # no new frames while paused: show that it is
                last_image = draw_overlay(frame, self._overlay(recognizer, frame, timestamp))
            if options.display:
                if last_image is not None:
                    cv2.imshow(WINDOW, last_image)
                self._key(cv2.waitKey(1) & 0xFF)
                if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                    self.stop()  # the window was closed
        if options.screenshot and not screenshot_taken and last_image is not None:
            write_image(options.screenshot, last_image)  # no event: the last frame

    def _key(self, key: int) -> None:
        if key in QUIT_KEYS:
            self.stop()
        elif key == ord(" "):
            if self._paused.is_set():
                self._paused.clear()
            else:
                self._paused.set()
        elif key == ord("t"):
            self._show_probabilities = not self._show_probabilities

    def _overlay(self, recognizer: GestureRecognizer, frame: np.ndarray, timestamp: float
                 ) -> OverlayState:  # fmt: skip
        with self._lock:
            latest, fired = self._latest, self._fired
            camera, processing = self._camera.rate, self._processing.rate
        recent = fired is not None and timestamp - fired[1] <= self.options.event_hold_s * 1000
        return OverlayState(
            crop_box=recognizer.crop_box(*frame.shape[:2]),
            fired=fired[0] if recent else None,
            top=latest.top(self.options.top) if latest is not None else [],
            camera_fps=camera, processing_fps=processing,
            inference_ms=latest.inference_ms if latest is not None else None,
            precision=recognizer.precision,
            skipped_clips=recognizer.skipped_clips,
            show_probabilities=self._show_probabilities, paused=self._paused.is_set(),
        )  # fmt: skip

    # -- reporting ----------------------------------------------------------------------------

    def _summarise(self, source: Source, capture: CaptureThread, frames: FrameQueue,
                   recognizer: GestureRecognizer, wall: float, cpu: float,
                   saved: Path | None) -> dict:  # fmt: skip
        latencies = [p.inference_ms for p in self._predictions]
        summary = {
            "source": source.name,
            "frames": self._processed,
            "frames_captured": capture.frames,
            "duration_s": round(wall, 3),
            "fps": round(self._sustained_fps(), 2),
            "source_fps": round(source.fps, 2),
            "frames_dropped_at_capture": frames.dropped,
            "clips_evaluated": len(self._predictions),
            "clips_skipped": recognizer.skipped_clips,
            "inference_ms": _percentiles(latencies),
            "engine": recognizer.engine.name,
            "inference_precision": recognizer.precision,
            "events": len(self._events),
            "cpu_percent": round(100 * cpu / wall, 1) if wall > 0 else 0.0,
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "stopped_by": self._stopped_by(capture),
        }
        if source.truth is not None and self._last_ms is not None:
            # An event is right if it names any gesture performed so far; recall counts only the
            # gestures that ended a clip's span before the run did (the others had no chance).
            found = [(e, g) for e, g in match_events(self._events, source.truth, SLACK_S) if g]
            due = [g for g in source.truth if g.label not in BACKGROUND
                   and g.end + SLACK_S <= self._last_ms / 1000]  # fmt: skip
            found_due = sum(g in due for _, g in found)
            # precision = events_right / events, recall = gestures_found / gestures; null where
            # there is nothing to divide by (no event fired, no gesture due)
            summary.update(gestures=len(due), events_right=len(found), gestures_found=found_due,
                           precision=_share(len(found), len(self._events)),
                           recall=_share(found_due, len(due)))  # fmt: skip
            delays = [event.timestamp_ms - g.end * 1000 for event, g in found]
            summary["event_latency_ms"] = _percentiles(delays)  # gesture end -> event
        if saved is not None:
            summary["recording"] = str(saved)
        return summary

    def _sustained_fps(self) -> float:
        """Frames processed per second between the first and the last (start-up excluded)."""
        first, last = self._span
        return (self._processed - 1) / (last - first) if last and last > first else 0.0

    def _nothing_evaluated(self, recognizer: GestureRecognizer, source: Source) -> str | None:
        """Why a run that ended by itself evaluated no clip (a failure: it recognised nothing),
        with only the remedies that would work for this source."""
        if self._predictions or self._stopped_by_user:
            return None
        frames, fps = recognizer.bundle.input_shape[0], recognizer.bundle.training_fps
        resampled = self.recognizer_options.match_training_fps
        seconds = frames / (fps if resampled else source.fps)
        remedies = []
        if self.options.seconds is not None:
            remedies.append(f"--seconds {math.ceil(seconds * 1.2)} or more")
        elif not source.live and not self.options.loop and source.truth is None:
            remedies.append("--loop to replay it")
        if resampled and self._processed >= frames:
            remedies.append(f"--every-frame (a clip of {frames} source frames)")
        if not remedies:
            remedies.append("a longer source")
        needs = (f"{frames} frames at the bundle's {fps:g} fps ({seconds:.1f} s)" if resampled
                 else f"{frames} frames ({seconds:.1f} s)")  # fmt: skip
        return (f"no clip was evaluated: the source gave {self._processed} frames and a clip "
                f"needs {needs}; try {' or '.join(remedies)}")  # fmt: skip

    def _stopped_by(self, capture: CaptureThread) -> str:
        if self._error is not None:
            return f"error: {self._error}"
        if capture.error is not None:
            return f"capture failed: {capture.error}"
        return "user" if self._stopped_by_user else capture.ended_by

    def _print(self, record: dict) -> None:
        with self._lock:
            try:
                print(json.dumps(record), file=self.out, flush=True)
            except BrokenPipeError:  # the reader went away (`| head`): stop quietly
                self._stop.set()


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _check_screen() -> None:
    """Qt aborts the whole process when it cannot reach a display: find out in a throwaway
    process first, and refuse cleanly."""
    if not sys.platform.startswith("linux"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SourceError("no screen to show the overlay on (DISPLAY is not set); "
                          "run with --no-display")  # fmt: skip
    probe = "import cv2; cv2.namedWindow('probe'); cv2.destroyAllWindows()"
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        result = None
    if result is None or result.returncode != 0:
        raise SourceError(f"cannot open a window on display {os.environ.get('DISPLAY')!r}; "
                          "run with --no-display")  # fmt: skip


def _check_options(options: LiveOptions) -> None:
    """Refuse what would fail (or destroy something) mid-run before anything starts."""
    if options.seconds is not None and not (
        isinstance(options.seconds, int | float) and 0 < options.seconds < math.inf
    ):
        raise ValueError(f"seconds must be a positive number, got {options.seconds!r}")
    if options.record and Path(options.record).resolve() == Path(options.source).resolve():
        raise ValueError(f"record: {options.record} is the source; give another file")
    if options.screenshot:
        check_image_path("screenshot", options.screenshot)
    if isinstance(options.top, bool) or not isinstance(options.top, int) or options.top < 1:
        raise ValueError(f"top must be an integer >= 1, got {options.top!r}")


def parse_args(argv: list[str] | None) -> tuple[LiveOptions, RecognizerOptions]:
    p = argparse.ArgumentParser(
        prog="python -m gesture_rt.live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        default="0",
        help="camera index (0) or device path, a video file, a folder of images, or "
        "'synthetic' (the synthetic gesture stream with its ground truth)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate of a source (default: a video's own, else 30; a folder of frames: "
        "Jester's 12)",
    )
    p.add_argument(
        "--no-pace",
        action="store_true",
        help="read files as fast as inference allows (every clip evaluated)",
    )
    p.add_argument("--loop", action="store_true", help="replay a video or folder endlessly")
    p.add_argument(
        "--seconds",
        type=_positive_seconds,
        default=None,
        help="stop after this many seconds of the source (default: until it ends)",
    )
    p.add_argument(
        "--no-display",
        action="store_true",
        help="headless: JSON lines for events and a summary, no window",
    )
    p.add_argument("--verbose", action="store_true", help="also a JSON line per prediction")
    p.add_argument("--record", default=None, help="write the annotated video here (.mp4, .avi)")
    p.add_argument("--screenshot", default=None, help="save one overlay frame here (.png)")
    p.add_argument("--seed", type=int, default=0, help="synthetic stream's seed")
    p.add_argument("--difficulty", type=float, default=LiveOptions.difficulty,
                   help="synthetic stream's difficulty, 0 to 1 (0.2: what the bundled model "
                   "was trained at)")  # fmt: skip
    p.add_argument(
        "--size", type=_size, default=(480, 640), help="synthetic frames, WIDTHxHEIGHT (640x480)"
    )
    p.add_argument(
        "--bundle",
        default=RecognizerOptions.bundle,
        help="model bundle folder or bundled name (the synthetic-trained default)",
    )
    p.add_argument("--engine", default="auto", help="auto (OpenVINO, else ONNX Runtime), openvino, "
                   "onnxruntime or tensorflow (with --allow-bundle-code)")  # fmt: skip
    p.add_argument(
        "--allow-bundle-code",
        action="store_true",
        help="let --engine tensorflow run the bundle's SavedModel, a program that may read and "
        "write files: only for bundles you trust as you trust code",
    )
    p.add_argument("--device", default="cpu", help="cpu, gpu, cuda, tensorrt, npu")
    p.add_argument(
        "--precision",
        choices=CHOICES,
        default="auto",
        help="what the network computes in: fp32, bf16 (CPUs with AVX512_BF16/AMX), int8 (a "
        "bundle with an INT8 network), or auto: the fastest that this CPU runs and that agrees "
        "with fp32 on at least 99%% of the bundle's measured clips",
    )
    p.add_argument("--stride", type=_count, default=None,
                   help="frames between clips (the bundle's)")  # fmt: skip
    p.add_argument("--threshold", type=_probability, default=None,
                   help="firing probability, in (0, 1] (the bundle's)")  # fmt: skip
    p.add_argument(
        "--smoothing",
        type=_count,
        default=None,
        help="predictions averaged before the threshold (the bundle's)",
    )
    p.add_argument(
        "--every-frame",
        action="store_true",
        help="feed every camera frame, as the thesis did, instead of resampling to "
        "the bundle's training frame rate",
    )
    a = p.parse_args(argv)
    live = LiveOptions(
        source=a.source,
        fps=a.fps,
        pace=not a.no_pace,
        loop=a.loop,
        seconds=a.seconds,
        display=not a.no_display,
        verbose=a.verbose,
        record=a.record,
        screenshot=a.screenshot,
        seed=a.seed,
        size=a.size,
        difficulty=a.difficulty,
    )
    recognizer = RecognizerOptions(
        bundle=a.bundle,
        engine=a.engine,
        device=a.device,
        precision=a.precision,
        allow_bundle_code=a.allow_bundle_code,
        stride=a.stride,
        threshold=a.threshold,
        smoothing=a.smoothing,
        match_training_fps=not a.every_frame,
    )
    return live, recognizer


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _finish(recorder: Recorder | None) -> tuple[Path | None, str | None]:
    """The recording's path, or why it is lost (the run then fails: work was lost)."""
    if recorder is None:
        return None, None
    try:
        return recorder.close(), None
    except OSError as error:
        return None, str(error)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _number(accepts: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """An argparse type: a float that ``accepts`` takes (NaN never does)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_probability = _number(lambda v: 0 < v <= 1, "a probability in (0, 1]")
_positive_seconds = _number(lambda v: 0 < v < math.inf, "a positive number of seconds")


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = size_from_text(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if min(width, height) < 32:
        raise argparse.ArgumentTypeError(f"width and height must be >= 32, got {text!r}")
    return height, width


def _quiet_libraries() -> None:
    """OpenCV's and Qt's own log lines (a missing camera gives about ten before the app's one
    clear message; Qt warns about fonts on screen) off, through their own settings: the app
    reports the failures that matter. An explicit QT_LOGGING_RULES wins."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own (AV_LOG_QUIET)
    os.environ.setdefault("QT_LOGGING_RULES", "*.debug=false;*.info=false;*.warning=false")


def main(argv: list[str] | None = None) -> int:
    """The command line: 0 on a normal end, 1 when capture failed mid-run, 2 on bad input."""
    options, recognizer = parse_args(argv)
    _quiet_libraries()
    app = LiveApp(options, recognizer)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):  # a clean stop, the recording finalised
            handlers[number] = signal.signal(number, lambda *_: app.stop())
    try:
        return app.run()
    except (SourceError, ValueError, OSError) as error:
        print(f"gesture_rt.live: {error}", file=sys.stderr)
        return 2
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
