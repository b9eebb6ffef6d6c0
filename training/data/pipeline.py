"""tf.data input pipelines over a converted record set: parallel reads, decoding, augmentation,
batching and prefetching."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from training.data import records
from training.data.augment import Augmentation, augment, centre_crop, flip_table

CROP = 100  # the network's input side (thesis 5.1.1)
DEFAULT_AUGMENTATION = Augmentation()


def decode(serialized, frames: int, height: int, width: int):
    """One serialized Example -> (T x H x W x 3 uint8 RGB clip, label, video id)."""
    example = tf.io.parse_single_example(serialized, records.feature_spec(tf))
    clip = tf.map_fn(lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3), example["frames"],
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))  # fmt: skip
    clip = tf.ensure_shape(clip, [frames, height, width, 3])
    return clip, tf.cast(example["label"], tf.int32), example["video"]


def clip_dataset(
    folder: str | Path,
    split: str,
    batch_size: int,
    training: bool,
    augmentation: Augmentation | None = DEFAULT_AUGMENTATION,
    seed: int = 0,
    offset: int = 0,
    shuffle_buffer: int = 256,
    with_ids: bool = False,
    checksums: bool = False,
    crop: int = CROP,
    cache: bool = False,
) -> tf.data.Dataset:
    """Batches of (clips B x T x crop x crop x 3 float32 in [-1, 1], labels B int32).

    ``training``: shuffled, repeated forever, augmented (``augmentation=None``: centre crops),
    full batches only; each clip's random draws come from (``seed``, its position in the stream +
    ``offset``), so a resumed run passes the number of clips already seen. Otherwise: one pass
    in file order, centre crops, the last batch may be short; ``with_ids`` adds the video ids.
    ``cache`` (training): decode every clip once and keep it in memory (H x W x 3 x T bytes a
    clip: for a set that fits in RAM, it saves the JPEG decoding of every later epoch).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    manifest = records.read_manifest(folder)
    paths = [str(p) for p in records.shard_paths(folder, split, checksums)]
    if split == "test" or not manifest["splits"][split]["videos"]:
        raise ValueError(
            f"split {split!r} of {folder} has no labelled videos to train or evaluate on"
        )
    shape = (manifest["frames"], manifest["height"], manifest["width"])
    files = tf.data.Dataset.from_tensor_slices(paths)
    if training and not cache:
        files = files.shuffle(len(paths), seed=seed + offset, reshuffle_each_iteration=True)
        files = files.repeat()
    data = files.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(paths)),
                            num_parallel_calls=tf.data.AUTOTUNE)  # fmt: skip
    if training:
        if cache:  # decode once, keep the uint8 clips in memory, shuffle them all every epoch
            data = data.map(lambda s: decode(s, *shape)[:2], num_parallel_calls=tf.data.AUTOTUNE)
            count = manifest["splits"][split]["videos"]
            data = data.cache().shuffle(count, seed=seed + offset).repeat()
        else:
            data = data.shuffle(shuffle_buffer, seed=seed + offset, reshuffle_each_iteration=True)
            data = data.map(lambda s: decode(s, *shape)[:2], num_parallel_calls=tf.data.AUTOTUNE)
        data = data.enumerate(start=offset)
        flips = flip_table(manifest["labels"])

        def prepare(index, clip_and_label):
            clip, label = clip_and_label
            if augmentation is None:
                return centre_crop(clip, crop), label
            clip_seed = tf.stack([tf.constant(seed, tf.int64), index])
            return augment(
                clip, label, tf.cast(clip_seed % (2**31 - 1), tf.int32), flips, crop, augmentation
            )

        data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        data = data.batch(batch_size, drop_remainder=True)
    else:

        def prepare(serialized):
            clip, label, video = decode(serialized, *shape)
            return (
                (centre_crop(clip, crop), label, video)
                if with_ids
                else (centre_crop(clip, crop), label)
            )

        data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    return data.prefetch(tf.data.AUTOTUNE)


def dataset_labels(folder: str | Path) -> list[str]:
    return list(records.read_manifest(folder)["labels"])
