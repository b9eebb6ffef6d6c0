"""The 27 gestures as hand-pose trajectories over a phase p in [0, 1].

Every pair that differs only in direction is ONE trajectory played forwards and backwards
(``Gesture.reverse``): Swiping Left is Swiping Right with p -> 1 - p, and so on for the
two-finger slides, pushing/pulling, rolling, turning and zooming. Before and after the
gesture the hand rests at the trajectory's ends, so a clip of one class, reversed in time, is a
clip of its partner: no single frame can tell the two apart, only the motion can.

Signatures (a right hand, palm to the camera unless said):
- Swiping Left/Right/Up/Down: the open hand sweeps across most of the frame.
- Sliding Two Fingers Left/Right/Up/Down: index and middle finger out, a shorter slide.
- Pushing Hand Away / Pulling Hand In: the open hand grows (toward the camera) / shrinks.
- Pushing Two Fingers Away / Pulling Two Fingers In: the same with two fingers out.
- Rolling Hand Forward/Backward: the hand rolls about a horizontal axis twice: it flattens, shows
  its back, and its top swells as it comes toward the camera (forward) or shrinks (backward).
- Turning Hand Clockwise/Counterclockwise: the open hand turns in the image plane by ~100°.
- Zooming In/Out With Full Hand: bunched fingertips open into a spread hand / close.
- Zooming In/Out With Two Fingers: thumb and index pinched, then apart / the reverse.
- Shaking Hand: the open hand waves side to side three times.
- Drumming Fingers: the hand lies sideways, fingers tapping one after another, index to pinky.
- Stop Sign: the open hand, fingers together, rises into view and holds.
- Thumb Up / Thumb Down: a fist with the thumb up, rising / pointing down, lowering.
- No gesture: a relaxed hand resting (or no hand at all).
- Doing other things: a loose fist wandering on a random path, turning at random.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gesture_rt.labels import JESTER_LABELS
from gesture_rt.synthetic.scene import (
    FIST,
    OPEN,
    RELAXED,
    THUMB_AND_INDEX,
    THUMB_ONLY,
    TWO_FINGERS,
    HandPose,
)


@dataclass(frozen=True)
class Placement:
    """Per-clip variation: where the hand rests, its size, the motion's amplitude and tilt, and
    uniform numbers in [0, 1) for the gestures that draw their own path."""

    x: float
    y: float
    size: float
    amplitude: float
    tilt: float
    extra: tuple[float, ...]

    def hand(self, **pose) -> HandPose:
        return HandPose(self.x, self.y, self.size, self.tilt, **pose)


Trajectory = Callable[[float, Placement], "HandPose | None"]


@dataclass(frozen=True)
class Gesture:
    trajectory: Trajectory
    reverse: bool = False  # the partner of a pair: the trajectory played backwards

    def pose(self, phase: float, at: Placement) -> HandPose | None:
        phase = min(max(phase, 0.0), 1.0)
        return self.trajectory(1.0 - phase if self.reverse else phase, at)


def ease(p: float) -> float:
    """Smoothstep: starts and stops gently; ease(1 - p) = 1 - ease(p)."""
    return p * p * (3 - 2 * p)


def sweep(dx: float, dy: float, reach: float, fingers) -> Trajectory:
    def trajectory(p: float, at: Placement) -> HandPose:
        step = reach * at.amplitude * (ease(p) - 0.5)
        return at.hand(fingers=fingers).moved(x=at.x + dx * step, y=at.y + dy * step)

    return trajectory


def approach(fingers) -> Trajectory:
    def trajectory(p: float, at: Placement) -> HandPose:
        return at.hand(fingers=fingers).moved(size=at.size * (0.7 + 0.9 * at.amplitude * ease(p)))

    return trajectory


def roll(p: float, at: Placement) -> HandPose:
    angle = 2 * math.pi * 2 * ease(p)  # two turns about the horizontal axis
    return at.hand(fingers=OPEN, spread=0.08).moved(
        roll=math.cos(angle), size=at.size * (1 + 0.22 * math.sin(angle))
    )


def turn(p: float, at: Placement) -> HandPose:
    return at.hand(fingers=OPEN).moved(angle=at.tilt + 1.75 * at.amplitude * (ease(p) - 0.5))


def zoom_full_hand(p: float, at: Placement) -> HandPose:
    e = ease(p)
    return at.hand(fingers=tuple(0.45 + 0.55 * e for _ in range(5)), spread=-0.28 + 0.62 * e)


def zoom_two_fingers(p: float, at: Placement) -> HandPose:
    return at.hand(fingers=THUMB_AND_INDEX, pinch=1.0 - ease(p))


def shake(p: float, at: Placement) -> HandPose:
    wave = math.sin(2 * math.pi * 3 * p) * (1 - abs(2 * p - 1) ** 4)
    return at.hand(fingers=OPEN).moved(
        angle=at.tilt + 0.45 * at.amplitude * wave, x=at.x + 0.04 * at.amplitude * wave
    )


def drum(p: float, at: Placement) -> HandPose:
    taps = 5 * p
    fingers = [0.2] + [
        0.55 + 0.45 * math.cos(2 * math.pi * taps - k * math.pi / 2) if 0 < p < 1 else 1.0
        for k in range(4)
    ]
    return at.hand(fingers=tuple(fingers), spread=0.05).moved(angle=at.tilt + 1.35, roll=0.75)


def stop_sign(p: float, at: Placement) -> HandPose:
    return at.hand(fingers=OPEN, spread=0.03).moved(y=at.y + 0.4 * (1 - ease(min(1, 2 * p))))


def thumb(up: bool) -> Trajectory:
    def trajectory(p: float, at: Placement) -> HandPose:
        rise = 0.15 * (1 - ease(min(1, 2 * p)))
        return at.hand(fingers=THUMB_ONLY, thumb_angle=90.0).moved(
            y=at.y + (rise if up else -rise), angle=at.tilt + (0 if up else math.pi)
        )

    return trajectory


def no_gesture(p: float, at: Placement) -> HandPose | None:
    if at.extra[0] < 0.35:
        return None  # nobody's hand in view
    drift = 0.01 * math.sin(2 * math.pi * (p + at.extra[1]))
    return at.hand(fingers=RELAXED, spread=0.1).moved(x=at.x + drift, y=at.y + 0.12)


def other_things(p: float, at: Placement) -> HandPose:
    a, b, c, d = (2 * math.pi * v for v in at.extra[:4])
    x = at.x + 0.2 * math.sin(1.3 * 2 * math.pi * p + a) + 0.06 * math.sin(5 * p + b)
    y = at.y + 0.15 * math.sin(0.9 * 2 * math.pi * p + c)
    fingers = FIST if at.extra[4] < 0.5 else RELAXED
    return at.hand(fingers=fingers).moved(x=x, y=y, angle=at.tilt + 0.8 * math.sin(3 * p + d))


SWIPE_X, SWIPE_Y = sweep(1, 0, 0.6, OPEN), sweep(0, 1, 0.55, OPEN)
SLIDE_X, SLIDE_Y = sweep(1, 0, 0.3, TWO_FINGERS), sweep(0, 1, 0.3, TWO_FINGERS)
PUSH_HAND, PUSH_FINGERS = approach(OPEN), approach(TWO_FINGERS)

GESTURES: dict[str, Gesture] = {
    "Doing other things": Gesture(other_things),
    "Drumming Fingers": Gesture(drum),
    "No gesture": Gesture(no_gesture),
    "Pulling Hand In": Gesture(PUSH_HAND, reverse=True),
    "Pulling Two Fingers In": Gesture(PUSH_FINGERS, reverse=True),
    "Pushing Hand Away": Gesture(PUSH_HAND),
    "Pushing Two Fingers Away": Gesture(PUSH_FINGERS),
    "Rolling Hand Backward": Gesture(roll, reverse=True),
    "Rolling Hand Forward": Gesture(roll),
    "Shaking Hand": Gesture(shake),
    "Sliding Two Fingers Down": Gesture(SLIDE_Y),
    "Sliding Two Fingers Left": Gesture(SLIDE_X, reverse=True),
    "Sliding Two Fingers Right": Gesture(SLIDE_X),
    "Sliding Two Fingers Up": Gesture(SLIDE_Y, reverse=True),
    "Stop Sign": Gesture(stop_sign),
    "Swiping Down": Gesture(SWIPE_Y),
    "Swiping Left": Gesture(SWIPE_X, reverse=True),
    "Swiping Right": Gesture(SWIPE_X),
    "Swiping Up": Gesture(SWIPE_Y, reverse=True),
    "Thumb Down": Gesture(thumb(up=False)),
    "Thumb Up": Gesture(thumb(up=True)),
    "Turning Hand Clockwise": Gesture(turn, reverse=True),
    "Turning Hand Counterclockwise": Gesture(turn),
    "Zooming In With Full Hand": Gesture(zoom_full_hand),
    "Zooming In With Two Fingers": Gesture(zoom_two_fingers),
    "Zooming Out With Full Hand": Gesture(zoom_full_hand, reverse=True),
    "Zooming Out With Two Fingers": Gesture(zoom_two_fingers, reverse=True),
}
assert tuple(GESTURES) == JESTER_LABELS

# Pairs that only the direction of motion separates (one trajectory, both ways).
REVERSAL_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (forward, backward)
    for forward, g in GESTURES.items()
    for backward, h in GESTURES.items()
    if not g.reverse and h.reverse and g.trajectory is h.trajectory
)


def placement(rng: np.random.Generator, difficulty: float) -> Placement:
    """Draws the per-clip variation; the same numbers of draws whatever the gesture."""
    d = difficulty
    return Placement(
        x=0.5 + 0.12 * d * rng.uniform(-1, 1),
        y=0.52 + 0.08 * d * rng.uniform(-1, 1),
        size=0.1 * (1 + 0.3 * d * rng.uniform(-1, 1)),
        amplitude=1 + 0.25 * d * rng.uniform(-1, 1),
        tilt=0.2 * d * rng.uniform(-1, 1),
        extra=tuple(rng.uniform(0, 1, 6)),
    )
