"""The benchmark report: ratios from one run's timings, and the comparison of two saved runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


# bench/test_preprocess.py's timings, (group, name) -> (median, min) in s, as `measure` keeps them.
def preprocessing(fused_640: float) -> dict:
    return {
        ("preprocess 640x480", "OpenCV chain"): (1.0e-3, 0.9e-3),
        ("preprocess 640x480", "fused kernel"): (fused_640, fused_640 / 2),
        ("preprocess 640x480", "fused kernel fp16"): (2.0e-4, 1.8e-4),
        ("preprocess 1280x720", "OpenCV chain"): (3.0e-3, 3.0e-3),
        ("preprocess 1280x720", "fused kernel"): (5.0e-4, 4.0e-4),
        ("preprocess 1920x1080", "fused kernel"): (1.0e-3, 1.0e-3),  # its chain did not run
        ("clip ring (1, 40, 100, 100, 3)", "push 1280x720"): (1.0e-4, 1.0e-4),
        ("synthetic 640x480", "fused kernel"): (1.0e-4, 1.0e-4),  # no chain in that group
    }


PAIRS = [("fused kernel", "OpenCV chain", 5.0), ("fused kernel fp16", "OpenCV chain", None)]


def test_preprocessing_ratios_pair_only_what_was_measured_in_the_same_group():
    ratios = {r["candidate"]: r for r in report.timing_ratios(preprocessing(1.0e-4), PAIRS)}
    assert set(ratios) == {"preprocess 640x480 fused kernel",
                           "preprocess 640x480 fused kernel fp16",
                           "preprocess 1280x720 fused kernel"}  # fmt: skip
    fused = ratios["preprocess 640x480 fused kernel"]
    assert fused["baseline"] == "preprocess 640x480 OpenCV chain"
    assert fused["ratio"] == "fused kernel vs OpenCV chain" and fused["target"] == 5.0
    assert abs(fused["speedup"] - 10.0) < 1e-9 and abs(fused["speedup_of_mins"] - 18.0) < 1e-9
    assert abs(ratios["preprocess 640x480 fused kernel fp16"]["speedup"] - 5.0) < 1e-9
    assert abs(ratios["preprocess 1280x720 fused kernel"]["speedup"] - 6.0) < 1e-9


def test_a_saved_run_keeps_the_preprocessing_ratios_and_compare_flags_their_fall(
        tmp_path, capsys, monkeypatch):  # fmt: skip
    monkeypatch.setattr(report, "machine", lambda: {"processor": "a test's"})  # no imports
    live = {"runs": {}, "notes": {}}
    old = report.save_run(tmp_path / "old", report.run_record(
        timings(0.25, 0.6), PEAKS, report.engine_ratios(timings(0.25, 0.6)), live,
        preprocessing(1.0e-4), PAIRS))  # fmt: skip
    saved = json.loads(old.read_text())
    assert {"group": "preprocess 640x480", "name": "fused kernel", "median": 1.0e-4,
            "min": 0.5e-4} in saved["timings"]  # fmt: skip
    assert len(saved["ratios"]) == 3 + 3  # the engines' and the preprocessing's
    # The fused kernel at 640x480 became 2.5x slower (10x -> 4x the chain); nothing else moved.
    new = report.save_run(tmp_path / "new", report.run_record(
        timings(0.25, 0.6), PEAKS, report.engine_ratios(timings(0.25, 0.6)), live,
        preprocessing(2.5e-4), PAIRS))  # fmt: skip
    assert report.main(["compare", str(old), str(new)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert ("REGRESSION preprocess 640x480 fused kernel vs preprocess 640x480 OpenCV chain: "
            "10.00x -> 4.00x (-60%)") in out  # fmt: skip
    assert sum(line.startswith("REGRESSION") for line in out) == 1  # only that one
    # A preprocessing-only run (no engines) is saved too, and a ratio it lost is flagged.
    alone = dict(preprocessing(1.0e-4))
    del alone[("preprocess 1280x720", "OpenCV chain")]
    lean = report.save_run(tmp_path / "lean", report.run_record({}, {}, [], live, alone, PAIRS))
    assert report.main(["compare", str(lean), str(lean)]) == 0
    capsys.readouterr()
    assert report.main(["compare", str(old), str(lean)]) == 1
    assert ("REGRESSION preprocess 1280x720 fused kernel vs preprocess 1280x720 OpenCV chain: "
            "6.00x -> not measured") in capsys.readouterr().out  # fmt: skip


def test_a_measured_preprocessing_run_is_saved_with_its_ratios(tmp_path):
    # bench/test_preprocess.py alone, measured briefly (one frame size): its run is saved, with
    # the fused kernels' ratios to the chain, and compare reads it.
    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(repo / "bench" / "test_preprocess.py"), "-k", "640x480", "--benchmark-enable",
               "--benchmark-max-time=0.05", "--benchmark-min-rounds=5"]  # fmt: skip
    done = subprocess.run(command, cwd=repo, env={**os.environ, "BENCH_RESULTS": str(tmp_path)},
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [saved] = tmp_path.glob("*.json")
    run = json.loads(saved.read_text())
    ratios = {r["candidate"]: r for r in run["ratios"]}
    assert set(ratios) == {"preprocess 640x480 fused kernel",
                           "preprocess 640x480 fused kernel fp16"}  # fmt: skip
    assert all(r["baseline"] == "preprocess 640x480 OpenCV chain" and r["speedup"] > 0
               for r in ratios.values())  # fmt: skip
    assert {(t["group"], t["name"]) for t in run["timings"]} == {
        ("preprocess 640x480", name) for name in ("OpenCV chain", "fused kernel",
                                                  "fused kernel fp16")}  # fmt: skip
    assert report.main(["compare", str(saved), str(saved)]) == 0


def test_the_live_table_writes_null_precision_and_recall_as_dashes():
    """An untrained network fires no event: the summary's precision is null, not 0."""
    summary = {"fps": 30.0, "frames_dropped_at_capture": 0, "clips_skipped": 0,
               "clips_evaluated": 12, "inference_ms": {"p50": 5.0, "p95": 7.0},
               "cpu_percent": 80.0, "precision": None, "recall": 0.5}  # fmt: skip
    lines: list[str] = []
    report.write_live_table(lines.append, {"runs": {"untrained": summary}, "notes": {}}, 30.0)
    assert lines[-1].endswith(" -/0.50")
