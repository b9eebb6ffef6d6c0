"""Synthetic Jester: all 27 gestures rendered procedurally (NumPy and OpenCV only).

``render_clip(label, seed)`` draws one clip with the hand's box per frame; ``GestureStream`` is an
endless camera performing gestures with its ground-truth timeline; ``make_dataset`` writes a data
set in Jester's layout; ``contact_sheet`` shows one clip per class. ``python -m
gesture_rt.synthetic`` runs the last two. See ``gestures.py`` for what each gesture looks like.
"""

from gesture_rt.synthetic.clips import (
    DEFAULT_DIFFICULTY,
    GestureStream,
    RenderedClip,
    StreamFrame,
    TimedGesture,
    render_clip,
)
from gesture_rt.synthetic.gestures import REVERSAL_PAIRS

__all__ = [
    "DEFAULT_DIFFICULTY",
    "REVERSAL_PAIRS",
    "GestureStream",
    "RenderedClip",
    "StreamFrame",
    "TimedGesture",
    "render_clip",
]
