"""Clips of one gesture, and an endless camera-like stream of gestures with its ground truth."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from gesture_rt.labels import JESTER_LABELS, label_index
from gesture_rt.synthetic.gestures import GESTURES, Placement, placement
from gesture_rt.synthetic.scene import RELAXED, HandPose, Scene

# Hard enough that one frame cannot tell the direction pairs apart (they share every frame),
# with clutter, a person, lighting drift, noise and shake that a network must learn to ignore.
DEFAULT_DIFFICULTY = 0.6
MIN_SIZE = 32  # pixels: below this the hand is a few pixels wide
MAX_SIZE = 4096  # pixels a side: a 40-frame clip of 4096x4096 already takes 2 GB
GESTURE_SECONDS = 1.8  # a Jester gesture's typical length (its clips last about 3 s)
VIDEO_FRAMES = 36  # a synthetic Jester video: 3 s at 12 fps
JESTER_SIZE = (100, 176)  # its frames: Jester's height and typical width
FPS_RANGE = (0.5, 1000.0)
TRANSITION = 0.25  # seconds the stream's hand takes between rest and a gesture's ends
# Around a clip's gesture the hand "hold"s its first and last pose, or "rest"s as in the stream:
# relaxed, lower, moving in and out in TRANSITION seconds (a clip then looks like a stream window).
CONTEXTS = ("hold", "rest")
# A window of the stream names a gesture when it shows at least this fraction of it. A 40-frame
# window at 12 fps (3.3 s) slid by 20 frames always shows 70% of some window's 2.4-s gesture.
WHOLE = 0.7


@dataclass(frozen=True)
class RenderedClip:
    """``frames``: T x H x W x 3 uint8 BGR; ``boxes``: T x 4 float32 hand boxes (x0, y0, x1, y1)
    in pixels, NaN where no hand is in view; ``window``: the gesture's (start, end) in seconds."""

    label: str
    frames: np.ndarray
    boxes: np.ndarray
    window: tuple[float, float]


def render_clip(
    label: str,
    seed: int,
    frames: int = VIDEO_FRAMES,
    size: tuple[int, int] = JESTER_SIZE,
    fps: float = 12.0,
    difficulty: float = DEFAULT_DIFFICULTY,
    context: str = "hold",
) -> RenderedClip:
    """Render one clip of ``label`` (Jester's 100-px-high, 12 fps frames by default).

    Every random choice comes from ``seed`` in the same order whatever the label, so two labels
    with one seed share their scene; the same arguments give identical bytes. ``context``: what
    the hand does before and after the gesture (see ``CONTEXTS``); "rest" draws after every
    other draw, so a clip differs from its "hold" twin only around the gesture.
    """
    label_index(label)
    count = _positive_int("frames", frames)
    height, width = _frame_size(size)
    fps = _fps(fps)
    rng = np.random.default_rng(_seed(seed))
    difficulty = _difficulty(difficulty)
    scene = Scene(rng, (height, width), difficulty)
    at = placement(rng, difficulty)
    # The gesture takes GESTURE_SECONDS (±25% with difficulty), at most the whole clip, centred
    # on it (jittered with difficulty), so that at difficulty 0 a reversed clip is exactly its
    # partner's, and start times are symmetric about the centre at any difficulty.
    last = (count - 1) / fps
    length = GESTURE_SECONDS * (1 + 0.25 * difficulty * rng.uniform(-1, 1))
    length = min(length, last) or 1.0
    start = (last - length) / 2 * (1 + difficulty * rng.uniform(-1, 1))
    frame_rng = np.random.default_rng(rng.integers(2**63))
    resting = _resting_hand(rng, difficulty) if _context(context) == "rest" else None
    if label == "No gesture":
        resting = None  # its own trajectory is a resting hand already
    gesture = GESTURES[label]
    video = np.empty((count, height, width, 3), np.uint8)
    boxes = np.empty((count, 4), np.float32)
    for i in range(count):
        t = i / fps
        pose = pose_around(gesture, at, resting, t, start, start + length)
        video[i], boxes[i] = scene.render(t, frame_rng, pose)
    return RenderedClip(label, video, boxes, (start, start + length))


