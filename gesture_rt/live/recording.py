"""``--record``: the annotated video, written under a temporary name and renamed when finished."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from gesture_rt.synthetic.clips import FPS_RANGE
from gesture_rt.synthetic.dataset import check_writable_folder

FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class Recorder:
    """Frames at a fixed ``fps``, timed by their timestamps: each frame is held (repeated) until
    the next one is due, as a player would, so the video lasts as long as the stream although
    the display thread shows only the newest frames. ``close()`` renames the finished file into
    place; a recorder closed without frames leaves nothing."""

    def __init__(self, path: str | os.PathLike, fps: float = 30.0) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FOURCC:
            raise ValueError(f"record: {self.path} needs one of the extensions {sorted(FOURCC)}")
        if self.path.is_dir():
            raise ValueError(f"record: {self.path} is a directory")
        check_writable_folder("record", self.path.parent)
        self.fps = fps
        for stale in self.path.parent.glob(f".{self.path.stem}.partial-*{suffix}"):
            stale.unlink(missing_ok=True)  # left by a run that was killed
        self.partial = self.path.with_name(f".{self.path.stem}.partial-{os.getpid()}{suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._first_ms = 0.0
        self._size: tuple[int, int] = (0, 0)
        self._previous: np.ndarray | None = None
        self.frames = 0

    @property
    def fps(self) -> float:
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if not FPS_RANGE[0] <= value <= FPS_RANGE[1]:
            raise ValueError(f"record: the frame rate must be in {list(FPS_RANGE)}, got {value!r}")
        self._fps = float(value)

    def write(self, image: np.ndarray, timestamp_ms: float) -> None:
        if self._writer is None:
            height, width = image.shape[:2]
            self._size = (width, height)
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.partial), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                raise OSError(f"record: OpenCV cannot write a video to {self.path}")
            self._first_ms = timestamp_ms
        if image.shape[1::-1] != self._size:  # a source whose frame size changes
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        # Frame slots due by this timestamp, counted from the first (no drift from summing
        # periods); the slots before this frame's hold the previous frame.
        due = math.floor((timestamp_ms - self._first_ms) * self.fps / 1000 + 1e-6) + 1
        while self._previous is not None and self.frames < due - 1:
            self._writer.write(self._previous)
            self.frames += 1
        if self.frames < due:
            self._writer.write(image)
            self.frames += 1
        self._previous = image

    def close(self) -> Path | None:
        """Finish the file and rename it into place; the path, or None if nothing was written.
        OSError if the finished file does not play back whole (a full disk: OpenCV's writer does
        not say when a write fails); nothing is left then."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        if self.frames == 0:
            self.partial.unlink(missing_ok=True)
            return None
        readable = _playable_frames(self.partial, self.frames)
        if readable < self.frames:
            self.partial.unlink(missing_ok=True)
            raise OSError(f"record: {self.path} could not be written whole ({readable} of "
                          f"{self.frames} frames play back; is the disk full?)")  # fmt: skip
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.partial.unlink(missing_ok=True)


def _playable_frames(path: Path, written: int) -> int:
    """How many of the ``written`` frames the file at ``path`` plays back: its container's count,
    if the last of them also decodes (a truncated file fails one or the other)."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return 0
        count = min(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), written)
        if count > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
            ok, _ = capture.read()
            count = count if ok else count - 1
        return max(count, 0)
    finally:
        capture.release()
