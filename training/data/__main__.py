"""``python -m training.data convert JESTER_DIR OUT_DIR`` and ``verify OUT_DIR``."""

from __future__ import annotations

import argparse
import json
import sys

import training  # noqa: F401  (TensorFlow's CPU settings, before it is imported)
from gesture_rt.synthetic.__main__ import size_argument


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser("convert", help="a Jester-layout folder -> sharded TFRecords")
    convert.add_argument("root", metavar="JESTER_DIR")
    convert.add_argument("out", metavar="OUT_DIR")
    convert.add_argument(
        "--splits",
        default="train,validation",
        help="comma-separated: train, validation, test (default: train,validation)",
    )
    convert.add_argument("--frames", type=int, default=40, help="frames per video (default 40)")
    convert.add_argument(
        "--size", type=size_argument, default=(100, 140), help="WIDTHxHEIGHT (default 140x100)"
    )
    convert.add_argument("--shard-size", type=int, default=512, help="videos per shard (512)")
    convert.add_argument("--quality", type=int, default=95, help="JPEG quality (95)")
    convert.add_argument("--workers", type=int, default=None, help="processes (one per core)")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    verify = commands.add_parser("verify", help="check every shard's SHA-256 and every record")
    verify.add_argument("out", metavar="OUT_DIR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = _convert(args) if args.command == "convert" else _verify(args.out)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


def _convert(args) -> dict:
    from training.data.convert import ConvertOptions, convert

    options = ConvertOptions(args.frames, *args.size, args.shard_size, args.quality)
    manifest = convert(args.root, args.out, args.splits.split(","), options, args.workers,
                       progress=not args.quiet)  # fmt: skip
    return {
        split: {k: s[k] for k in ("videos", "skipped")} for split, s in manifest["splits"].items()
    }


def _verify(folder: str) -> dict:
    import tensorflow as tf

    from training.data import records

    counts = {}
    for split, info in records.read_manifest(folder)["splits"].items():
        paths = records.shard_paths(folder, split, checksums=True)
        try:
            counts[split] = sum(1 for p in paths for _ in tf.data.TFRecordDataset(str(p)))
        except tf.errors.DataLossError as error:
            raise ValueError(f"records: a shard of {split} is corrupt: {error.message}") from None
        if counts[split] != info["videos"]:
            raise ValueError(
                f"records: {split} holds {counts[split]} videos, the manifest says {info['videos']}"
            )
    return {"verified": counts}


if __name__ == "__main__":
    sys.exit(main())