@dataclass(frozen=True)
class TimedGesture:
    """Ground truth: ``label`` performed from ``start`` to ``end`` seconds of the stream."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class StreamFrame:
    index: int
    timestamp: float  # seconds since the stream began
    image: np.ndarray  # H x W x 3 uint8 BGR
    box: np.ndarray  # the hand's box, NaN when none is in view
    label: str  # the gesture being performed, "No gesture" between gestures

    @property
    def timestamp_ms(self) -> float:
        """``timestamp`` in milliseconds: what ``GestureRecognizer.push`` takes."""
        return self.timestamp * 1000


class GestureStream:
    """An endless (or ``duration``-second) camera: gestures separated by idle gaps.

    ``timeline`` holds every gesture planned so far, with its start and end time; iterating
    yields ``StreamFrame``s at ``fps``. Deterministic for a seed.
    """

    def __init__(
        self,
        fps: float = 30.0,
        size: tuple[int, int] = (480, 640),
        seed: int = 0,
        duration: float | None = None,
        difficulty: float = DEFAULT_DIFFICULTY,
        labels: Sequence[str] | None = None,
        gap: tuple[float, float] = (1.0, 3.0),
        length: tuple[float, float] = (1.2, 2.4),
    ):
        self.fps = _fps(fps)
        self.size = _frame_size(size)
        self.duration = None if duration is None else _positive_real("duration", duration)
        self.difficulty = _difficulty(difficulty)
        default = [label for label in JESTER_LABELS if label != "No gesture"]
        if isinstance(labels, str):
            raise ValueError(f"labels must be a list of gesture names, got the string {labels!r}")
        self.labels = list(default if labels is None else labels)
        for label in self.labels:
            label_index(label)
        if not self.labels:
            raise ValueError("labels must name at least one gesture")
        self.gap, self.length = _interval("gap", gap), _interval("length", length)
        if self.gap[0] < 2 * TRANSITION:
            raise ValueError(f"gap must be at least {2 * TRANSITION} s, got {gap!r}")
        self._rng = np.random.default_rng(_seed(seed))
        self._scene = Scene(self._rng, self.size, self.difficulty)
        self._resting = _resting_hand(self._rng, self.difficulty)
        self._frame_seed = int(self._rng.integers(2**63))
        self._plan: list[tuple[TimedGesture, Placement]] = []
        self._planned_until = 0.0

    @property
    def frame_count(self) -> int | None:
        """How many frames iteration yields (None: endless): those with index / fps < duration."""
        if self.duration is None:
            return None
        count = math.ceil(self.duration * self.fps)
        while count > 0 and (count - 1) / self.fps >= self.duration:
            count -= 1
        while count / self.fps < self.duration:
            count += 1
        return count

    @property
    def timeline(self) -> list[TimedGesture]:
        return [event for event, _ in self._plan]

    def __iter__(self) -> Iterator[StreamFrame]:
        """Every iteration replays the same frames from the start."""
        frame_rng = np.random.default_rng(self._frame_seed)
        index = 0
        while self.duration is None or index / self.fps < self.duration:
            t = index / self.fps
            label, pose = self._pose_at(t)
            image, box = self._scene.render(t, frame_rng, pose)
            yield StreamFrame(index, t, image, box, label)
            index += 1

    def _pose_at(self, t: float) -> tuple[str, HandPose | None]:
        """The label and hand at ``t``: a gesture, or the resting hand, which moves to a
        gesture's first pose in the TRANSITION before it and back in the one after it."""
        while self._planned_until <= t + TRANSITION and self._plan_next():
            pass
        for event, at in reversed(self._plan):  # newest first: the search stops near t
            if event.end + TRANSITION <= t:
                break
            if event.start - TRANSITION <= t:
                label = event.label if event.start <= t < event.end else "No gesture"
                pose = pose_around(GESTURES[event.label], at, self._resting, t, event.start,
                                   event.end)  # fmt: skip
                return label, pose
        return "No gesture", self._resting

    def _plan_next(self) -> bool:
        """Plan one more gesture; False once a finite stream has no room for another."""
        start = self._planned_until + self._rng.uniform(*self.gap)
        end = start + self._rng.uniform(*self.length)
        if self.duration is not None and end + TRANSITION > self.duration:
            self._planned_until = math.inf  # the rest of the stream is idle
            return False
        label = self.labels[int(self._rng.integers(len(self.labels)))]
        self._plan.append((TimedGesture(label, start, end), placement(self._rng, self.difficulty)))
        self._planned_until = end
        return True


