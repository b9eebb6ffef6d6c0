"""Model bundles: an exported network plus the ``manifest.json`` that lists every byte of it.

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

A bundle is data, not a program. Loading reads the manifest as untrusted data
(``gesture_rt.manifest``: bounded, strictly typed, checked for sense), walks the folder and
refuses any file the manifest does not list, any symbolic link and anything but regular files,
and checks the size and SHA-256 of every listed file. Engines never open bundle paths: they get
the bytes from ``Bundle.read``, which re-reads the file, hashes exactly those bytes and hands them
over, so a file swapped after loading cannot reach an engine. OpenVINO IR and ONNX are data
(standard operator sets only, checked by their engines); a SavedModel is a program (its graph
may read and write files) and runs only when the caller allows it (``allow_bundle_code``).
Bundles hold no pickles: IR, ONNX and SavedModel protobufs, HDF5 weights and plain JSON only.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gesture_rt import manifest as manifests
from gesture_rt.manifest import (
    FORMAT,
    FORMAT_PATHS,
    FORMAT_VERSION,
    FORMATS,
    INT8_NETWORK,
    MANIFEST,
    REDUCED_PRECISIONS,
    BundleError,
    weights_of,
)

BUNDLED = Path(__file__).resolve().parent / "models"
PROGRAM_FORMATS = ("savedmodel",)  # networks that are programs: they run only when allowed
MAX_ENTRIES = 10_000  # files and folders a bundle may hold (ours: about 10)
MAX_DEPTH = 16  # folder levels (ours: 3)
log = logging.getLogger(__name__)


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
        return self.manifest["stride"]

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def smoothing(self) -> int:
        """Predictions the events average (optional in the manifest; 1: none)."""
        return self.manifest.get("smoothing", 1)

    def path(self, fmt: str) -> Path:
        """Where the network of ``fmt`` lies (engines read it through ``read``, not this)."""
        return self.root / self.network(fmt)

    def network(self, fmt: str) -> str:
        """The listed name of ``fmt``'s network file (or SavedModel folder)."""
        if fmt not in self.manifest["formats"]:
            raise BundleError(
                f"bundle {self.root} has no {fmt!r} network; it has {list(self.formats)}"
            )
        return self.manifest["formats"][fmt]

    def read(self, name: str) -> bytes:
        """The bytes of the listed file ``name``, read once and checked against the manifest's
        size and SHA-256: what an engine gets is exactly what was hashed."""
        entry = self.manifest["files"].get(name)
        if entry is None:
            raise BundleError(f"bundle {self.root}: {name!r} is not among its files")
        fd = _open_listed(self.root, name)
        with os.fdopen(fd, "rb") as f:
            data = f.read(entry["size"] + 1)
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise BundleError(f"bundle {self.root}: {name} was altered (size or SHA-256 differ)")
        return data

    @contextmanager
    def extracted(self, name: str) -> Iterator[Path]:
        """A private copy of the listed file ``name``, or of every listed file under the folder
        ``name``, written from verified bytes into a fresh folder only this user can read and
        removed on exit: for libraries that open paths, not bytes (TensorFlow's SavedModel
        loader, Keras's weights)."""
        members = [f for f in self.manifest["files"] if f == name or f.startswith(name + "/")]
        if not members:
            raise BundleError(f"bundle {self.root}: {name!r} is not among its files")
        with tempfile.TemporaryDirectory(prefix="gesture_rt-bundle-") as folder:
            for member in members:
                target = Path(folder, member)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.read(member))
            yield Path(folder, name)


def bundled_names() -> list[str]:
    """Names of the bundles installed with the package (``gesture_rt/models/<name>``)."""
    if not BUNDLED.is_dir():
        return []
    return sorted(p.name for p in BUNDLED.iterdir() if (p / MANIFEST).is_file())


