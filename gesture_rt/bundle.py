"""Model bundles: an exported network plus the ``manifest.json`` the runtime trusts, nothing else.

A bundle is a folder::

    manifest.json           format, version, model options, labels, input, preprocessing, files
    openvino/model.xml|bin  OpenVINO IR          (any subset of the four formats)
    model.onnx              ONNX
    savedmodel/             TensorFlow SavedModel
    keras/model.weights.h5  the folded network's Keras weights: no engine runs them; the training
                            side rebuilds the network from the manifest to differentiate it
                            (Grad-CAM) or fine-tune it
    openvino-int8/model.xml|bin  an INT8 network beside the fp32 ones (optional)

Every network above computes in fp32. ``precisions`` records what else may run and how often it
agrees with fp32 (top-1, measured at export on clips like those a live recognizer sees): bf16
(the fp32 network computed in bfloat16, where the exporting CPU could) and int8 (the INT8
network). ``gesture_rt.precision`` decides from it what ``precision="auto"`` runs.

Loading verifies the manifest's format version, that every path it names stays inside the bundle,
and the size and SHA-256 of every file it lists; anything else is refused with ``BundleError``.
Bundles hold no pickles: IR, ONNX and SavedModel protobufs, HDF5 weights and plain JSON only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = "gesture_rt.bundle"
# 2 added the keras format, 3 the precisions; a bundle is written at the oldest version that
# holds what it has, so older readers take what they can run.
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
FORMATS = ("openvino", "onnx", "savedmodel", "keras")
REDUCED_PRECISIONS = ("bf16", "int8")
INT8_NETWORK = "openvino-int8/model.xml"
# Where each format's network lives inside a bundle.
FORMAT_PATHS = {
    "openvino": "openvino/model.xml",
    "onnx": "model.onnx",
    "savedmodel": "savedmodel",
    "keras": "keras/model.weights.h5",
}
BUNDLED = Path(__file__).resolve().parent / "models"


class BundleError(ValueError):
    """A bundle that cannot be trusted or used: names the bundle and what is wrong."""


@dataclass(frozen=True)
class Preprocessing:
    """How a camera frame becomes a network frame (``gesture_rt.Preprocessor``'s arguments)."""

    resize_short: int
    crop: int
    mean: float = 127.5
    std: float = 127.5


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder and manifest, with typed views of what the runtime needs."""

    root: Path
    manifest: dict

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """(T, H, W, C) of one clip; the network takes a batch of them (N, T, H, W, C)."""
        return tuple(self.manifest["input"]["shape"])

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(**self.manifest["preprocessing"])

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(f for f in FORMATS if f in self.manifest["formats"])

    @property
    def agreements(self) -> dict[str, dict | None]:
        """bf16 and int8 -> their measured top-1 agreement with fp32 (``top1_agreement``,
        ``clips``, ...), None where it was not measured; absent where the bundle has neither."""
        return {p: e["agreement"] for p, e in self.manifest.get("precisions", {}).items()}

    @property
    def int8_network(self) -> Path | None:
        """The INT8 network's OpenVINO IR, if the bundle has one."""
        entry = self.manifest.get("precisions", {}).get("int8")
        return None if entry is None else self.root / entry["network"]

    @property
    def training_fps(self) -> float:
        return float(self.manifest["training_fps"])

    @property
    def stride(self) -> int:
        return int(self.manifest["stride"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def smoothing(self) -> int:
        """Predictions the events average (optional in the manifest; 1: none)."""
        return int(self.manifest.get("smoothing", 1))

    def path(self, fmt: str) -> Path:
        """The network file (or SavedModel folder) of ``fmt``."""
        if fmt not in self.manifest["formats"]:
            raise BundleError(
                f"bundle {self.root} has no {fmt!r} network; it has {list(self.formats)}"
            )
        return self.root / self.manifest["formats"][fmt]


def bundled_names() -> list[str]:
    """Names of the bundles installed with the package (``gesture_rt/models/<name>``)."""
    if not BUNDLED.is_dir():
        return []
    return sorted(p.name for p in BUNDLED.iterdir() if (p / MANIFEST).is_file())


def resolve(bundle: str | os.PathLike) -> Path:
    """A bundle folder from a path or the name of a bundled model."""
    path = Path(bundle)
    if (path / MANIFEST).is_file():
        return path
    if isinstance(bundle, str) and bundle in bundled_names():
        return BUNDLED / bundle
    raise BundleError(
        f"bundle must be a bundle folder (holding {MANIFEST}) or one of the bundled models "
        f"{bundled_names()}, got {str(bundle)!r}"
    )


def load(bundle: str | os.PathLike) -> Bundle:
    """Open and verify a bundle (a folder or a bundled name); see the module docstring."""
    root = resolve(bundle).resolve()
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"bundle {root}: unreadable {MANIFEST} ({error})") from None
    _check_manifest(root, manifest)
    for name, entry in manifest["files"].items():
        path = inside(root, name)
        if not path.is_file():
            raise BundleError(f"bundle {root}: {name} is missing")
        if path.stat().st_size != entry["size"] or sha256(path) != entry["sha256"]:
            raise BundleError(f"bundle {root}: {name} was altered (size or SHA-256 differ)")
    return Bundle(root, manifest)


def _check_manifest(root: Path, manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"bundle {root}: {MANIFEST} is not a {FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"bundle {root}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle {root}: format version {version} is newer than this gesture_rt reads "
            f"({FORMAT_VERSION}); upgrade gesture_rt"
        )
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise BundleError(f"bundle {root}: {MANIFEST} lacks {missing}")
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise BundleError(f"bundle {root}: {MANIFEST} lists no files")
    for name, entry in files.items():
        inside(root, name)
        if not isinstance(entry, dict) or not {"size", "sha256"} <= entry.keys():
            raise BundleError(f"bundle {root}: file entry {name!r} needs size and sha256")
    formats = manifest["formats"]
    if not isinstance(formats, dict) or not formats or not set(formats) <= set(FORMATS):
        raise BundleError(f"bundle {root}: formats must be a subset of {FORMATS}, got {formats!r}")
    for fmt, name in formats.items():
        target = inside(root, name)
        covered = any(inside(root, f) == target or target in inside(root, f).parents
                      for f in files)  # fmt: skip
        if not covered:
            raise BundleError(f"bundle {root}: the {fmt} network {name!r} is not among its files")
    if manifest.get("precision", "fp32") != "fp32":  # format versions 1-2: the IR's own
        raise BundleError(
            f"bundle {root}: its network is {manifest['precision']!r} only (an older "
            "gesture_rt's export); networks are now fp32 with INT8 beside them: re-export it "
            "with `python -m training.export ... --int8`"
        )
    _check_precisions(root, manifest.get("precisions", {}), files)
    shape = manifest["input"].get("shape") if isinstance(manifest["input"], dict) else None
    if not (isinstance(shape, list) and len(shape) == 4 and all(_positive(n) for n in shape)):
        raise BundleError(f"bundle {root}: input shape must be 4 positive integers (T, H, W, C)")
    labels = manifest["labels"]
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise BundleError(f"bundle {root}: labels must be a non-empty list of strings")
    if not _positive(manifest.get("smoothing", 1)):
        raise BundleError(f"bundle {root}: smoothing must be a positive integer")


REQUIRED = ("model", "labels", "input", "preprocessing", "training_fps", "stride", "threshold",
            "formats", "files")  # fmt: skip


def _check_precisions(root: Path, precisions: Any, files: dict) -> None:
    """``precisions``: {bf16|int8: {"agreement": {...} or None, ...}}; int8 names its network,
    which must be among the bundle's files."""
    if not isinstance(precisions, dict) or not set(precisions) <= set(REDUCED_PRECISIONS):
        raise BundleError(f"bundle {root}: precisions must map some of {REDUCED_PRECISIONS} to "
                          f"their records, got {precisions!r}")  # fmt: skip
    for precision, entry in precisions.items():
        agreement = entry.get("agreement", ()) if isinstance(entry, dict) else ()
        if agreement is not None and not _is_agreement(agreement):
            raise BundleError(
                f"bundle {root}: precisions.{precision}.agreement must be null or hold clips "
                "(an integer >= 1), top1_agreement (0 to 1) and max_rel_diff (>= 0)"
            )
    if "int8" in precisions:
        network = precisions["int8"].get("network")
        target = inside(root, network)
        if PurePosixPath(network).suffix != ".xml" or not any(inside(root, f) == target
                                                              for f in files):  # fmt: skip
            raise BundleError(f"bundle {root}: the int8 network {network!r} must be an OpenVINO "
                              ".xml among its files")  # fmt: skip


def _is_agreement(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    share, difference = record.get("top1_agreement"), record.get("max_rel_diff")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                  for v in (share, difference))  # fmt: skip
    return (_positive(record.get("clips")) and numbers and 0 <= share <= 1
            and 0 <= difference < float("inf"))  # fmt: skip


def _positive(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def inside(root: Path, name: Any) -> Path:
    """``root/name`` for a relative POSIX path that stays inside ``root``; else BundleError."""
    if not isinstance(name, str) or not name:
        raise BundleError(f"bundle {root}: bad path {name!r} in {MANIFEST}")
    pure = PurePosixPath(name)
    path = (root / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or not path.is_relative_to(root.resolve()):
        raise BundleError(f"bundle {root}: path {name!r} in {MANIFEST} points outside the bundle")
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(root: Path) -> dict[str, dict]:
    """{relative POSIX path: {size, sha256}} of every file under ``root`` but the manifest."""
    entries = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if name != MANIFEST:
            entries[name] = {"size": path.stat().st_size, "sha256": sha256(path)}
    return entries


def replace_bundle(staged: Path, out: Path) -> None:
    """Move the finished bundle ``staged`` to ``out``, replacing an old one only once the new
    one is whole."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        staged.rename(out)
        shutil.rmtree(old)
    else:
        staged.rename(out)


def write_manifest(root: Path, manifest: dict) -> dict:
    """Checksum every file under ``root`` into ``manifest`` and write it (temp name, rename)."""
    version = (3 if "precisions" in manifest  # the oldest version that reads it
               else 2 if "keras" in manifest.get("formats", {}) else 1)  # fmt: skip
    content = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    manifest = {"format": FORMAT, "format_version": version, **content, "files": file_entries(root)}
    _check_manifest(root, manifest)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide an installed bundle from other users
    os.replace(tmp, root / MANIFEST)
    return manifest
