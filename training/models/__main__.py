"""``python -m training.models summary --arch ARCH [--width W] [--json]``: inspect a model."""

from __future__ import annotations

import argparse
import json
import sys


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected T,H,W,C integers, got {text!r}") from None
    if len(shape) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 integers T,H,W,C, got {text!r}")
    return shape


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from training.models.i3d import ARCHITECTURES

    parser = argparse.ArgumentParser(prog="python -m training.models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser(
        "summary", help="per endpoint: output shape, parameters, GFLOPs, temporal receptive field"
    )
    summary.add_argument("--arch", choices=sorted(ARCHITECTURES), default="i3d")
    summary.add_argument("--width", type=float, default=1.0, help="channel multiplier (1.0)")
    summary.add_argument(
        "--input-shape", type=_shape, default=(40, 100, 100, 3), help="T,H,W,C (40,100,100,3)"
    )
    summary.add_argument("--num-classes", type=int, default=27)
    summary.add_argument(
        "--dilation-eval", default="full", help="full, none, top-N or bottom-N (full)"
    )
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from training.models import build_model
    from training.models.summary import as_json, as_table

    try:
        model = build_model(
            args.arch, args.num_classes, args.input_shape, args.width,
            dilation_eval=args.dilation_eval,
        )  # fmt: skip
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(as_json(model), indent=2) if args.json else as_table(model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
