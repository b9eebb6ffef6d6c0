"""``python -m training.export CHECKPOINT OUT_BUNDLE``: a trained network as a runtime bundle.

The exported graph is the evaluation-mode network folded into plain convolutions (BatchNorm into
the conv before it, dilation averaging into 5-tap temporal kernels: ``training.models.i3d.fold``),
so no engine runs a layer twice. Parity with the unfolded Keras model is checked before the bundle
is committed, every engine pinned to fp32: the same top-1 on random clips and logits within 1e-3
of the largest (relative). bf16 and INT8 are then measured against fp32 (``training.quantize``).
The bundle is assembled under a temporary name beside ``OUT_BUNDLE`` and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import training  # noqa: F401  (TensorFlow's CPU settings, before it is imported)
from gesture_rt import bundle as bundles
from gesture_rt.labels import JESTER_LABELS as LABELS
from gesture_rt.manifest import FPS_RANGE
from training.checkpoints import JESTER_FPS
from training.quantize import PrecisionOptions, add_precisions, parity

PARITY_TOLERANCE = 1e-3  # max |logit difference| / max |logit|, fp32


@dataclass(frozen=True)
class ExportOptions:
    """What to write: ``formats`` (subset of gesture_rt.bundle.FORMATS), ``dilation`` (None
    keeps the run's evaluation mode), runtime defaults, how many random clips check fp32 parity,
    and, for a bundle with an OpenVINO network, its reduced precisions (``training.quantize``:
    bf16 measured where this CPU has it, an INT8 network if ``int8``)."""

    formats: tuple[str, ...] = ("openvino", "onnx")
    int8: bool = False
    dilation: str | None = None
    stride: int = 20
    threshold: float = 0.5
    smoothing: int = 1
    training_fps: float = JESTER_FPS
    resize_short: int | None = None
    parity_clips: int = 100
    agreement_clips: int = PrecisionOptions.clips
    calibration_clips: int = PrecisionOptions.calibration_clips
    force: bool = False

    def __post_init__(self) -> None:
        formats = tuple(self.formats)
        unknown = [f for f in formats if f not in bundles.FORMATS]
        if not formats or unknown or len(set(formats)) != len(formats):
            raise ValueError(
                f"formats must be distinct names from {bundles.FORMATS}, got {self.formats!r}"
            )
        if formats == ("keras",):
            raise ValueError(
                "formats: Keras weights alone make a bundle no engine can run; add openvino or onnx"
            )
        object.__setattr__(self, "formats", formats)
        if self.int8 and "openvino" not in formats:
            raise ValueError(f"int8: the INT8 network is OpenVINO's; add openvino to formats "
                             f"(got {','.join(formats)})")  # fmt: skip
        for name in ("stride", "smoothing", "parity_clips"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.precision_options()  # checks the clip counts
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold!r}")
        low, high = FPS_RANGE
        if not low <= self.training_fps <= high:
            raise ValueError(f"training_fps must be in [{low:g}, {high:g}], got "
                             f"{self.training_fps!r}")  # fmt: skip

    def precision_options(self) -> PrecisionOptions:
        return PrecisionOptions(self.int8, self.agreement_clips, self.calibration_clips)


def check_parity(name: str, result: dict, tolerance: float = PARITY_TOLERANCE) -> None:
    if result["max_rel_diff"] > tolerance or result["top1_agreement"] < 1.0:
        raise RuntimeError(
            f"{name} disagrees with the unfolded model on {result['clips']} random clips: "
            f"max relative logit difference {result['max_rel_diff']:.2e} (allowed {tolerance:g}), "
            f"top-1 agreement {result['top1_agreement']:.2%}"
        )


def random_clips(count: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, *shape)).astype(np.float32)


def batched(forward, clips: np.ndarray, batch: int = 4) -> np.ndarray:
    return np.concatenate([np.asarray(forward(clips[i : i + batch]))
                           for i in range(0, len(clips), batch)])  # fmt: skip


def keras_forward(model):
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def save_savedmodel(model, path: Path) -> None:
    """A SavedModel whose ``serving_default`` maps ``clip`` (N, T, H, W, C) to ``logits``."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="clip")
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda clip: {"logits": model(clip, training=False)},
                               input_signature=[spec])  # fmt: skip
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def save_keras_weights(model, path: Path) -> None:
    """The folded network's weights (HDF5); ``training.checkpoints.load_network`` rebuilds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(path))


def save_onnx(model, path: Path) -> None:
    import tensorflow as tf
    import tf2onnx

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="clip")
    forward = tf.function(lambda clip: tf.identity(model(clip, training=False), name="logits"))
    tf2onnx.convert.from_function(forward, input_signature=[spec], opset=17, output_path=str(path))


def save_openvino(onnx: Path, path: Path) -> None:
    """The fp32 OpenVINO IR of the ONNX network (weights kept in fp32)."""
    import openvino as ov

    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(str(onnx)), str(path), compress_to_fp16=False)


def export(
    checkpoint: str | None,
    out: str | Path,
    options: ExportOptions = ExportOptions(),
    *,
    model=None,
    source: dict | None = None,
    progress: bool = True,
) -> dict:
    """Write the bundle ``out`` from a run (``checkpoint``) or a built ``model``; return its
    manifest. Nothing is left at ``out`` unless every step, parity included, succeeded."""
    from tqdm import tqdm

    from training.checkpoints import load_trained, records_height, resolve
    from training.models.i3d import fold

    out = Path(out)
    bundles.recover(out)  # a replacement a kill interrupted: the old bundle back first
    if out.exists() and not options.force:
        raise FileExistsError(f"out: {out} exists; pass --force to replace it")
    overrides = {} if options.dilation is None else {"dilation_eval": options.dilation}
    if model is None:
        model, config = load_trained(checkpoint, **overrides)
        run_dir, prefix = resolve(checkpoint)
        source = {"checkpoint": str(prefix), "run": str(run_dir), "labels": config["labels"],
                  "records": records_height(run_dir, config)}  # fmt: skip
    source = dict(source or {})
    labels = source.pop("labels", LABELS)
    shape = tuple(model.input_shape[1:])
    resize_short = options.resize_short or source.pop("records", None) or shape[1]
    if resize_short < max(shape[1:3]):
        raise ValueError(f"resize_short: {resize_short} is smaller than the network's "
                         f"{shape[1]}x{shape[2]} input; the crop would not fit")  # fmt: skip
    bar = tqdm(total=3 + len(options.formats), desc="export", unit="step", disable=not progress)
    with bundles.staging(out) as work, bar:
        bar.set_postfix_str("fold")
        folded = fold(model)
        bar.update()
        bar.set_postfix_str("parity")
        clips = random_clips(options.parity_clips, shape)
        reference = batched(keras_forward(model), clips)
        checks = {"folded": parity(reference, batched(keras_forward(folded), clips))}
        check_parity("the folded model", checks["folded"])
        bar.update()
        # ONNX is always written (tf2onnx freezes the weights); OpenVINO converts from it.
        staging, target = work / "staging", work / "bundle"
        target.mkdir()
        staging.mkdir()
        onnx = (target if "onnx" in options.formats else staging) / bundles.FORMAT_PATHS["onnx"]
        bar.set_postfix_str("onnx")
        save_onnx(folded, onnx)
        if "savedmodel" in options.formats:
            bar.set_postfix_str("savedmodel")
            save_savedmodel(folded, target / bundles.FORMAT_PATHS["savedmodel"])
        if "keras" in options.formats:
            save_keras_weights(folded, target / bundles.FORMAT_PATHS["keras"])
        if "openvino" in options.formats:
            bar.set_postfix_str("openvino")
            save_openvino(onnx, target / bundles.FORMAT_PATHS["openvino"])
        bar.update(len(options.formats))
        shutil.rmtree(staging, ignore_errors=True)
        manifest = _manifest(model, labels, shape, resize_short, options, source)
        bundles.write_manifest(target, manifest)
        bar.set_postfix_str("engine parity")
        manifest["parity"] = _engine_checks(target, clips, reference, checks, options)
        bar.update()
        if "openvino" in options.formats:
            bundles.write_manifest(target, manifest)
            manifest["precisions"] = add_precisions(target, options.precision_options(), progress)
        manifest = bundles.write_manifest(target, manifest)
        bundles.replace_bundle(target, out)
    return manifest


def _manifest(model, labels, shape, resize_short, options: ExportOptions, source: dict) -> dict:
    spec = {**model.spec.as_dict(), "folded": True}
    spec.pop("dropout")
    return {
        "model": spec,
        "labels": list(labels),
        "input": {"name": "clip", "shape": list(shape), "layout": "NTHWC", "dtype": "float32"},
        "output": {"name": "logits", "classes": len(labels)},
        "preprocessing": {
            "resize_short": int(resize_short),
            "crop": int(shape[1]),
            "mean": 127.5,
            "std": 127.5,
        },
        "channel_order": "rgb",
        "training_fps": float(options.training_fps),
        "stride": options.stride,
        "threshold": options.threshold,
        "smoothing": options.smoothing,
        "formats": {f: bundles.FORMAT_PATHS[f] for f in options.formats},
        "source": source,
    }


def _engine_checks(root: Path, clips, reference, checks: dict, options: ExportOptions) -> dict:
    """Run every written network on the runtime's own engines, pinned to fp32 (so the same
    checkpoint exports the same bundle on every CPU), against the unfolded model's logits."""
    from gesture_rt.engines import open_engine
    from training.checkpoints import load_network

    loaded = bundles.load(root)
    for fmt in options.formats:
        if fmt == "keras":  # no engine: rebuilt from the manifest as Grad-CAM will rebuild it
            rebuilt = load_network(root).model
            checks[fmt] = parity(reference, batched(keras_forward(rebuilt), clips))
        else:
            # this export's own SavedModel, just written: trusted as this code is
            with open_engine(loaded, engine=ENGINE_OF[fmt], precision="fp32",
                             allow_bundle_code=True) as engine:  # fmt: skip
                checks[fmt] = parity(reference, batched(engine.infer, clips))
        check_parity(f"the {fmt} network", checks[fmt])
    return checks


