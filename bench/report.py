"""The engine table of a benchmark run, its ratios, the JSON it is saved as, and the comparison of
two saved runs: ``python -m bench.report compare OLD.json NEW.json [--threshold 0.1]``.

Ratios, not absolute times, are compared: both sides of each were measured in the same run, so
they survive a noisy shared machine; a ratio that fell by more than the threshold is flagged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

from bench.peak import cpu_flags, cpu_mhz, theoretical_gflops

OPENVINO_TARGET = 2.0  # OpenVINO vs TensorFlow SavedModel
FOLD_TARGET = 1.1  # folded vs two-branch dilation averaging (the FLOP ratio is about 1.14)
CAMERA_FPS = 30.0  # the live pipeline's target: every frame of a 30 fps camera


def engine_rows(engines: dict, peak: dict) -> list[dict]:
    """One row per (network, engine, precision): median/p95 ms, GFLOP/s, its share of the
    practical peak at the same precision, and the agreement with fp32 the bundle records."""
    rows = []
    for (network, engine, precision), t in sorted(engines.items()):
        gflops = t["gflop"] / t["median"] if t.get("gflop") else None
        practical = peak_gflops(peak, precision)
        agreement = (t.get("agreement") or {}).get("top1_agreement")
        rows.append(
            {
                "network": network,
                "engine": engine,
                "precision": precision,
                "median_ms": t["median"] * 1e3,
                "p95_ms": t["p95"] * 1e3,
                "gflop": t.get("gflop"),
                "gflops": gflops,
                "peak_share": gflops / practical if gflops and practical else None,
                "agreement": agreement if precision != "fp32" else None,
            }
        )
    return rows


def peak_gflops(peak: dict, precision: str) -> float | None:
    measured = peak.get(precision)
    return measured["gflop"] / measured["median"] if measured else None


def engine_ratios(engines: dict) -> list[dict]:
    """Candidate's speed-up over baseline, for every pair measured in this run."""
    networks = sorted({n for n, _, _ in engines})
    kinds = sorted({e for _, e, _ in engines})
    pairs = [("OpenVINO vs TensorFlow SavedModel", (net, "openvino", "fp32"),
              (net, "tensorflow", "fp32"), OPENVINO_TARGET) for net in networks]  # fmt: skip
    pairs += [("folded vs two-branch dilation", ("Modified-I3D", engine, "fp32"),
               ("Modified-I3D two-branch", engine, "fp32"), FOLD_TARGET)
              for engine in kinds]  # fmt: skip
    pairs += [(f"{p} vs fp32 (OpenVINO)", (net, "openvino", p), (net, "openvino", "fp32"), None)
              for net in networks for p in ("bf16", "int8")]  # fmt: skip
    out = []
    for name, fast, slow, target in pairs:
        if fast in engines and slow in engines:
            speedup = engines[slow]["median"] / engines[fast]["median"]
            out.append({"ratio": name, "candidate": " ".join(fast), "baseline": " ".join(slow),
                        "speedup": speedup, "target": target})  # fmt: skip
    return out


def timing_ratios(timings: dict, pairs: list) -> list[dict]:
    """The ``(candidate, baseline, target)`` pairs of ``pairs`` measured within the same group of
    ``timings`` ((group, name) -> (median, min) in s), as ratios ``compare`` reads: baseline's
    median over candidate's (``speedup``), and the same of their minimums (``speedup_of_mins``)."""
    out = []
    for group in sorted({g for g, _ in timings}):
        for candidate, baseline, target in pairs:
            if (group, candidate) in timings and (group, baseline) in timings:
                (fast, fast_min), (slow, slow_min) = (timings[(group, candidate)],
                                                      timings[(group, baseline)])  # fmt: skip
                out.append({"ratio": f"{candidate} vs {baseline}",
                            "candidate": f"{group} {candidate}", "baseline": f"{group} {baseline}",
                            "speedup": slow / fast, "speedup_of_mins": slow_min / fast_min,
                            "target": target, "group": group, "candidate_s": fast,
                            "baseline_s": slow})  # fmt: skip
    return out


def write_engine_table(write, engines: dict, peak: dict) -> list[dict]:
    rows = engine_rows(engines, peak)
    info = machine()
    write("")
    write(cpu_line(info))
    for precision in ("fp32", "bf16", "int8"):
        practical = peak_gflops(peak, precision)
        if practical:
            theory = theoretical_gflops(precision, info["cores"], info["features"], info["mhz"])
            write(f"{precision} peak: OpenVINO 2048x2048 GEMM {practical:.1f} GFLOP/s; ISA "
                  f"theoretical {f'{theory:.0f}' if theory else '-'} GFLOP/s")
    write(
        f"{'network':<24} {'engine':<12} {'prec':<5} {'median ms':>9} {'p95 ms':>8} {'GFLOP':>7} "
        f"{'GFLOP/s':>8} {'of peak':>7} {'agrees':>7}"
    )
    for r in rows:
        gflop = f"{r['gflop']:7.2f}" if r["gflop"] else f"{'-':>7}"
        rate = f"{r['gflops']:8.1f}" if r["gflops"] else f"{'-':>8}"
        share = f"{r['peak_share']:7.0%}" if r["peak_share"] else f"{'-':>7}"
        agrees = f"{r['agreement']:7.1%}" if r["agreement"] is not None else f"{'-':>7}"
        write(
            f"{r['network']:<24} {r['engine']:<12} {r['precision']:<5} {r['median_ms']:9.1f} "
            f"{r['p95_ms']:8.1f} {gflop} {rate} {share} {agrees}"
        )
    ratios = engine_ratios(engines)
    for r in ratios:
        verdict = ""
        if r["target"] is not None:
            met = "met" if r["speedup"] >= r["target"] else "MISSED"
            verdict = f" (target {r['target']:g}x: {met})"
        write(
            f"{r['ratio']}: {r['candidate']} {r['speedup']:.2f}x faster than {r['baseline']}"
            f"{verdict}"
        )
    return ratios


