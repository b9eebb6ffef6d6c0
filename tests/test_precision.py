"""Precision is an explicit choice: fp32 is f32 on every CPU, bf16 runs only where the CPU has
it, int8 only from a bundle with an INT8 network, and "auto" picks the fastest that agrees with
fp32 on at least 99% of the bundle's measured clips, saying why."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from gesture_rt import GestureRecognizer
from gesture_rt import bundle as bundles
from gesture_rt.engines import available, open_engine
from gesture_rt.engines import openvino as openvino_engine
from gesture_rt.precision import AUTO_MIN_AGREEMENT, PrecisionError, check_precision, choose
from gesture_rt.recognizer import DEFAULT_BUNDLE

AMD_EPYC = ("FP32", "INT8", "BIN", "EXPORT_IMPORT")  # what OpenVINO reports on the AVX2 machines
SAPPHIRE_RAPIDS = ("BF16", "WINOGRAD", "FP32", "FP16", "INT8", "BIN", "EXPORT_IMPORT")
HAS_BF16 = "BF16" in openvino_engine.capabilities("CPU")


def measured(share: float, clips: int = 600) -> dict:
    return {"top1_agreement": share, "clips": clips, "max_rel_diff": 0.01}


@pytest.mark.parametrize(
    ("refused", "agreements", "expected"),
    [
        ({}, {"bf16": measured(0.999), "int8": measured(0.995)}, "int8"),  # fastest first
        ({}, {"bf16": measured(0.999), "int8": measured(0.98)}, "bf16"),  # int8 too far off
        ({"bf16": "no bf16"}, {"bf16": measured(1.0), "int8": measured(0.98)}, "fp32"),
        ({}, {"bf16": None, "int8": measured(AUTO_MIN_AGREEMENT)}, "int8"),  # 99% exactly
        ({"int8": "no INT8 network"}, {"bf16": None}, "fp32"),  # bf16 never measured
        ({}, {}, "fp32"),  # a bundle from before precisions were recorded
    ],
)
def test_auto_picks_the_fastest_precision_that_agrees(refused, agreements, expected):
    choice = choose("auto", refused, agreements)
    assert choice.precision == expected and choice.reason.startswith("auto: ")
    for precision, why in refused.items():  # every precision passed over is named, with why
        assert f"{precision}: {why}" in choice.reason


def test_an_explicit_precision_runs_or_is_refused_with_the_reason():
    assert choose("fp32", {"bf16": "no"}, {}).precision == "fp32"
    chosen = choose("int8", {}, {"int8": measured(0.9)})  # asked for: runs, agreement named
    assert chosen.precision == "int8" and "90.0% of 600" in chosen.reason
    with pytest.raises(PrecisionError, match=r"'bf16' cannot run here: this CPU has no bf16"):
        choose("bf16", {"bf16": "this CPU has no bf16"}, {})
    for bad in ("fp16", "FP32", None, 32):
        with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'fp32'"):
            check_precision(bad)


def test_fp32_is_f32_on_every_cpu_and_bf16_is_bf16():
    """On AMX CPUs OpenVINO's own default is bfloat16: the engine must say f32 itself."""
    with open_engine(DEFAULT_BUNDLE, "openvino", precision="fp32") as engine:
        hint = engine._compiled.get_property("INFERENCE_PRECISION_HINT")
        assert engine.precision == "fp32" and str(hint) == "<Type: 'float32'>"
    if not HAS_BF16:
        pytest.skip("this CPU has no bf16 (OpenVINO's capabilities lack BF16)")
    with open_engine(DEFAULT_BUNDLE, "openvino", precision="bf16") as engine:
        assert str(engine._compiled.get_property("INFERENCE_PRECISION_HINT")) == (
            "<Type: 'bfloat16'>")  # fmt: skip


def test_bf16_is_refused_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(openvino_engine, "capabilities", lambda device: AMD_EPYC)
    with pytest.raises(PrecisionError, match=r"this CPU has no bf16 \(OpenVINO's capabilities: "
                                             r"FP32, INT8, BIN, EXPORT_IMPORT\)"):  # fmt: skip
        open_engine(DEFAULT_BUNDLE, precision="bf16")
    with open_engine(DEFAULT_BUNDLE) as engine:  # auto: never bf16 there
        assert engine.precision in ("int8", "fp32") and "bf16: this CPU has no bf16" in (
            engine.precision_reason)  # fmt: skip


def test_int8_is_refused_for_a_bundle_without_an_int8_network(tmp_path):
    copy = tmp_path / "fp32-only"
    shutil.copytree(bundles.resolve(DEFAULT_BUNDLE), copy)
    shutil.rmtree(copy / "openvino-int8", ignore_errors=True)
    manifest = json.loads((copy / bundles.MANIFEST).read_text())
    manifest.get("precisions", {}).pop("int8", None)
    bundles.write_manifest(copy, manifest)
    with pytest.raises(PrecisionError, match=r"has no INT8 network \(export with --int8"):
        open_engine(copy, precision="int8")
    with open_engine(copy) as engine:
        assert engine.precision != "int8" and "int8: bundle" in engine.precision_reason


