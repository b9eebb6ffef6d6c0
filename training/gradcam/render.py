"""Pictures of Grad-CAM maps: heat drawn over the frames (red: high), a grid of endpoints by
frames, and one animation per endpoint. Everything is written under a temporary name, then
renamed into place."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

ANIMATIONS = ("gif", "mp4", "none")
LABEL_WIDTH = 132  # pixels of the grid's left column (endpoint names)
HEADER = 24  # pixels of the grid's top row (frame numbers)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def normalised(heat: np.ndarray) -> np.ndarray:
    """``heat`` / its maximum over the whole clip, so the frames of one map compare (all zero
    stays zero)."""
    heat = np.asarray(heat, np.float64)
    peak = heat.max(initial=0.0)
    return heat / peak if peak > 0 else np.zeros_like(heat)


def overlay(image: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """One uint8 BGR frame with ``heat`` (H x W in [0, 1]) drawn over it in the jet colour map."""
    colours = cv2.applyColorMap(np.rint(255 * np.clip(heat, 0, 1)).astype(np.uint8),
                                cv2.COLORMAP_JET)  # fmt: skip
    return cv2.addWeighted(image, 1 - opacity, colours, opacity, 0)


def sampled_frames(count: int, columns: int) -> np.ndarray:
    """``columns`` frame indices spread evenly over ``count`` frames (all if fewer)."""
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    return np.unique(np.linspace(0, count - 1, min(columns, count)).round().astype(int))


def grid(images: np.ndarray, maps: Mapping[str, np.ndarray], columns: int = 8, cell: int = 128,
         boxes: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Rows: the input frames, then one per endpoint; columns: frames sampled evenly over the
    clip. ``images``: T x H x W x 3 uint8 BGR; ``maps``: endpoint -> T x H x W heat; ``boxes``:
    the hand per frame (drawn on the input row)."""
    picks = sampled_frames(len(images), columns)
    scale = cell / images.shape[1]
    width = round(images.shape[2] * scale)

    def row(name: str, cells: list[np.ndarray]) -> np.ndarray:
        label = np.full((cell, LABEL_WIDTH, 3), 255, np.uint8)
        cv2.putText(label, name, (6, cell // 2 + 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        return np.hstack([label, *(cv2.resize(c, (width, cell)) for c in cells)])

    header = np.full((HEADER, LABEL_WIDTH + width * len(picks), 3), 255, np.uint8)
    for i, t in enumerate(picks):
        cv2.putText(header, f"frame {t}", (LABEL_WIDTH + i * width + 6, 17), FONT, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    inputs = [_boxed(images[t], None if boxes is None else boxes[t]) for t in picks]
    rows = [header, row("input", inputs)]
    for name, heat in maps.items():
        heat = normalised(heat)
        rows.append(row(name, [overlay(images[t], heat[t]) for t in picks]))
    return np.vstack(rows)


def _boxed(image: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    if box is None or np.isnan(box).any():
        return image
    framed = image.copy()
    x0, y0, x1, y1 = np.round(box).astype(int)
    cv2.rectangle(framed, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), 1)
    return framed


def animation_frames(images: np.ndarray, heat: np.ndarray, title: str, cell: int = 160
                     ) -> list[np.ndarray]:  # fmt: skip
    """Each frame beside its heat overlay, captioned with ``title`` and the frame number."""
    heat = normalised(heat)
    scale = cell / images.shape[1]
    size = (round(images.shape[2] * scale), cell)
    frames = []
    for t, image in enumerate(images):
        pair = np.hstack([cv2.resize(image, size), cv2.resize(overlay(image, heat[t]), size)])
        band = np.full((HEADER, pair.shape[1], 3), 255, np.uint8)
        cv2.putText(band, f"{title}  frame {t}", (6, 17), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        frames.append(np.vstack([band, pair]))
    return frames


def write_animation(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """A GIF (Pillow) or an MP4 (OpenCV, mp4v) of uint8 BGR frames at ``fps``."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("gif", "mp4"):
        raise ValueError(f"path: an animation is a .gif or .mp4 file, got {path}")
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        if kind == "gif":
            from PIL import Image

            pictures = [Image.fromarray(np.ascontiguousarray(f[..., ::-1])) for f in frames]
            pictures[0].save(temporary, save_all=True, append_images=pictures[1:],
                             duration=round(1000 / fps), loop=0)  # fmt: skip
        else:
            height, width = frames[0].shape[:2]
            writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     (width, height))  # fmt: skip
            if not writer.isOpened():
                raise ValueError(f"path: OpenCV cannot write an MP4 to {path}")
            for frame in frames:
                writer.write(frame)
            writer.release()
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
