"""From a stream of per-clip probabilities to gesture events: fire once per performed gesture.

Overlapping clips (40 frames every 20) see the same gesture two or three times; it must fire once.
A gesture fires when its smoothed probability reaches the threshold and it is not the gesture
already active; the active gesture is cleared (re-armed) by ``rearm_after`` predictions in a row
in which no firing label reaches the threshold (a "no gesture" stretch), and replaced when another
gesture fires, so the same gesture performed twice with a pause between fires twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Jester's two classes that are not gestures: they never fire unless allowed by name.
BACKGROUND = ("No gesture", "Doing other things")


@dataclass(frozen=True)
class GestureEvent:
    """A gesture fired: its label, smoothed probability, and the clip that fired it."""

    label: str
    score: float
    timestamp_ms: float | None  # the newest frame's timestamp of the firing clip
    frame: int  # the newest frame's number of the firing clip


def firing_labels(
    labels: Sequence[str], allow: Iterable[str] | None = None, deny: Iterable[str] = ()
) -> frozenset[str]:
    """The labels that may fire: ``allow`` (default: all but BACKGROUND) minus ``deny``."""
    known = set(labels)
    allow = None if allow is None else _label_list(allow, "allow")
    deny = _label_list(deny, "deny")
    for name, chosen in (("allow", allow or []), ("deny", deny)):
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise ValueError(f"{name}: unknown labels {unknown}; the labels are {list(labels)}")
    base = set(allow) if allow is not None else known - set(BACKGROUND)
    return frozenset(base - set(deny))


def _label_list(value, name: str) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of label strings, got {value!r}")
    return list(value)


class EventDetector:
    """Turns successive probability vectors into at most one ``GestureEvent`` each."""

    def __init__(
        self,
        labels: Sequence[str],
        threshold: float = 0.5,
        smoothing: int = 1,
        fire: Iterable[str] | None = None,
        rearm_after: int = 1,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        for name, value in (("smoothing", smoothing), ("rearm_after", rearm_after)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.labels = list(labels)
        self.threshold = float(threshold)
        fire = firing_labels(self.labels) if fire is None else frozenset(fire)
        self._mask = np.array([label in fire for label in self.labels])
        self._recent: deque[np.ndarray] = deque(maxlen=smoothing)
        self.rearm_after = rearm_after
        self.active: str | None = None
        self._quiet = 0

    def smoothed(self, probabilities: np.ndarray) -> np.ndarray:
        """Add one prediction; the mean of the last ``smoothing`` ones."""
        probabilities = np.asarray(probabilities, np.float32)
        if probabilities.shape != (len(self.labels),):
            raise ValueError(
                f"probabilities must have shape ({len(self.labels)},), got {probabilities.shape}"
            )
        self._recent.append(probabilities)
        return np.mean(self._recent, axis=0)

    def update(
        self, smoothed: np.ndarray, frame: int, timestamp_ms: float | None = None
    ) -> GestureEvent | None:
        """Feed one smoothed probability vector; the event it fires, if any."""
        candidates = np.where(self._mask, smoothed, -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] < self.threshold:
            self._quiet += 1
            if self._quiet >= self.rearm_after:
                self.active = None
            return None
        self._quiet = 0
        label = self.labels[best]
        if label == self.active:
            return None
        self.active = label
        return GestureEvent(label, float(smoothed[best]), timestamp_ms, frame)

    def reset(self) -> None:
        self._recent.clear()
        self.active, self._quiet = None, 0


def match_events(events: Sequence[GestureEvent], truth: Sequence, slack_s: float = 3.5
                 ) -> list[tuple[GestureEvent, Any]]:  # fmt: skip
    """Pair each fired event with the ground-truth gesture it found (None when wrong).

    ``truth``: items with ``label``, ``start`` and ``end`` in seconds, like the synthetic
    stream's ``TimedGesture``. An event is right when it names a gesture not matched yet that
    started before the event and ended at most ``slack_s`` earlier (a clip's span: the clip that
    fires may end that late). BACKGROUND entries of the truth are not gestures to find.
    """
    gestures = [g for g in truth if g.label not in BACKGROUND]
    matched: set[int] = set()
    pairs = []
    for event in events:
        t, found = event.timestamp_ms / 1000, None
        for i, g in enumerate(gestures):
            if i not in matched and g.label == event.label and g.start < t <= g.end + slack_s:
                matched.add(i)
                found = g
                break
        pairs.append((event, found))
    return pairs


def score_events(events: Sequence[GestureEvent], truth: Sequence, slack_s: float = 3.5
                 ) -> tuple[float, float]:  # fmt: skip
    """(precision, recall) of fired ``events`` against a timeline (paired by ``match_events``)."""
    found = sum(g is not None for _, g in match_events(events, truth, slack_s))
    gestures = sum(g.label not in BACKGROUND for g in truth)
    return found / max(1, len(events)), found / max(1, gestures)
