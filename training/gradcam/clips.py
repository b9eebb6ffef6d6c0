"""The clip Grad-CAM explains: a video file, a folder of frames (a Jester video) or a synthetic
spec, brought to the network's input as the runtime brings camera frames (resize, centre crop,
[-1, 1] RGB) and as training chose a clip's frames (``training.data.convert.sample_indices``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gesture_rt import Preprocessor
from gesture_rt.live.sources import IMAGE_SUFFIXES, image_paths
from gesture_rt.synthetic import DEFAULT_DIFFICULTY, render_clip
from gesture_rt.synthetic.clips import (
    CONTEXTS,
    FPS_RANGE,
    JESTER_SIZE,
    VIDEO_FRAMES,
    size_from_text,
)
from training.data.convert import sample_indices

SYNTHETIC = "synthetic:"
MAX_SECONDS = 60.0  # Grad-CAM explains one gesture's clip, not a film
MIN_SIDE = 16  # pixels: smaller frames hold nothing a map could point at
SYNTHETIC_KEYS = {"seed": int, "difficulty": float, "context": str, "size": str}


@dataclass(frozen=True)
class Clip:
    """``frames``: the network's input, T x S x S x 3 float32 RGB in [-1, 1]; ``indices``: the
    source frame behind each; ``boxes``: the hand's box per frame in the input's pixels (x0, y0,
    x1, y1; NaN: none), known for synthetic clips only; ``label``: the truth, where known."""

    name: str
    frames: np.ndarray
    indices: np.ndarray
    boxes: np.ndarray | None = None
    label: str | None = None

    def images(self) -> np.ndarray:
        """The input frames as uint8 BGR, to draw on."""
        rgb = np.clip(np.rint((self.frames + 1.0) * 127.5), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb[..., ::-1])


def load_clip(spec: str | Path, input_shape: Sequence[int], resize_short: int, fps: float = 12.0,
              source_fps: float | None = None) -> Clip:  # fmt: skip
    """``spec``: a video file, a folder of frames, or ``synthetic:LABEL[,seed=N][,difficulty=X]
    [,context=hold|rest][,size=WIDTHxHEIGHT]`` (size: Jester's shape at ``resize_short`` high
    unless given).
    ``input_shape``: the network's (T, S, S, 3); ``fps``: the rate it was trained at, which the
    source is resampled to (sample and hold). ``source_fps`` overrides a file's own rate (a folder
    of frames is taken to be at ``fps``)."""
    frames, crop = int(input_shape[0]), int(input_shape[1])
    _check_rate("source_fps", source_fps)
    text = str(spec)
    if text.startswith(SYNTHETIC):
        return _synthetic(text, frames, crop, resize_short, fps)
    path = Path(spec)
    if path.is_dir():
        paths = image_paths(path)
        if not paths:
            raise ValueError(f"clip: {path} holds no frames ({', '.join(IMAGE_SUFFIXES)})")
        rate = fps if source_fps is None else source_fps
        _check_length(path, len(paths), rate)
        chosen = _choose(len(paths), rate, fps, frames)
        return _prepared(path.name, [_read_image(paths[i]) for i in chosen], chosen, crop,
                         resize_short)  # fmt: skip
    if path.is_file():
        return _video(path, frames, crop, resize_short, fps, source_fps)
    raise ValueError(
        f"clip must be a video file, a folder of frames or '{SYNTHETIC}LABEL[,seed=N]...', "
        f"got {text!r}"
    )


def parse_synthetic(spec: str) -> dict:
    """``synthetic:LABEL[,key=value...]`` -> render_clip's keyword arguments (label included)."""
    label, *options = [part.strip() for part in spec.removeprefix(SYNTHETIC).split(",")]
    from gesture_rt.labels import JESTER_LABELS

    folded = {name.casefold(): name for name in JESTER_LABELS}
    if label.casefold() not in folded:
        raise ValueError(f"clip: synthetic label {label!r} is not one of {list(JESTER_LABELS)}")
    kwargs = {"label": folded[label.casefold()]}
    for option in options:
        key, _, value = option.partition("=")
        key = key.strip()
        if key not in SYNTHETIC_KEYS or not value:
            raise ValueError(
                f"clip: synthetic option {option!r} must be key=value with key one of "
                f"{list(SYNTHETIC_KEYS)}"
            )
        try:
            kwargs[key] = size_from_text(value) if key == "size" else SYNTHETIC_KEYS[key](value)
        except ValueError:
            raise ValueError(f"clip: synthetic {key}={value!r} is not a valid value") from None
    if kwargs.get("context", "hold") not in CONTEXTS:
        raise ValueError(f"clip: synthetic context must be one of {CONTEXTS}")
    return kwargs


