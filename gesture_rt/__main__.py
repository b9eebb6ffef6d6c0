"""Preprocessing demo: ``python -m gesture_rt`` times the fused kernel on a synthetic camera
frame against the OpenCV + NumPy chain it replaces, then fills a clip ring.

(The live gesture app is ``python -m gesture_rt.live``.)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from gesture_rt import ClipRing, Preprocessor
from gesture_rt.testing import camera_like_frame, opencv_chain


def median_us(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"width and height must be >= 1, got {text!r}")
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gesture_rt", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        type=parse_size,
        nargs="+",
        default=[(640, 480), (1280, 720), (1920, 1080)],
        metavar="WxH",
    )
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per figure")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    preprocess = Preprocessor()
    out = np.empty(preprocess.output_shape, np.float32)
    print(f"{preprocess!r}\n")
    print(
        f"{'frame':>10} {'fused us':>9} {'OpenCV chain us':>16} {'speed-up':>9} {'max |diff|':>11}"
    )
    for width, height in args.sizes:
        frame = camera_like_frame(height, width)
        fused = median_us(lambda f=frame: preprocess(f, out=out), args.repeats)
        chain = median_us(lambda f=frame: opencv_chain(f), args.repeats)
        diff = float(np.abs(preprocess(frame) - opencv_chain(frame)).max())
        print(
            f"{width:>5}x{height:<4} {fused:9.1f} {chain:16.1f} {chain / fused:8.1f}x {diff:11.5f}"
        )

    ring = ClipRing()
    frame = camera_like_frame(720, 1280)
    push = median_us(lambda: ring.push(frame), max(args.repeats, ring.clip_len))
    clip = np.empty(ring.clip_shape, np.float32)
    hand_off = median_us(lambda: ring.latest(out=clip), max(1, args.repeats // 10))
    print(
        f"\nClipRing {ring.clip_shape}: push of a 1280x720 frame {push:.1f} us, "
        f"clip hand-off {hand_off:.1f} us, {ring.frames} frames pushed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