ENGINE_OF = {"openvino": "openvino", "onnx": "onnxruntime", "savedmodel": "tensorflow"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.export",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("checkpoint", nargs="?", help="a training run's folder or a checkpoint prefix")
    p.add_argument("out", help="the bundle folder to write")
    p.add_argument("--formats", default="openvino,onnx",
                   help=f"comma-separated, from {','.join(bundles.FORMATS)}")  # fmt: skip
    p.add_argument("--int8", action="store_true",
                   help="add an INT8 network (OpenVINO, NNCF post-training quantisation)")
    p.add_argument(
        "--dilation",
        default=None,
        help="evaluation dilation: none, full, top-N or bottom-N (default: the run's)",
    )
    p.add_argument("--stride", type=int, default=20, help="the runtime's default stride")
    p.add_argument("--threshold", type=float, default=0.5, help="the runtime's default threshold")
    p.add_argument(
        "--smoothing",
        type=int,
        default=1,
        help="the runtime's default: predictions averaged before the threshold",
    )
    p.add_argument("--training-fps", type=float, default=JESTER_FPS)
    p.add_argument("--resize-short", type=int, default=None,
                   help="short side frames are resized to before the crop (default: the run's "
                        "records' frame height)")  # fmt: skip
    p.add_argument("--parity-clips", type=int, default=100)
    p.add_argument("--agreement-clips", type=int, default=PrecisionOptions.clips,
                   help="live-like clips bf16 and int8 are measured against fp32 on")  # fmt: skip
    p.add_argument("--calibration-clips", type=int, default=PrecisionOptions.calibration_clips,
                   help="INT8 calibration clips")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    random = p.add_argument_group("untrained networks (benchmarks)")
    random.add_argument("--random-init", action="store_true", help="export an untrained --arch")
    random.add_argument("--arch", default="modified_i3d")
    random.add_argument("--width", type=float, default=1.0)
    random.add_argument("--input-shape", default="40,100,100,3", help="T,H,W,C")
    random.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def random_model(arch: str, width: float, input_shape, dilation: str | None, seed: int):
    """An untrained family member with random BatchNorm statistics, so the fold has work."""
    import keras

    from training.models.i3d import build_model

    keras.utils.set_random_seed(seed)
    options = {} if dilation is None else {"dilation_eval": dilation}
    model = build_model(arch, input_shape=input_shape, width=width, **options)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        name = weight.path.rsplit("/", 1)[-1]
        if name == "moving_variance":
            weight.assign(rng.uniform(0.5, 2.0, weight.shape).astype(np.float32))
        elif name in ("moving_mean", "beta"):
            weight.assign(rng.normal(0, 0.1, weight.shape).astype(np.float32))
    return model


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        options = ExportOptions(
            formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
            int8=args.int8, dilation=args.dilation, stride=args.stride,
            threshold=args.threshold, smoothing=args.smoothing, training_fps=args.training_fps,
            resize_short=args.resize_short, parity_clips=args.parity_clips,
            agreement_clips=args.agreement_clips, calibration_clips=args.calibration_clips,
            force=args.force,
        )  # fmt: skip
        if args.random_init == (args.checkpoint is not None):
            raise ValueError("give a CHECKPOINT, or --random-init --arch ARCH, not both")
        model = source = None
        if args.random_init:
            shape = tuple(int(n) for n in args.input_shape.split(","))
            model = random_model(args.arch, args.width, shape, args.dilation, args.seed)
            source = {"random_init": True, "seed": args.seed}
        manifest = export(args.checkpoint, args.out, options, model=model, source=source,
                          progress=not args.quiet)  # fmt: skip
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"bundle": str(Path(args.out).resolve()), "parity": manifest["parity"],
                      "precisions": manifest.get("precisions", {})}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
