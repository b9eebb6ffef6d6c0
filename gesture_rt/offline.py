"""No network at run time: nothing gesture_rt loads may phone home.

``import openvino`` sends an analytics event on import (a DNS lookup of www.google-analytics.com,
an HTTPS request and an id file under ``~/intel``) through the ``openvino_telemetry`` package, and
NNCF does the same when it quantises. Both fall back to a silent stub when that package cannot be
imported, so ``block_telemetry`` makes it unimportable in this process. ``gesture_rt`` calls it on
import, before any engine loads OpenVINO, which holds for every entry point (the runtime, the live
app, ``training``, ``bench``). A program that imported OpenVINO before gesture_rt has already sent
its event; gesture_rt cannot take that back.
"""

from __future__ import annotations

import sys

TELEMETRY = ("openvino_telemetry",)


def block_telemetry() -> None:
    """Make the telemetry packages unimportable here (``import`` raises ImportError)."""
    for name in TELEMETRY:
        sys.modules.setdefault(name, None)
