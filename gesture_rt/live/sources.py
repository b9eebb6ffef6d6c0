"""Frame sources of the live app: a camera, a video file, a folder of images, the synthetic stream.

Every source gives ``(frame, timestamp_ms)`` pairs from ``read()`` (None at the end) and says
whether it is ``live`` (a camera sets its own pace) and its frame rate. File sources time their
frames by position (frame i at i / fps), so a run over a file is reproducible; cameras by the
clock. ``open_source(spec)`` picks the kind from the ``--source`` text.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from pathlib import Path

import cv2
import numpy as np

from gesture_rt.jester import JESTER_FPS
from gesture_rt.synthetic.clips import FPS_RANGE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FPS = 30.0


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message says which and what to do."""


class Disconnected(SourceError):
    """A camera stopped delivering frames (unplugged, or taken by another program)."""


class Source(ABC):
    """Base: ``read() -> (frame, timestamp_ms) | None`` and ``close()``."""

    name = "source"
    live = False  # a camera: frames come at its own pace, and can be lost if not taken in time
    fps: float = DEFAULT_FPS
    truth = None  # the ground-truth timeline, where the source knows it (synthetic)

    @abstractmethod
    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its timestamp in ms (increasing); None at the end."""

    def reopen(self) -> None:
        """Try to reconnect a live source (raises SourceError when it cannot)."""
        raise SourceError(f"{self.name} cannot be reopened")

    def close(self) -> None:  # noqa: B027 (most sources hold nothing to release)
        """Release what the source holds (a capture device, a file)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CameraSource(Source):
    """A camera by index (``0``) or device path (``/dev/video2``), timed by the clock."""

    live = True

    def __init__(self, device: int | str) -> None:
        self.device = device
        self.name = f"camera {device}"
        self._capture = self._open()
        self.fps = _rate(None, self._capture.get(cv2.CAP_PROP_FPS))  # drivers report 0 or junk

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"{self.name} could not be opened (no camera there, or it is in use); "
                f"try --source synthetic"
            )
        return capture

    def read(self) -> tuple[np.ndarray, float]:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise Disconnected(f"{self.name} stopped delivering frames")
        return frame, time.monotonic() * 1000

    def reopen(self) -> None:
        self._capture.release()
        self._capture = self._open()

    def close(self) -> None:
        self._capture.release()


class VideoSource(Source):
    """A video file (anything OpenCV reads, GIFs included), frame i at i / fps seconds."""

    def __init__(self, path: str | Path, fps: float | None = None, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = f"video {self.path}"
        if not self.path.is_file():
            raise SourceError(f"source: {self.path} is not a file")
        self._capture = cv2.VideoCapture(str(self.path))
        native = self._capture.get(cv2.CAP_PROP_FPS) if self._capture.isOpened() else 0
        self.fps = _rate(fps, native)
        self.loop = loop
        self._index = 0
        self._pending = self._next_frame()  # read one now: an unreadable file fails here
        if self._pending is None:
            self.close()
            raise SourceError(f"source: {self.path} is not a video OpenCV can read")

    def _next_frame(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        if not ok and self.loop and self._index > 0:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        return frame if ok else None

    def read(self) -> tuple[np.ndarray, float] | None:
        frame = self._pending if self._pending is not None else self._next_frame()
        self._pending = None
        if frame is None:
            return None
        timestamp = self._index * 1000.0 / self.fps
        self._index += 1
        return frame, timestamp

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource(Source):
    """The images of a folder in name order (a Jester video folder, say), at ``fps``: by
    default Jester's 12 fps (a folder of frames has no rate of its own)."""

    def __init__(self, folder: str | Path, fps: float | None = None, loop: bool = False) -> None:
        self.folder = Path(folder)
        self.name = f"images {self.folder}"
        self.paths = image_paths(self.folder)
        if not self.paths:
            kinds = ", ".join(IMAGE_SUFFIXES)
            raise SourceError(f"source: {self.folder} holds no images ({kinds})")
        self.fps = _rate(fps, JESTER_FPS)
        self.loop = loop
        self._index = 0

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._index >= len(self.paths) and not self.loop:
            return None
        path = self.paths[self._index % len(self.paths)]
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise SourceError(f"source: cannot read the image {path}")
        timestamp = self._index * 1000.0 / self.fps
        self._index += 1
        return frame, timestamp


def image_paths(folder: Path) -> list[Path]:
    """A folder's image files in frame order: by name, numbers compared as numbers (so 2.jpg
    comes before 10.jpg whether or not the names are zero-padded)."""

    def key(path: Path) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]

    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=key)


class SyntheticSource(Source):
    """The synthetic gesture stream (``gesture_rt.synthetic.GestureStream``) with its truth."""

    def __init__(self, size: tuple[int, int] = (480, 640), fps: float | None = None, seed: int = 0,
                 seconds: float | None = None, difficulty: float = 0.2) -> None:  # fmt: skip
        from gesture_rt.synthetic import GestureStream

        self.name = "synthetic"
        self.fps = _rate(fps, DEFAULT_FPS)
        self.stream = GestureStream(self.fps, size, seed, seconds, difficulty)
        self._frames = iter(self.stream)

    @property
    def truth(self):
        return self.stream.timeline

    def read(self) -> tuple[np.ndarray, float] | None:
        frame = next(self._frames, None)
        return None if frame is None else (frame.image, frame.timestamp_ms)


def open_source(spec: str, fps: float | None = None, loop: bool = False,
                seconds: float | None = None, seed: int = 0,
                size: tuple[int, int] = (480, 640), difficulty: float = 0.2) -> Source:  # fmt: skip
    """``spec``: a camera index ("0") or device ("/dev/video0"), a video file, a folder of
    images, or "synthetic". ``seconds`` bounds the synthetic stream (its truth ends there);
    ``difficulty`` is its rendering difficulty (0.2: the bundled model's training data's)."""
    if not isinstance(spec, str) or not spec:
        raise SourceError(f"source must be a camera index, a path or 'synthetic', got {spec!r}")
    if spec == "synthetic":
        return SyntheticSource(size, fps, seed, seconds, difficulty)
    if spec.isascii() and spec.isdigit():
        return CameraSource(int(spec))
    path = Path(spec)
    if spec.startswith("/dev/"):
        return CameraSource(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps, loop)
    if not path.exists():
        raise SourceError(f"source: {spec} does not exist (a camera index, a video, a folder of "
                          f"images, or 'synthetic')")  # fmt: skip
    return VideoSource(path, fps, loop)


def _rate(asked: float | None, native: float) -> float:
    """The frame rate to time frames by: ``asked`` if given, else the file's own, else 30."""
    if asked is not None:
        if isinstance(asked, bool) or not FPS_RANGE[0] <= asked <= FPS_RANGE[1]:
            raise SourceError(f"fps must be a frame rate in {list(FPS_RANGE)}, got {asked!r}")
        return float(asked)
    return float(native) if native and FPS_RANGE[0] <= native <= FPS_RANGE[1] else DEFAULT_FPS
