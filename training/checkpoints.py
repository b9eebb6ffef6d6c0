"""A training run's folder, and loading a trained network back from it.

``MODEL_DIR/config.json`` (the run's settings: the model spec and the labels in output order),
``MODEL_DIR/checkpoints/ckpt-N.*`` (tf.train.Checkpoint of the model and the optimizer),
``MODEL_DIR/metrics.jsonl`` (one JSON line per logged step and per validation) and
``MODEL_DIR/logs/`` (TensorBoard). ``load_network`` opens a run or an exported bundle's Keras
weights as one evaluation-mode network, for the tools that differentiate it (Grad-CAM).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gesture_rt import bundle as bundles
from gesture_rt.jester import JESTER_FPS

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"


def tracked_weights(model):
    """Every weight of ``model`` by its path (``Mixed_4e/Branch_1/.../kernel``), as one trackable.

    tf.train.Checkpoint follows attributes, and does not see the layers Keras keeps in lists
    (inception modules' branches): a checkpoint of the model itself silently leaves those out.
    """
    import tensorflow as tf

    paths = [w.path for w in model.weights]
    if len(set(paths)) != len(paths):
        raise ValueError(f"model: {model.name} has weights sharing a path; they cannot be saved")
    holder = tf.Module(name="weights")
    holder.by_path = {w.path: w for w in model.weights}
    return holder


def read_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} is missing (not a training run's folder?)")
    return json.loads(path.read_text(encoding="utf-8"))


def resolve(checkpoint: str | Path) -> tuple[Path, str]:
    """(run folder, checkpoint prefix) of a run folder (its latest checkpoint) or of a prefix
    such as ``MODEL_DIR/checkpoints/ckpt-12``."""
    import tensorflow as tf

    path = Path(checkpoint)
    if path.is_dir() and (path / CONFIG).is_file():
        prefix = tf.train.latest_checkpoint(str(path / CHECKPOINTS))
        if prefix is None:
            raise FileNotFoundError(f"checkpoint: {path} has no checkpoint yet")
        return path, prefix
    if path.with_name(path.name + ".index").is_file() and (path.parent.parent / CONFIG).is_file():
        return path.parent.parent, str(path)
    raise FileNotFoundError(
        f"checkpoint must be a training run's folder or a prefix such as "
        f"MODEL_DIR/{CHECKPOINTS}/ckpt-N, got {checkpoint}"
    )


def load_trained(checkpoint: str | Path, **overrides):
    """(model, config) from a run folder or checkpoint prefix. ``overrides`` replace model
    options that do not change the weights (e.g. ``dilation_eval``)."""
    import tensorflow as tf

    from training.models.i3d import build_model

    model_dir, prefix = resolve(checkpoint)
    config = read_config(model_dir)
    spec = {**config["model"], **overrides}
    spec["input_shape"] = tuple(spec["input_shape"])
    model = build_model(**spec)
    status = tf.train.Checkpoint(model=tracked_weights(model)).read(prefix)
    status.expect_partial()  # the optimizer's slots are not needed
    status.assert_existing_objects_matched()
    return model, config


def read_metrics(model_dir: str | Path) -> list[dict]:
    """The run's logged lines (a line cut short by a killed run is ignored)."""
    path = Path(model_dir) / METRICS
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


def records_height(model_dir: str | Path, config: dict) -> int | None:
    """The height of the frames the run trained on (its records' manifest), if still there."""
    run_dir = Path(model_dir)
    records = Path(config.get("training", {}).get("records", ""))
    if not records.parts:
        return None
    for folder in (records, run_dir / records, run_dir.parent / records):
        try:
            return int(json.loads((folder / "manifest.json").read_text())["height"])
        except (OSError, KeyError, ValueError, TypeError):
            continue
    return None


@dataclass(frozen=True)
class Network:
    """An evaluation-mode Keras network and how to feed it: frames resized so their short side is
    ``resize_short``, centre-cropped to the model's input, scaled to [-1, 1], RGB, at
    ``training_fps`` (a bundle's; Jester's for a run, whose records do not say)."""

    model: Any
    labels: list[str]
    resize_short: int
    source: str
    training_fps: float = JESTER_FPS


def load_network(checkpoint_or_bundle: str | Path) -> Network:
    """A training run (its latest checkpoint), a checkpoint prefix, a bundle folder holding the
    ``keras`` format, or the name of a bundled model."""
    if isinstance(checkpoint_or_bundle, str) and checkpoint_or_bundle in bundles.bundled_names():
        # a bare bundled name means the packaged bundle, never a run planted under that name
        return _bundle_network(bundles.load(checkpoint_or_bundle))
    path = Path(checkpoint_or_bundle)
    try:
        run_dir = resolve(path)[0]
    except FileNotFoundError as not_a_run:
        try:
            loaded = bundles.load(checkpoint_or_bundle)
        except bundles.BundleError as error:
            if (path / bundles.MANIFEST).is_file():
                raise
            raise FileNotFoundError(
                f"{not_a_run}; or a bundle folder or one of the bundled models "
                f"{bundles.bundled_names()} ({error})"
            ) from None
        return _bundle_network(loaded)
    model, config = load_trained(path)
    crop = model.input_shape[2]
    height = records_height(run_dir, config)
    return Network(model, list(config["labels"]), height or crop, str(path))


def _bundle_network(loaded: bundles.Bundle) -> Network:
    from training.models.i3d import build_model

    if "keras" not in loaded.formats:
        raise bundles.BundleError(
            f"bundle {loaded.root} holds {list(loaded.formats)} networks, which cannot be "
            f"differentiated; export it with --formats ...,keras or give its training run"
        )
    try:
        spec = {**loaded.manifest["model"], "folded": True}
        spec["input_shape"] = tuple(spec["input_shape"])
        model = build_model(**spec)
    except (TypeError, KeyError, ValueError) as error:
        raise bundles.BundleError(
            f"bundle {loaded.root}: its model options cannot build a network ({error})"
        ) from None
    try:
        with loaded.extracted(loaded.network("keras")) as weights:  # the verified bytes
            _check_self_contained(weights, loaded.root)
            model.load_weights(weights)
    except ValueError as error:
        raise bundles.BundleError(
            f"bundle {loaded.root}: its Keras weights do not fit its model ({error})"
        ) from None
    return Network(
        model,
        loaded.labels,
        loaded.preprocessing.resize_short,
        str(loaded.root),
        loaded.training_fps,
    )


def _check_self_contained(weights: Path, root: Path) -> None:
    """Keras weights that hold all their data: HDF5 external links, external storage and virtual
    datasets would read other files, which the bundle's manifest never hashed."""
    import h5py

    foreign = []
    with h5py.File(weights, "r") as f:
        f.visititems_links(lambda name, link: foreign.append(name)
                           if isinstance(link, h5py.ExternalLink) else None)  # fmt: skip
        f.visititems(lambda name, item: foreign.append(name)
                     if isinstance(item, h5py.Dataset) and (item.external or item.is_virtual)
                     else None)  # fmt: skip
    if foreign:
        raise bundles.BundleError(f"bundle {root}: its Keras weights read other files through "
                                  f"{sorted(foreign)[:5]}; refused")  # fmt: skip
