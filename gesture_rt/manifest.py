"""A bundle's ``manifest.json``, read as untrusted data: bounded in size and depth, strictly typed,
checked for sense field by field. Every failure is a ``BundleError`` naming the field.

What the runtime acts on must be the right type and in range: a ``training_fps`` of 0 or NaN, a
stride given as a string or as 10.9, a threshold above 1 or labels that repeat would otherwise
reach the recognizer as crashes, silent truncation or wrong events. Informational fields
(``source``, ``parity``, ``measured_on``) are only required to be JSON objects.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from gesture_rt.synthetic.clips import FPS_RANGE  # the frame rates the synthetic source renders

FORMAT = "gesture_rt.bundle"
# 2 added the keras format, 3 the precisions; a bundle is written at the oldest version that
# holds what it has, so older readers take what they can run.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
MAX_BYTES = 1 << 20  # ours are about 5 KB
MAX_DEPTH = 16  # ours nest 5 deep
FORMATS = ("openvino", "onnx", "savedmodel", "keras")
REDUCED_PRECISIONS = ("bf16", "int8")
# Where each format's network lives inside a bundle (the exporter writes exactly these).
FORMAT_PATHS = {
    "openvino": "openvino/model.xml",
    "onnx": "model.onnx",
    "savedmodel": "savedmodel",
    "keras": "keras/model.weights.h5",
}
INT8_NETWORK = "openvino-int8/model.xml"
MEAN_RANGE = (0.0, 255.0)
STD_RANGE = (1.0 / 256, 1e4)  # below 1/256, 255 / std overflows the float16 ring
MAX_FRAMES, MAX_SIDE = 1024, 4096  # a clip's T and H, W
MAX_STRIDE, MAX_SMOOTHING = 10_000, 1_000
MAX_LABEL = 100  # characters
REQUIRED = ("model", "labels", "input", "preprocessing", "training_fps", "stride", "threshold",
            "formats", "files")  # fmt: skip


class BundleError(ValueError):
    """A bundle that cannot be trusted or used: names the bundle and what is wrong."""


def parse(root: Any, data: bytes) -> dict:
    """The manifest in ``data`` (the bytes of ``root``'s manifest.json), checked."""
    if len(data) > MAX_BYTES:
        raise BundleError(f"bundle {root}: {MANIFEST} is {len(data)} bytes; at most {MAX_BYTES}")
    try:
        manifest = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys,
                              parse_constant=_no_constant)  # fmt: skip
    except RecursionError:
        raise BundleError(f"bundle {root}: {MANIFEST} nests too deeply") from None
    except ValueError as error:  # bad UTF-8 or JSON, NaN, repeated keys, a 5000-digit number
        raise BundleError(f"bundle {root}: unreadable {MANIFEST} ({error})") from None
    if _depth(manifest) > MAX_DEPTH:
        raise BundleError(f"bundle {root}: {MANIFEST} nests deeper than {MAX_DEPTH} levels")
    check(root, manifest)
    return manifest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    repeated = _repeated(k for k, _ in pairs)
    if repeated:
        raise json.JSONDecodeError(f"repeated keys {repeated}", "", 0)
    return dict(pairs)


def _repeated(items: Any) -> list:
    return sorted(k for k, n in Counter(items).items() if n > 1)


