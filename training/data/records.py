"""The on-disk TFRecord set: its Example schema, its manifest, and checks before reading it.

A record set is a folder of ``<split>-NNNNN-of-NNNNN.tfrecord`` shards, one ``.json`` sidecar per
finished shard, and ``manifest.json`` (counts per class, skipped items, SHA-256 per shard).
One ``tf.train.Example`` per video: ``video`` (its id), ``label`` (index into the manifest's
``labels``, -1 for the unlabelled test split) and ``frames`` (``frames`` JPEGs of
``height`` x ``width``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gesture_rt.bundle import sha256  # one digest for shards and bundles

MANIFEST = "manifest.json"
FORMAT = "gesture_rt.tfrecords"
VERSION = 1
UNLABELLED = -1


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically: a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (see ``write_text``)."""
    write_text(path, json.dumps(data, indent=1) + "\n")


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"records: {path} is missing (convert a data set first: python -m training.data "
            "convert JESTER_DIR OUT_DIR)"
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("version"), int):
        raise ValueError(f"records: {path} is not a {FORMAT} manifest")
    if manifest["version"] > VERSION:
        raise ValueError(
            f"records: {path} has format version {manifest['version']}; this gesture_rt reads "
            f"up to {VERSION} (upgrade it)"
        )
    return manifest


def shard_paths(folder: str | Path, split: str, checksums: bool = False) -> list[Path]:
    """The shards of ``split``, each checked against the manifest: present, the recorded size
    (a truncated or extended shard is refused here, before TensorFlow reads a byte of it) and,
    with ``checksums``, the recorded SHA-256."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    splits = manifest["splits"]
    if split not in splits:
        raise ValueError(
            f"split must be one of {sorted(splits)} (converted in {folder}), got {split!r}"
        )
    paths = []
    for shard in splits[split]["shards"]:
        path = folder / shard["file"]
        if Path(shard["file"]).name != shard["file"]:
            raise ValueError(f"records: manifest names {shard['file']!r}, outside {folder}")
        if not path.is_file():
            raise FileNotFoundError(f"records: shard {path} is missing")
        size = path.stat().st_size
        if size != shard["bytes"]:
            raise ValueError(
                f"records: shard {path} has {size} bytes, the manifest says {shard['bytes']}: "
                "truncated or altered (re-run convert into a fresh folder)"
            )
        if checksums and sha256(path) != shard["sha256"]:
            raise ValueError(f"records: shard {path} does not match its SHA-256 in the manifest")
        paths.append(path)
    return paths


def feature_spec(tf) -> dict:
    return {
        "video": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "frames": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
    }


def example_bytes(tf, video: str, label: int, jpegs: list[bytes]) -> bytes:
    feature = {
        "video": tf.train.Feature(bytes_list=tf.train.BytesList(value=[video.encode()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "frames": tf.train.Feature(bytes_list=tf.train.BytesList(value=jpegs)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
