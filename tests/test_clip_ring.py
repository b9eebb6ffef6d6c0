"""ClipRing: order, layouts, no allocation per frame, and no torn clip under threads."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from gesture_rt import Clip, ClipRing, Preprocessor

PERIOD = 251  # frame n is a uniform grey of value n % PERIOD; prime, so no alias with clip_len


def grey(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    return np.full((height, width, 3), n % PERIOD, np.uint8)


def frame_numbers(clip: np.ndarray, layout: str = "nthwc") -> np.ndarray:
    """Per slot of a clip of greys: the grey value, or -1 where the slot is not uniform."""
    frames = clip[0] if layout == "nthwc" else np.moveaxis(clip[0], 1, 0)
    flat = frames.reshape(len(frames), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    values = np.rint((low.astype(np.float64) + 1) * 127.5).astype(np.int64)
    return np.where(low == high, values, -1)


def clip_problems(clip: np.ndarray, last_frame: int, layout: str = "nthwc") -> list[str]:
    """What is wrong with a clip of greys that should end at frame `last_frame`."""
    numbers = frame_numbers(clip, layout)
    first = last_frame - len(numbers) + 1
    want = np.arange(first, last_frame + 1) % PERIOD
    problems = [f"slot {i} is torn" for i in np.flatnonzero(numbers < 0)]
    problems += [
        f"slot {i} holds frame {numbers[i]}, expected {want[i]}"
        for i in np.flatnonzero((numbers != want) & (numbers >= 0))
    ]
    return problems


@pytest.mark.parametrize("layout", ["nthwc", "ncthw"])
def test_latest_is_the_newest_clip_oldest_first(layout):
    ring = ClipRing(clip_len=5, height=10, width=10, layout=layout)
    assert not ring.ready and ring.frames == 0
    for n in range(13):
        assert ring.push(grey(n)) == n
        assert ring.ready == (n >= 4)
    clip = ring.latest()
    assert clip.frames.shape == ring.clip_shape
    assert clip.frames.shape == ((1, 5, 10, 10, 3) if layout == "nthwc" else (1, 3, 5, 10, 10))
    assert clip.last_frame == 12
    assert list(frame_numbers(clip.frames, layout)) == [8, 9, 10, 11, 12]
    assert clip_problems(clip.frames, 12, layout) == []


def test_slots_hold_exactly_what_the_preprocessor_writes():
    frames = [np.random.default_rng(n).integers(0, 256, (120, 160, 3), np.uint8) for n in range(7)]
    ring = ClipRing(clip_len=4, height=50, width=60, dtype="float16")
    for frame in frames:
        ring.push(frame)
    p = Preprocessor(60, (50, 60), dtype="float16")
    want = np.stack([p(f) for f in frames[-4:]])[None]
    np.testing.assert_array_equal(ring.latest().frames, want)


def test_hand_off_into_the_consumers_buffer():
    ring = ClipRing(clip_len=3, height=8, width=8)
    for n in range(3):
        ring.push(grey(n))
    buffer = np.empty(ring.clip_shape, np.float32)
    clip = ring.latest(out=buffer)
    assert clip.frames is buffer
    ring.push(grey(3))
    assert list(frame_numbers(buffer)) == [0, 1, 2]  # a copy: later pushes do not reach it
    assert list(frame_numbers(ring.latest(out=buffer).frames)) == [1, 2, 3]


def test_reset_forgets_frames():
    ring = ClipRing(clip_len=2, height=8, width=8)
    ring.push(grey(1))
    ring.push(grey(2))
    ring.reset()
    assert ring.frames == 0 and not ring.ready


def test_wait_for_frames():
    ring = ClipRing(clip_len=2, height=8, width=8)
    assert not ring.wait_for_frames(1, timeout=0.01)
    threading.Timer(0.05, ring.push, args=(grey(0),)).start()
    assert ring.wait_for_frames(1, timeout=5)


def test_push_allocates_nothing_per_frame():
    ring = ClipRing()  # a slot is 100*100*3*4 = 120 kB
    frame = grey(1, 480, 640)
    for _n in range(50):  # warm up (the kernel's per-thread tables)
        ring.push(frame)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _n in range(500):
            ring.push(frame)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 16_000  # a new slot per push would show 120 kB at least
    assert current - before < 4_000


def run_stress(ring: ClipRing, clips: int, seconds: float = 30) -> tuple[int, list[str]]:
    """A producer pushes greys at full speed until the consumer has checked ``clips`` clips
    (or ``seconds`` pass): the test does not depend on how often the consumer wins the lock."""
    frames = [grey(n, 240, 320) for n in range(PERIOD)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce():
        try:
            n = 0
            while not stop.is_set():
                ring.push(frames[n % PERIOD])
                n += 1
        except BaseException as error:  # surfaced by the test, not lost in a thread
            errors.append(error)
            stop.set()

    producer = threading.Thread(target=produce)
    buffer = np.empty(ring.clip_shape, ring.dtype)
    checked, problems = 0, []
    deadline = time.monotonic() + seconds
    producer.start()
    try:
        ring.wait_for_frames(ring.clip_len, timeout=seconds)
        while checked < clips and not stop.is_set() and time.monotonic() < deadline:
            clip = ring.latest(out=buffer)
            problems += clip_problems(clip.frames, clip.last_frame, ring.layout)
            checked += 1
    finally:
        stop.set()
        producer.join()
    assert not errors
    return checked, problems


@pytest.mark.parametrize("layout", ["nthwc", "ncthw"])
def test_no_torn_clip_under_a_racing_producer(layout):
    ring = ClipRing(clip_len=40, height=100, width=100, layout=layout)
    checked, problems = run_stress(ring, clips=50)
    assert checked >= 20
    assert problems == []


class UnlockedRing(ClipRing):
    """The naive ring: copies the clip without holding the lock that pushes take."""

    def latest(self, out=None):
        clip = out[0]
        for i in range(self.clip_len):  # slot by slot, as a naive consumer would
            count = self._count
            clip[i] = self._storage[(count + i) % self.clip_len]
        return Clip(out, count - 1)


def test_the_stress_test_catches_a_naive_ring():
    checked, problems = run_stress(UnlockedRing(clip_len=40), clips=50)
    assert problems, f"{checked} clips of an unlocked ring all looked whole"
