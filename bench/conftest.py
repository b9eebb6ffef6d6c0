"""Every figure is a ratio against a baseline measured in the same run: each benchmark records
its median and minimum under (group, name), and the summary divides baseline by candidate. The
minimum is the least disturbed by other load on a shared machine; the median is the typical."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ and training/ from the checkout, gesture_rt as installed
    sys.path.append(str(REPO))

from bench.report import (  # noqa: E402
    CAMERA_FPS,
    cpu_line,
    machine,
    run_record,
    save_run,
    timing_ratios,
    write_engine_table,
    write_live_table,
)

TIMINGS = pytest.StashKey[dict]()
# (network, engine, precision) -> median, p95 (s), GFLOP of a clip, agreement with fp32
ENGINES = pytest.StashKey[dict]()
PEAK = pytest.StashKey[dict]()  # precision -> median, p95, min (s) and GFLOP of the GEMM
LIVE = pytest.StashKey[dict]()  # end-to-end runs: name -> summary, and notes
# Saved runs (JSON), one per --benchmark-enable run; BENCH_RESULTS names another folder.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).parent / "results")
# (candidate, baseline, target speed-up or None) compared within each group that holds both;
# saved with the engine ratios, so `python -m bench.report compare` covers them too.
RATIOS = [("fused kernel", "OpenCV chain", 5.0), ("fused kernel fp16", "OpenCV chain", None)]
# (name, target per second): rates read off a benchmark's median, shown beside the ratios.
RATES = [("synthetic frame", 300.0)]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TIMINGS] = {}
    config.stash[ENGINES] = {}
    config.stash[PEAK] = {}
    config.stash[LIVE] = {"runs": {}, "notes": {}}


class LiveRuns:
    """End-to-end runs of a test: ``once(body)`` runs body under pytest-benchmark once (so that
    --benchmark-only keeps it); ``record``/``note`` keep its figures for the report."""

    def __init__(self, benchmark, store: dict, name: str) -> None:
        self._benchmark, self._store = benchmark, store
        benchmark.group, benchmark.name = "live pipeline", name

    def once(self, body):
        return self._benchmark.pedantic(body, rounds=1, iterations=1)

    def record(self, name: str, summary: dict) -> dict:
        if name in self._store["runs"]:  # one run must not hide another in the report
            raise ValueError(f"live run {name!r} recorded twice")
        self._store["runs"][name] = summary
        self._benchmark.extra_info[name] = summary
        return summary

    def note(self, name: str, value):
        self._store["notes"][name] = value
        self._benchmark.extra_info[name] = value
        return value


@pytest.fixture
def live_runs(request, benchmark) -> LiveRuns:
    return LiveRuns(benchmark, request.config.stash[LIVE], request.node.name)


def _pedantic(benchmark, fn, args, rounds: int):
    """Run ``fn(*args)`` ``rounds`` times after two warm-ups (once when benchmarks are off);
    (result, stats or None)."""
    result = benchmark.pedantic(fn, args=args, rounds=rounds, warmup_rounds=2, iterations=1)
    if benchmark.stats is None:  # --benchmark-disable: the smoke run
        return result, None
    data = benchmark.stats.stats.data
    return result, {
        "median": float(np.median(data)),
        "p95": float(np.percentile(data, 95)),
        "min": float(np.min(data)),
    }


@pytest.fixture
def clip_benchmark(request, benchmark):
    """``clip_benchmark(network, engine, precision, infer, clip, gflop, agreement)``: time one
    clip's inference; ``agreement`` is the bundle's measured agreement with fp32 (or None)."""

    def run(network: str, engine: str, precision: str, infer, clip, gflop: float | None,
            agreement: dict | None):  # fmt: skip
        benchmark.group, benchmark.name = f"engine {network}", f"{engine} {precision}"
        benchmark.extra_info.update(network=network, engine=engine, precision=precision,
                                    gflop=gflop)  # fmt: skip
        result, stats = _pedantic(benchmark, infer, (clip,), rounds=10)
        if stats is not None:
            request.config.stash[ENGINES][(network, engine, precision)] = {
                **stats, "gflop": gflop, "agreement": agreement}
        return result

    return run


@pytest.fixture
def peak_benchmark(request, benchmark):
    """``peak_benchmark(precision, fn, gflop)``: the practical peak rate at ``precision``."""

    def run(precision: str, fn, gflop: float):
        benchmark.group, benchmark.name = "machine", f"OpenVINO GEMM {precision}"
        result, stats = _pedantic(benchmark, fn, (), rounds=20)
        if stats is not None:
            request.config.stash[PEAK][precision] = {**stats, "gflop": gflop}
        return result

    return run


@pytest.fixture
def measure(request, benchmark):
    """``measure(group, name, fn, *args, **kwargs)``: benchmark fn, keep its median and min."""

    def run(group: str, name: str, fn, *args, **kwargs):
        benchmark.group = group
        benchmark.name = name
        result = benchmark(fn, *args, **kwargs)
        if benchmark.stats is not None:  # None under --benchmark-disable
            stats = benchmark.stats.stats
            request.config.stash[TIMINGS][(group, name)] = (stats.median, stats.min)
        return result

    return run


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS, {})
    rows = timing_ratios(timings, RATIOS)
    write = terminalreporter.write_line
    _write_rates(write, timings)
    engines, peak = config.stash.get(ENGINES, {}), config.stash.get(PEAK, {})
    live = config.stash.get(LIVE, {"runs": {}, "notes": {}})
    ratios = write_engine_table(write, engines, peak) if engines else []
    if live["runs"]:
        write_live_table(write, live, CAMERA_FPS)
    if config.getoption("benchmark_enable") and (engines or live["runs"] or timings):
        saved = save_run(RESULTS, run_record(engines, peak, ratios, live, timings, RATIOS))
        write(f"saved: {saved} (compare two runs: python -m bench.report compare OLD NEW)")
    if not rows:
        return
    write("")
    write(f"speed-ups measured in this run, {cpu_line(machine())}:")
    write(
        f"{'group':<26} {'candidate':<18} {'baseline us':>11} {'cand. us':>9} {'speed-up':>9} "
        f"{'(of mins)':>9} {'target':>7}"
    )
    for r in rows:
        target, name = r["target"], r["ratio"].split(" vs ")[0]
        verdict = "-" if target is None else f"{target:5.1f}x " + (
            "met" if r["speedup"] >= target else "MISSED")  # fmt: skip
        write(
            f"{r['group']:<26} {name:<18} {r['baseline_s'] * 1e6:11.1f} "
            f"{r['candidate_s'] * 1e6:9.1f} {r['speedup']:8.2f}x {r['speedup_of_mins']:8.2f}x "
            f"{verdict}"
        )
    write("(baseline and candidate: medians; the verdict reads the median speed-up)")


def _write_rates(write, timings: dict) -> None:
    """Each rated benchmark's rate, and its cost in fused preprocessing calls of its group."""
    for (group, name), (median, _) in sorted(timings.items()):
        for rated, target in RATES:
            if name != rated:
                continue
            rate = 1.0 / median
            verdict = "met" if rate >= target else "MISSED"
            write("")
            write(f"{group}: {name} {rate:,.0f}/s (median; target {target:,.0f}/s) {verdict}")
            if (group, "fused kernel") in timings:
                ratio = median / timings[(group, "fused kernel")][0]
                write(f"  costs {ratio:.1f}x the fused preprocessing of the same frame, same run")
