"""Drawing: a stylised hand in a scene with seeded nuisances (background, person, distractors,
lighting drift, sensor noise, camera shake, motion blur), all scaled by ``difficulty`` in [0, 1].

Geometry is in frame fractions and palm radii, so any frame size draws the same scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

# Finger extensions, thumb to pinky: 0 curled to a knuckle, 1 straight.
OPEN = (1.0, 1.0, 1.0, 1.0, 1.0)
TWO_FINGERS = (0.0, 1.0, 1.0, 0.0, 0.0)
THUMB_AND_INDEX = (1.0, 1.0, 0.0, 0.0, 0.0)
THUMB_ONLY = (1.0, 0.0, 0.0, 0.0, 0.0)
FIST = (0.0, 0.0, 0.0, 0.0, 0.0)
RELAXED = (0.5, 0.6, 0.6, 0.55, 0.5)

# Hand-local layout in palm radii, y up, palm facing the camera (a right hand: thumb on the
# image's left). Finger bases on the palm's top edge and lengths, index to pinky.
_FINGER_BASES = ((-0.55, 0.8), (-0.18, 0.95), (0.18, 0.95), (0.55, 0.8))
_FINGER_LENGTHS = (1.45, 1.6, 1.45, 1.1)
_FINGER_OFFSETS = (1.5, 0.5, -0.5, -1.5)  # multiples of the spread angle
_THUMB_BASE, _THUMB_LENGTH = (-0.7, -0.05), 1.05
# A fist seen from the side (thumb up): the curled fingers' knuckles down its front edge.
_FIST_KNUCKLES = ((0.55, 0.55), (0.7, 0.15), (0.7, -0.25), (0.55, -0.62))


@dataclass(frozen=True)
class HandPose:
    """Where the hand is and what it does. x, y: palm centre in frame fractions; size: palm
    radius in frame heights; angle: in-plane rotation, radians, counterclockwise on screen;
    roll: vertical foreshortening (negative shows the back of the hand); spread: radians between
    neighbouring fingers (negative bunches the tips); pinch: thumb swung onto the index (0..1);
    thumb_angle: the thumb's direction in hand-local degrees (None: its resting 140)."""

    x: float
    y: float
    size: float
    angle: float = 0.0
    roll: float = 1.0
    fingers: tuple[float, ...] = OPEN
    spread: float = 0.2
    pinch: float = 0.0
    thumb_angle: float | None = None

    def moved(self, **changes) -> HandPose:
        return replace(self, **changes)


@dataclass(frozen=True)
class Look:
    """Per-clip appearance of the hand."""

    skin: tuple[int, int, int]
    back: tuple[int, int, int]
    outline: tuple[int, int, int]


def draw_hand(frame: np.ndarray, pose: HandPose, look: Look, shift=(0.0, 0.0)) -> np.ndarray:
    """Draw the hand; return its bounding box (x0, y0, x1, y1) in pixels (not clipped)."""
    h, w = frame.shape[:2]
    radius = pose.size * h
    cos_a, sin_a = math.cos(pose.angle), math.sin(pose.angle)
    cx, cy = pose.x * w + shift[0], pose.y * h + shift[1]

    def to_screen(x: float, y: float) -> tuple[float, float]:
        x, y = x * radius, y * radius * pose.roll
        return cx + x * cos_a - y * sin_a, cy - (x * sin_a + y * cos_a)

    thickness = max(1, round(0.34 * radius))
    fingers = [  # (base, tip, line width) on screen, computed once for both passes
        (to_screen(*base), to_screen(*tip), max(1, round(thickness * scale)))
        for base, tip, scale in _finger_segments(pose)
    ]
    palm = (round(0.85 * radius), round(abs(pose.roll) * radius))
    centre, tilt = (round(cx), round(cy)), -math.degrees(pose.angle)
    colour = look.skin if pose.roll >= 0 else look.back
    outline = max(1, round(0.08 * radius))  # the darker rim drawn first, wider by this
    for paint, extra in ((look.outline, outline), (colour, 0)):
        axes = (max(1, palm[0] + extra), max(1, palm[1] + extra))
        cv2.ellipse(frame, centre, axes, tilt, 0, 360, paint, -1, cv2.LINE_AA)
        for a, b, width in fingers:
            cv2.line(frame, _px(a), _px(b), paint, width + 2 * extra, cv2.LINE_AA)
    # The box of the rim (the outer pass), +1 for the anti-aliased fringe.
    rim, c, s = (max(1, palm[0] + outline), max(1, palm[1] + outline)), abs(cos_a), abs(sin_a)
    reach = [
        (cx, cy, math.hypot(rim[0] * c, rim[1] * s) + 1, math.hypot(rim[0] * s, rim[1] * c) + 1)
    ]
    for a, b, width in fingers:
        r = width / 2 + outline + 1
        reach += [(*a, r, r), (*b, r, r)]
    xs = [x - rx for x, _, rx, _ in reach] + [x + rx for x, _, rx, _ in reach]
    ys = [y - ry for _, y, _, ry in reach] + [y + ry for _, y, _, ry in reach]
    return np.array([min(xs), min(ys), max(xs), max(ys)], np.float32)


