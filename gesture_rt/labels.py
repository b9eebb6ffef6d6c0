"""The 27 Jester gestures in the order of the thesis's table 5.1 (the networks' output order)."""

from __future__ import annotations

JESTER_LABELS: tuple[str, ...] = (
    "Doing other things",
    "Drumming Fingers",
    "No gesture",
    "Pulling Hand In",
    "Pulling Two Fingers In",
    "Pushing Hand Away",
    "Pushing Two Fingers Away",
    "Rolling Hand Backward",
    "Rolling Hand Forward",
    "Shaking Hand",
    "Sliding Two Fingers Down",
    "Sliding Two Fingers Left",
    "Sliding Two Fingers Right",
    "Sliding Two Fingers Up",
    "Stop Sign",
    "Swiping Down",
    "Swiping Left",
    "Swiping Right",
    "Swiping Up",
    "Thumb Down",
    "Thumb Up",
    "Turning Hand Clockwise",
    "Turning Hand Counterclockwise",
    "Zooming In With Full Hand",
    "Zooming In With Two Fingers",
    "Zooming Out With Full Hand",
    "Zooming Out With Two Fingers",
)

# Videos per class in Jester (table 5.1), for data sets with Jester's class proportions.
JESTER_COUNTS: dict[str, int] = dict(
    zip(
        JESTER_LABELS,
        (12416, 5444, 5344, 5379, 5315, 5434, 5358, 5031, 5165, 5314, 5410, 5345, 5244, 5262,
         5413, 5303, 5160, 5066, 5240, 5460, 5457, 3980, 4181, 5307, 5355, 5330, 5379),
        strict=True,
    )
)  # fmt: skip

# A horizontal flip swaps these (the label contract, docs/design.md).
FLIP_PAIRS: tuple[tuple[str, str], ...] = (
    ("Sliding Two Fingers Left", "Sliding Two Fingers Right"),
    ("Swiping Left", "Swiping Right"),
    ("Turning Hand Clockwise", "Turning Hand Counterclockwise"),
)


def label_index(label: str) -> int:
    """The output index of ``label``; a clear error for anything else."""
    try:
        return JESTER_LABELS.index(label)
    except ValueError:
        raise ValueError(f"label must be one of the 27 Jester gestures, got {label!r}") from None