def resolve(bundle: str | os.PathLike) -> Path:
    """The folder of ``bundle``: a bare name (no ``/``) is a packaged bundle's and nothing else;
    a folder is used only when given as a path (``./mine``, ``runs/x/bundle``, a ``Path``), so a
    folder planted in the working directory never stands in for a packaged model."""
    if not isinstance(bundle, str | os.PathLike):
        raise BundleError(f"bundle must be a bundled model's name {bundled_names()} or a bundle "
                          f"folder's path, got {type(bundle).__name__}")  # fmt: skip
    if isinstance(bundle, str) and _is_bare_name(bundle):
        local = Path(bundle)
        if bundle in bundled_names():
            if (local / MANIFEST).exists():
                log.warning("bundle %r: using the packaged model, not the folder %r in the "
                            "working directory (give it as a path, './%s', to use it)", bundle,
                            bundle, bundle)  # fmt: skip
            return BUNDLED / bundle
        hint = f"; to load the folder {bundle!r} here, give it as a path: './{bundle}'"
        raise BundleError(f"bundle: {bundle!r} is not one of the bundled models "
                          f"{bundled_names()}{hint if local.is_dir() else ''}")  # fmt: skip
    path = Path(bundle)
    if not path.is_dir():
        raise BundleError(f"bundle: no folder at {str(path)!r} (a bundle is a folder holding "
                          f"{MANIFEST}, or a bundled model: {bundled_names()})")  # fmt: skip
    if not (path / MANIFEST).exists():
        raise BundleError(f"bundle: {str(path)!r} holds no {MANIFEST}: not a bundle folder")
    return path.resolve()


def _is_bare_name(text: str) -> bool:
    separators = {"/", os.sep, os.altsep} - {None}
    return text not in ("", ".", "..") and not any(s in text for s in separators)


def load(bundle: str | os.PathLike) -> Bundle:
    """Open and verify a bundle (a folder's path or a bundled name); see the module docstring."""
    root = resolve(bundle)
    fd = _open_listed(root, MANIFEST)
    with os.fdopen(fd, "rb") as f:
        data = f.read(manifests.MAX_BYTES + 1)
    manifest = manifests.parse(root, data)
    _check_tree(root, manifest["files"])
    for name, entry in manifest["files"].items():
        _verify(root, name, entry)
    return Bundle(root, manifest)


def _check_tree(root: Path, files: dict) -> None:
    """Every entry under ``root``: folders, the manifest and the listed files, all regular;
    nothing unlisted, no symbolic links, no devices or pipes."""
    unlisted, links, special, seen = [], [], [], 0
    folders = [(root, 0)]
    while folders:  # breadth first, bounded: os.walk recurses, and a bundle may be hostile
        folder, depth = folders.pop()
        if depth > MAX_DEPTH:
            raise BundleError(f"bundle {root}: nests folders deeper than {MAX_DEPTH} levels")
        with os.scandir(folder) as entries:
            listing = list(entries)
        for entry in listing:
            seen += 1
            if seen > MAX_ENTRIES:
                raise BundleError(f"bundle {root}: holds more than {MAX_ENTRIES} entries")
            relative = Path(entry.path).relative_to(root).as_posix()
            if entry.is_symlink():
                links.append(relative)
            elif entry.is_dir(follow_symlinks=False):
                folders.append((Path(entry.path), depth + 1))
            elif relative == MANIFEST:
                continue
            elif relative not in files:
                unlisted.append(relative)
            elif not entry.is_file(follow_symlinks=False):
                special.append(relative)
    for found, what in ((links, "symbolic links"), (special, "files that are not regular files"),
                        (unlisted, "files its manifest does not list")):  # fmt: skip
        if found:
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            raise BundleError(
                f"bundle {root}: holds {what}: {sorted(found)[:5]}{more}. Every file a bundle "
                "holds must be a regular file listed (and hashed) in its manifest; remove these "
                "or export the bundle again"
            )