def _finger_segments(pose: HandPose):
    """(base, tip, thickness scale) of each visible finger in hand-local palm radii."""
    spread = pose.spread
    segments = []
    thumb_up = pose.thumb_angle is not None  # a fist seen from the side, fingers curled forward
    bases = _FIST_KNUCKLES if thumb_up else _FINGER_BASES
    for i, ((bx, by), length, offset) in enumerate(
        zip(bases, _FINGER_LENGTHS, _FINGER_OFFSETS, strict=True)
    ):
        extension = pose.fingers[i + 1]
        direction = 0.0 if thumb_up else math.pi / 2 + spread * offset
        if i == 0:
            direction += 0.45 * pose.pinch  # the index leans toward the thumb in a pinch
        reach = length * (0.22 + 0.78 * extension)
        tip = (bx + reach * math.cos(direction), by + reach * math.sin(direction))
        segments.append(((bx, by), tip, 1.0))
    if pose.thumb_angle is None:  # resting beside the palm
        thumb, (tx, ty), length = math.radians(140.0), _THUMB_BASE, _THUMB_LENGTH
    else:  # raised from the top of the fist
        thumb, (tx, ty), length = math.radians(pose.thumb_angle), (-0.25, 0.7), 1.3
    thumb -= 1.1 * pose.pinch  # swings up onto the index tip
    reach = length * (0.3 + 0.7 * pose.fingers[0])
    segments.append(((tx, ty), (tx + reach * math.cos(thumb), ty + reach * math.sin(thumb)), 1.15))
    return segments


def _px(point) -> tuple[int, int]:
    return round(point[0]), round(point[1])


