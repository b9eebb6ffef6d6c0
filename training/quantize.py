"""``python -m training.quantize BUNDLE [--int8]``: bf16 and INT8 beside a bundle's fp32 network,
each measured against fp32 on clips like those a live recognizer sees.

bf16 needs no network of its own (OpenVINO computes the fp32 one in bfloat16) but a CPU with
AVX512_BF16 or AMX to measure it on; where this CPU lacks it, the manifest says bf16 was not
measured and ``precision="auto"`` will not pick it. INT8 (``--int8``) is NNCF's post-training
quantisation of the fp32 IR, calibrated on live-like clips (``training.live_clips``): ranges from
the calibration minima and maxima, full bias correction, the logits layer left in float, and
NNCF's accuracy control keeping in float the few layers whose INT8 moved top-1 most on a second
set of clips, until INT8 agrees with fp32 on 99.5% of them (the recipe that measured best, see
docs/export.md). Agreement is then measured on a third set: top-1 agreement and logit
difference, stream windows and whole gestures also apart. Export runs this for every bundle
with an OpenVINO network; this command re-runs it on an existing bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesture_rt import bundle as bundles
from gesture_rt.engines.openvino import capabilities, compile_ir
from training.live_clips import live_clips

# Seeds of the live-like clips. The recipe was chosen on seeds 2-5, 2026 and 7777; the clips of
# MEASUREMENT_SEED were never looked at before docs/runtime.md's figures were measured on them.
CALIBRATION_SEED, VALIDATION_SEED, MEASUREMENT_SEED = 1, 2, 4711
INT8_MIN_VALIDATION = 0.995  # accuracy control's goal: top-1 agreement on the validation clips


@dataclass(frozen=True)
class PrecisionOptions:
    """``int8``: quantise anew (else an INT8 network already in the bundle is re-measured);
    ``clips``: measured clips (half stream windows, half whole gestures; docs/runtime.md's
    figures use 600); ``calibration_clips``: INT8 calibration clips, and as many
    accuracy-control clips."""

    int8: bool = False
    clips: int = 600
    calibration_clips: int = 600

    def __post_init__(self) -> None:
        for name in ("clips", "calibration_clips"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")


def parity(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """How far ``candidate`` logits are from ``reference``: relative max difference and top-1."""
    scale = float(np.abs(reference).max()) or 1.0
    return {
        "clips": len(reference),
        "max_abs_diff": float(np.abs(reference - candidate).max()),
        "max_rel_diff": float(np.abs(reference - candidate).max() / scale),
        "top1_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
    }


def agreement(reference: np.ndarray, candidate: np.ndarray, windows: int) -> dict:
    """``parity`` of all clips, with top-1 agreement on the first ``windows`` (stream windows)
    and on the rest (whole gestures) apart."""
    same = reference.argmax(1) == candidate.argmax(1)
    return {**parity(reference, candidate), "windows": windows,
            "gestures": len(same) - windows,
            "top1_agreement_windows": float(np.mean(same[:windows])),
            "top1_agreement_gestures": float(np.mean(same[windows:]))}  # fmt: skip


def add_precisions(root: Path, options: PrecisionOptions = PrecisionOptions(),
                   progress: bool = True) -> dict:  # fmt: skip
    """The ``precisions`` section for the bundle folder ``root`` (its manifest written, its fp32
    OpenVINO network present), writing its INT8 network there if ``options.int8``."""
    from tqdm import tqdm

    manifest = json.loads((root / bundles.MANIFEST).read_text())
    shape = tuple(manifest["input"]["shape"])
    resize_short, fps = manifest["preprocessing"]["resize_short"], manifest["training_fps"]
    fp32 = root / manifest["formats"]["openvino"]
    old_int8 = manifest.get("precisions", {}).get("int8")
    int8 = root / bundles.INT8_NETWORK if options.int8 else (
        old_int8 and root / old_int8["network"])  # fmt: skip
    if "BF16" not in capabilities("CPU") and not int8:  # nothing to measure: no clips made
        return {"bf16": _bf16_not_measured()}
    steps = 2 + bool(int8) + options.int8
    bar = tqdm(total=steps, desc="precisions", unit="step", disable=not progress)
    try:
        calibrated = old_int8 and old_int8["calibration"]
        if options.int8:  # first: its clips are freed before the measured ones are made
            bar.set_postfix_str(f"int8 on {options.calibration_clips} clips")
            calibrated = _calibrate(fp32, shape, resize_short, fps, options.calibration_clips,
                                    int8, progress)  # fmt: skip
            bar.update()
        bar.set_postfix_str(f"{options.clips} live-like clips")
        clips = live_clips(options.clips, shape, resize_short, fps, MEASUREMENT_SEED)
        windows = options.clips // 2
        bar.update()
        bar.set_postfix_str("fp32 and bf16")
        reference = logits(fp32, clips, "fp32")
        section = {"bf16": _bf16(fp32, clips, reference, windows)}
        bar.update()
        if int8:
            bar.set_postfix_str("int8")
            section["int8"] = {
                "network": int8.relative_to(root).as_posix(),
                "agreement": agreement(reference, logits(int8, clips, "int8"), windows),
                "measured_on": measured_on(),
                "calibration": calibrated,
            }
            bar.update()
    finally:
        bar.close()
    return section


def _calibrate(fp32: Path, shape, resize_short: int, fps: float, count: int, out: Path,
               progress: bool) -> dict:  # fmt: skip
    """Write the INT8 network of ``fp32`` at ``out`` from ``count`` calibration clips and as many
    validation clips; what the manifest says of its calibration."""
    calibration, validation = (live_clips(count, shape, resize_short, fps, seed)
                               for seed in (CALIBRATION_SEED, VALIDATION_SEED))  # fmt: skip
    kept_float = write_int8(fp32, calibration, validation, out, progress)
    return {"clips": count, "seed": CALIBRATION_SEED, "validation_seed": VALIDATION_SEED,
            "recipe": INT8_RECIPE, "kept_float": kept_float}  # fmt: skip


INT8_RECIPE = ("NNCF post-training quantisation: performance preset, activation ranges from "
               "the calibration minima and maxima, full bias correction, logits layer in float, "
               f"accuracy control to {INT8_MIN_VALIDATION:.1%} top-1 agreement on validation clips")


def _bf16(fp32: Path, clips: np.ndarray, reference: np.ndarray, windows: int) -> dict:
    if "BF16" not in capabilities("CPU"):
        return _bf16_not_measured()
    return {"agreement": agreement(reference, logits(fp32, clips, "bf16"), windows),
            "measured_on": measured_on()}  # fmt: skip


def _bf16_not_measured() -> dict:
    has = ", ".join(capabilities("CPU"))
    return {"agreement": None, "measured_on": measured_on(),
            "not_measured": f"the exporting CPU has no bf16 (OpenVINO's capabilities: {has})"}


def logits(network: Path, clips: np.ndarray, precision: str) -> np.ndarray:
    """Logits of ``clips`` from the IR ``network`` on this CPU at ``precision``, compiled as
    the runtime's OpenVINO engine compiles it."""
    request = compile_ir(network, clips.shape[1:], "cpu", precision).create_infer_request()
    out = []
    for clip in clips:
        request.infer({0: clip[None]})
        out.append(request.get_output_tensor(0).data[0].copy())
    return np.stack(out)