def window_label(timeline: Sequence[TimedGesture], start: float, end: float,
                 whole: float = WHOLE) -> str | None:  # fmt: skip
    """What a window [``start``, ``end``) seconds of a stream shows: the gesture it holds at
    least ``whole`` of; "No gesture" when it holds no gesture that much (a cut gesture is not yet
    or no longer recognisable); None when it holds two (no single label is right)."""
    if not 0 < whole <= 1:
        raise ValueError(f"whole must be in (0, 1], got {whole!r}")
    shown = [
        g.label for g in timeline
        if min(end, g.end) - max(start, g.start) >= whole * (g.end - g.start)
    ]  # fmt: skip
    if len(shown) > 1:
        return None
    return shown[0] if shown else "No gesture"


def _positive_int(name: str, value) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = 0
    if isinstance(value, bool) or number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def pose_around(gesture, at: Placement, resting: HandPose | None, t: float, start: float,
                end: float) -> HandPose | None:  # fmt: skip
    """The hand at ``t`` for ``gesture`` performed from ``start`` to ``end``: during it, the
    gesture's pose; around it, its first or last pose held when ``resting`` is None, else the
    resting hand, which moves to the first pose in the TRANSITION before and back after."""
    if resting is None or start <= t < end:
        return gesture.pose((t - start) / (end - start), at)
    if start - TRANSITION <= t < start:
        return _blend(resting, gesture.pose(0.0, at), 1 - (start - t) / TRANSITION)
    if end <= t < end + TRANSITION:
        return _blend(gesture.pose(1.0, at), resting, (t - end) / TRANSITION)
    return resting


def _resting_hand(rng: np.random.Generator, difficulty: float) -> HandPose:
    rest = placement(rng, difficulty)
    return HandPose(rest.x, rest.y + 0.12, rest.size, fingers=RELAXED)


def _context(value) -> str:
    if value not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, got {value!r}")
    return value


def _blend(a: HandPose | None, b: HandPose | None, w: float) -> HandPose | None:
    """The pose a fraction ``w`` of the way from ``a`` to ``b`` (either absent: the other)."""
    if a is None or b is None:
        return b if a is None else a
    mix = lambda x, y: x + (y - x) * w  # noqa: E731
    thumb = (a.thumb_angle, b.thumb_angle)
    return HandPose(
        mix(a.x, b.x), mix(a.y, b.y), mix(a.size, b.size), mix(a.angle, b.angle),
        mix(a.roll, b.roll), tuple(map(mix, a.fingers, b.fingers)), mix(a.spread, b.spread),
        mix(a.pinch, b.pinch), None if None in thumb else mix(*thumb),
    )  # fmt: skip


def _fps(value) -> float:
    fps = _positive_real("fps", value)
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        raise ValueError(f"fps must be within {FPS_RANGE}, got {value!r}")
    return fps


def _positive_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def size_from_text(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT, as OpenCV and ffmpeg write sizes (e.g. 176x100) -> (height, width), the
    order of an image array's shape; a ValueError for anything else."""
    try:
        width, height = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WIDTHxHEIGHT (e.g. 176x100), got {text!r}") from None
    return height, width


def _frame_size(size) -> tuple[int, int]:
    try:
        height, width = (operator.index(n) for n in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width) integers, got {size!r}") from None
    if min(height, width) < MIN_SIZE:
        raise ValueError(
            f"size must be at least {MIN_SIZE}x{MIN_SIZE} pixels (smaller, the hand would be a "
            f"few pixels wide), got {size!r}"
        )
    if max(height, width) > MAX_SIZE:
        raise ValueError(f"size must be at most {MAX_SIZE} pixels a side, got {size!r}")
    return height, width


def _difficulty(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"difficulty must be a number in [0, 1], got {value!r}")
    return float(value)


def _seed(seed) -> int:
    return _non_negative_int("seed", seed)


def _non_negative_int(name: str, value) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        number = -1
    if isinstance(value, bool) or number < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return number


def _interval(name: str, value) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (low, high) seconds, got {value!r}") from None
    if not 0 < low <= high < math.inf:
        raise ValueError(f"{name} must be (low, high) seconds with 0 < low <= high, got {value!r}")
    return low, high