def _synthetic(spec: str, frames: int, crop: int, resize_short: int, fps: float) -> Clip:
    # Without size=, Jester's frame shape at the network's own height: the clip is then neither
    # blurred by upsampling nor thinned by downsampling on its way in.
    size = (resize_short, round(resize_short * JESTER_SIZE[1] / JESTER_SIZE[0]))
    kwargs = {"seed": 0, "difficulty": DEFAULT_DIFFICULTY, "size": size, **parse_synthetic(spec)}
    # A video as make-dataset writes it, cut to the clip as training cut such videos.
    rendered = render_clip(frames=VIDEO_FRAMES, fps=fps, **kwargs)
    indices = sample_indices(VIDEO_FRAMES, frames)
    height, width = rendered.frames.shape[1:3]
    clip = _prepared(spec, list(rendered.frames[indices]), indices, crop, resize_short)
    return Clip(clip.name, clip.frames, clip.indices,
                boxes_in_crop(rendered.boxes[indices], height, width, resize_short, crop),
                rendered.label)  # fmt: skip


def boxes_in_crop(boxes: np.ndarray, height: int, width: int, resize_short: int,
                  crop: int) -> np.ndarray:  # fmt: skip
    """Boxes in a ``height`` x ``width`` frame's pixels -> the network input's pixels."""
    x0, y0, x1, y1 = Preprocessor(resize_short, crop).crop_box(height, width)
    scale = np.array([crop / (x1 - x0), crop / (y1 - y0)] * 2)
    return ((np.asarray(boxes, np.float64) - [x0, y0, x0, y0]) * scale).astype(np.float32)


def _video(path: Path, frames: int, crop: int, resize_short: int, fps: float,
           source_fps: float | None) -> Clip:  # fmt: skip
    """Two passes: count the frames, then keep only the chosen ones (a long video would not fit
    in memory decoded)."""
    capture = cv2.VideoCapture(str(path))
    rate = source_fps
    if rate is None:  # the file's own rate, where it states a believable one
        native = capture.get(cv2.CAP_PROP_FPS)
        rate = native if FPS_RANGE[0] <= native <= FPS_RANGE[1] else fps
    count = 0
    limit = int(MAX_SECONDS * rate) + 1
    while count <= limit and capture.grab():
        count += 1
    capture.release()
    if count == 0:
        raise ValueError(f"clip: {path} is not a video OpenCV can read")
    _check_length(path, count, rate)
    chosen = _choose(count, rate, fps, frames)
    wanted = set(chosen.tolist())
    kept: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(path))
    for index in range(max(wanted) + 1):
        ok, image = capture.read()
        if not ok:
            raise ValueError(f"clip: {path} ended at frame {index} on a second read")
        if index in wanted:
            kept[index] = image
    capture.release()
    return _prepared(path.name, [kept[i] for i in chosen], chosen, crop, resize_short)


def _check_rate(name: str, rate: float | None) -> None:
    if rate is not None and not (
        isinstance(rate, int | float) and FPS_RANGE[0] <= rate <= FPS_RANGE[1]
    ):
        raise ValueError(f"{name} must be a frame rate in {list(FPS_RANGE)}, got {rate!r}")


def _check_length(path: Path, count: int, rate: float) -> None:
    if count > MAX_SECONDS * rate:
        raise ValueError(
            f"clip: {path} runs over {MAX_SECONDS:.0f} s ({count}+ frames at {rate:g} fps); "
            f"Grad-CAM explains one gesture's clip: cut the part to explain"
        )


def _choose(count: int, rate: float, fps: float, frames: int) -> np.ndarray:
    """Source frames of the clip: resampled to ``fps`` (each instant shows the newest frame),
    then the training rule (centre ``frames`` of a longer video, first frames repeated in a
    shorter one)."""
    instants = max(1, int(np.floor(count * fps / rate + 1e-9)))
    timeline = np.minimum(np.floor(np.arange(instants) * rate / fps + 1e-9), count - 1)
    return timeline.astype(np.int64)[sample_indices(instants, frames)]


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"clip: {path} is not an image OpenCV can read")
    return image


def _prepared(name: str, images: list[np.ndarray], indices: np.ndarray, crop: int,
              resize_short: int) -> Clip:  # fmt: skip
    sizes = {image.shape[:2] for image in images}
    if len(sizes) > 1:
        raise ValueError(f"clip: {name}'s frames differ in size ({sorted(sizes)}); one size only")
    (height, width) = sizes.pop()
    if min(height, width) < MIN_SIDE:
        raise ValueError(
            f"clip: {name}'s frames are {height}x{width}; at least {MIN_SIDE} px on each side"
        )
    prepare = Preprocessor(resize_short, crop)
    frames = np.stack([prepare(image) for image in images]).astype(np.float32)
    return Clip(name, frames, np.asarray(indices))
