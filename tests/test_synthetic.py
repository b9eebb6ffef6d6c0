"""The synthetic gesture source: determinism, every class, direction pairs, boxes, data sets."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from gesture_rt import jester
from gesture_rt.labels import FLIP_PAIRS, JESTER_COUNTS, JESTER_LABELS
from gesture_rt.synthetic import REVERSAL_PAIRS, GestureStream, render_clip
from gesture_rt.synthetic import dataset as synthetic_dataset
from gesture_rt.synthetic.__main__ import main as synthetic_main
from gesture_rt.synthetic.clips import TRANSITION, TimedGesture, window_label
from gesture_rt.synthetic.dataset import (
    contact_sheet,
    make_dataset,
    make_window_dataset,
    split_labels,
    video_seed,
)
from gesture_rt.synthetic.gestures import GESTURES, placement
from gesture_rt.synthetic.scene import Scene


def test_labels_follow_table_5_1_and_jester_sums_to_its_148092_videos():
    assert len(JESTER_LABELS) == 27 == len(set(JESTER_LABELS))
    assert JESTER_LABELS[:3] == ("Doing other things", "Drumming Fingers", "No gesture")
    assert sum(JESTER_COUNTS.values()) == 118_562 + 14_787 + 14_743  # train + val + test (5.1)
    assert all(a in JESTER_LABELS and b in JESTER_LABELS for a, b in FLIP_PAIRS)


def test_same_arguments_give_identical_bytes_and_seeds_differ():
    a = render_clip("Swiping Left", 11)
    b = render_clip("Swiping Left", 11)
    assert a.frames.tobytes() == b.frames.tobytes()
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert a.frames.shape == (36, 100, 176, 3) and a.frames.dtype == np.uint8
    assert render_clip("Swiping Left", 12).frames.tobytes() != a.frames.tobytes()


@pytest.mark.parametrize("label", JESTER_LABELS)
def test_every_class_renders_a_moving_hand(label):
    clip = render_clip(label, 5, difficulty=0.0)
    seen = ~np.isnan(clip.boxes).any(axis=1)
    if label == "No gesture":  # a resting hand, or none: it may stay still
        assert seen.all() or not seen.any()
        return
    assert seen.all()
    centres = (clip.boxes[:, :2] + clip.boxes[:, 2:]) / 2
    sizes = clip.boxes[:, 2:] - clip.boxes[:, :2]
    first, middle = clip.frames[0].astype(int), clip.frames[len(clip.frames) // 2].astype(int)
    moved = np.abs(first - middle).mean()
    assert moved > 0.2, f"{label}: the hand barely changes ({moved:.2f})"
    assert np.ptp(centres, axis=0).max() > 1 or np.ptp(sizes, axis=0).max() > 1 or moved > 1


def test_the_ten_direction_pairs_are_one_trajectory_both_ways():
    pairs = {frozenset(p) for p in REVERSAL_PAIRS}
    expected = [
        ("Swiping Left", "Swiping Right"), ("Swiping Up", "Swiping Down"),
        ("Sliding Two Fingers Left", "Sliding Two Fingers Right"),
        ("Sliding Two Fingers Up", "Sliding Two Fingers Down"),
        ("Pushing Hand Away", "Pulling Hand In"),
        ("Pushing Two Fingers Away", "Pulling Two Fingers In"),
        ("Rolling Hand Forward", "Rolling Hand Backward"),
        ("Turning Hand Clockwise", "Turning Hand Counterclockwise"),
        ("Zooming In With Full Hand", "Zooming Out With Full Hand"),
        ("Zooming In With Two Fingers", "Zooming Out With Two Fingers"),
    ]  # fmt: skip
    assert pairs == {frozenset(p) for p in expected}


@pytest.mark.parametrize(("forward", "backward"), REVERSAL_PAIRS)
def test_a_clip_reversed_in_time_is_a_clip_of_its_partner(forward, backward):
    """Frame-wise indistinguishable: the partner's clip holds exactly the same frames, in the
    opposite order (difficulty 0 keeps every nuisance still; at higher difficulty the nuisances
    are time-symmetric in distribution, so the argument carries over)."""
    for seed in (1, 2):
        a = render_clip(forward, seed, difficulty=0.0)
        b = render_clip(backward, seed, difficulty=0.0)
        np.testing.assert_array_equal(a.frames[::-1], b.frames)
        np.testing.assert_array_equal(a.boxes[::-1], b.boxes)
        assert not np.array_equal(a.frames, b.frames)  # ...while the motion differs


@pytest.mark.parametrize(("forward", "backward"), REVERSAL_PAIRS[:3])
def test_rest_context_keeps_the_pairs_mirror_images_in_time(forward, backward):
    """With the resting hand around the gesture the pair is still one clip played both ways
    (to float rounding of the hand's blend: boxes within 1e-3 px, frames within 1%)."""
    a = render_clip(forward, 5, difficulty=0.0, context="rest")
    b = render_clip(backward, 5, difficulty=0.0, context="rest")
    np.testing.assert_allclose(a.boxes[::-1], b.boxes, atol=1e-3)
    assert np.mean(a.frames[::-1] != b.frames) < 0.01


def test_rest_context_changes_only_the_frames_around_the_gesture():
    fps = 12.0
    hold = render_clip("Swiping Left", 9, frames=36, fps=fps, difficulty=0.2)
    rest = render_clip("Swiping Left", 9, frames=36, fps=fps, difficulty=0.2, context="rest")
    start, end = hold.window
    inside = [i for i in range(36) if start <= i / fps < end]
    outside = [i for i in range(36) if not start - TRANSITION <= i / fps < end + TRANSITION]
    assert inside and outside
    np.testing.assert_array_equal(hold.frames[inside], rest.frames[inside])
    np.testing.assert_array_equal(hold.boxes[inside], rest.boxes[inside])
    # before and after, the resting hand sits still where the held pose did not
    for i in outside:
        assert not np.allclose(hold.boxes[i], rest.boxes[i], atol=0.5, equal_nan=True)
    before = [i for i in outside if i / fps < start]
    np.testing.assert_allclose(rest.boxes[before[0]], rest.boxes[before[-1]], atol=2.5)


def test_no_gesture_ignores_the_context_and_bad_contexts_are_named():
    a = render_clip("No gesture", 4, frames=8, difficulty=0.3)
    b = render_clip("No gesture", 4, frames=8, difficulty=0.3, context="rest")
    np.testing.assert_array_equal(a.frames, b.frames)
    with pytest.raises(ValueError, match=r"context must be one of \('hold', 'rest'\)"):
        render_clip("Thumb Up", 0, frames=2, context="wave")


@pytest.mark.parametrize("difficulty", [0.0, 0.6, 1.0])
def test_the_box_holds_every_pixel_of_the_hand(difficulty):
    rng = np.random.default_rng(3)
    scene = Scene(rng, (120, 200), difficulty)
    scene.blur_chance = 0.5  # blur every other frame or so: the box must cover the smear
    at = placement(rng, difficulty)
    labels = ("Swiping Left", "Thumb Up", "Rolling Hand Forward", "Zooming In With Two Fingers")
    for label in labels:
        for phase in np.linspace(0, 1, 9):
            pose = GESTURES[label].pose(phase, at)
            state = rng.bit_generator.state  # the same noise, shake and blur with and without
            empty, _ = scene.render(0.5, rng, None)
            rng.bit_generator.state = state
            frame, box = scene.render(0.5, rng, pose)
            ys, xs = np.nonzero(np.any(frame != empty, axis=-1))
            assert len(xs) > 20
            assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1, (label, phase)
            assert ys.min() >= box[1] - 1 and ys.max() <= box[3] + 1, (label, phase)
            hand = (xs.max() - xs.min() + 3) * (ys.max() - ys.min() + 3)
            assert (box[2] - box[0]) * (box[3] - box[1]) <= 1.6 * hand, (label, phase)


def test_boxes_are_clipped_to_the_frame_and_nan_when_the_hand_is_out_of_view():
    rng = np.random.default_rng(0)
    scene = Scene(rng, (64, 96), 0.0)
    pose = GESTURES["Swiping Right"].pose(1.0, placement(rng, 0.0))
    _, half_out = scene.render(0.0, rng, pose.moved(x=1.0))
    assert 0 <= half_out[0] < half_out[2] == 96 and 0 <= half_out[1] < half_out[3] <= 64
    _, gone = scene.render(0.0, rng, pose.moved(x=3.0))
    assert np.isnan(gone).all()


def test_gestures_last_seconds_whatever_the_frame_rate():
    windows = [
        render_clip("Swiping Left", 5, frames=n, fps=fps).window for n, fps in [(36, 12), (72, 24)]
    ]
    assert windows[0][1] - windows[0][0] == pytest.approx(windows[1][1] - windows[1][0])
    long_clip = render_clip("Swiping Left", 5, frames=360, fps=12).window
    assert 1.0 < long_clip[1] - long_clip[0] < 3.0  # still about 1.8 s, not 60% of 30 s


def test_the_stream_follows_its_timeline():
    stream = GestureStream(fps=30, size=(96, 128), seed=4, duration=12.0)
    frames = list(stream)
    assert len(frames) == 360 and frames[-1].timestamp == pytest.approx(359 / 30)
    assert frames[0].image.shape == (96, 128, 3)
    timeline = stream.timeline
    assert len(timeline) >= 3 and all(e.start < e.end for e in timeline)
    assert all(a.end < b.start for a, b in itertools.pairwise(timeline))
    for frame in frames:
        active = [e for e in timeline if e.start <= frame.timestamp < e.end]
        assert frame.label == (active[0].label if active else "No gesture")
    assert timeline[-1].end <= 12.0  # a finite stream plans no gesture it cannot show
    again = list(GestureStream(fps=30, size=(96, 128), seed=4, duration=12.0))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, again, strict=True))
    replay = list(stream)  # iterating the same stream again replays it
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, replay, strict=True))
    assert GestureStream().size == (480, 640)


