"""Jester -> TFRecords (skips, resume, manifest, truncation) and the input pipeline's invariants."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import training  # noqa: F401  (before TensorFlow: its CPU settings)

tf = pytest.importorskip("tensorflow", reason="training tests need the train extra (tensorflow)")

from gesture_rt.labels import FLIP_PAIRS, JESTER_LABELS  # noqa: E402
from gesture_rt.synthetic.dataset import make_dataset  # noqa: E402
from training.data import convert as conv  # noqa: E402
from training.data import records  # noqa: E402
from training.data.__main__ import main as data_main  # noqa: E402
from training.data.augment import (  # noqa: E402
    Augmentation,
    augment,
    crop_boxes,
    flip_table,
    jitter,
    rotate,
    rotation_angles,
)
from training.data.pipeline import clip_dataset, decode  # noqa: E402

SMALL = conv.ConvertOptions(frames=8, height=24, width=32, shard_size=7, quality=90)


@pytest.fixture(scope="module")
def jester_dir(tmp_path_factory) -> Path:
    """A synthetic Jester-layout set: 27 train and 27 validation videos of 12 frames."""
    root = tmp_path_factory.mktemp("jester") / "jester"
    return make_dataset(root, train=27, validation=27, seed=3, frames=12, size=(32, 56),
                        workers=1, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def record_dir(jester_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("records")
    conv.convert(jester_dir, out, options=SMALL, workers=1, progress=False)
    return out


def test_sample_indices_replicates_the_first_frames_or_takes_the_centre():
    short = conv.sample_indices(36, 40)
    assert list(short) == [0, 0, 1, 1, 2, 2, 3, 3, *range(4, 36)]  # a slowed-down start
    very_short = conv.sample_indices(15, 40)
    assert len(very_short) == 40 and list(very_short) == sorted(very_short)
    assert set(very_short) == set(range(15)) and np.bincount(very_short).max() == 3
    assert list(conv.sample_indices(50, 40)) == list(range(5, 45))
    assert list(conv.sample_indices(40, 40)) == list(range(40))
    with pytest.raises(ValueError, match="count"):
        conv.sample_indices(0, 40)


def test_convert_writes_shards_a_manifest_and_checksums(record_dir):
    manifest = records.read_manifest(record_dir)
    assert manifest["labels"] == list(JESTER_LABELS)
    assert (manifest["frames"], manifest["height"], manifest["width"]) == (8, 24, 32)
    for split in ("train", "validation"):
        info = manifest["splits"][split]
        assert info["videos"] == 27 and info["skipped"] == {}
        assert sum(info["classes"].values()) == 27 and len(info["shards"]) == math.ceil(27 / 7)
        assert sum(s["videos"] for s in info["shards"]) == 27
        for shard in info["shards"]:
            assert records.sha256(record_dir / shard["file"]) == shard["sha256"]
        paths = records.shard_paths(record_dir, split, checksums=True)
        examples = [decode(r, 8, 24, 32) for p in paths for r in tf.data.TFRecordDataset(str(p))]
        assert len(examples) == 27
        clip, label, _ = examples[0]
        assert clip.shape == (8, 24, 32, 3) and clip.dtype == tf.uint8 and 0 <= int(label) < 27
    assert not list(record_dir.glob(".*partial*"))


def test_convert_skips_and_counts_every_kind_of_bad_video(jester_dir, tmp_path):
    root = tmp_path / "damaged"
    shutil.copytree(jester_dir, root)
    videos = root / "20bn-jester-v1"
    rows = (root / "jester-v1-train.csv").read_text().splitlines()
    ids = [row.split(";")[0] for row in rows]
    (videos / ids[0] / "00003.jpg").write_bytes(b"not a jpeg at all")  # corrupt
    data = (videos / ids[1] / "00004.jpg").read_bytes()
    (videos / ids[1] / "00004.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (videos / ids[2] / "00005.jpg").unlink()  # a missing frame
    for jpg in (videos / ids[3]).glob("*.jpg"):
        jpg.unlink()  # an empty folder
    shutil.rmtree(videos / ids[4])  # listed, but no folder
    shutil.copytree(videos / ids[5], videos / "unlisted_video")  # a folder no split names
    extra = ["new_one;Waving At The Camera", "../escape;Swiping Left", f"{ids[6]};Swiping Left"]
    (root / "jester-v1-train.csv").write_text("\n".join(rows + extra) + "\n")
    out = tmp_path / "records"
    manifest = conv.convert(root, out, splits=["train"], options=SMALL, workers=2, progress=False)
    info = manifest["splits"]["train"]
    assert info["skipped"] == {"bad_id": 1, "empty_video": 1, "missing_frame": 1,
                               "missing_video": 1, "repeated_id": 1, "unknown_label": 1,
                               "unreadable_frame": 2}  # fmt: skip
    assert info["videos"] == 27 - 5 and sum(info["classes"].values()) == 22
    assert manifest["unlisted_videos"] == 1
    named = {e.get("video") for e in info["skipped_examples"]}
    assert set(ids[:5]) <= named
    written = [
        r for p in records.shard_paths(out, "train") for r in tf.data.TFRecordDataset(str(p))
    ]
    assert len(written) == 22


def test_convert_resumes_rewriting_only_unfinished_shards(jester_dir, tmp_path, monkeypatch):
    out = tmp_path / "records"
    reference = tmp_path / "reference"
    conv.convert(jester_dir, reference, splits=["train"], options=SMALL, workers=1, progress=False)
    calls = {"n": 0}
    original = conv.encode_video

    def dies_in_the_third_shard(*args):
        calls["n"] += 1
        if calls["n"] == 17:  # shards hold 7 videos: two are finished, the third is open
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(conv, "encode_video", dies_in_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        conv.convert(jester_dir, out, splits=["train"], options=SMALL, workers=1, progress=False)
    finished = sorted(p.name for p in out.glob("train-*.tfrecord"))
    assert finished == ["train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord"]
    assert not list(out.glob(".train-*partial*")) and not (out / "manifest.json").exists()
    before = {name: (out / name).stat().st_mtime_ns for name in finished}
    monkeypatch.setattr(conv, "encode_video", original)
    calls["n"] = 0
    counting = []
    monkeypatch.setattr(conv, "encode_video", lambda *a: counting.append(a) or original(*a))
    manifest = conv.convert(jester_dir, out, splits=["train"], options=SMALL, workers=1,
                            progress=False)  # fmt: skip
    assert len(counting) == 27 - 14  # only the two unfinished shards were encoded
    assert {n: (out / n).stat().st_mtime_ns for n in finished} == before
    expected = records.read_manifest(reference)["splits"]["train"]["shards"]
    assert manifest["splits"]["train"]["shards"] == expected  # byte-identical shards


def test_a_resumed_conversion_must_use_the_same_settings(jester_dir, record_dir):
    other = conv.ConvertOptions(frames=10, height=24, width=32, shard_size=7, quality=90)
    with pytest.raises(ValueError, match="other settings \\(frames\\)"):
        conv.convert(jester_dir, record_dir, options=other, workers=1, progress=False)


@pytest.mark.parametrize(
    ("field", "value"), [("frames", 0), ("height", 2), ("quality", 101), ("shard_size", 1.5)]
)
def test_convert_options_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        conv.ConvertOptions(**{field: value})


def test_a_truncated_or_altered_shard_is_detected_when_read(record_dir, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(record_dir, copy)
    shard = sorted(copy.glob("train-*.tfrecord"))[1]
    data = shard.read_bytes()
    shard.write_bytes(data[:-100])
    with pytest.raises(ValueError, match="truncated or altered"):
        clip_dataset(copy, "train", batch_size=2, training=True, crop=24)
    assert data_main(["verify", str(copy)]) == 2
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(flipped))  # same size, one byte changed
    with pytest.raises(ValueError, match="SHA-256"):
        records.shard_paths(copy, "train", checksums=True)
    assert data_main(["verify", str(copy)]) == 2
    shard.write_bytes(data)
    assert data_main(["verify", str(copy)]) == 0


def test_manifest_checks(record_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="convert a data set first"):
        records.read_manifest(tmp_path)
    copy = tmp_path / "newer"
    shutil.copytree(record_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        records.read_manifest(copy)
    manifest["splits"]["train"]["shards"][0]["file"] = "../outside.tfrecord"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="outside"):
        records.shard_paths(copy, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        records.shard_paths(record_dir, "test")


def test_the_cli_reports_bad_arguments(tmp_path, capsys):
    assert data_main(["convert", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "jester-v1-labels.csv is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data_main(["convert", "a", "b", "--size", "100"])


# --- augmentation invariants --------------------------------------------------------------------


def _clip(seed=0, frames=6, height=24, width=32):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8))


def test_flip_table_swaps_exactly_the_mirror_pairs():
    table = flip_table(list(JESTER_LABELS))
    swapped = {(JESTER_LABELS[i], JESTER_LABELS[j]) for i, j in enumerate(table) if i != j}
    assert swapped == set(FLIP_PAIRS) | {(b, a) for a, b in FLIP_PAIRS}
    assert [table[j] for j in table] == list(range(27))  # an involution


def test_flip_mirrors_the_whole_clip_and_swaps_its_label():
    clip = _clip()
    only_flip = Augmentation(probability=1.0, rotation=0.0, crop_scale=(1.0, 1.0),
                             crop_jitter=0.0, brightness=0.0, saturation=(1.0, 1.0), hue=0.0,
                             contrast=(1.0, 1.0))  # fmt: skip
    flips = flip_table(list(JESTER_LABELS))
    for name in JESTER_LABELS:
        label = tf.constant(JESTER_LABELS.index(name), tf.int32)
        out, new = augment(clip, label, tf.constant([1, 2]), flips, 24, only_flip)
        assert out.shape == (6, 24, 24, 3)
        # One 24 x 24 window of every frame (at a random x), mirrored left to right.
        windows = [clip.numpy()[:, :, x : x + 24] / 127.5 - 1 for x in range(9)]
        mirrored = out.numpy()[:, :, ::-1]
        assert any(np.allclose(mirrored, w, atol=1e-5) for w in windows)
        assert int(new) == flips[JESTER_LABELS.index(name)]
        partner = dict(FLIP_PAIRS + tuple((b, a) for a, b in FLIP_PAIRS)).get(name, name)
        assert JESTER_LABELS[int(new)] == partner


def test_without_a_flip_the_label_stays():
    never = Augmentation(probability=0.0)
    flips = flip_table(list(JESTER_LABELS))
    swiping = tf.constant(JESTER_LABELS.index("Swiping Left"))
    for s in range(10):
        assert int(augment(_clip(), swiping, tf.constant([s, 6]), flips, 24, never)[1]) == swiping


def test_rotation_angles_stay_inside_the_open_interval():
    angles = np.concatenate([rotation_angles(tf.constant([s, 1]), 500, 15.0).numpy()
                             for s in range(20)])  # fmt: skip
    assert np.abs(angles).max() < math.radians(15) and np.abs(angles).max() > math.radians(14.5)
    assert len(np.unique(angles[:40])) == 40  # one angle per frame


def test_rotate_turns_each_frame_about_its_centre():
    frame = np.zeros((1, 21, 21, 3), np.float32)
    frame[0, 10, 15] = 1.0  # 5 px right of the centre
    quarter = rotate(tf.constant(frame), tf.constant([math.pi / 2])).numpy()
    assert np.unravel_index(quarter[0, ..., 0].argmax(), (21, 21)) in {(5, 10), (15, 10)}
    np.testing.assert_allclose(rotate(tf.constant(frame), tf.constant([0.0])).numpy(), frame)
    two = np.repeat(frame, 2, axis=0)
    turned = rotate(tf.constant(two), tf.constant([0.0, math.pi])).numpy()
    assert turned[1, 10, 5, 0] == pytest.approx(1.0) and turned[0, 10, 15, 0] == 1.0


def test_crop_boxes_stay_inside_and_move_from_frame_to_frame():
    options = Augmentation(crop_scale=(0.7, 0.9), crop_jitter=0.2)
    for s in range(30):
        boxes = crop_boxes(tf.constant([s, 9]), tf.constant([40, 100, 140, 3]), options).numpy()
        top, left, h, w = boxes.T
        assert (h == h[0]).all() and (w == h).all() and 70 <= h[0] <= 90  # one S x S per clip
        assert (top >= 0).all() and (left >= 0).all()
        assert (top + h <= 100).all() and (left + w <= 140).all()
        assert len({(a, b) for a, b in zip(top, left, strict=True)}) > 10  # differs per frame


def test_jitter_is_uniform_over_the_clip():
    frame = tf.image.convert_image_dtype(_clip(frames=1), tf.float32)
    clip = tf.repeat(frame, 5, axis=0)
    always = Augmentation(probability=1.0)
    for s in range(5):
        out = jitter(clip, tf.constant([s, 4]), always).numpy()
        assert np.abs(out - out[:1]).max() < 1e-6  # every frame got the same factors
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.abs(out - clip.numpy()).max() > 0.01


def test_augmented_values_lie_in_minus_one_to_one_and_are_reproducible():
    always = Augmentation(probability=1.0, brightness=0.5, contrast=(0.2, 3.0))
    clip, label = _clip(), tf.constant(0)
    first = augment(clip, label, tf.constant([7, 8]), list(range(27)), 24, always)[0].numpy()
    again = augment(clip, label, tf.constant([7, 8]), list(range(27)), 24, always)[0].numpy()
    other = augment(clip, label, tf.constant([7, 9]), list(range(27)), 24, always)[0].numpy()
    assert first.min() >= -1.0 and first.max() <= 1.0
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.1


@pytest.mark.parametrize(
    ("field", "value"),
    [("probability", 1.5), ("rotation", -1), ("crop_scale", (0.0, 1.0)), ("hue", 0.9),
     ("crop_jitter", 2.0), ("saturation", (2.0, 1.0))],
)  # fmt: skip
def test_augmentation_options_are_checked(field, value):
    with pytest.raises(ValueError, match=field.split("[")[0]):
        Augmentation(**{field: value})


# --- the pipeline -------------------------------------------------------------------------------


def test_training_batches_are_augmented_clips_with_valid_labels(record_dir):
    data = clip_dataset(record_dir, "train", batch_size=4, training=True, crop=24, seed=1)
    batches = list(data.take(8))  # more than one pass over the 27 clips: it repeats
    for clips, labels in batches:
        assert clips.shape == (4, 8, 24, 24, 3) and clips.dtype == tf.float32
        assert float(tf.reduce_min(clips)) >= -1.0 and float(tf.reduce_max(clips)) <= 1.0
        assert labels.dtype == tf.int32 and all(0 <= int(x) < 27 for x in labels)
    again = list(clip_dataset(record_dir, "train", 4, training=True, crop=24, seed=1).take(2))
    np.testing.assert_array_equal(again[0][0].numpy(), batches[0][0].numpy())


def test_evaluation_batches_are_plain_centre_crops(record_dir):
    data = clip_dataset(record_dir, "validation", batch_size=5, training=False, crop=24,
                        with_ids=True)  # fmt: skip
    seen = {}
    for clips, labels, ids in data:
        for clip, label, video in zip(clips.numpy(), labels.numpy(), ids.numpy(), strict=True):
            seen[video.decode()] = (clip, label)
    assert len(seen) == 27
    raw = {}
    for path in records.shard_paths(record_dir, "validation"):
        for serialized in tf.data.TFRecordDataset(str(path)):
            clip, label, video = decode(serialized, 8, 24, 32)
            raw[video.numpy().decode()] = (clip.numpy(), int(label))
    for video, (clip, label) in seen.items():
        frames, expected_label = raw[video]
        assert label == expected_label
        np.testing.assert_allclose(clip, frames[:, :, 4:28] / 127.5 - 1, atol=1e-5)
    assert sorted(seen) == sorted(raw)


def test_stored_frames_are_the_centre_frames_resized(jester_dir, record_dir):
    """12 source frames -> the centre 8 (sources 3..10), each resized to 24 x 32: every stored
    frame is nearest to its own source frame (JPEG error aside)."""
    video, label = (jester_dir / "jester-v1-validation.csv").read_text().splitlines()[0].split(";")
    sources = [
        cv2.resize(cv2.imread(str(p)), (32, 24), interpolation=cv2.INTER_AREA)[..., ::-1]
        for p in sorted((jester_dir / "20bn-jester-v1" / video).glob("*.jpg"))
    ]
    for path in records.shard_paths(record_dir, "validation"):
        for serialized in tf.data.TFRecordDataset(str(path)):
            clip, index, name = decode(serialized, 8, 24, 32)
            if name.numpy().decode() == video:
                assert JESTER_LABELS[int(index)] == label
                for k, frame in enumerate(clip.numpy().astype(int)):
                    errors = [np.abs(frame - source).mean() for source in sources]
                    assert int(np.argmin(errors)) == k + 2 and min(errors) < 8
                return
    pytest.fail(f"{video} not found in the records")


def test_clip_dataset_rejects_bad_arguments(record_dir):
    with pytest.raises(ValueError, match="batch_size"):
        clip_dataset(record_dir, "train", batch_size=0, training=True)
    with pytest.raises(ValueError, match="split must be one of"):
        clip_dataset(record_dir, "nope", batch_size=2, training=True)


def test_partial_files_are_never_left_behind(record_dir):
    assert not [p for p in os.listdir(record_dir) if "partial" in p]