def _open_listed(root: Path, name: str) -> int:
    """A read-only descriptor of the regular file ``root/name``, refusing symbolic links (of the
    file or, resolved, of its folders), pipes and devices; opening never blocks."""
    path = root / manifests.relative_path(root, name)
    if not path.parent.resolve().is_relative_to(root):
        raise BundleError(f"bundle {root}: path {name!r} in {MANIFEST} points outside the bundle")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BundleError(f"bundle {root}: {name} is missing") from None
    except OSError as error:
        why = "is a symbolic link" if error.errno == errno.ELOOP else f"cannot be read ({error})"
        raise BundleError(f"bundle {root}: {name} {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BundleError(f"bundle {root}: {name} is not a regular file")
    return fd


def _verify(root: Path, name: str, entry: dict) -> None:
    digest, size = hashlib.sha256(), 0
    with os.fdopen(_open_listed(root, name), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            if size > entry["size"]:
                break
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise BundleError(f"bundle {root}: {name} was altered (size or SHA-256 differ)")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- writing ----------------------------------------------------------------------------------


def file_entries(root: Path) -> dict[str, dict]:
    """{relative POSIX path: {size, sha256}} of every file under ``root`` but the manifest."""
    entries = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise BundleError(f"bundle {root}: {name} is not a regular file or folder")
        if path.is_file() and name != MANIFEST:
            entries[name] = {"size": path.stat().st_size, "sha256": sha256(path)}
    return entries


def write_manifest(root: Path, manifest: dict) -> dict:
    """Checksum every file under ``root`` into ``manifest`` and write it (temp name, rename)."""
    version = (3 if "precisions" in manifest  # the oldest version that reads it
               else 2 if "keras" in manifest.get("formats", {}) else 1)  # fmt: skip
    content = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    manifest = {"format": FORMAT, "format_version": version, **content, "files": file_entries(root)}
    manifests.check(root, manifest)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, allow_nan=False)
        f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide an installed bundle from other users
    os.replace(tmp, root / MANIFEST)
    return manifest


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` (``.NAME.tmp-PID-...``) to assemble a bundle in, removed on
    exit whatever happens. First ``recover(out)``: what killed writers left behind goes."""
    out = Path(out)
    if out.is_symlink():
        raise ValueError(f"out: {out} is a symbolic link; give the folder it points to "
                         f"({out.resolve()}) or remove the link")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-{os.getpid()}-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def recover(out: Path) -> None:
    """Tidy what writers of ``out`` killed mid-way left: their staging folders (those whose
    process is gone) are removed, and a two-rename replacement (``replace_bundle`` where the
    filesystem cannot swap) is undone if the new bundle never arrived, finished if it did."""
    out = Path(out)
    if not out.parent.is_dir():
        return
    # mkdtemp's names: PREFIX + [a-z0-9_]...; before PIDs were in them, no PID
    pattern = re.compile(re.escape(f".{out.name}.tmp-") + r"(?:(\d+)-)?[a-z0-9_]+")
    for leftover in out.parent.iterdir():
        match = pattern.fullmatch(leftover.name)
        if match and not _alive(match.group(1)) and not leftover.is_symlink():
            log.info("removing %s, left by a killed export", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
    old = _old(out)
    if old.is_dir() and not old.is_symlink():
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            log.warning("restoring %s from %s: its replacement was interrupted", out, old)
            old.rename(out)


def _alive(pid: str | None) -> bool:
    """Whether the process ``pid`` (None: a name from before PIDs were in it) still runs."""
    if pid is None:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _old(out: Path) -> Path:
    return out.with_name(f".{out.name}.old")


def replace_bundle(staged: Path, out: Path) -> None:
    """Move the finished bundle ``staged`` to ``out``. An existing ``out`` is swapped with it in
    one atomic exchange (Linux's renameat2), so a kill at any moment leaves the old bundle or the
    new one at ``out``; ``staged`` then holds the old one, for ``staging`` to remove. Where the
    filesystem cannot exchange, two renames, which ``recover`` completes after a kill."""
    staged, out = Path(staged), Path(out)
    os.chmod(staged, 0o755)  # mkdtemp's 0700 would hide an installed bundle from other users
    if not out.exists() and not out.is_symlink():
        staged.rename(out)
    elif not _exchange(staged, out):
        old = _old(out)
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        staged.rename(out)
        shutil.rmtree(old)


RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system or filesystem cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


__all__ = ["BUNDLED", "FORMATS", "FORMAT_PATHS", "FORMAT_VERSION", "INT8_NETWORK", "MANIFEST",
           "PROGRAM_FORMATS", "REDUCED_PRECISIONS", "Bundle", "BundleError", "Preprocessing",
           "bundled_names", "file_entries", "load", "recover", "replace_bundle", "resolve",
           "sha256", "staging", "weights_of", "write_manifest"]  # fmt: skip
