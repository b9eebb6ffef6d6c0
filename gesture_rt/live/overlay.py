"""The on-screen overlay of thesis figure 5.4, drawn onto a copy of the camera frame.

A white box marks the network's centre crop mapped onto the full frame; the fired gesture is
written in green; the newest prediction's top classes, with their probabilities, in blue (even
below the threshold); a status line gives camera fps, processing fps, inference ms with the
precision it ran at, and skipped clips. Pure drawing: no state, no threads, so it can be checked
on an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

WHITE, GREEN, BLUE = (255, 255, 255), (0, 220, 0), (255, 96, 0)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class OverlayState:
    """What the overlay shows. ``top``: (label, probability) pairs, most probable first."""

    crop_box: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) in pixels
    fired: str | None = None  # the gesture that fired recently (green)
    top: Sequence[tuple[str, float]] = field(default_factory=list)
    camera_fps: float = 0.0
    processing_fps: float = 0.0
    inference_ms: float | None = None
    precision: str | None = None  # what the network computes in
    skipped_clips: int = 0
    show_probabilities: bool = True
    paused: bool = False


def draw_overlay(frame: np.ndarray, state: OverlayState) -> np.ndarray:
    """A copy of ``frame`` (H x W x 3 uint8 BGR) with the overlay drawn on it."""
    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
            and frame.dtype == np.uint8):  # fmt: skip
        raise ValueError(f"frame must be an H x W x 3 uint8 image, got {_describe(frame)}")
    image = frame.copy()
    height, width = image.shape[:2]
    scale = max(0.35, min(height, width) / 640)  # text size follows the frame
    line = round(26 * scale / 0.6)
    if state.crop_box is not None:
        x0, y0, x1, y1 = (round(v) for v in state.crop_box)
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), WHITE, max(1, int(2 * scale)))
    y = line
    if state.fired:
        _text(image, state.fired, (8, y), 1.6 * scale, GREEN)
        y += int(line * 1.5)
    if state.show_probabilities:
        for label, probability in state.top:
            _text(image, f"{probability:5.1%} {label}", (8, y), scale, BLUE)
            y += line
    precision = f" {state.precision}" if state.precision else ""
    status = (f"camera {state.camera_fps:4.1f} fps  processing {state.processing_fps:4.1f} fps  "
              f"inference {_ms(state.inference_ms)}{precision}  "
              f"skipped {state.skipped_clips}")  # fmt: skip
    if state.paused:
        status = "PAUSED  " + status
    _text(image, status, (8, height - int(0.4 * line)), 0.8 * scale, WHITE)
    return image


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour) -> None:
    """Text on a dark band, readable on any background. (Not an outline: OpenCV 5's fonts grow
    wider with thickness, so a thick dark copy would not sit under the text.)"""
    thickness = max(1, round(2 * scale))
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = origin
    pad = max(2, round(4 * scale))
    top_left, bottom_right = (x - pad, y - height - pad), (x + width + pad, y + baseline + pad)
    band = image[max(0, top_left[1]) : bottom_right[1], max(0, top_left[0]) : bottom_right[0]]
    band //= 3  # darken in place (a view): the picture still shows through
    cv2.putText(image, text, origin, FONT, scale, colour, thickness, cv2.LINE_AA)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__