def test_the_streams_hand_never_jumps_between_rest_and_gestures():
    for seed in range(3):
        stream = GestureStream(fps=30, size=(120, 160), seed=seed, duration=20.0, difficulty=0.0)
        boxes = np.array([f.box for f in stream])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
        assert np.nanmax(steps) < 0.08 * 160, seed


def test_dataset_round_trips_through_the_jester_reader(tmp_path):
    out = make_dataset(tmp_path / "jester", train=27, validation=27, test=2, seed=9, workers=2,
                       progress=False)  # fmt: skip
    assert jester.read_labels(out) == list(JESTER_LABELS)
    train, validation = jester.read_split(out, "train"), jester.read_split(out, "validation")
    assert collections.Counter(label for _, label in train) == dict.fromkeys(JESTER_LABELS, 1)
    assert [label for _, label in jester.read_split(out, "test")] == [None, None]
    ids = [v for v, _ in train + validation]
    assert len(set(ids)) == 54 and sorted(int(v) for v in ids) == list(range(1, 55))
    video, label = train[0]
    frames = jester.load_video(out, video)
    assert frames.shape == (36, 100, 176, 3)
    expected = render_clip(label, video_seed(9, "train", 0)).frames
    other = render_clip(label, video_seed(9, "train", 1)).frames
    error = np.abs(frames.astype(int) - expected).mean()  # JPEG's loss (high on sensor noise)
    assert error < 8 and error < 0.3 * np.abs(frames.astype(int) - other).mean()
    seeds = {
        split: {video_seed(9, split, i) for i in range(1000)} for split in ("train", "validation")
    }
    assert not seeds["train"] & seeds["validation"]
    with pytest.raises(FileExistsError, match=r"out: .* already exists"):
        make_dataset(out, train=1, validation=1, progress=False)