class Scene:
    """Everything but the hand, drawn from ``rng``: the nuisances of one clip or stream."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], difficulty: float):
        self.height, self.width = size
        d = difficulty
        self.margin = max(2, round(0.03 * self.height * d) + 2)
        self.background = _background(rng, self.height, self.width, self.margin, d)
        self.person = _person(rng, d)
        self.look = _look(rng, d)
        self.distractors = [_distractor(rng, d) for _ in range(rng.binomial(4, d))]
        # Lighting: a slow sinusoidal gain (amplitude, period in seconds, phase).
        self.light = (0.25 * d * rng.uniform(0.3, 1), rng.uniform(5, 12), rng.uniform(0, 6.3))
        # Sensor noise: four frames drawn once, split in a positive and a negative part so a
        # frame gets one with two saturating uint8 operations.
        self.noise = None
        if d > 0:
            bank = 10.0 * d * rng.standard_normal((4, self.height, self.width, 3), np.float32)
            self.noise = [(_u8(n), _u8(-n)) for n in bank]
        self.shake = 0.012 * d * self.height
        self.blur_chance = 0.08 * d

    def render(self, t: float, rng: np.random.Generator, pose: HandPose | None):
        """One frame at time ``t`` seconds; ``rng`` draws the per-frame noise, shake and blur."""
        m = self.margin
        shake = rng.normal(0, self.shake, 2) if self.shake > 0 else np.zeros(2)
        sx, sy = np.round(np.clip(shake, 1 - m, m - 1)).astype(int)  # the whole view moves
        frame = self.background[m - sy : m - sy + self.height, m - sx : m - sx + self.width].copy()
        shift = (float(sx), float(sy))
        self._draw_person(frame, t, shift)
        for distractor in self.distractors:
            _draw_distractor(frame, distractor, t, shift)
        box = None
        if pose is not None:
            box = draw_hand(frame, pose, self.look, shift)
        amplitude, period, phase = self.light
        if amplitude > 0:
            gain = 1.0 + amplitude * math.sin(2 * math.pi * t / period + phase)
            frame = cv2.convertScaleAbs(frame, alpha=gain)
        if self.noise is not None:
            plus, minus = self.noise[int(rng.integers(len(self.noise)))]
            cv2.add(frame, plus, dst=frame)
            cv2.subtract(frame, minus, dst=frame)
        if self.blur_chance > 0 and rng.random() < self.blur_chance:
            k = max(3, round(0.04 * self.height)) | 1
            kernel = (k, 1) if rng.random() < 0.5 else (1, k)
            frame = cv2.blur(frame, kernel)
            if box is not None:  # the blur smears the hand by half the kernel
                box += np.array([-kernel[0], -kernel[1], kernel[0], kernel[1]], np.float32) // 2
        if box is not None:
            box = np.clip(box, 0, [self.width, self.height] * 2).astype(np.float32)
        if box is None or box[0] >= box[2] or box[1] >= box[3]:  # no hand, or all outside
            return frame, np.full(4, np.nan, np.float32)
        return frame, box

    def _draw_person(self, frame, t, shift):
        if self.person is None:
            return
        colour, head, x, sway, period, phase = self.person
        h, w = self.height, self.width
        cx = (x + sway * math.sin(2 * math.pi * t / period + phase)) * w + shift[0]
        head_y = 0.33 * h + shift[1]
        r = 0.11 * h
        shoulders = head_y + 1.6 * r
        torso = np.array(
            [[cx - 2.3 * r, h + r], [cx - 1.7 * r, shoulders], [cx + 1.7 * r, shoulders],
             [cx + 2.3 * r, h + r]],
            np.int32,
        )  # fmt: skip
        cv2.fillPoly(frame, [torso], colour, cv2.LINE_AA)
        cv2.circle(frame, _px((cx, head_y)), round(r), head, -1, cv2.LINE_AA)


def _u8(values: np.ndarray) -> np.ndarray:
    return np.clip(values, 0, 255).astype(np.uint8)


def _background(rng, height, width, margin, d) -> np.ndarray:
    """A wall: a colour gradient, low-frequency texture and clutter, with a margin for shake."""
    h, w = height + 2 * margin, width + 2 * margin
    base = rng.uniform(60, 200, 3)
    tilt = rng.uniform(-40, 40, 3)
    ramp = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None, None] * tilt
    texture = cv2.resize(rng.normal(0, 25 * d, (6, 8, 3)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC)  # fmt: skip
    image = np.clip(base + ramp + texture, 0, 255).astype(np.uint8)
    for _ in range(rng.binomial(12, d)):  # shelves, frames, posters
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(0.05, 0.3) * w, y0 + rng.uniform(0.03, 0.25) * h
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        thickness = -1 if rng.random() < 0.6 else max(1, round(0.01 * h))
        cv2.rectangle(image, _px((x0, y0)), _px((x1, y1)), colour, thickness)
    return np.ascontiguousarray(image)


def _person(rng, d):
    """A seated person behind the hand (clothes, head), or nobody at low difficulty."""
    if rng.random() >= 0.3 + 0.7 * d:
        return None
    clothes = tuple(int(c) for c in rng.uniform(20, 230, 3))
    head = tuple(int(c) for c in _skin(rng, d) * rng.uniform(0.8, 1.0))
    sway = (0.02 * d, rng.uniform(3, 8), rng.uniform(0, 2 * math.pi))  # amplitude, period, phase
    return clothes, head, rng.uniform(0.35, 0.65), *sway


def _skin(rng, d) -> np.ndarray:
    """A skin tone (BGR), from light to dark, the range widening with difficulty."""
    tone = rng.uniform(0.5 - 0.5 * d, 0.5 + 0.5 * d)
    light, dark = np.array([170, 195, 235]), np.array([45, 75, 120])
    return light + (dark - light) * tone


def _look(rng, d) -> Look:
    skin = _skin(rng, d)
    as_bgr = lambda c: tuple(int(v) for v in np.clip(c, 0, 255))  # noqa: E731
    return Look(skin=as_bgr(skin), back=as_bgr(skin * 0.82), outline=as_bgr(skin * 0.55))


def _distractor(rng, d):
    """A small object drifting across the scene (colour, radius, start, velocity per second)."""
    colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
    return colour, rng.uniform(0.02, 0.06), rng.uniform(0, 1, 2), rng.normal(0, 0.08 * d, 2)


def _draw_distractor(frame, distractor, t, shift):
    colour, radius, start, velocity = distractor
    h, w = frame.shape[:2]
    x, y = (start + velocity * t) % 2.0  # bounce between the edges
    x, y = (2.0 - x if x > 1 else x), (2.0 - y if y > 1 else y)
    cv2.circle(frame, _px((x * w + shift[0], y * h + shift[1])), max(1, round(radius * h)), colour,
               -1, cv2.LINE_AA)  # fmt: skip
