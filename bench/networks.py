"""The networks the engine benchmarks run: untrained (``--random-init``) bundles of the I3D family,
built once per size and cached, the two-branch baseline of the dilation fold, and FLOP counts.

Bundles are cached under ``$GESTURE_RT_BENCH_CACHE`` (default ``~/.cache/gesture_rt/bench``),
keyed by architecture, width, input shape and the versions that built them; building one needs
TensorFlow (the ``train`` extra), running it does not.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from gesture_rt import bundle as bundles

REPO = Path(__file__).resolve().parents[1]

FULL = {"width": 1.0, "input_shape": (40, 100, 100, 3)}  # the thesis's network and clip
SMOKE = {"width": 0.125, "input_shape": (40, 32, 32, 3)}  # seconds to build, for CI
ARCHS = ("i3d", "nl_i3d", "g_i3d", "modified_i3d")


def cache_root() -> Path:
    default = Path.home() / ".cache" / "gesture_rt" / "bench"
    return Path(os.environ.get("GESTURE_RT_BENCH_CACHE", default))


def random_bundle(
    arch: str,
    width: float,
    input_shape,
    formats=("openvino", "onnx", "savedmodel"),
    int8: bool = False,
    agreement_clips: int = 600,
) -> Path:
    """An untrained bundle of ``arch`` (exported once, then reused from the cache), with an INT8
    network beside its fp32 ones if ``int8``; bf16 and int8 measured on ``agreement_clips``."""
    shape = "x".join(map(str, input_shape))
    what = f"{'int8-' if int8 else ''}a{agreement_clips}-{'+'.join(formats)}"
    key = f"{arch}-w{width:g}-{shape}-{what}-{builder_version()}"
    path = cache_root() / key
    try:
        bundles.load(path)
        return path
    except bundles.BundleError:
        pass  # absent or damaged: (re)build it
    from training import export as ex

    options = ex.ExportOptions(
        formats=tuple(formats),
        int8=int8,
        parity_clips=4,
        agreement_clips=agreement_clips,
        calibration_clips=agreement_clips,
        force=True,
    )
    model = ex.random_model(arch, width, tuple(input_shape), None, seed=0)
    ex.export(
        None, path, options, model=model, source={"random_init": True, "seed": 0}, progress=False
    )
    return path


def builder_version() -> str:
    """What a cached bundle depends on: the exporter's and the model family's source, and the
    versions of the libraries that convert it (a change to any rebuilds the bundle)."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for source in ("training/export.py", "training/quantize.py", "training/live_clips.py",
                   "training/models/i3d.py"):  # fmt: skip
        digest.update((REPO / source).read_bytes())
    for package in ("tensorflow", "tf2onnx", "openvino", "nncf", "onnx"):
        try:
            digest.update(f"{package}={version(package)};".encode())
        except PackageNotFoundError:
            digest.update(f"{package}=none;".encode())
    return digest.hexdigest()[:12]


def two_branch_bundle(folded: Path) -> Path:
    """``folded`` (a Modified-I3D bundle with ONNX) with every 5-tap dilation-averaging conv
    split back into the two 3-tap convolutions it folds (dilation 1 and 2, averaged): the graph
    an exporter that did not fold would run. Same weights, same logits, more FLOPs."""
    import onnx

    path = folded.with_name(folded.name + "-two-branch")
    source = bundles.sha256(folded / bundles.FORMAT_PATHS["onnx"])
    try:
        if bundles.load(path).manifest["model"].get("split_from") == source:
            return path
    except bundles.BundleError:
        pass
    with bundles.staging(path) as work:
        model = onnx.load(str(folded / bundles.FORMAT_PATHS["onnx"]))
        split = split_averaged_convs(model)
        if split == 0:
            raise ValueError(f"{folded} has no 5-tap dilation-averaging convolutions")
        onnx.save(model, str(work / bundles.FORMAT_PATHS["onnx"]))
        _check_same_logits(
            folded / bundles.FORMAT_PATHS["onnx"], work / bundles.FORMAT_PATHS["onnx"]
        )
        import openvino as ov

        ir = work / bundles.FORMAT_PATHS["openvino"]
        ir.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(ov.convert_model(str(work / bundles.FORMAT_PATHS["onnx"])), str(ir))
        manifest = json.loads((folded / bundles.MANIFEST).read_text())
        manifest["formats"] = {f: bundles.FORMAT_PATHS[f] for f in ("openvino", "onnx")}
        manifest["model"].update(two_branch_convs=split, folded=False, split_from=source)
        for stale in ("files", "parity", "precisions"):  # the folded bundle's, not this one's
            manifest.pop(stale, None)
        bundles.write_manifest(work, manifest)
        bundles.replace_bundle(work, path)
    return path


