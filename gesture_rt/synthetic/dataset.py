"""Synthetic data sets in Jester's layout, written in parallel; a contact sheet of the classes."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import cv2
import numpy as np

from gesture_rt.jester import LABELS_FILE, SPLIT_FILES, VIDEOS
from gesture_rt.labels import JESTER_COUNTS, JESTER_LABELS
from gesture_rt.synthetic.clips import (
    DEFAULT_DIFFICULTY,
    JESTER_SIZE,
    VIDEO_FRAMES,
    WHOLE,
    GestureStream,
    _fps,
    _non_negative_int,
    _positive_int,
    _seed,
    render_clip,
    window_label,
)

SPLITS = ("train", "validation", "test")
MAX_STREAM_SECONDS = 600.0  # make-windows keeps a stream's frames in memory while it cuts them


def video_seed(seed: int, split: str, number: int) -> int:
    """The render seed of video ``number`` of ``split``: splits never share a seed stream."""
    entropy = [_seed(seed), SPLITS.index(split), number]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def split_labels(count: int, seed: int, split: str, proportions: str) -> list[str]:
    """``count`` labels, balanced or in Jester's proportions (table 5.1), shuffled."""
    if proportions == "balanced":
        weights = np.ones(len(JESTER_LABELS))
    elif proportions == "jester":
        weights = np.array([JESTER_COUNTS[label] for label in JESTER_LABELS], float)
    else:
        raise ValueError(f"proportions must be 'balanced' or 'jester', got {proportions!r}")
    rng = np.random.default_rng([_seed(seed), SPLITS.index(split), 2**31])
    exact = weights / weights.sum() * count
    per_class = np.floor(exact).astype(int)
    # The leftover videos go to the largest remainders, ties broken at random (not by order).
    order = rng.permutation(len(weights))
    ranked = order[np.argsort(-(exact - per_class)[order], kind="stable")]
    per_class[ranked[: count - per_class.sum()]] += 1
    labels = [label for label, n in zip(JESTER_LABELS, per_class, strict=True) for _ in range(n)]
    return [labels[i] for i in rng.permutation(len(labels))]


def make_dataset(
    out: str | Path,
    train: int,
    validation: int,
    test: int = 0,
    seed: int = 0,
    proportions: str = "balanced",
    frames: int = VIDEO_FRAMES,
    size: tuple[int, int] = JESTER_SIZE,
    fps: float = 12.0,
    difficulty: float = DEFAULT_DIFFICULTY,
    workers: int | None = None,
    progress: bool = True,
    context: str = "hold",
) -> Path:
    """Write a data set in Jester's layout to ``out`` (a new directory), atomically.

    Videos are numbered 1, 2, ... across train, validation and test. Everything is written to a
    hidden sibling directory first and renamed into place when complete, so ``out`` is either
    absent or whole; an interrupted run leaves only that hidden directory, which the next run
    for the same ``out`` removes. With ``workers`` > 1 it renders in spawned processes, so a
    script that calls it needs the usual ``if __name__ == "__main__":`` guard.
    """
    out = _new_directory(out)
    counts = {"train": train, "validation": validation, "test": test}
    for name, count in counts.items():
        counts[name] = _non_negative_int(name, count)
    if train + validation + test == 0:
        raise ValueError("train, validation and test are all 0: nothing to write")
    # One small render checks frames, size, fps, difficulty and seed before any work starts.
    render_clip(JESTER_LABELS[0], _seed(seed), frames=1, size=size, fps=fps, difficulty=difficulty,
                context=context)  # fmt: skip
    _positive_int("frames", frames)
    jobs, rows = [], {split: [] for split in SPLITS}
    number = 0
    for split in SPLITS:
        for i, label in enumerate(split_labels(counts[split], seed, split, proportions)):
            number += 1
            rows[split].append(f"{number};{label}" if split != "test" else f"{number}")
            seed_i = video_seed(seed, split, i)
            jobs.append((str(number), label, seed_i, frames, size, fps, difficulty, context))

    def fill(root: Path) -> dict[str, list[str]]:
        _run_all(_write_video, root, jobs, workers, progress, "rendering videos", "video")
        return rows

    return _write_layout(out, fill)


