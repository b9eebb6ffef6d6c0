"""Reading a data set in the layout of the Jester release (and of ``make-dataset``'s output).

``ROOT/20bn-jester-v1/<id>/00001.jpg ...`` frames, ``jester-v1-labels.csv`` (a label a line),
``jester-v1-train.csv`` / ``jester-v1-validation.csv`` (``<id>;<label>`` lines) and
``jester-v1-test.csv`` (``<id>`` lines).
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

VIDEOS = "20bn-jester-v1"
LABELS_FILE = "jester-v1-labels.csv"
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]+")
SPLIT_FILES = {
    "train": "jester-v1-train.csv",
    "validation": "jester-v1-validation.csv",
    "test": "jester-v1-test.csv",
}


def read_labels(root: str | Path) -> list[str]:
    """The class names, in the data set's order."""
    path = Path(root) / LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"root: {path} is missing (not a Jester-layout data set?)")
    labels = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    labels = [label for label in labels if label]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{path}: labels listed twice: {repeated}")
    return labels


def read_split(root: str | Path, split: str) -> list[tuple[str, str | None]]:
    """(video id, label) pairs of ``split`` (train, validation or test; test has no labels)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    path = Path(root) / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"root: {path} is missing")
    known = set(read_labels(root))
    rows, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        video, separator, label = line.strip().partition(";")
        if not _VIDEO_ID.fullmatch(video) or video in seen:
            problem = "is repeated" if video in seen else "is not a plain folder name"
            raise ValueError(f"{path}:{number}: video id {video!r} {problem}")
        if split == "test" and separator:
            raise ValueError(f"{path}:{number}: the test split has no labels, got {line!r}")
        if split != "test" and label not in known:
            raise ValueError(f"{path}:{number}: label {label!r} is not in {LABELS_FILE}")
        seen.add(video)
        rows.append((video, label or None))
    return rows


def frame_paths(root: str | Path, video: str) -> list[Path]:
    """A video's JPEG frames in order."""
    if not _VIDEO_ID.fullmatch(str(video)):
        raise ValueError(
            f"video must be a plain folder name (letters, digits, - and _), got {video!r}"
        )
    folder = Path(root) / VIDEOS / str(video)
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"video: no frames in {folder}")
    return paths


def load_video(root: str | Path, video: str) -> np.ndarray:
    """A video's frames as T x H x W x 3 uint8 BGR."""
    frames = []
    for path in frame_paths(root, video):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"video: {path} is not a readable image")
        frames.append(image)
    return np.stack(frames)
