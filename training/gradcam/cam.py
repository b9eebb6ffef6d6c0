"""Grad-CAM extended to video (thesis 5.3, eqs. 5.11-5.13), and how much of it falls on the hand.

For a class c and an endpoint whose activations A are T' x H' x W' x K (channels last):

    alpha_k = sum_{t,u,v} dy_c/dA_k / Z_k,   Z_k = sqrt(mean_{t,u,v} (dy_c/dA_k)^2 + 1e-4)
    L_c = ReLU(sum_k alpha_k A_k)

where y_c is the class's score before the softmax (the network's logit). ``L_c`` is then resized
trilinearly to the clip's T x H x W, each cell placed at the centre of its receptive field: with
TensorFlow's "same" padding a stride-2 layer pads less before than after, so a plain half-pixel
resize would shift Mixed_4e's map half a cell (7.5 px of 16) up and left of what it saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

P = 1e-4  # eq. 5.13's p: keeps Z away from zero where the gradient vanishes
SPATIAL_PREFIXES = ("Conv3d_", "Mixed_")  # what "all" means: every conv and inception endpoint


@dataclass(frozen=True)
class GradCam:
    """One clip's localisation maps for one class.

    ``raw``: endpoint -> its map at the endpoint's own resolution (T' x H' x W', eq. 5.11);
    ``maps``: endpoint -> the map resized to the clip (T x H x W); ``logits``: the clip's scores.
    """

    class_index: int
    label: str
    logits: np.ndarray
    raw: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]

    @property
    def probabilities(self) -> np.ndarray:
        shifted = np.exp(self.logits - self.logits.max())
        return shifted / shifted.sum()


def layer_choices(model) -> list[str]:
    """Endpoints with a spatiotemporal output, input to output (every one but the logits)."""
    return [layer.name for layer in model.layers
            if layer.name != "clip" and len(layer.output.shape) == 5]  # fmt: skip


def resolve_layers(model, layers: str | Sequence[str] | None = None) -> list[str]:
    """``layers``: None or "all" (every Conv3d_* and Mixed_* endpoint), a comma-separated string
    or a sequence of endpoint names; returned in network order."""
    choices = layer_choices(model)
    if layers is None or layers == "all":
        return [name for name in choices if name.startswith(SPATIAL_PREFIXES)]
    names = [n.strip() for n in layers.split(",")] if isinstance(layers, str) else list(layers)
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        raise ValueError(
            f"layers: {unknown or 'none given'} are not endpoints of {model.name}; choose 'all' "
            f"or from {choices}"
        )
    return [name for name in choices if name in names]


def class_choice(target: int | str | None, labels: Sequence[str]) -> int | None:
    """The index of ``target`` (a label, any case, or an index); None stays None (top-1)."""
    if target is None:
        return None
    if isinstance(target, int | np.integer) and not isinstance(target, bool):
        if 0 <= target < len(labels):
            return int(target)
    elif isinstance(target, str):
        folded = {label.casefold(): i for i, label in enumerate(labels)}
        if target.casefold() in folded:
            return folded[target.casefold()]
    raise ValueError(f"class: {target!r} is not one of the model's labels {list(labels)}")


def localisation_map(activation: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Eqs. 5.11-5.13 for one endpoint: activation and gradient T' x H' x W' x K -> T' x H' x W'."""
    a = np.asarray(activation, np.float64)
    g = np.asarray(gradient, np.float64)
    if a.shape != g.shape or a.ndim != 4:
        raise ValueError(f"activation and gradient must both be T x H x W x K, got {a.shape}, "
                         f"{g.shape}")  # fmt: skip
    z = np.sqrt(np.mean(g**2, axis=(0, 1, 2)) + P)
    alpha = g.sum(axis=(0, 1, 2)) / z
    return np.maximum(a @ alpha, 0.0)


