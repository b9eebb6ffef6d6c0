"""``python -m gesture_rt.synthetic make-dataset OUT --train N --val M --seed S``,
``make-windows OUT --train STREAMS --val STREAMS`` and ``sheet out.png``."""

from __future__ import annotations

import argparse
import sys

from gesture_rt.synthetic.clips import (
    CONTEXTS,
    DEFAULT_DIFFICULTY,
    JESTER_SIZE,
    VIDEO_FRAMES,
    WHOLE,
    size_from_text,
)


def size_argument(text: str) -> tuple[int, int]:
    """argparse type for WIDTHxHEIGHT (e.g. 176x100), as the live app's --size."""
    try:
        return size_from_text(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gesture_rt.synthetic", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-dataset", help="write a data set in Jester's layout")
    make.add_argument("out", help="a new directory")
    make.add_argument("--train", type=int, default=2700, help="training videos (2700)")
    make.add_argument("--val", type=int, default=540, help="validation videos (540)")
    make.add_argument("--test", type=int, default=0, help="unlabelled test videos (0)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--proportions", choices=["balanced", "jester"], default="balanced")
    frames_help = f"frames a video ({VIDEO_FRAMES}, 3 s at 12 fps)"
    size_help = "WIDTHxHEIGHT ({1}x{0})".format(*JESTER_SIZE)
    make.add_argument("--frames", type=int, default=VIDEO_FRAMES, help=frames_help)
    make.add_argument("--size", type=size_argument, default=JESTER_SIZE, help=size_help)
    make.add_argument("--fps", type=float, default=12.0)
    make.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY)
    make.add_argument("--workers", type=int, default=None, help="processes (all cores)")
    make.add_argument("--context", choices=CONTEXTS, default="hold",
                      help="around the gesture the hand holds its first/last pose (hold) or "
                           "rests and moves in and out as in the live stream (rest)")  # fmt: skip
    cut = commands.add_parser(
        "make-windows", help="windows cut from synthetic streams, labelled, in Jester's layout"
    )
    cut.add_argument("out", help="a new directory")
    cut.add_argument("--train", type=int, default=300, help="training streams (300)")
    cut.add_argument("--val", type=int, default=30, help="validation streams (30)")
    cut.add_argument("--seed", type=int, default=0)
    cut.add_argument("--seconds", type=float, default=12.0, help="length of a stream (12 s)")
    cut.add_argument("--frames", type=int, default=40, help="frames a window (40)")
    cut.add_argument("--step", type=int, default=6, help="frames between windows (6)")
    cut.add_argument("--size", type=size_argument, default=JESTER_SIZE, help=size_help)
    cut.add_argument("--fps", type=float, default=12.0)
    cut.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY)
    cut.add_argument("--whole", type=float, default=WHOLE,
                     help="a window names a gesture it shows this fraction of (0.7)")  # fmt: skip
    cut.add_argument("--workers", type=int, default=None, help="processes (all cores)")
    sheet = commands.add_parser("sheet", help="a PNG with one clip per gesture")
    sheet.add_argument("out", help="image path, e.g. sheet.png")
    sheet.add_argument("--seed", type=int, default=0)
    sheet.add_argument("--frames", type=int, default=8, help="frames shown per gesture (8)")
    sheet.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from gesture_rt.synthetic import dataset

    args = parse_args(argv)
    try:
        if args.command == "make-dataset":
            out = dataset.make_dataset(
                args.out, args.train, args.val, args.test, seed=args.seed,
                proportions=args.proportions, frames=args.frames, size=args.size, fps=args.fps,
                difficulty=args.difficulty, workers=args.workers, context=args.context,
            )  # fmt: skip
        elif args.command == "make-windows":
            out = dataset.make_window_dataset(
                args.out, args.train, args.val, seed=args.seed, seconds=args.seconds,
                frames=args.frames, step=args.step, size=args.size, fps=args.fps,
                difficulty=args.difficulty, whole=args.whole, workers=args.workers,
            )  # fmt: skip
        else:
            image = dataset.contact_sheet(args.seed, args.frames, difficulty=args.difficulty)
            out = dataset.write_image(args.out, image)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
