"""Threaded capture (after OpenCV's video_threaded sample): a thread that reads a source into a
small queue where the newest frame wins, so a slow consumer never stalls the camera.

``FrameQueue`` is the bounded hand-off between the app's threads; ``CaptureThread`` paces file
sources at their frame rate, reconnects a camera that drops out, and closes its queue at the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from gesture_rt.live.sources import Disconnected, Source, SourceError

log = logging.getLogger(__name__)


class FrameQueue:
    """A bounded FIFO between two threads. ``put`` drops the oldest item when full (counted in
    ``dropped``) unless ``block`` is set; ``get`` returns None on timeout; ``closed`` and
    ``get``'s ``QueueClosed`` tell the consumer the producer has finished."""

    def __init__(self, size: int = 2) -> None:
        self._items: deque = deque()
        self._size = size
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: Any, block: bool = False, abort: threading.Event | None = None) -> None:
        with self._cond:
            while block and len(self._items) >= self._size and not (abort and abort.is_set()):
                self._cond.wait(0.05)
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self.closed, timeout):
                return None
            if not self._items:
                raise QueueClosed
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class QueueClosed(Exception):
    """The producer closed the queue and every item has been taken."""


class CaptureThread(threading.Thread):
    """Reads ``source`` into ``out`` until the source ends, ``seconds`` of it have passed, or
    ``stop`` is set. ``pace``: deliver a file's frames at their timestamps (a camera paces
    itself); without it frames go as fast as the consumer takes them and none is dropped.
    ``paused`` holds delivery (a camera keeps being read, its frames discarded)."""

    def __init__(self, source: Source, out: FrameQueue, stop: threading.Event, pace: bool = True,
                 seconds: float | None = None, reconnect_attempts: int = 3,
                 reconnect_delay_s: float = 1.0, paused: threading.Event | None = None
                 ) -> None:  # fmt: skip
        super().__init__(name="gesture_rt-capture", daemon=True)
        self.source, self.out, self.stop = source, out, stop
        self.pace, self.seconds = pace, seconds
        self.reconnect_attempts, self.reconnect_delay_s = reconnect_attempts, reconnect_delay_s
        self.paused = paused or threading.Event()
        self.frames = 0
        self.reconnections = 0
        self.error: SourceError | None = None  # why capture ended early, if it did
        self.ended_by = "stop"  # or "end of source", "seconds"

    def run(self) -> None:
        first_ts = clock_start = None
        try:
            while not self.stop.is_set():
                item = self._read()
                if item is None:
                    self.ended_by = "end of source" if not self.stop.is_set() else "stop"
                    break
                frame, ts = item
                if first_ts is None:
                    first_ts, clock_start = ts, time.monotonic()
                if self.seconds is not None and ts - first_ts >= self.seconds * 1000:
                    self.ended_by = "seconds"
                    break
                if self.paused.is_set():
                    if self.source.live:
                        continue  # a camera keeps being read; its frames are discarded
                    clock_start += self._hold()
                if self.pace and not self.source.live:
                    delay = clock_start + (ts - first_ts) / 1000 - time.monotonic()
                    if delay > 0 and self.stop.wait(delay):
                        break
                self.out.put((frame, ts), block=not self.pace, abort=self.stop)
                self.frames += 1
        except SourceError as error:
            self.error = error
        except Exception as error:  # an unexpected failure still ends the run cleanly
            log.exception("gesture_rt: capture failed")
            self.error = SourceError(f"{self.source.name}: {error}")
        finally:
            self.out.close()

    def _hold(self) -> float:
        """Wait while paused (a file source): the seconds spent, to shift the pacing clock."""
        began = time.monotonic()
        while self.paused.is_set() and not self.stop.wait(0.05):
            pass
        return time.monotonic() - began

    def _read(self) -> tuple[Any, float] | None:
        """The next frame; on a camera drop-out, a few reconnection attempts first."""
        try:
            return self.source.read()
        except Disconnected as error:
            log.warning("gesture_rt: %s", error)
            last: SourceError = error
        for attempt in range(1, self.reconnect_attempts + 1):
            if self.stop.wait(self.reconnect_delay_s):
                return None
            try:
                self.source.reopen()
                item = self.source.read()
            except SourceError as error:
                log.warning("gesture_rt: reconnection %d of %d failed: %s", attempt,
                            self.reconnect_attempts, error)  # fmt: skip
                last = error
                continue
            self.reconnections += 1
            return item
        raise SourceError(f"{self.source.name} disconnected; gave up after "
                          f"{self.reconnect_attempts} reconnection attempts ({last})")  # fmt: skip