def test_a_window_names_the_gesture_it_shows_most_of():
    timeline = [TimedGesture("Thumb Up", 2.0, 4.0), TimedGesture("Swiping Left", 6.0, 7.0)]
    assert window_label(timeline, 1.0, 4.5) == "Thumb Up"  # all of it
    assert window_label(timeline, 2.6, 5.0) == "Thumb Up"  # 70%: still recognisable
    assert window_label(timeline, 2.7, 5.5) == "No gesture"  # 65%: cut too short to name
    assert window_label(timeline, 4.5, 6.3) == "No gesture"  # the start of the next one
    assert window_label(timeline, 0.0, 1.9) == "No gesture"
    assert window_label(timeline, 2.0, 7.0) is None  # two whole gestures: no one label
    assert window_label(timeline, 3.5, 7.0, whole=1.0) == "Swiping Left"
    with pytest.raises(ValueError, match=r"whole must be in \(0, 1\]"):
        window_label(timeline, 0.0, 1.0, whole=0.0)


def test_window_dataset_labels_every_window_of_its_streams(tmp_path):
    out = make_window_dataset(tmp_path / "w", train=2, validation=1, seed=4, seconds=8.0,
                              frames=24, step=8, size=(32, 56), difficulty=0.2, workers=1,
                              progress=False)  # fmt: skip
    windows = (96 - 24) // 8 + 1  # 96 frames a stream
    train, validation = jester.read_split(out, "train"), jester.read_split(out, "validation")
    assert jester.read_split(out, "test") == []
    ids = [video for video, _ in train + validation]
    assert len(ids) == len(set(ids))
    for split, rows, streams, first_stream in (
        ("train", train, 2, 0),
        ("validation", validation, 1, 2),
    ):
        written = dict(rows)
        expected_rows = 0
        for i in range(streams):
            stream = GestureStream(12.0, (32, 56), video_seed(4, split, i), 8.0, 0.2)
            images = [f.image for f in stream]
            assert len(images) == stream.frame_count == 96
            for k in range(windows):
                expected = window_label(stream.timeline, k * 8 / 12, (k * 8 + 24) / 12)
                video = str((first_stream + i) * windows + k + 1)
                assert written.get(video) == expected, (split, i, k)
                if expected is None:
                    continue
                expected_rows += 1
                frames = jester.load_video(out, video)
                assert frames.shape == (24, 32, 56, 3)
                error = np.abs(frames[-1].astype(int) - images[k * 8 + 23]).mean()
                assert error < 8  # JPEG's loss: the window's last frame is the stream's
        assert len(rows) == expected_rows > 0, split
    labels = collections.Counter(label for _, label in train + validation)
    assert labels["No gesture"] and len(labels) > 2, labels  # cut gestures and whole ones
    with pytest.raises(FileExistsError, match=r"out: .* already exists"):
        make_window_dataset(out, train=1, validation=0, progress=False)