@pytest.mark.skipif(not available("onnxruntime"), reason="onnxruntime is not installed")
def test_engines_without_reduced_precisions_refuse_them():
    with pytest.raises(PrecisionError, match=r"the onnxruntime engine runs fp32 only"):
        open_engine(DEFAULT_BUNDLE, "onnxruntime", precision="int8")
    with open_engine(DEFAULT_BUNDLE, "onnxruntime") as engine:
        assert engine.precision == "fp32"


def test_a_bundle_without_openvino_refuses_reduced_precisions_by_name(tmp_path):
    copy = tmp_path / "onnx-only"
    shutil.copytree(bundles.resolve(DEFAULT_BUNDLE), copy)
    manifest = json.loads((copy / bundles.MANIFEST).read_text())
    manifest["formats"] = {"onnx": "model.onnx"}
    manifest.pop("precisions", None)
    for folder in ("openvino", "openvino-int8", "keras"):
        shutil.rmtree(copy / folder, ignore_errors=True)
    bundles.write_manifest(copy, manifest)
    with pytest.raises(PrecisionError, match=r"'bf16' runs on \['openvino'\] only, and bundle"):
        open_engine(copy, precision="bf16")


def test_the_bundled_model_records_its_precisions_and_auto_says_what_it_took(caplog):
    loaded = bundles.load(DEFAULT_BUNDLE)
    int8 = loaded.agreements["int8"]
    assert int8["clips"] >= 500 and int8["windows"] > 0 and int8["gestures"] > 0
    caplog.set_level(logging.INFO, logger="gesture_rt.engines")
    with GestureRecognizer.create() as recognizer:
        precision = recognizer.precision
    line = [r.getMessage() for r in caplog.records if r.name == "gesture_rt.engines"]
    assert line == [f"openvino on cpu runs {precision}: {recognizer.engine.precision_reason}"]
    # The fastest of int8 > bf16 > fp32 that this CPU runs and that agrees on >= 99%.
    runs = {"int8": True, "bf16": HAS_BF16, "fp32": True}
    agreed = {p: (a or {}).get("top1_agreement", 0.0) for p, a in loaded.agreements.items()}
    agreed["fp32"] = 1.0
    assert precision == next(p for p in ("int8", "bf16", "fp32")
                             if runs[p] and agreed[p] >= AUTO_MIN_AGREEMENT)  # fmt: skip


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 (OpenVINO's capabilities lack BF16)")
def test_bf16_agrees_with_fp32_rather_than_equals_it():
    from gesture_rt.synthetic.clips import render_clip

    clips = []
    with GestureRecognizer.create(precision="fp32") as fp32, \
            GestureRecognizer.create(precision="bf16") as bf16:  # fmt: skip
        assert bf16.precision == "bf16"
        for seed, label in enumerate(("Swiping Left", "Thumb Up", "Stop Sign", "Shaking Hand")):
            frames = render_clip(label, seed, frames=40, size=(96, 128), difficulty=0.2).frames
            clips.append((fp32.classify_clip(frames), bf16.classify_clip(frames)))
    reference = np.stack([a.probabilities for a, _ in clips])
    reduced = np.stack([b.probabilities for _, b in clips])
    assert not np.array_equal(reference, reduced)  # really computed in bfloat16
    assert np.abs(reference - reduced).max() < 0.05
    assert [a.label for a, _ in clips] == [b.label for _, b in clips]


def test_auto_times_int8_and_bf16_where_both_qualify(tmp_path):
    """int8 is not always the faster: where both agree on >= 99%, auto runs each on a clip."""
    copy = tmp_path / "both-agree"
    shutil.copytree(bundles.resolve(DEFAULT_BUNDLE), copy)
    manifest = json.loads((copy / bundles.MANIFEST).read_text())
    for precision in ("bf16", "int8"):
        manifest["precisions"][precision]["agreement"] = measured(0.995)
    bundles.write_manifest(copy, manifest)
    with open_engine(copy) as engine:
        reason = engine.precision_reason
    if not HAS_BF16:  # only int8 qualifies: no timing needed
        assert engine.precision == "int8" and "one clip" not in reason
        return
    timings = dict(re.findall(r"(int8|bf16) ([0-9.]+) ms", reason))
    assert set(timings) == {"int8", "bf16"}, reason
    assert engine.precision == min(timings, key=lambda p: float(timings[p]))


def test_the_readme_quotes_the_bundled_models_recorded_agreement():
    """README's "The bundled model, measured" table is the manifest's figures, rounded."""
    readme = (Path(__file__).resolve().parents[1] / "docs" / "runtime.md").read_text()
    agreements = bundles.load(DEFAULT_BUNDLE).agreements
    for precision in ("bf16", "int8"):
        quoted = re.search(rf"^\| {precision} \| (?:\*\*)?([0-9.]+)%(?:\*\*)? \| ([0-9.]+)% \| "
                           rf"([0-9.]+)% \|", readme, re.MULTILINE)  # fmt: skip
        assert quoted, f"README lacks the bundled model's {precision} row"
        recorded = agreements[precision]
        keys = ("top1_agreement", "top1_agreement_windows", "top1_agreement_gestures")
        for text, key in zip(quoted.groups(), keys, strict=True):
            assert float(text) == round(100 * recorded[key], 1), (precision, key)
