"""Reading a data set in the layout of the Jester release (and of ``make-dataset``'s output).

``ROOT/20bn-jester-v1/<id>/00001.jpg ...`` frames, ``jester-v1-labels.csv`` (a label a line),
``jester-v1-train.csv`` / ``jester-v1-validation.csv`` (``<id>;<label>`` lines) and
``jester-v1-test.csv`` (``<id>`` lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

JESTER_FPS = 12.0  # Jester's videos (folders of frames) and the synthetic set's frame rate
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
    """(video id, label) pairs of ``split`` (train, validation or test; test has no labels).

    Strict: the first bad line raises ValueError. ``scan_split`` reports bad lines instead.
    """
    rows, problems = scan_split(root, split)
    if problems:
        raise ValueError(problems[0].message)
    return rows


@dataclass(frozen=True)
class SplitProblem:
    """One line of a split file that names no usable video."""

    line: int
    kind: str  # "bad_id", "repeated_id", "unknown_label" or "label_in_test"
    message: str


def scan_split(
    root: str | Path, split: str
) -> tuple[list[tuple[str, str | None]], list[SplitProblem]]:
    """Like ``read_split``, but returns the bad lines beside the good rows instead of raising."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    path = Path(root) / SPLIT_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"root: {path} is missing")
    known = set(read_labels(root))
    rows, problems, seen = [], [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        video, separator, label = line.strip().partition(";")
        kind = _line_problem(video, separator, label, split, known, seen)
        if kind:
            text = _PROBLEM_TEXT[kind].format(video=video, label=label, line=line)
            problems.append(SplitProblem(number, kind, f"{path}:{number}: {text}"))
            continue
        seen.add(video)
        rows.append((video, label or None))
    return rows, problems


_PROBLEM_TEXT = {
    "bad_id": "video id {video!r} is not a plain folder name",
    "repeated_id": "video id {video!r} is repeated",
    "label_in_test": "the test split has no labels, got {line!r}",
    "unknown_label": f"label {{label!r}} is not in {LABELS_FILE}",
}


def _line_problem(video, separator, label, split, known, seen) -> str | None:
    if not _VIDEO_ID.fullmatch(video):
        return "bad_id"
    if video in seen:
        return "repeated_id"
    if split == "test":
        return "label_in_test" if separator else None
    return None if label in known else "unknown_label"


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