def test_bad_window_dataset_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"seconds: 2\.0 s at 12\.0 fps is shorter"):
        make_window_dataset(tmp_path / "a", train=1, validation=0, seconds=2.0, progress=False)
    with pytest.raises(ValueError, match="step must be a positive integer"):
        make_window_dataset(tmp_path / "b", train=1, validation=0, step=0, progress=False)
    with pytest.raises(ValueError, match="nothing to write"):
        make_window_dataset(tmp_path / "c", train=0, validation=0, progress=False)
    with pytest.raises(ValueError, match="whole must be in"):
        make_window_dataset(tmp_path / "d", train=1, validation=0, whole=1.5, progress=False)
    for seconds in (float("nan"), 1e308, -1.0):
        with pytest.raises(ValueError, match=r"seconds must be a number in \(0, 600"):
            make_window_dataset(tmp_path / "f", train=1, validation=0, seconds=seconds)
    assert synthetic_main(["make-windows", str(tmp_path / "e"), "--seconds", "-1"]) == 2
    assert not any(tmp_path.iterdir())


def test_jester_proportions_follow_table_5_1():
    labels = split_labels(2000, 0, "train", "jester")
    counts = collections.Counter(labels)
    assert len(labels) == 2000
    share = JESTER_COUNTS["Doing other things"] / sum(JESTER_COUNTS.values())
    assert abs(counts["Doing other things"] - 2000 * share) <= 1


