"""Per-endpoint introspection: output shape, parameters, GFLOPs and temporal receptive field.

GFLOPs count 2 per multiply-add of the convolutions and matrix products of one clip in
evaluation mode (dilation averaging as its folded 5-tap kernel; pooling, BatchNorm and
activations are not counted). Parameters are the trainable ones (BatchNorm moving statistics are
not). The temporal receptive field follows eq. 4.2 along the convolution and pooling path, with
dilation counted; ``global_context`` marks endpoints that also see the whole clip through a
non-local block, a feature gate's clip-wide average, or the logits' mean over time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from training.models.i3d import I3D, Logits, NonLocalBlock, endpoint_names
from training.models.i3d import temporal_footprint as footprint


@dataclass(frozen=True)
class EndpointStats:
    name: str
    output_shape: tuple[int, ...]
    params: int
    gflops: float
    temporal_receptive_field: int
    global_context: bool


def summarise(model: I3D) -> list[EndpointStats]:
    """One row per endpoint, input to output, for one clip."""
    rows, field, jump, seen_all = [], 1, 1, False
    for name in endpoint_names(model):
        layer = model.get_layer(name)
        input_shape = tuple(layer.input.shape)
        kernel, stride = footprint(layer)
        field, jump = field + (kernel - 1) * jump, jump * stride
        seen_all = seen_all or _sees_whole_clip(layer)
        rows.append(
            EndpointStats(
                name=name,
                output_shape=tuple(layer.output.shape[1:]),
                params=sum(math.prod(w.shape) for w in layer.trainable_weights),
                gflops=2 * (layer.macs(input_shape) if hasattr(layer, "macs") else 0) / 1e9,
                temporal_receptive_field=field,
                global_context=seen_all,
            )
        )
    return rows


def totals(rows: list[EndpointStats]) -> dict:
    return {
        "params": sum(r.params for r in rows),
        "gflops": sum(r.gflops for r in rows),
        "temporal_receptive_field": rows[-1].temporal_receptive_field,
    }


def as_json(model: I3D) -> dict:
    rows = summarise(model)
    return {
        "model": model.spec.as_dict(),
        "endpoints": [asdict(r) for r in rows],
        "totals": totals(rows),
    }


def as_table(model: I3D) -> str:
    rows = summarise(model)
    header = (
        f"{'endpoint':<18} {'output (T, H, W, C)':<22} {'params':>11} {'GFLOPs':>8} {'RF_t':>5}"
    )
    lines = [_title(model), header, "-" * len(header)]
    for r in rows:
        shape = ", ".join(str(n) for n in r.output_shape)
        field = f"{r.temporal_receptive_field}{'+' if r.global_context else ''}"
        lines.append(f"{r.name:<18} {shape:<22} {r.params:>11,} {r.gflops:>8.2f} {field:>5}")
    total = totals(rows)
    lines += [
        "-" * len(header),
        f"{'total':<18} {'':<22} {total['params']:>11,} {total['gflops']:>8.2f}",
        "RF_t: temporal receptive field in frames (eq. 4.2); '+': also sees the whole clip.",
    ]
    return "\n".join(lines)


def _title(model: I3D) -> str:
    s = model.spec
    shape = "x".join(str(n) for n in s.input_shape)
    return (
        f"{s.arch} (width {s.width:g}, input {shape}, {s.num_classes} classes, "
        f"dilation_eval={s.dilation_eval})"
    )


def _sees_whole_clip(layer) -> bool:
    gated = getattr(layer, "options", {}).get("gated", False)
    return gated or isinstance(layer, NonLocalBlock | Logits)