def cell_centres(model, name: str) -> list[tuple[float, float]]:
    """Per axis (T, H, W): where endpoint ``name``'s first cell is centred in the input (in
    frames or pixels) and the spacing of its cells, from the strided layers before it."""
    import keras

    geometry = [(0.0, 1.0)] * 3
    for layer in model.layers[1:]:
        if len(layer.output.shape) != 5:  # the logits: no cells
            break
        if isinstance(layer, keras.layers.MaxPooling3D):
            kernel, strides, padding = layer.pool_size, layer.strides, layer.padding
        elif hasattr(layer, "conv"):  # Unit3D
            kernel, strides, padding = layer.conv.kernel_size, layer.conv.strides, "same"
        else:  # inception modules, non-local blocks: stride 1, symmetric padding
            kernel, strides, padding = (1, 1, 1), (1, 1, 1), "same"
        sizes = layer.input.shape[1:4]
        for axis, (k, s, n) in enumerate(zip(kernel, strides, sizes, strict=True)):
            first, spacing = geometry[axis]
            before = max((-(-n // s) - 1) * s + k - n, 0) // 2 if padding == "same" else 0
            geometry[axis] = (first + spacing * ((k - 1) / 2 - before), spacing * s)
        if layer.name == name:
            return geometry
    raise ValueError(f"name: no endpoint {name!r} in {model.name}")


Centres = Sequence[tuple[float, float]]  # per axis: (first cell's position, cell spacing)


def resize_trilinear(volume: np.ndarray, shape: Sequence[int],
                     centres: Centres | None = None) -> np.ndarray:  # fmt: skip
    """``volume`` resized to ``shape`` by linear interpolation along each axis in turn, edges
    clamped. ``centres``: per axis, (position of the first cell, cell spacing) in output units;
    default: half-pixel centres (tf.image.resize's bilinear, extended to 3D)."""
    out = np.asarray(volume, np.float64)
    if out.ndim != len(shape):
        raise ValueError(f"shape must have {out.ndim} sizes, got {tuple(shape)}")
    for axis, size in enumerate(shape):
        n = out.shape[axis]
        first, spacing = centres[axis] if centres else ((size / n - 1) / 2, size / n)
        position = np.clip((np.arange(size) - first) / spacing, 0, n - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, n - 1)
        weight = (position - low).reshape([-1 if d == axis else 1 for d in range(out.ndim)])
        out = np.take(out, low, axis) * (1 - weight) + np.take(out, high, axis) * weight
    return out


def pool_to_cells(volume: np.ndarray, grid: Sequence[int], centres: Centres) -> np.ndarray:
    """The inverse view of ``resize_trilinear``: ``volume`` averaged over each cell of an
    endpoint's ``grid``, every position going to the cell centred nearest it (``centres`` as
    ``cell_centres`` gives them; a position halfway between two goes to the later one)."""
    out = np.asarray(volume, np.float64)
    if out.ndim != len(grid) or len(centres) != len(grid):
        raise ValueError(f"volume, grid and centres must have one entry per axis, got "
                         f"{out.ndim}, {len(grid)}, {len(centres)}")  # fmt: skip
    for axis, (n, (first, spacing)) in enumerate(zip(grid, centres, strict=True)):
        cell = np.clip(np.floor((np.arange(out.shape[axis]) - first) / spacing + 0.5), 0, n - 1)
        members = np.eye(n)[cell.astype(np.int64)]  # positions x cells
        counts = members.sum(axis=0)
        if not counts.all():
            raise ValueError(f"grid: {n} cells spaced {spacing} leave some empty on axis {axis} "
                             f"of {out.shape[axis]} positions")  # fmt: skip
        out = np.moveaxis(np.tensordot(out, members / counts, axes=([axis], [0])), -1, axis)
    return out


def grad_cam(model, clip: np.ndarray, target: int | str | None = None,
             layers: str | Sequence[str] | None = None,
             labels: Sequence[str] | None = None) -> GradCam:  # fmt: skip
    """Grad-CAM of ``clip`` (T x H x W x 3 float32 in [-1, 1], the network's input) for class
    ``target`` (a label, an index, or None for the network's top-1) at ``layers`` (see
    ``resolve_layers``). ``labels`` names the classes (default: their indices)."""
    import keras
    import tensorflow as tf

    names = resolve_layers(model, layers)
    expected = tuple(model.input_shape[1:])
    clip = np.asarray(clip)
    if clip.shape != expected or clip.dtype.kind != "f":
        raise ValueError(
            f"clip must be a float array of shape {expected} (frames, height, width, channels), "
            f"got {clip.dtype} {clip.shape}"
        )
    classes = model.output_shape[-1]
    labels = list(labels) if labels is not None else [str(i) for i in range(classes)]
    if len(labels) != classes:
        raise ValueError(f"labels: {len(labels)} names for the model's {classes} classes")
    index = class_choice(target, labels)
    probe = keras.Model(model.input, [*(model.get_layer(n).output for n in names), model.output])
    batch = tf.constant(clip[None], tf.float32)
    with tf.GradientTape() as tape:
        *activations, logits = probe(batch, training=False)
        if index is None:
            index = int(tf.argmax(logits[0]))
        score = logits[0, index]
    gradients = tape.gradient(score, activations)
    raw = {name: localisation_map(a[0].numpy(), g[0].numpy())
           for name, a, g in zip(names, activations, gradients, strict=True)}  # fmt: skip
    maps = {name: resize_trilinear(m, expected[:3], cell_centres(model, name))
            for name, m in raw.items()}  # fmt: skip
    return GradCam(index, labels[index], logits[0].numpy(), raw, maps)


def hand_energy_ratio(heat: np.ndarray, boxes: np.ndarray) -> float:
    """How concentrated ``heat`` (T x H x W) is on the hand: the share of its energy inside the
    hand's boxes (T x 4, x0 y0 x1 y1 in the map's pixels; NaN: no hand) divided by the boxes'
    share of the area, over the frames that show the hand. 1: no better than uniform heat;
    0 for a map with no heat on those frames; NaN if no frame shows the hand inside the map."""
    heat = np.asarray(heat, np.float64)
    boxes = np.asarray(boxes, np.float64)
    if heat.ndim != 3 or boxes.shape != (heat.shape[0], 4):
        raise ValueError(f"heat must be T x H x W and boxes T x 4, got {heat.shape}, {boxes.shape}")
    mask = hand_mask(boxes, heat.shape)
    shown = mask.any(axis=(1, 2))  # frames whose hand is (partly) inside the map
    if not shown.any():
        return float("nan")
    total = heat[shown].sum()
    if total <= 0:
        return 0.0
    return float(heat[mask].sum() / total / mask[shown].mean())


def hand_mask(boxes: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """T x H x W booleans: True inside each frame's hand box (boxes T x 4, NaN: no hand)."""
    frames, height, width = shape
    mask = np.zeros((frames, height, width), bool)
    for t in np.flatnonzero(~np.isnan(boxes).any(axis=1)):
        x0, y0, x1, y1 = np.clip(np.round(boxes[t]), 0, [width, height, width, height]).astype(int)
        mask[t, y0:y1, x0:x1] = True
    return mask
