"""Initial weights for the I3D family: 2D->3D inflation, kinetics-i3d checkpoints, fine-tuning.

Weights are matched by Keras path (``Mixed_4e/Branch_1/Conv3d_0b_3x3/conv_3d/kernel``), which is
the kinetics-i3d checkpoint name without its scope and with ``w``/``b`` spelled ``kernel``/``bias``.
Every loader checks every shape and reads every value before it assigns anything, so a failed
load leaves the model as it was. A logits head whose class count differs from the source's stays
freshly initialised.

The loaders that start a variant from a network without its additions (``load_kinetics_i3d``,
``inflate``, ``fine_tune_init``) leave it computing what that network computes: non-local
blocks start as the identity (W_z = 0) and fresh gates at W = 0, where sigmoid(0) = 0.5 would
halve each gated branch, so the next module's convs get their weights on the gated channels
doubled (through its max-pool branch too: max commutes with a positive scale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.models.i3d import I3D, InceptionModule

KINETICS_SCOPE = "RGB/inception_i3d"
_KERAS_TO_CHECKPOINT = {"kernel": "w", "bias": "b"}


@dataclass
class LoadReport:
    """What a load did: weights assigned, target weights left at their initialisation, and source
    weights the target has no place for."""

    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)


def checkpoint_name(path: str, scope: str = KINETICS_SCOPE) -> str:
    """The kinetics-i3d checkpoint name of the weight at Keras ``path``."""
    *layers, leaf = path.split("/")
    return "/".join([scope, *layers, _KERAS_TO_CHECKPOINT.get(leaf, leaf)])


def kinetics_variable_map(model: I3D, scope: str = KINETICS_SCOPE) -> dict:
    """Checkpoint name -> model weight, for every weight of ``model``."""
    _require_model("model", model)
    return {checkpoint_name(w.path, scope): w for w in model.weights}


def load_kinetics_i3d(
    model: I3D, checkpoint: str | Path, scope: str = KINETICS_SCOPE
) -> LoadReport:
    """Load a DeepMind kinetics-i3d checkpoint (e.g. ``rgb_imagenet.ckpt``) into ``model``.

    Every checkpoint variable under ``scope`` must map to one model weight of equal shape, and
    every model weight must be in the checkpoint, except the logits (a model with another
    ``num_classes`` keeps a fresh head) and the variants' additions (non-local blocks, gates).
    """
    import tensorflow as tf

    targets = kinetics_variable_map(model, scope)
    prefix = str(checkpoint).removesuffix(".index")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(
            f"checkpoint {prefix!r} is not a readable TF checkpoint: {error}"
        ) from None
    shapes = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
        if name.startswith(scope + "/")
    }
    if not shapes:
        raise ValueError(f"checkpoint {prefix!r} has no variables under scope {scope!r}")
    unmatched = sorted(set(shapes) - set(targets))
    missing = [n for n, w in targets.items() if n not in shapes and not _may_start_fresh(w.path)]
    if unmatched or missing:
        raise ValueError(
            f"checkpoint {prefix!r} does not fit {model.name} (another architecture or width?): "
            f"{len(unmatched)} checkpoint variables have no weight, e.g. {unmatched[:2]}; "
            f"{len(missing)} weights have no checkpoint variable, e.g. {missing[:2]}"
        )
    try:
        report = _assign({n: (w, shapes.get(n)) for n, w in targets.items()}, reader.get_tensor)
    except (tf.errors.OpError, IndexError) as error:
        raise ValueError(f"checkpoint {prefix!r}: its values cannot be read: {error}") from None
    _start_additions(model, report)
    return report


def transfer_weights(source: I3D, target: I3D) -> LoadReport:
    """Copy every weight of ``source`` into the ``target`` weight at the same path, as it is."""
    _require_model("source", source)
    _require_model("target", target)
    values = {w.path: w for w in source.weights}
    report = _assign(
        {w.path: (w, _shape(values.get(w.path))) for w in target.weights},
        lambda path: values[path].numpy(),
    )
    report.unused = sorted(set(values) - {w.path for w in target.weights})
    return report


def inflate(image_model: I3D, video_model: I3D) -> LoadReport:
    """Inflate a 2D Inception-v1 (``I3D(..., inflated=False)``) into ``video_model`` (section 4.1).

    Each 1xkxk kernel is repeated N times along time and divided by N, so on a clip that repeats
    one image every conv computes what the 2D conv computes on that image; everything else copies.
    """
    _require_model("image_model", image_model)
    _require_model("video_model", video_model)
    if image_model.spec.inflated:
        raise ValueError("image_model must be a 2D network (built with inflated=False)")
    values = {w.path: w.numpy() for w in image_model.weights}
    plan = {
        w.path: (w, _inflated_shape(values.get(w.path), tuple(w.shape)))
        for w in video_model.weights
    }

    def inflated(path: str):
        kernel, shape = values[path], plan[path][1]
        return np.repeat(kernel, shape[0], axis=0) / shape[0] if kernel.shape != shape else kernel

    report = _assign(plan, inflated)
    _start_additions(video_model, report)
    return report


def fine_tune_init(target: I3D, source: I3D) -> LoadReport:
    """Start ``target`` (e.g. NL-, G- or Modified-I3D) from a trained ``source`` (I3D, Dilate-I3D)
    as the thesis did (5.1.3, 5.1.6): ``target`` computes exactly what ``source`` computes, and its
    additions learn from there (see the module docstring). A source with additions the target
    lacks is refused: the rest of its network was trained (or compensated) around them."""
    _require_model("source", source)
    _require_model("target", target)
    dropped = sorted(
        {w.path for w in source.weights if _is_addition(w.path)} - {w.path for w in target.weights}
    )
    if dropped:
        raise ValueError(
            f"source ({source.name}) has {len(dropped)} weights of blocks the target "
            f"({target.name}) lacks, e.g. {dropped[:2]}; fine-tune from a network without them"
        )
    report = transfer_weights(source, target)
    _start_additions(target, report)
    return report


def _start_additions(model: I3D, report: LoadReport) -> None:
    """Zero the fresh W_z and gate kernels (θ, φ, g keep their random start, or the block could
    never learn); compensate the 0.5 of each fresh gate."""
    fresh = set(report.fresh)
    for weight in model.weights:
        if weight.path in fresh and ("/W_z/" in weight.path or "/feature_gate/" in weight.path):
            weight.assign(np.zeros(weight.shape, weight.dtype))
    for path in sorted(p for p in fresh if p.endswith("/feature_gate/kernel")):
        module, branch = path.split("/")[:2]
        _compensate_fresh_gate(model, module, int(branch.removeprefix("Branch_")))


def _compensate_fresh_gate(model: I3D, module: str, branch: int) -> None:
    """Double the next module's weights on the channels of ``module``'s gated ``branch``."""
    layers = [layer.name for layer in model.layers]
    following = model.get_layer(layers[layers.index(module) + 1])
    if not isinstance(following, InceptionModule):  # every gated variant has one (Variant)
        raise ValueError(
            f"gates in {module} need an inception module after it, not {following.name}"
        )
    b0, _, b1, _, b2, b3 = model.get_layer(module).options["widths"]
    start = sum((b0, b1, b2, b3)[:branch])  # branch outputs are concatenated in order
    gated = slice(start, start + (b0, b1, b2, b3)[branch])
    for branch in following.branches:
        first_conv = next(layer for layer in branch.chain if hasattr(layer, "conv")).conv
        kernel = first_conv.kernel.numpy()
        kernel[..., gated, :] *= 2.0
        first_conv.kernel.assign(kernel)


def _assign(plan: dict, value_of) -> LoadReport:
    """plan: key -> (target weight, source shape or None). Checks every shape, reads every value,
    then assigns."""
    report = LoadReport()
    for key, (weight, shape) in plan.items():
        if shape is None:
            report.fresh.append(weight.path)
        elif shape != tuple(weight.shape):
            if not _is_head(weight.path):
                raise ValueError(
                    f"weight {weight.path}: the source has shape {shape}, the model "
                    f"{tuple(weight.shape)} (another architecture, width or input channels?)"
                )
            report.fresh.append(weight.path)  # another class count: a fresh head
        else:
            report.loaded.append(key)
    values = {key: np.asarray(value_of(key), dtype=plan[key][0].dtype) for key in report.loaded}
    for key, value in values.items():
        plan[key][0].assign(value)
    return report


def _inflated_shape(kernel: np.ndarray | None, shape: tuple) -> tuple | None:
    """The source shape to check against ``shape``: a 1xkxk kernel stands for its inflation."""
    if kernel is None:
        return None
    if kernel.ndim == 5 and kernel.shape[0] == 1 and kernel.shape[1:] == shape[1:]:
        return shape
    return kernel.shape


def _shape(weight) -> tuple | None:
    return None if weight is None else tuple(weight.shape)


def _is_head(path: str) -> bool:
    return path.startswith("Logits/")


def _is_addition(path: str) -> bool:
    """A weight a variant adds to I3D (non-local blocks, gates)."""
    return path.startswith("NonLocal_") or "/feature_gate/" in path


def _may_start_fresh(path: str) -> bool:
    return _is_head(path) or _is_addition(path)


def _require_model(argument: str, value) -> None:
    if not isinstance(value, I3D):
        raise TypeError(
            f"{argument} must be an I3D model (training.models.build_model), got "
            f"{type(value).__name__}"
        )
