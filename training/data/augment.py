"""The training augmentations of thesis 5.1.1, on one clip, in TensorFlow.

Order as in the thesis: per-frame rotation -> per-frame S x S crop resized to ``size`` -> colour
jitter uniform over the clip -> horizontal flip of the whole clip (with the label swap) -> scaling
to [-1, 1]. Jitter runs on [0, 1] values before the scaling (the same maps, and the clipping to
the valid range is natural there). Each transformation is applied or not at random.

Every random draw is stateless, from the clip's ``seed`` (two int32): a clip's augmentation is
reproducible, and a data pipeline can give each clip its own seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

from gesture_rt.labels import FLIP_PAIRS


@dataclass(frozen=True)
class Augmentation:
    """``probability``: chance of each transformation. ``rotation``: per-frame angles drawn in
    (-rotation, rotation) degrees. ``crop_scale``: S / min(H, W) range (one S per clip).
    ``crop_jitter``: the thesis picks each frame's crop location independently; independent
    draws over a 100 x 140 frame jump the picture up to 40 px between frames, more than a swipe
    moves the hand, so by default each frame's location is the clip's random location plus a
    uniform shift of at most ``crop_jitter`` x the free range (1.0: the thesis's independent
    draws). Colour: brightness delta, saturation and contrast factors, hue delta."""

    probability: float = 0.5
    rotation: float = 15.0
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_jitter: float = 0.15
    brightness: float = 0.15
    saturation: tuple[float, float] = (0.7, 1.3)
    hue: float = 0.04
    contrast: tuple[float, float] = (0.7, 1.3)
    flip: bool = True

    def __post_init__(self) -> None:
        _check_range("probability", self.probability, 0.0, 1.0)
        _check_range("rotation", self.rotation, 0.0, 180.0)
        _check_range("crop_jitter", self.crop_jitter, 0.0, 1.0)
        _check_range("brightness", self.brightness, 0.0, 1.0)
        _check_range("hue", self.hue, 0.0, 0.5)
        for name in ("crop_scale", "saturation", "contrast"):
            low, high = getattr(self, name)
            _check_range(f"{name}[0]", low, 0.0, high)
        _check_range("crop_scale[1]", self.crop_scale[1], self.crop_scale[0], 1.0)
        if self.crop_scale[0] <= 0:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")


def _check_range(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def flip_table(labels: Sequence[str]) -> list[int]:
    """Index i -> the index of its mirror image's label (itself for symmetric gestures)."""
    table = list(range(len(labels)))
    for a, b in FLIP_PAIRS:
        if a in labels and b in labels:
            table[labels.index(a)], table[labels.index(b)] = labels.index(b), labels.index(a)
    return table


