"""The benchmark report: ratios from one run's timings, and the comparison of two saved runs."""

from __future__ import annotations

import json

import pytest

from bench import peak, report


def timings(openvino: float, tensorflow: float) -> dict:
    return {
        ("I3D", "openvino", "fp32"): {"median": openvino, "p95": openvino * 1.1, "gflop": 30.0},
        ("I3D", "tensorflow", "fp32"): {"median": tensorflow, "p95": tensorflow, "gflop": 30.0},
        ("Modified-I3D", "openvino", "fp32"): {"median": 0.30, "p95": 0.31, "gflop": 41.1},
        ("Modified-I3D two-branch", "openvino", "fp32"): {"median": 0.36, "p95": 0.4,
                                                          "gflop": 46.8},
        ("Modified-I3D", "openvino", "int8"): {"median": 0.10, "p95": 0.11, "gflop": 41.1,
                                               "agreement": {"top1_agreement": 0.995}},
    }  # fmt: skip


PEAKS = {"fp32": {"median": 0.1, "gflop": 20.0}, "int8": {"median": 0.1, "gflop": 80.0}}


def test_ratios_pair_only_what_was_measured_in_the_run():
    ratios = {r["ratio"]: r for r in report.engine_ratios(timings(0.25, 0.6))}
    assert set(ratios) == {"OpenVINO vs TensorFlow SavedModel", "folded vs two-branch dilation",
                           "int8 vs fp32 (OpenVINO)"}  # fmt: skip
    assert abs(ratios["OpenVINO vs TensorFlow SavedModel"]["speedup"] - 2.4) < 1e-9
    assert abs(ratios["folded vs two-branch dilation"]["speedup"] - 1.2) < 1e-9
    assert abs(ratios["int8 vs fp32 (OpenVINO)"]["speedup"] - 3.0) < 1e-9
    rows = report.engine_rows(timings(0.25, 0.6), PEAKS)
    i3d = next(r for r in rows if r["network"] == "I3D" and r["engine"] == "openvino")
    assert i3d["gflops"] == 120.0 and i3d["peak_share"] == 0.6 and i3d["agreement"] is None
    int8 = next(r for r in rows if r["precision"] == "int8")  # against the INT8 GEMM's peak
    assert abs(int8["peak_share"] - 411 / 800) < 1e-9 and int8["agreement"] == 0.995
    two_branch = next(r for r in rows if r["network"] == "Modified-I3D two-branch")
    assert report.engine_rows({("x", "openvino", "bf16"): {"median": 1, "p95": 1, "gflop": 1}},
                              PEAKS)[0]["peak_share"] is None  # no bf16 peak measured
    assert two_branch["peak_share"] == 46.8 / 0.36 / 200


def test_theoretical_peak_follows_the_isa():
    avx2 = ["avx2", "fma"]
    amx = [*avx2, "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"]
    assert peak.theoretical_gflops("fp32", 2, avx2, 2600.0) == 2 * 16 * 2 * 2.6  # 166.4
    assert peak.theoretical_gflops("fp32", 2, amx, 2600.0) == 2 * 32 * 2 * 2.6
    assert peak.theoretical_gflops("bf16", 2, amx, 2600.0) == 2 * 1024 * 2 * 2.6
    assert peak.theoretical_gflops("bf16", 2, avx2, 2600.0) is None  # no bf16 unit at all
    assert peak.theoretical_gflops("fp32", 2, avx2, None) is None  # clock unknown


def test_compare_flags_a_ratio_that_fell_beyond_the_threshold(tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"ratios": report.engine_ratios(timings(0.25, 0.6))}))
    new.write_text(json.dumps({"ratios": report.engine_ratios(timings(0.40, 0.6))}))
    assert report.main(["compare", str(old), str(new), "--threshold", "0.2"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION I3D openvino fp32 vs I3D tensorflow fp32: 2.40x -> 1.50x (-38%)" in out
    assert ("\nModified-I3D openvino fp32 vs Modified-I3D two-branch openvino fp32: 1.20x -> "
            "1.20x") in out  # fmt: skip
    assert report.main(["compare", str(old), str(old)]) == 0
    assert report.main(["compare", str(old), str(tmp_path / "missing.json")]) == 2
    partial = tmp_path / "partial.json"  # the TensorFlow side failed: its ratio went missing
    partial.write_text(json.dumps({"ratios": report.engine_ratios(
        {k: v for k, v in timings(0.25, 0.6).items() if k[1] != "tensorflow"})}))  # fmt: skip
    capsys.readouterr()
    assert report.main(["compare", str(old), str(partial)]) == 1
    assert (
        "REGRESSION I3D openvino fp32 vs I3D tensorflow fp32: 2.40x -> not measured"
        in capsys.readouterr().out
    )
    hostile = tmp_path / "list.json"
    hostile.write_text("[1, 2]")
    assert report.main(["compare", str(hostile), str(old)]) == 2
    assert "old: not a saved benchmark run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.main(["compare", str(old), str(new), "--threshold", "nan"])
