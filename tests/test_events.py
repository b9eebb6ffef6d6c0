"""Event logic: one event per performed gesture, re-armed by a pause or another gesture."""

import numpy as np
import pytest

from gesture_rt.events import BACKGROUND, EventDetector, GestureEvent, firing_labels, score_events
from gesture_rt.labels import JESTER_LABELS as LABELS
from gesture_rt.synthetic import TimedGesture


def probs(label: str, p: float = 0.9) -> np.ndarray:
    """A probability vector with ``p`` on ``label`` and the rest spread evenly."""
    out = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1), np.float32)
    out[list(LABELS).index(label)] = p
    return out


def run(detector: EventDetector, sequence) -> list[str]:
    fired = []
    for i, label in enumerate(sequence):
        p = probs(label) if label else np.full(len(LABELS), 1 / len(LABELS), np.float32)
        event = detector.update(detector.smoothed(p), frame=i, timestamp_ms=i * 100.0)
        if event:
            assert event.frame == i and event.timestamp_ms == i * 100.0
            fired.append(event.label)
    return fired


def test_a_gesture_seen_by_overlapping_clips_fires_once():
    assert run(EventDetector(LABELS), ["Swiping Left"] * 3) == ["Swiping Left"]


def test_the_same_gesture_twice_with_a_pause_fires_twice():
    sequence = ["Swiping Left", "Swiping Left", "No gesture", "Swiping Left"]
    assert run(EventDetector(LABELS), sequence) == ["Swiping Left", "Swiping Left"]


def test_an_uncertain_clip_also_rearms():
    sequence = ["Thumb Up", None, "Thumb Up"]  # None: uniform probabilities
    assert run(EventDetector(LABELS), sequence) == ["Thumb Up", "Thumb Up"]


def test_a_different_gesture_fires_at_once():
    sequence = ["Swiping Left", "Swiping Right", "Swiping Left"]
    assert run(EventDetector(LABELS), sequence) == sequence


def test_rearm_after_needs_a_longer_pause():
    sequence = ["Stop Sign", "No gesture", "Stop Sign", "No gesture", "No gesture", "Stop Sign"]
    assert run(EventDetector(LABELS, rearm_after=2), sequence) == ["Stop Sign", "Stop Sign"]


def test_background_classes_never_fire_unless_allowed():
    sequence = ["No gesture", "Doing other things", "Thumb Down"]
    assert run(EventDetector(LABELS), sequence) == ["Thumb Down"]
    allowed = firing_labels(LABELS, allow=["Doing other things", "Thumb Down"])
    assert run(EventDetector(LABELS, fire=allowed), sequence) == ["Doing other things",
                                                                  "Thumb Down"]  # fmt: skip


def test_deny_and_allow_choose_the_firing_labels():
    fire = firing_labels(LABELS, deny=["Shaking Hand"])
    assert "Shaking Hand" not in fire and not set(BACKGROUND) & fire
    assert len(fire) == len(LABELS) - 3
    assert firing_labels(LABELS, allow=["Thumb Up"], deny=["Thumb Up"]) == frozenset()


def test_threshold_is_applied_to_the_smoothed_probabilities():
    detector = EventDetector(LABELS, threshold=0.5, smoothing=2)
    one = detector.smoothed(probs("Swiping Up", 0.9))
    assert detector.update(one, 0) is not None  # the first prediction alone: 0.9
    detector.reset()
    detector.smoothed(np.full(len(LABELS), 1 / len(LABELS), np.float32))
    mixed = detector.smoothed(probs("Swiping Up", 0.9))  # mean with a uniform one: ~0.47
    assert mixed[list(LABELS).index("Swiping Up")] < 0.5
    assert detector.update(mixed, 1) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"smoothing": 0}, "smoothing"),
        ({"rearm_after": True}, "rearm_after"),
    ],
)
def test_bad_detector_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EventDetector(LABELS, **kwargs)


def test_unknown_or_malformed_labels_are_named():
    with pytest.raises(ValueError, match=r"allow: unknown labels \['Waving'\]"):
        firing_labels(LABELS, allow=["Waving"])
    with pytest.raises(ValueError, match="deny must be a list"):
        firing_labels(LABELS, deny="Thumb Up")
    with pytest.raises(ValueError, match=r"probabilities must have shape \(27,\)"):
        EventDetector(LABELS).smoothed(np.ones(3))


def test_events_are_scored_against_the_timeline_once_per_gesture():
    truth = [
        TimedGesture("Thumb Up", 1.0, 2.0),
        TimedGesture("Doing other things", 4.0, 5.0),
        TimedGesture("Swiping Left", 8.0, 9.0),
        TimedGesture("Thumb Up", 12.0, 13.0),
    ]
    fired = lambda label, s: GestureEvent(label, 0.9, s * 1000, 0)  # noqa: E731
    events = [
        fired("Thumb Up", 2.5),  # right
        fired("Thumb Up", 3.0),  # the same gesture again: wrong
        fired("Swiping Left", 7.0),  # before the gesture began: wrong
        fired("Swiping Left", 12.5),  # 3.5 s after its end: still the clip that saw it
        fired("Swiping Right", 12.6),  # wrong label
    ]
    precision, recall = score_events(events, truth)
    assert precision == 2 / 5 and recall == 2 / 3  # "Doing other things" is not a gesture to find
    assert score_events([], truth) == (0.0, 0.0)
    assert score_events(events[:1], truth, slack_s=0.4) == (0.0, 0.0)