def augment(clip, label, seed, flips: Sequence[int], size: int = 100,
            options: Augmentation = Augmentation()):  # fmt: skip
    """A T x H x W x 3 uint8 RGB clip -> (T x size x size x 3 float32 in [-1, 1], label)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), 8)
    frames = tf.image.convert_image_dtype(clip, tf.float32)  # [0, 1]
    if options.rotation > 0:
        angles = rotation_angles(seeds[1], tf.shape(frames)[0], options.rotation)
        frames = _maybe(seeds[0], options.probability, frames, lambda x: rotate(x, angles))
    frames = crop_resize(frames, crop_boxes(seeds[2], tf.shape(frames), options), size)
    frames = _maybe(seeds[3], options.probability, frames, lambda x: jitter(x, seeds[4], options))
    if options.flip:
        flip = tf.random.stateless_uniform([], seeds[5]) < options.probability
        frames = tf.cond(flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
        label = tf.cond(
            flip, lambda: tf.gather(tf.constant(flips, label.dtype), label), lambda: label
        )
    return frames * 2.0 - 1.0, label


def centre_crop(clip, size: int = 100):
    """Evaluation: the central min(H, W) square, resized to size x size, in [-1, 1]."""
    frames = tf.image.convert_image_dtype(clip, tf.float32)
    shape = tf.shape(frames)
    side = tf.minimum(shape[1], shape[2])
    top, left = (shape[1] - side) // 2, (shape[2] - side) // 2
    boxes = tf.stack([top, left, side, side])[None] * tf.ones([shape[0], 1], tf.int32)
    return crop_resize(frames, boxes, size) * 2.0 - 1.0


def _maybe(seed, probability: float, x, transform):
    return tf.cond(
        tf.random.stateless_uniform([], seed) < probability, lambda: transform(x), lambda: x
    )


def rotation_angles(seed, frames, degrees: float):
    """One angle per frame, in radians, uniform in the open interval (-degrees, degrees)."""
    limit = math.radians(degrees) * (1 - 1e-6)
    return tf.random.stateless_uniform([frames], seed, -limit, limit)


def rotate(frames, angles):
    """Rotate each frame about its centre by its angle (eq. 5.1), reflecting at the borders."""
    shape = tf.shape(frames)
    cy = (tf.cast(shape[1], tf.float32) - 1) / 2
    cx = (tf.cast(shape[2], tf.float32) - 1) / 2
    cos, sin = tf.cos(angles), tf.sin(angles)
    zero = tf.zeros_like(angles)
    # Output pixel (x, y) reads input (cos dx - sin dy + cx, sin dx + cos dy + cy).
    transforms = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                           sin, cos, cy - sin * cx - cos * cy, zero, zero], axis=1)  # fmt: skip
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=frames, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT",
    )  # fmt: skip


def crop_boxes(seed, shape, options: Augmentation):
    """Per frame (top, left, S, S) in pixels: one S per clip, locations that differ per frame."""
    frames, height, width = shape[0], shape[1], shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    short = tf.cast(tf.minimum(height, width), tf.float32)
    scale = tf.random.stateless_uniform([], seeds[0], *options.crop_scale)
    side = tf.clip_by_value(
        tf.cast(tf.round(scale * short), tf.int32), 1, tf.minimum(height, width)
    )
    free = tf.cast(tf.stack([height - side, width - side]), tf.float32)  # top, left ranges
    centre = tf.random.stateless_uniform([1, 2], seeds[1]) * free
    shift = (
        tf.random.stateless_uniform([frames, 2], seeds[2], -1.0, 1.0) * options.crop_jitter * free
    )
    corner = tf.cast(tf.round(tf.clip_by_value(centre + shift, 0.0, free)), tf.int32)
    return tf.concat([corner, tf.fill([frames, 2], side)], axis=1)


def crop_resize(frames, boxes, size: int):
    """Crop box i = (top, left, h, w) of frame i and resize it to size x size (bilinear; a box of
    exactly size x size copies its pixels)."""
    shape = tf.shape(frames)
    boxes = tf.cast(boxes, tf.float32)
    limits = tf.cast(tf.stack([shape[1], shape[2]]) - 1, tf.float32)
    limits = tf.maximum(limits, 1.0)
    start = boxes[:, :2] / limits
    end = (boxes[:, :2] + boxes[:, 2:] - 1) / limits
    normalised = tf.concat([start, end], axis=1)
    return tf.image.crop_and_resize(frames, normalised, tf.range(shape[0]), [size, size])


def jitter(frames, seed, options: Augmentation):
    """Brightness, saturation, hue and contrast, each on or off at random, one factor per clip."""
    s = tf.random.experimental.stateless_split(seed, 8)
    p = options.probability
    if options.brightness > 0:
        delta = tf.random.stateless_uniform([], s[0], -options.brightness, options.brightness)
        frames = _maybe(s[1], p, frames, lambda x: tf.image.adjust_brightness(x, delta))
    factor = tf.random.stateless_uniform([], s[2], *options.saturation)
    frames = _maybe(s[3], p, frames, lambda x: tf.image.adjust_saturation(x, factor))
    if options.hue > 0:
        hue = tf.random.stateless_uniform([], s[4], -options.hue, options.hue)
        frames = _maybe(s[5], p, frames, lambda x: tf.image.adjust_hue(x, hue))
    contrast = tf.random.stateless_uniform([], s[6], *options.contrast)
    frames = _maybe(s[7], p, frames, lambda x: tf.image.adjust_contrast(x, contrast))
    return tf.clip_by_value(frames, 0.0, 1.0)
