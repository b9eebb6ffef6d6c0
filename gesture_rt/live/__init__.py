"""The live application (thesis section 5.2): ``python -m gesture_rt.live --source synthetic``.

``LiveApp`` runs one session (capture, inference and display threads); ``main(argv)`` is the
command line. Sources in ``sources.py``, threaded capture in ``capture.py``, the overlay of
figure 5.4 in ``overlay.py``, the annotated recording in ``recording.py``.
"""

from gesture_rt.live.app import LiveApp, LiveOptions, main
from gesture_rt.live.overlay import OverlayState, draw_overlay
from gesture_rt.live.sources import SourceError, open_source

__all__ = [
    "LiveApp",
    "LiveOptions",
    "OverlayState",
    "SourceError",
    "draw_overlay",
    "main",
    "open_source",
]