def write_int8(fp32: Path, calibration: np.ndarray, validation: np.ndarray, out: Path,
               progress: bool = True) -> list[str]:  # fmt: skip
    """Quantise the IR ``fp32`` (INT8_RECIPE) and save it at ``out``; the names of the
    convolutions accuracy control kept in float (besides the logits layer)."""
    import logging

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.INFO if progress else logging.ERROR)
    labels = logits(fp32, validation, "fp32").argmax(1)
    network = ov.Core().read_model(str(fp32))
    logits_ops = logits_layer(network)
    # NNCF draws its progress on stdout, where the command line prints its JSON result.
    with contextlib.redirect_stdout(sys.stderr if progress else io.StringIO()):
        quantised = _quantise(network, calibration, validation, labels, logits_ops)
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantised, str(out), compress_to_fp16=False)  # its float layers stay fp32
    return [op.get_friendly_name() for op in quantised.get_ordered_ops()
            if op.get_type_name() == "Convolution" and op.get_friendly_name() not in logits_ops
            and not _int8_weights(op)]  # fmt: skip


def _quantise(network, calibration: np.ndarray, validation: np.ndarray, labels: np.ndarray,
              float_ops: list[str]):  # fmt: skip
    """INT8_RECIPE: NNCF's quantisation with accuracy control; NNCF compiles each candidate
    pinned to f32 and scores it by its top-1 agreement with fp32's ``labels``."""
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedAccuracyRestorerParameters,
        AdvancedQuantizationParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    def top1_agreement(compiled, items) -> tuple[float, list[float]]:
        same = [float(np.argmax(compiled(clip)[0][0]) == label) for clip, label in items]
        return float(np.mean(same)), same

    items = [(clip[None], int(label)) for clip, label in zip(validation, labels, strict=True)]
    return nncf.quantize_with_accuracy_control(
        network,
        nncf.Dataset([clip[None] for clip in calibration]),
        nncf.Dataset(items),
        top1_agreement,
        max_drop=1 - INT8_MIN_VALIDATION,
        subset_size=len(calibration),
        fast_bias_correction=False,
        ignored_scope=nncf.IgnoredScope(names=float_ops),
        advanced_quantization_parameters=AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX
        ),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            ranking_subset_size=min(300, len(validation))
        ),
    )