def make_window_dataset(
    out: str | Path,
    train: int,
    validation: int,
    seed: int = 0,
    seconds: float = 12.0,
    frames: int = 40,
    step: int = 6,
    size: tuple[int, int] = JESTER_SIZE,
    fps: float = 12.0,
    difficulty: float = DEFAULT_DIFFICULTY,
    whole: float = WHOLE,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write windows cut from synthetic streams in Jester's layout to ``out``, atomically.

    ``train`` and ``validation`` count streams (``seconds`` long, each its own scene); every
    ``step`` frames a window of ``frames`` frames becomes a video labelled by ``window_label``:
    the gesture it shows at least ``whole`` of, else "No gesture" (windows showing two whole
    gestures are left out). These are the clips a recogniser sliding over a camera sees, cut
    gestures included, so a network trained on them learns when *not* to name a gesture.
    """
    out = _new_directory(out)
    counts = {"train": _non_negative_int("train", train),
              "validation": _non_negative_int("validation", validation)}  # fmt: skip
    if not any(counts.values()):
        raise ValueError("train and validation are both 0: nothing to write")
    frames, step = _positive_int("frames", frames), _positive_int("step", step)
    fps = _fps(fps)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not (0 < seconds <= MAX_STREAM_SECONDS)
    ):
        raise ValueError(f"seconds must be a number in (0, {MAX_STREAM_SECONDS}], got {seconds!r}")
    stream = GestureStream(fps, size, _seed(seed), seconds, difficulty)  # checks the arguments
    window_label((), 0.0, 1.0, whole)  # checks whole
    windows = (stream.frame_count - frames) // step + 1
    if windows < 1:
        raise ValueError(f"seconds: {seconds!r} s at {fps} fps is shorter than one window of "
                         f"{frames} frames")  # fmt: skip
    # Stream n's windows are videos n * windows + 1, ...: numbers fixed before any rendering.
    streams = [(split, i) for split in SPLITS[:2] for i in range(counts[split])]
    jobs = [(split, n * windows, video_seed(seed, split, i), seconds, frames, step, size, fps,
             difficulty, whole) for n, (split, i) in enumerate(streams)]  # fmt: skip

    def fill(root: Path) -> dict[str, list[str]]:
        rows = {split: [] for split in SPLITS}
        results = _run_all(_write_windows, root, jobs, workers, progress, "cutting streams",
                           "stream")  # fmt: skip
        for job, lines in zip(jobs, results, strict=True):
            rows[job[0]].extend(lines)
        return rows

    return _write_layout(out, fill)


def _new_directory(out: str | Path) -> Path:
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"out: {out} already exists; give a new or empty directory")
    return out


def _write_layout(out: Path, fill: Callable[[Path], dict[str, list[str]]]) -> Path:
    """Fill a hidden sibling of ``out`` (``fill`` writes the videos and returns each split's
    lines), add the label and split files, and rename it to ``out``. An interrupted run leaves
    only the hidden directory, which the next run for the same ``out`` removes."""
    for stale in out.parent.glob(f".{out.name}.partial-*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    (partial / VIDEOS).mkdir(parents=True)
    try:
        rows = fill(partial)
        (partial / LABELS_FILE).write_text("\n".join(JESTER_LABELS) + "\n", encoding="utf-8")
        for split, lines in rows.items():
            text = "".join(f"{line}\n" for line in lines)
            (partial / SPLIT_FILES[split]).write_text(text, encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)  # (a directory rename: atomic)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out


def _run_all(function, root: Path, jobs: list, workers: int | None, progress: bool,
             description: str, unit: str) -> list:  # fmt: skip
    """``function(root, *job)`` for every job, in spawned processes when ``workers`` > 1;
    the results in job order."""
    if workers is not None and _non_negative_int("workers", workers) == 0:
        raise ValueError("workers must be a positive integer or None (all cores), got 0")
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    bar = progress_bar(len(jobs), description, progress, unit)
    results = [None] * len(jobs)
    if workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = function(root, *job)
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded OpenCV
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=quiet_worker)
        try:
            futures = {pool.submit(function, root, *job): i for i, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        finally:  # on an error or Ctrl+C, drop the queued videos instead of rendering them
            pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    return results


def quiet_worker() -> None:
    """Initialiser of a pool process: one OpenCV thread, Ctrl+C left to the parent."""
    cv2.setNumThreads(1)  # the pool already uses every core
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle


def _write_video(root: Path, video: str, label: str, seed: int, frames: int, size, fps, difficulty,
                 context) -> None:  # fmt: skip
    clip = render_clip(label, seed, frames=frames, size=size, fps=fps, difficulty=difficulty,
                       context=context)  # fmt: skip
    _write_frames(root / VIDEOS / video, clip.frames)


def _write_windows(root: Path, split: str, first: int, seed: int, seconds: float, frames: int,
                   step: int, size, fps, difficulty, whole) -> list[str]:  # fmt: skip
    """Render one stream, write its labelled windows as videos ``first + 1``, ...; their lines."""
    stream = GestureStream(fps, size, seed, seconds, difficulty)
    images = [frame.image for frame in stream]
    lines = []
    for k, begin in enumerate(range(0, len(images) - frames + 1, step)):
        label = window_label(stream.timeline, begin / fps, (begin + frames) / fps, whole)
        if label is None:
            continue
        video = str(first + k + 1)
        _write_frames(root / VIDEOS / video, images[begin : begin + frames])
        lines.append(f"{video};{label}")
    return lines


def _write_frames(folder: Path, images) -> None:
    folder.mkdir()
    for i, image in enumerate(images, 1):
        if not cv2.imwrite(str(folder / f"{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f"could not write {folder / f'{i:05d}.jpg'}")


def progress_bar(total: int, description: str, enabled: bool, unit: str = "video"):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=not enabled)


def contact_sheet(
    seed: int = 0,
    shown: int = 8,
    size: tuple[int, int] = JESTER_SIZE,
    difficulty: float = DEFAULT_DIFFICULTY,
    labels: Sequence[str] = JESTER_LABELS,
) -> np.ndarray:
    """One clip per class (seeds ``seed``, ``seed + 1``, ...): a row of ``shown`` frames each,
    evenly spaced over the clip, its label on the left. BGR uint8."""
    shown = _positive_int("shown", shown)
    rows = []
    for k, label in enumerate(labels):
        clip = render_clip(label, _seed(seed) + k, size=size, difficulty=difficulty)
        picks = np.linspace(0, len(clip.frames) - 1, shown).round().astype(int)
        strip = np.concatenate([_framed(clip.frames[i]) for i in picks], axis=1)
        caption = np.full((strip.shape[0], 230, 3), 255, np.uint8)
        cv2.putText(caption, label, (6, strip.shape[0] // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
        rows.append(np.concatenate([caption, strip], axis=1))
    return np.concatenate(rows, axis=0)


def _framed(image: np.ndarray) -> np.ndarray:
    return cv2.copyMakeBorder(image, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def check_image_path(name: str, path: str | Path) -> Path:
    """``path`` as a Path if an image can be written there; else ValueError naming ``name``."""
    path = Path(path)
    if not path.suffix or not cv2.haveImageWriter(str(path)):
        raise ValueError(f"{name}: {path} needs an image extension OpenCV writes (.png, .jpg, ...)")
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a directory")
    check_writable_folder(name, path.parent)
    return path


def check_writable_folder(name: str, folder: Path) -> None:
    """ValueError naming ``name`` unless a file can be created in ``folder`` (tried: permission
    bits do not tell, for root or on /proc, say)."""
    if not folder.is_dir():
        raise ValueError(f"{name}: the folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gesture_rt-check-"):
            pass
    except OSError as error:
        raise ValueError(f"{name}: cannot write in {folder} ({error.strerror or error})") from None


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an image atomically (a temporary name, then a rename)."""
    path = check_image_path("path", path)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    quality = [cv2.IMWRITE_JPEG_QUALITY, 85] if path.suffix.lower() in {".jpg", ".jpeg"} else []
    try:
        if not cv2.imwrite(str(temporary), image, quality):
            raise ValueError(f"path: cannot write an image to {path} (does its folder exist?)")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
