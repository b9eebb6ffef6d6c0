"""Initial weights for the I3D family: 2D->3D inflation, kinetics-i3d checkpoints, fine-tuning.

Weights are matched by Keras path (``Mixed_4e/Branch_1/Conv3d_0b_3x3/conv_3d/kernel``), which is
the kinetics-i3d checkpoint name without its scope and with ``w``/``b`` spelled ``kernel``/``bias``.
Every loader checks all shapes before it assigns anything, so a failed load leaves the model as it
was. A logits head whose class count differs from the source's stays freshly initialised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras
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


def kinetics_variable_map(model: keras.Model, scope: str = KINETICS_SCOPE) -> dict:
    """Checkpoint name -> model weight, for every weight of ``model``."""
    return {checkpoint_name(w.path, scope): w for w in model.weights}


def load_kinetics_i3d(
    model: I3D, checkpoint: str | Path, scope: str = KINETICS_SCOPE
) -> LoadReport:
    """Load a DeepMind kinetics-i3d checkpoint (e.g. ``rgb_imagenet.ckpt``) into ``model``.

    Every checkpoint variable under ``scope`` must map to one model weight of equal shape, except
    the 400-way logits, which a model with another ``num_classes`` keeps freshly initialised.
    Model weights the checkpoint lacks (non-local blocks, gates) keep their initialisation.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(checkpoint))
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} is not a readable TF checkpoint: {error}"
        ) from error
    shapes = {
        name: tuple(shape)
        for name, shape in reader.get_variable_to_shape_map().items()
        if name.startswith(scope + "/")
    }
    if not shapes:
        raise ValueError(f"checkpoint {str(checkpoint)!r} has no variables under scope {scope!r}")
    targets = kinetics_variable_map(model, scope)
    unmatched = sorted(set(shapes) - set(targets))
    if unmatched:
        raise ValueError(
            f"checkpoint {str(checkpoint)!r} has {len(unmatched)} variables that {model.name} has "
            f"no weight for (another architecture or width?), e.g. {unmatched[:3]}"
        )
    return _assign(
        {n: (w, shapes.get(n)) for n, w in targets.items()}, lambda name: reader.get_tensor(name)
    )


def transfer_weights(source: keras.Model, target: keras.Model) -> LoadReport:
    """Copy every weight of ``source`` into the ``target`` weight at the same path."""
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

    return _assign(plan, inflated)


def fine_tune_init(target: I3D, source: I3D) -> LoadReport:
    """Start ``target`` (e.g. NL-, G- or Modified-I3D) from a trained ``source`` (I3D, Dilate-I3D).

    Non-local blocks are the identity as built (W_z = 0). A fresh gate multiplies its branch by
    sigmoid(0) = 0.5, so for every gated module whose gates the source lacks, the next module's
    convs that read the gated channels get their input weights doubled (through its max-pool branch
    too, since max commutes with a positive scale). The gates then learn from W = 0 while
    ``target`` computes exactly what ``source`` computed.
    """
    report = transfer_weights(source, target)
    for module in target.spec.variant.gated:
        gates = [p for p in report.fresh if p.startswith(f"{module}/") and "/feature_gate/" in p]
        if gates:
            _compensate_fresh_gates(target, module)
    return report


def _compensate_fresh_gates(model: I3D, module: str) -> None:
    """Double the next module's weights on ``module``'s gated channels (branches 1 and 2)."""
    layers = [layer.name for layer in model.layers]
    following = model.get_layer(layers[layers.index(module) + 1])
    if not isinstance(following, InceptionModule):
        raise ValueError(
            f"gates in {module} need an inception module after it, not {following.name}"
        )
    b0, _, b1, _, b2, _ = model.get_layer(module).options["widths"]
    gated = slice(b0, b0 + b1 + b2)
    for branch in following.branches:
        first_conv = next(layer for layer in branch.chain if hasattr(layer, "conv")).conv
        kernel = first_conv.kernel.numpy()
        kernel[..., gated, :] *= 2.0
        first_conv.kernel.assign(kernel)


def _assign(plan: dict, value_of) -> LoadReport:
    """plan: key -> (target weight, source shape or None). Checks every shape, then assigns."""
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
    for key in report.loaded:
        plan[key][0].assign(np.asarray(value_of(key), dtype=plan[key][0].dtype))
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