def _check_same_logits(reference: Path, candidate: Path, tolerance: float = 1e-4) -> None:
    """Both ONNX networks on one random clip (ONNX Runtime): the surgery must not change them."""
    import onnxruntime as ort

    outputs = []
    for path in (reference, candidate):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        shape = [1 if not isinstance(d, int) else d for d in spec.shape]
        clip = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        outputs.append(session.run(None, {spec.name: clip})[0])
    scale = float(np.abs(outputs[0]).max()) or 1.0
    difference = float(np.abs(outputs[0] - outputs[1]).max()) / scale
    if difference > tolerance:
        raise RuntimeError(f"the two-branch graph changed the logits (relative {difference:.2e})")


def split_averaged_convs(model) -> int:
    """Rewrite ``model`` (ONNX, in place): each Conv whose temporal kernel is the averaged
    ``[w0/2, w0/2, w1, w2/2, w2/2]`` becomes (Conv_d1(w) + Conv_d2(w)) * 0.5 + bias. Only convs
    with explicit temporal pads of at least 1 a side and no dilation are split (the folded
    network's); their pads (b, e) become (b-1, e-1) for dilation 1 and stay (b, e) for 2."""
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    nodes, count = [], 0
    for node in model.graph.node:
        kernel = weights.get(node.input[1]) if node.op_type == "Conv" else None
        array = numpy_helper.to_array(kernel) if kernel is not None else None
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = list(attributes.get("pads", []))
        if (array is None or array.ndim != 5 or array.shape[2] != 5 or not _averaged(array)
                or attributes.get("auto_pad", "NOTSET") != "NOTSET" or len(pads) != 6
                or min(pads[0], pads[3]) < 1
                or any(d != 1 for d in attributes.get("dilations", [1, 1, 1]))):  # fmt: skip
            nodes.append(node)
            continue
        count += 1
        taps = np.stack([2 * array[:, :, 0], array[:, :, 2], 2 * array[:, :, 3]], axis=2)
        name = f"{node.name or node.output[0]}_two_branch"
        model.graph.initializer.append(numpy_helper.from_array(taps, f"{name}/w"))
        model.graph.initializer.append(numpy_helper.from_array(np.float32([0.5]), f"{name}/half"))
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attributes.pop("kernel_shape", None)
        outputs = []
        for dilation in (1, 2):
            padding = dict(attributes, dilations=[dilation, 1, 1])
            if "pads" in padding:  # explicit: the temporal pad is the dilation (3 taps, same)
                pads = list(padding["pads"])
                padding["pads"] = [dilation, *pads[1:3], dilation, *pads[4:6]]
            conv = helper.make_node(
                "Conv",
                [node.input[0], f"{name}/w"],
                [f"{name}/d{dilation}"],
                name=f"{name}/d{dilation}",
                **padding,
            )
            nodes.append(conv)
            outputs.append(conv.output[0])
        nodes.append(helper.make_node("Add", outputs, [f"{name}/sum"], name=f"{name}/sum"))
        scaled = node.output[0] if len(node.input) < 3 else f"{name}/mean"
        nodes.append(
            helper.make_node("Mul", [f"{name}/sum", f"{name}/half"], [scaled], name=f"{name}/mean")
        )
        if len(node.input) == 3:  # the bias, broadcast over (N, C, T, H, W)
            bias = numpy_helper.to_array(weights[node.input[2]]).reshape(-1, 1, 1, 1)
            model.graph.initializer.append(numpy_helper.from_array(bias, f"{name}/b"))
            nodes.append(
                helper.make_node(
                    "Add", [scaled, f"{name}/b"], [node.output[0]], name=f"{name}/bias"
                )
            )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in used]  # the 5-tap kernels go
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return count


def _averaged(kernel: np.ndarray) -> bool:
    """Is this (out, in, 5, kh, kw) kernel the fold of a dilation-1/2 average?"""
    return np.array_equal(kernel[:, :, 0], kernel[:, :, 1]) and np.array_equal(
        kernel[:, :, 3], kernel[:, :, 4]
    )


def onnx_gflop(path: Path, batch: int = 1) -> float:
    """Floating-point operations (2 per multiply-add) of convolutions and matrix products of one
    forward pass, from the ONNX graph's inferred shapes."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(path))
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_value = batch
    model = shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]
    }
    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}

    def shape_of(name: str) -> list[int]:
        shape = shapes.get(name) or list(weights.get(name, []))
        if not shape or 0 in shape:
            raise ValueError(f"{path}: no inferred shape for {name!r}; cannot count its FLOPs")
        return shape

    flops = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            kernel = weights[node.input[1]]  # (out, in / group, *k)
            flops += 2 * np.prod(shape_of(node.output[0])) * np.prod(kernel[1:])
        elif node.op_type in ("MatMul", "Gemm"):
            a = shape_of(node.input[0])
            transposed = any(x.name == "transA" and x.i for x in node.attribute)
            inner = a[-2] if transposed else a[-1]  # the summed dimension
            flops += 2 * np.prod(shape_of(node.output[0])) * inner
    return float(flops) / 1e9
