"""Jester layout -> sharded TFRecords (thesis 5.1: 40 frames a video, resized to 100 x 140).

Resumable: a shard is written under a temporary name and renamed when complete, then its JSON
sidecar (counts, skipped videos, size, SHA-256) is written the same way; a re-run skips every
shard whose sidecar and file agree, so a killed run redoes at most the shards it was writing.
Bad videos (missing or empty folders, unreadable or missing frames, frames that are not regular
files or are over MAX_FRAME_BYTES or MAX_FRAME_PIXELS) and bad split lines (ids that are not
folder names or longer than a file name may be, repeated ids, labels not in the label list) are
skipped and counted; nothing a data set holds stops or stalls the run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import stat
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from gesture_rt import jester
from gesture_rt.synthetic.dataset import progress_bar, quiet_worker
from training.data import records

DEFAULT_SPLITS = ("train", "validation")
_EXAMPLES_KEPT = 50  # skipped videos named in the manifest per split (all are counted)
_NUMBERED = re.compile(r"\d+")
# A frame file is read whole into memory: 16 MiB is 3,000 times a Jester frame (about 5 KB) and
# ten times a 4K JPEG; anything larger is not a video frame.
MAX_FRAME_BYTES = 16 << 20
# What a frame may decode to, as its header declares: 8192 x 8192 (192 MiB decoded); a 16 MiB
# file can declare 65535 x 65535.
MAX_FRAME_PIXELS = 1 << 26
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # (Windows has no FIFOs to block on)
_FILE_KINDS = {stat.S_IFIFO: "FIFO", stat.S_IFCHR: "character device", stat.S_IFBLK:
               "block device", stat.S_IFSOCK: "socket", stat.S_IFDIR: "folder"}  # fmt: skip


@dataclass(frozen=True)
class ConvertOptions:
    """What a record set was made with; a resumed run must use the same."""

    frames: int = 40
    height: int = 100
    width: int = 140
    shard_size: int = 512
    quality: int = 95

    def __post_init__(self) -> None:
        for name, low, high in [("frames", 1, 10_000), ("height", 8, 4096), ("width", 8, 4096),
                                ("shard_size", 1, 1 << 20), ("quality", 1, 100)]:  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def sample_indices(count: int, frames: int) -> np.ndarray:
    """Which of a video's ``count`` frames fill a clip of ``frames``.

    Fewer: the thesis's footnote — the first frames are replicated in order (each frame appears
    ``frames // count`` times, the first ``frames % count`` once more), which plays as a slowed-
    down start. More: the ``frames`` consecutive frames at the centre, so a clip keeps the
    camera's speed, as the runtime sees it (Jester's gestures sit mid-video).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count >= frames:
        start = (count - frames) // 2
        return np.arange(start, start + frames)
    repeats = np.full(count, frames // count)
    repeats[: frames % count] += 1
    return np.repeat(np.arange(count), repeats)


class _Skip(Exception):
    """A video that cannot be converted: its skip reason and a detail for the report."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def encode_video(root: Path, video: str, options: ConvertOptions):
    """(JPEG bytes of each clip frame, None, "") or (None, skip reason, detail).

    Never raises for what the data set holds, and never blocks on it: one bad video is skipped
    with its reason and the run goes on."""
    try:
        return _encode(Path(root), video, options), None, ""
    except _Skip as skip:
        return None, skip.reason, skip.detail
    except OSError as error:  # anything else the file system says about this video alone
        return None, "unreadable_video", str(error)


def _encode(root: Path, video: str, options: ConvertOptions) -> list[bytes]:
    paths = _frame_paths(root, video)
    gap = _first_gap(paths)
    if gap:
        raise _Skip("missing_frame", gap)
    jpegs = []
    for i in sample_indices(len(paths), options.frames):
        image = _decode(paths[i])
        image = cv2.resize(image, (options.width, options.height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, options.quality])
        if not ok:
            raise _Skip("unreadable_frame", paths[i].name)
        jpegs.append(data.tobytes())
    return jpegs


def _frame_paths(root: Path, video: str) -> list[Path]:
    folder = root / jester.VIDEOS
    limit = _name_max(folder)
    if len(os.fsencode(video)) > limit:  # the file system would refuse to even look it up
        raise _Skip("bad_id", f"video id is {len(os.fsencode(video))} bytes long, longer than "
                              f"a file name may be ({limit})")  # fmt: skip
    try:
        return jester.frame_paths(root, video)
    except FileNotFoundError:
        raise _Skip("empty_video" if (folder / video).is_dir() else "missing_video") from None


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255  # NAME_MAX of every common Linux file system


def _first_gap(paths: Sequence[Path]) -> str:
    """The first missing number when frames are numbered (00001.jpg ...), else ''."""
    stems = [p.stem for p in paths]
    if not all(_NUMBERED.fullmatch(s) for s in stems):
        return ""
    numbers = sorted(int(s) for s in stems)
    for expected, number in enumerate(numbers, numbers[0]):
        if number != expected:
            return f"frame {expected} of {numbers[0]}..{numbers[-1]}"
    return ""


def _decode(path: Path) -> np.ndarray:
    """The image of a whole JPEG of at most MAX_FRAME_PIXELS (OpenCV decodes a truncated one
    into a half-grey picture without complaint, so the end-of-image marker is checked first)."""
    try:
        data = _read_frame(path)
    except OSError as error:  # e.g. a dangling symlink
        raise _Skip("unreadable_frame", f"{path.name}: {error.strerror or error}") from None
    if not data.startswith(b"\xff\xd8") or b"\xff\xd9" not in data[-64:]:
        raise _Skip("unreadable_frame", f"{path.name}: not a whole JPEG")
    size = _jpeg_size(data)
    if size is None:
        raise _Skip("unreadable_frame", f"{path.name}: no JPEG frame header")
    if size[0] * size[1] > MAX_FRAME_PIXELS:  # OpenCV's own bound is 2**30: 3 GB decoded
        raise _Skip("oversized_frame", f"{path.name}: {size[0]}x{size[1]} pixels, over the "
                    f"limit of {MAX_FRAME_PIXELS} pixels a frame (MAX_FRAME_PIXELS)")  # fmt: skip
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None:
        raise _Skip("unreadable_frame", f"{path.name}: not a decodable JPEG")
    return image


def _read_frame(path: Path) -> bytes:
    """The bytes of a frame file. Only a regular file of at most MAX_FRAME_BYTES is read; a
    symlink is followed, and what it names must be one too. A FIFO, device, socket or folder is
    refused before it is opened, and the open does not block (O_NONBLOCK) should the path be
    swapped for one in between; so nothing in a data set can stall the run or fill the memory."""
    _check_regular(os.stat(path), path.name)
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with open(fd, "rb") as file:
        _check_regular(os.fstat(fd), path.name)  # the file we opened, not the one we stat'ed
        data = file.read(MAX_FRAME_BYTES + 1)
    if len(data) > MAX_FRAME_BYTES:  # it grew after the check
        raise _Skip("oversized_frame", _too_big(path.name, len(data)))
    return data


def _check_regular(status: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(status.st_mode), "special file")
        raise _Skip("irregular_frame", f"{name}: a {kind}, not a regular file")
    if status.st_size > MAX_FRAME_BYTES:
        raise _Skip("oversized_frame", _too_big(name, status.st_size))


def _too_big(name: str, size: int) -> str:
    return (f"{name}: {size} bytes, over the limit of {MAX_FRAME_BYTES >> 20} MiB a frame "
            "(MAX_FRAME_BYTES)")  # fmt: skip


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                          0xCE, 0xCF})  # fmt: skip


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) as the JPEG's frame header declares them (what the decoder allocates),
    or None when no frame header comes before the image data."""
    i = 2  # after the start-of-image marker
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # a fill byte
            i += 1
        elif marker in _SOF_MARKERS:  # FF Cn, length, precision, height, width
            return struct.unpack_from(">HH", data, i + 5)
        elif marker == 0xDA:  # start of scan: image data without a frame header
            return None
        else:
            i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    return None


def convert(
    root: str | Path,
    out: str | Path,
    splits: Sequence[str] = DEFAULT_SPLITS,
    options: ConvertOptions | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Convert ``splits`` of the Jester-layout ``root`` into ``out``; returns the manifest."""
    import tensorflow as tf

    root, out = Path(root), Path(out)
    options = options or ConvertOptions()
    labels = jester.read_labels(root)
    splits = _check_splits(splits)
    out.mkdir(parents=True, exist_ok=True)
    _check_options(out, root, options, labels)
    manifest = {"format": records.FORMAT, "version": records.VERSION,
                "source": str(root.resolve()), **asdict(options), "labels": labels,
                "splits": {}}  # fmt: skip
    for split in splits:
        manifest["splits"][split] = _convert_split(tf, root, out, split, options, labels,
                                                   workers, progress)  # fmt: skip
    manifest["unlisted_videos"] = _unlisted(root)
    records.write_json(out / records.MANIFEST, manifest)
    return manifest


def _check_splits(splits: Sequence[str]) -> list[str]:
    splits = [splits] if isinstance(splits, str) else list(splits)
    unknown = [s for s in splits if s not in jester.SPLIT_FILES]
    if not splits or unknown or len(set(splits)) != len(splits):
        raise ValueError(
            f"splits must be distinct names from {sorted(jester.SPLIT_FILES)}, got {splits}"
        )
    return splits


def _check_options(out: Path, root: Path, options: ConvertOptions, labels: list[str]) -> None:
    """A resumed conversion must continue the same one: same source, options and labels."""
    wanted = {"source": str(root.resolve()), **asdict(options), "labels": labels}
    path = out / ".convert.json"
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != wanted:
            changed = sorted(k for k in wanted if previous.get(k) != wanted[k])
            raise ValueError(
                f"out: {out} holds records converted with other settings ({', '.join(changed)}); "
                "convert into a fresh folder"
            )
    else:
        records.write_json(path, wanted)


def _convert_split(tf, root, out, split, options, labels, workers, progress) -> dict:
    rows, problems = jester.scan_split(root, split)
    chunks = [rows[i : i + options.shard_size] for i in range(0, len(rows), options.shard_size)]
    names = [records.shard_name(split, i, len(chunks)) for i in range(len(chunks))]
    for stale in out.glob(f".{split}-*.partial-*"):
        stale.unlink()  # left by a killed run
    pending = [i for i, name in enumerate(names) if _finished(out, name) is None]
    jobs = [(root, video, options) for i in pending for video, _ in chunks[i]]
    bar = progress_bar(len(jobs), f"converting {split}", progress)
    results = _map(jobs, workers)
    for i in pending:
        _write_shard(tf, out, names[i], chunks[i], labels, results, bar)
    bar.close()
    return _summarise([_finished(out, name) for name in names], problems)


def _finished(out: Path, name: str) -> dict | None:
    """The sidecar of a complete shard, or None when the shard must be (re)written."""
    sidecar = out / f"{name}.json"
    if not sidecar.is_file() or not (out / name).is_file():
        return None

    info = json.loads(sidecar.read_text(encoding="utf-8"))
    return info if (out / name).stat().st_size == info["bytes"] else None


def _write_shard(tf, out: Path, name: str, chunk, labels, results, bar) -> None:
    path = out / name
    temporary = out / f".{name}.partial-{os.getpid()}"
    classes, skipped = Counter(), []
    try:
        with tf.io.TFRecordWriter(str(temporary)) as writer:
            for video, label in chunk:
                jpegs, reason, detail = next(results)
                bar.update()
                if jpegs is None:
                    skipped.append({"video": video, "reason": reason, "detail": detail})
                    continue
                index = records.UNLABELLED if label is None else labels.index(label)
                writer.write(records.example_bytes(tf, video, index, jpegs))
                classes[label or "(unlabelled)"] += 1
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    info = {"file": name, "videos": sum(classes.values()), "bytes": path.stat().st_size,
            "sha256": records.sha256(path), "classes": dict(classes),
            "skipped": skipped}  # fmt: skip
    records.write_json(out / f"{name}.json", info)


def _summarise(shards: list[dict], problems: list[jester.SplitProblem]) -> dict:
    classes, reasons, examples = Counter(), Counter(), []
    for shard in shards:
        classes.update(shard["classes"])
        reasons.update(s["reason"] for s in shard["skipped"])
        examples += shard["skipped"]
    reasons.update(p.kind for p in problems)
    examples += [{"line": p.line, "reason": p.kind, "detail": p.message} for p in problems]
    return {
        "videos": sum(classes.values()),
        "classes": dict(sorted(classes.items())),
        "skipped": dict(sorted(reasons.items())),
        "skipped_examples": examples[:_EXAMPLES_KEPT],
        "shards": [{k: s[k] for k in ("file", "videos", "bytes", "sha256")} for s in shards],
    }


def _unlisted(root: Path) -> int:
    """Video folders that no split file names."""
    listed = set()
    for split, name in jester.SPLIT_FILES.items():
        if (root / name).is_file():
            listed.update(video for video, _ in jester.scan_split(root, split)[0])
    folder = root / jester.VIDEOS
    return (
        sum(1 for p in folder.iterdir() if p.is_dir() and p.name not in listed)
        if folder.is_dir()
        else 0
    )


def _map(jobs: list, workers: int | None) -> Iterable:
    """encode_video over ``jobs`` in order, in a pool of processes when there is work for two."""
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers <= 1:
        return (encode_video(*job) for job in jobs)
    return _pooled(jobs, workers)


def _pooled(jobs: list, workers: int):
    context = multiprocessing.get_context("spawn")  # no fork of a threaded OpenCV or TensorFlow
    with context.Pool(workers, initializer=quiet_worker) as pool:
        yield from pool.imap(_encode_job, jobs, chunksize=4)


def _encode_job(job):
    return encode_video(*job)