def cpu_line(info: dict) -> str:
    """The CPU a table was measured on, with what it has (every figure names its CPU)."""
    return (f"CPU: {info['processor']}, {info['cores']} cores, {info['mhz']} MHz reported; "
            f"{', '.join(info['features']) or 'no AVX2'}; OpenVINO capabilities: "
            f"{', '.join(info['openvino_capabilities'])}")  # fmt: skip


def write_live_table(write, live: dict, camera_fps: float) -> None:
    """The end-to-end runs: fps against the camera's, drops, skips, latency, CPU, memory."""
    write("")
    write(cpu_line(machine()))
    write(
        f"{'live run':<48} {'fps':>5} {'x30':>5} {'drop':>5} {'skip':>5} {'clips':>5} "
        f"{'inf p50':>7} {'p95':>6} {'cpu%':>5} {'rss+MB':>6} {'event p50/p95 ms':>16} P/R"
    )
    for name, s in live["runs"].items():
        inference = s.get("inference_ms") or {}
        latency = s.get("event_latency_ms") or {}
        events = f"{latency.get('p50', '-')}/{latency.get('p95', '-')}" if latency else "-"
        quality = "/".join("-" if s.get(k) is None else f"{s[k]:.2f}"  # null: nothing fired
                           for k in ("precision", "recall"))  # fmt: skip
        write(
            f"{name:<48} {s['fps']:5.1f} {s['fps'] / camera_fps:5.2f} "
            f"{s['frames_dropped_at_capture']:5d} {s['clips_skipped']:5d} "
            f"{s['clips_evaluated']:5d} {inference.get('p50', float('nan')):7.1f} "
            f"{inference.get('p95', float('nan')):6.1f} {s['cpu_percent']:5.0f} "
            f"{s.get('rss_growth_mb', float('nan')):6.1f} {events:>16} {quality}"
        )
    for name, value in live["notes"].items():
        write(f"{name}: {value if value is not None else 'none'}")


def run_record(engines: dict, peak: dict, ratios: list[dict], live: dict, timings: dict,
               pairs: list) -> dict:  # fmt: skip
    """What a measured run saves: every engine timing, the peaks, the live runs, every
    ``measure`` timing ((group, name) -> (median, min)) and all the ratios ``compare`` reads, the
    engines' (``ratios``) and those of ``pairs`` within each group of ``timings``
    (preprocessing: the fused kernel against the OpenCV chain, per frame size)."""
    runs = [{"network": n, "engine": e, "precision": p, **t}
            for (n, e, p), t in engines.items()]  # fmt: skip
    measured = [{"group": g, "name": n, "median": median, "min": least}
                for (g, n), (median, least) in sorted(timings.items())]  # fmt: skip
    return {"engines": runs, "peak": peak, "ratios": [*ratios, *timing_ratios(timings, pairs)],
            "live": live, "timings": measured}  # fmt: skip


def save_run(folder: Path, record: dict) -> Path:
    """Write this run's figures as JSON (``<folder>/<timestamp>.json``, renamed into place)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=1))
    os.replace(partial, path)
    return path


def machine() -> dict:
    import numpy
    import openvino

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "openvino": openvino.__version__,
    }
    for name in ("onnxruntime", "tensorflow"):
        with contextlib.suppress(ImportError):
            versions[name] = __import__(name).__version__
    from gesture_rt.engines.openvino import capabilities

    return {"processor": _cpu_name(), "cores": os.cpu_count(), "mhz": cpu_mhz(),
            "features": cpu_flags(), "openvino_capabilities": list(capabilities("CPU")),
            "versions": versions}  # fmt: skip


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compare(old: dict, new: dict, threshold: float) -> list[str]:
    """Lines describing each ratio of either run; those that fell by more than ``threshold``
    (a fraction) or that only the old run measured start with REGRESSION."""
    before, after = ratios_of(old, "old"), ratios_of(new, "new")
    lines = []
    for key in sorted(before.keys() | after.keys()):
        name = f"{key[1]} vs {key[2]}"
        if key not in after:
            lines.append(f"REGRESSION {name}: {before[key]:.2f}x -> not measured")
        elif key not in before:
            lines.append(f"{name}: new, {after[key]:.2f}x")
        else:
            change = after[key] / before[key] - 1
            flag = "REGRESSION " if change < -threshold else ""
            lines.append(f"{flag}{name}: {before[key]:.2f}x -> {after[key]:.2f}x ({change:+.0%})")
    return lines


def ratios_of(run, which: str) -> dict[tuple[str, str, str], float]:
    """A saved run's ratios by (ratio, candidate, baseline); ValueError naming a bad file."""
    try:
        ratios = {(r["ratio"], r["candidate"], r["baseline"]): float(r["speedup"])
                  for r in run["ratios"]}  # fmt: skip
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"{which}: not a saved benchmark run ({error!r})") from None
    if not all(0 < v < math.inf for v in ratios.values()):
        raise ValueError(f"{which}: speed-ups must be positive finite numbers")
    return ratios


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """0: no regression; 1: a ratio fell beyond the threshold or went missing; 2: bad input."""
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="compare the ratios of two saved runs")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--threshold", type=_threshold, default=0.1,
                   help="flag ratios that fell by more than this fraction (0.1)")  # fmt: skip
    args = p.parse_args(argv)
    try:
        old, new = (json.loads(path.read_text()) for path in (args.old, args.new))
        lines = compare(old, new, args.threshold)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines) or "no ratio in either run")
    return 1 if any(line.startswith("REGRESSION") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