def test_leftover_videos_go_to_random_classes():
    firsts = {tuple(sorted(split_labels(5, seed, "validation", "balanced"))) for seed in range(8)}
    assert len(firsts) > 1  # not always the first five classes


def test_a_failed_dataset_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(*args)

    original = synthetic_dataset._write_video
    monkeypatch.setattr(synthetic_dataset, "_write_video", failing)
    with pytest.raises(OSError, match="disk full"):
        make_dataset(tmp_path / "out", train=5, validation=1, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "Waving"}, "label must be one of the 27 Jester gestures"),
        ({"frames": 0}, "frames must be a positive integer"),
        ({"frames": 2.5}, "frames must be a positive integer"),
        ({"size": (20, 20)}, "size must be at least 32x32"),
        ({"size": (100, 5000)}, "size must be at most 4096 pixels a side"),
        ({"size": (100,)}, r"size must be \(height, width\)"),
        ({"fps": 0}, "fps must be a positive finite number"),
        ({"fps": 5e-324}, "fps must be within"),
        ({"difficulty": 1.5}, r"difficulty must be a number in \[0, 1\]"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_clip_arguments_name_what_was_expected(kwargs, message):
    arguments = {"label": "Swiping Left", "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        render_clip(**arguments)


def test_bad_stream_and_dataset_arguments(tmp_path):
    with pytest.raises(ValueError, match="label must be one of"):
        GestureStream(labels=["Swiping Sideways"])
    with pytest.raises(ValueError, match="gap must be"):
        GestureStream(gap=(2.0, 1.0))
    with pytest.raises(ValueError, match="proportions must be"):
        make_dataset(tmp_path / "a", train=1, validation=1, proportions="zipf", progress=False)
    with pytest.raises(ValueError, match="train must be a non-negative integer"):
        make_dataset(tmp_path / "b", train=-1, validation=1, progress=False)
    assert synthetic_main(["make-dataset", str(tmp_path / "c"), "--size", "10x10"]) == 2
    assert not (tmp_path / "c").exists()


def test_the_jester_reader_refuses_malformed_files(tmp_path):
    # (default workers: one per core)
    root = make_dataset(tmp_path / "j", train=2, validation=1, test=1, progress=False)
    split = root / "jester-v1-train.csv"
    good = split.read_text()
    for bad, message in [
        (";Swiping Left\n", "is not a plain folder name"),
        ("../../etc;Swiping Left\n", "is not a plain folder name"),
        (good + good, "is repeated"),
        ("7;Waving\n", "is not in jester-v1-labels.csv"),
    ]:
        split.write_text(bad)
        with pytest.raises(ValueError, match=message):
            jester.read_split(root, "train")
    (root / "jester-v1-test.csv").write_text("9;Swiping Left\n")
    with pytest.raises(ValueError, match="the test split has no labels"):
        jester.read_split(root, "test")
    with pytest.raises(ValueError, match="video must be a plain folder name"):
        jester.frame_paths(root, "../x")
    labels = root / "jester-v1-labels.csv"
    labels.write_text("\ufeff" + labels.read_text(), encoding="utf-8")  # a byte-order mark
    assert jester.read_labels(root) == list(JESTER_LABELS)
    labels.write_text("Swiping Left\nSwiping Left\n")
    with pytest.raises(ValueError, match="labels listed twice"):
        jester.read_labels(root)


def test_contact_sheet_has_a_row_per_gesture(tmp_path):
    sheet = contact_sheet(seed=0, shown=3, size=(40, 64))
    assert sheet.shape[0] == 27 * 42 and sheet.dtype == np.uint8
    assert synthetic_main(["sheet", str(tmp_path / "sheet.png"), "--frames", "2"]) == 0
    assert (tmp_path / "sheet.png").stat().st_size > 1000
    assert synthetic_main(["sheet", str(tmp_path / "sheet.xyz")]) == 2
    assert synthetic_main(["sheet", str(tmp_path)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sheet.png"]