def _no_constant(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not a number JSON allows", "", 0)


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict | list):
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check(root: Any, manifest: Any) -> None:
    """Every field the runtime reads, strictly typed and in range (see the module docstring)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"bundle {root}: {MANIFEST} is not a {FORMAT} manifest")
    field = _Fields(root, manifest)
    version = field.integer("format_version", 1)
    if version > FORMAT_VERSION:
        raise BundleError(f"bundle {root}: format version {version} is newer than this "
                          f"gesture_rt reads ({FORMAT_VERSION}); upgrade gesture_rt")  # fmt: skip
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise BundleError(f"bundle {root}: {MANIFEST} lacks {missing}")
    if manifest.get("precision", "fp32") != "fp32":  # format versions 1-2: the IR's own
        raise BundleError(
            f"bundle {root}: its network is {manifest['precision']!r} only (an older "
            "gesture_rt's export); networks are now fp32 with INT8 beside them: re-export it "
            "with `python -m training.export ... --int8`"
        )
    files = _check_files(field)
    _check_formats(field, files)
    _check_network_io(field)
    field.number("training_fps", *FPS_RANGE)
    field.integer("stride", 1, MAX_STRIDE)
    field.number("threshold", 0.0, 1.0, low_open=True)
    if "smoothing" in manifest:
        field.integer("smoothing", 1, MAX_SMOOTHING)
    if "channel_order" in manifest:
        field.choice("channel_order", ("rgb",))
    for name in ("model", "source", "parity", "output"):
        if name in manifest:
            field.object(name)
    _check_precisions(field, files)


class _Fields:
    """Typed reads of manifest fields, each failure a BundleError naming the dotted field."""

    def __init__(self, root: Any, manifest: dict, prefix: str = "") -> None:
        self.root, self.data, self.prefix = root, manifest, prefix

    def fail(self, name: str, expected: str) -> BundleError:
        got = self.data.get(name, "nothing") if isinstance(self.data, dict) else self.data
        shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
        return BundleError(f"bundle {self.root}: manifest field '{self.prefix}{name}' must be "
                           f"{expected}, got {shown}")  # fmt: skip

    def get(self, name: str) -> Any:
        if name not in self.data:
            raise self.fail(name, "present")
        return self.data[name]

    def integer(self, name: str, low: int, high: int | None = None) -> int:
        value = self.get(name)
        if not _is_int(value) or value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise self.fail(name, f"an integer {bound}")
        return value

    def number(self, name: str, low: float, high: float, low_open: bool = False) -> float:
        value = self.get(name)
        fits = _is_number(value) and (low < value if low_open else low <= value) and value <= high
        if not fits:
            raise self.fail(name, f"a number in {'(' if low_open else '['}{low:g}, {high:g}]")
        return float(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.get(name)
        if value not in allowed:
            raise self.fail(name, f"one of {list(allowed)}")
        return value

    def object(self, name: str) -> _Fields:
        value = self.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, "an object")
        return _Fields(self.root, value, f"{self.prefix}{name}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_label(value: Any) -> bool:
    return (isinstance(value, str) and 0 < len(value.strip()) <= MAX_LABEL
            and value.isprintable() and _encodable(value))  # fmt: skip


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_files(field: _Fields) -> dict:
    files = field.get("files")
    if not isinstance(files, dict) or not files:
        raise field.fail("files", "a non-empty object of path -> {size, sha256}")
    for name, entry in files.items():
        relative_path(field.root, name)
        good = (isinstance(entry, dict) and set(entry) == {"size", "sha256"}
                and _is_int(entry["size"]) and entry["size"] >= 0
                and isinstance(entry["sha256"], str)
                and _SHA256.fullmatch(entry["sha256"]))  # fmt: skip
        if not good:
            raise BundleError(f"bundle {field.root}: manifest field files[{name!r}] must be "
                              "{size: bytes, sha256: 64 lowercase hex digits}")  # fmt: skip
        if name == MANIFEST:
            raise BundleError(f"bundle {field.root}: the manifest cannot list itself")
    return files


def _check_formats(field: _Fields, files: dict) -> None:
    formats = field.get("formats")
    if not isinstance(formats, dict) or not formats or not set(formats) <= set(FORMATS):
        raise field.fail("formats", f"a non-empty object with keys among {list(FORMATS)}")
    for fmt, path in formats.items():
        if path != FORMAT_PATHS[fmt]:
            raise field.fail("formats", f"{fmt!r} at {FORMAT_PATHS[fmt]!r}")
        needed = [path] if fmt != "savedmodel" else []
        if fmt == "openvino":
            needed.append(weights_of(path))
        if fmt == "savedmodel" and not any(f.startswith(path + "/") for f in files):
            needed.append(path + "/saved_model.pb")
        unlisted = [n for n in needed if n not in files]
        if unlisted:
            raise BundleError(f"bundle {field.root}: the {fmt} network's {unlisted} are not "
                              "among its files")  # fmt: skip


def weights_of(ir: str) -> str:
    """The ``.bin`` an OpenVINO IR ``.xml`` reads its weights from."""
    return str(PurePosixPath(ir).with_suffix(".bin"))


def _check_network_io(field: _Fields) -> None:
    labels = field.get("labels")
    named = isinstance(labels, list) and all(_is_label(x) for x in labels)
    if not (named and labels):
        raise field.fail("labels", f"a non-empty list of non-empty printable strings of at most "
                                   f"{MAX_LABEL} characters")  # fmt: skip
    repeated = _repeated(labels)
    if repeated:
        raise field.fail("labels", f"unique (repeated: {repeated})")
    spec = field.object("input")
    shape = spec.get("shape")
    limits = (MAX_FRAMES, MAX_SIDE, MAX_SIDE, 3)
    if not (isinstance(shape, list) and len(shape) == 4 and shape[3] == 3
            and all(_is_int(n) and 0 < n <= most
                    for n, most in zip(shape, limits, strict=True))):  # fmt: skip
        raise spec.fail("shape", f"[T, H, W, 3], integers, T <= {MAX_FRAMES}, H and W <= "
                                 f"{MAX_SIDE}")  # fmt: skip
    for name, value in (("layout", "NTHWC"), ("dtype", "float32")):
        if name in spec.data:
            spec.choice(name, (value,))
    if "output" in field.data:
        output = field.object("output")
        if "classes" in output.data:
            output.integer("classes", len(labels), len(labels))
    prep = field.object("preprocessing")
    if set(prep.data) != {"resize_short", "crop", "mean", "std"}:
        raise field.fail("preprocessing", "an object of resize_short, crop, mean and std")
    height = shape[1]
    prep.integer("crop", height, height)  # the network's input height
    prep.integer("resize_short", max(shape[1:3]), MAX_SIDE)  # the crop fits either orientation
    prep.number("mean", *MEAN_RANGE)
    prep.number("std", *STD_RANGE)


def _check_precisions(field: _Fields, files: dict) -> None:
    """``precisions``: {bf16|int8: {"agreement": {...} or None, ...}}; int8 names its network."""
    if "precisions" not in field.data:
        return
    precisions = field.object("precisions")
    if not set(precisions.data) <= set(REDUCED_PRECISIONS):
        raise field.fail("precisions", f"an object with keys among {list(REDUCED_PRECISIONS)}")
    for name in precisions.data:
        entry = precisions.object(name)
        agreement = entry.get("agreement")
        if agreement is not None and not _is_agreement(agreement):
            raise entry.fail("agreement", "null or hold clips (an integer >= 1), top1_agreement "
                                          "(0 to 1) and max_rel_diff (>= 0)")  # fmt: skip
    if "int8" in precisions.data:
        int8 = precisions.object("int8")
        network = int8.get("network")
        if network != INT8_NETWORK or network not in files or weights_of(network) not in files:
            raise int8.fail("network", f"{INT8_NETWORK!r}, listed with its .bin among the files")


def _is_agreement(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    share, difference, clips = (record.get(k) for k in ("top1_agreement", "max_rel_diff", "clips"))
    return (_is_int(clips) and clips > 0 and _is_number(share) and 0 <= share <= 1
            and _is_number(difference) and difference >= 0)  # fmt: skip


def relative_path(root: Any, name: Any) -> PurePosixPath:
    """``name`` as a canonical relative POSIX path with no ``..``; else BundleError. (Whether it
    stays inside the bundle on disk, symlinks resolved, is the loader's check.)"""
    if (not isinstance(name, str) or not name or "\\" in name or not name.isprintable()
            or not _encodable(name)):  # fmt: skip
        raise BundleError(f"bundle {root}: bad path {name!r} in {MANIFEST}")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise BundleError(f"bundle {root}: path {name!r} in {MANIFEST} points outside the bundle")
    if str(pure) != name:
        raise BundleError(f"bundle {root}: path {name!r} in {MANIFEST} is not canonical "
                          f"(write {str(pure)!r})")  # fmt: skip
    return pure