def _int8_weights(convolution) -> bool:
    """Whether a convolution's weights come from an 8-bit constant (dequantised on the way)."""
    node = convolution.input_value(1).get_node()
    while node.get_type_name() != "Constant" and node.get_input_size() > 0:
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant" and node.get_element_type().get_type_name() in (
        "i8", "u8")  # fmt: skip


def logits_layer(network) -> list[str]:
    """Names of the network's last convolution or matrix product and every operation after it:
    quantising the logits themselves moved them by up to 29% of their scale."""
    ops = [op for op in network.get_ordered_ops()
           if op.get_type_name() not in ("Constant", "Parameter", "Result")]  # fmt: skip
    last = max(i for i, op in enumerate(ops) if op.get_type_name() in ("Convolution", "MatMul"))
    return [op.get_friendly_name() for op in ops[last:]]


def measured_on() -> dict:
    """The CPU and library a figure was measured with."""
    import openvino as ov

    return {"cpu": ov.Core().get_property("CPU", "FULL_DEVICE_NAME"),
            "capabilities": list(capabilities("CPU")), "openvino": ov.__version__}  # fmt: skip


def quantize_bundle(bundle: str | Path, out: str | Path | None = None,
                    options: PrecisionOptions = PrecisionOptions(),
                    progress: bool = True) -> dict:  # fmt: skip
    """Re-measure ``bundle``'s precisions (adding an INT8 network if ``options.int8``) and write
    the result to ``out`` (default: replace ``bundle``), assembled aside and renamed into place.
    Returns the new manifest."""
    loaded = bundles.load(bundle)
    if "openvino" not in loaded.formats:
        raise ValueError(f"bundle: {loaded.root} has no OpenVINO network (it has "
                         f"{list(loaded.formats)}); bf16 and int8 run on OpenVINO")  # fmt: skip
    out = Path(out) if out is not None else loaded.root
    if out.exists() and out.resolve() != loaded.root:
        raise FileExistsError(f"out: {out} exists; give a new folder (or none, to replace "
                              f"{loaded.root})")  # fmt: skip
    with bundles.staging(out) as work:
        staged = work / "bundle"
        staged.mkdir()
        for name in loaded.manifest["files"]:  # the verified bytes, not whatever is there now
            if not (options.int8 and name.startswith(str(Path(bundles.INT8_NETWORK).parent) + "/")):
                (staged / name).parent.mkdir(parents=True, exist_ok=True)
                (staged / name).write_bytes(loaded.read(name))
        manifest = copy.deepcopy(loaded.manifest)
        if options.int8:
            manifest.get("precisions", {}).pop("int8", None)  # its network was not copied
        bundles.write_manifest(staged, manifest)  # what add_precisions reads
        manifest["precisions"] = add_precisions(staged, options, progress)
        manifest = bundles.write_manifest(staged, manifest)
        bundles.replace_bundle(staged, out)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.quantize",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("bundle", help="a bundle folder or a bundled model's name")
    p.add_argument("--out", default=None, help="write here instead of replacing BUNDLE")
    p.add_argument("--int8", action="store_true", help="quantise an INT8 network anew")
    p.add_argument("--clips", type=int, default=PrecisionOptions.clips,
                   help="live-like clips the agreement is measured on")  # fmt: skip
    p.add_argument("--calibration-clips", type=int, default=PrecisionOptions.calibration_clips)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        options = PrecisionOptions(args.int8, args.clips, args.calibration_clips)
        manifest = quantize_bundle(args.bundle, args.out, options, progress=not args.quiet)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"bundle": args.out or args.bundle, "precisions": manifest["precisions"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
