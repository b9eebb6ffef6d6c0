"""Clips like those a recognizer sees live, for calibrating INT8 and measuring agreement.

A live recognizer slides a window over a camera stream: most of its clips cut a gesture, hold
the end of one and the start of the next, or show a resting hand; some show one whole gesture.
``live_clips`` gives both kinds in equal parts, rendered by the synthetic source at the frame
shapes cameras have (4:3 and Jester's 100x176) and a spread of difficulties, then pushed through
the runtime's own preprocessing, so the network sees exactly what it would see live. Disjoint
``seed``s give disjoint clips: calibration and measurement never share one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from gesture_rt.labels import JESTER_LABELS
from gesture_rt.preprocess import Preprocessor
from gesture_rt.synthetic.clips import JESTER_SIZE, GestureStream, render_clip

ASPECTS = (4 / 3, JESTER_SIZE[1] / JESTER_SIZE[0])  # a webcam's, and Jester's frames
DIFFICULTY = (0.0, 0.8)  # the synthetic source's range users meet
STREAM_SECONDS = 60.0
WINDOW_STEP = 10  # frames between two windows of a stream: four windows overlap a clip


def live_clips(count: int, shape, resize_short: int, fps: float, seed: int) -> np.ndarray:
    """``count`` float32 clips of ``shape`` (T, H, W, C): the first half stream windows, the
    rest whole-gesture clips (every Jester gesture in turn, its hand holding or resting around
    it). Deterministic for ``seed``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"count must be an integer >= 2, got {count!r}")
    frames, crop = int(shape[0]), int(shape[1])
    prep = Preprocessor(resize_short, crop)
    clips = np.empty((count, *shape), np.float32)
    windows = count // 2
    for i, video in enumerate(_windows(windows, frames, resize_short, fps, seed)):
        clips[i] = [prep(frame) for frame in video]
    for i in range(windows, count):
        rng = _rng(seed, 1, i)
        clip = render_clip(JESTER_LABELS[i % len(JESTER_LABELS)], int(rng.integers(2**31)),
                           frames=frames, size=_size(rng, resize_short), fps=fps,
                           difficulty=rng.uniform(*DIFFICULTY),
                           context=("hold", "rest")[i % 2])  # fmt: skip
        clips[i] = [prep(frame) for frame in clip.frames]
    return clips


def _windows(count: int, frames: int, resize_short: int, fps: float, seed: int
             ) -> Iterator[np.ndarray]:  # fmt: skip
    """``count`` windows of ``frames`` frames, every WINDOW_STEP frames of synthetic streams
    (each stream its own scene, frame shape and difficulty)."""
    made, stream = 0, 0
    while made < count:
        rng = _rng(seed, 0, stream)
        seconds = max(STREAM_SECONDS, 2 * frames / fps)
        images = [f.image for f in GestureStream(fps, _size(rng, resize_short),
                                                 int(rng.integers(2**31)), seconds,
                                                 rng.uniform(*DIFFICULTY))]  # fmt: skip
        for begin in range(0, len(images) - frames + 1, WINDOW_STEP):
            if made == count:
                return
            yield np.stack(images[begin : begin + frames])
            made += 1
        stream += 1


def _rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence((int(seed), kind, index)))


def _size(rng: np.random.Generator, short: int) -> tuple[int, int]:
    """A landscape frame whose short side is ``short`` (the network's own scale: rendering
    larger would only be resized away) in one of the camera aspects."""
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    return max(short, 32), max(round(short * aspect), 32)
