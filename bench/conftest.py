"""Every figure is a ratio against a baseline measured in the same run: each benchmark records
its median and minimum under (group, name), and the summary divides baseline by candidate. The
minimum is the least disturbed by other load on a shared machine; the median is the typical."""

from __future__ import annotations

import platform

import pytest

TIMINGS = pytest.StashKey[dict]()
# (candidate, baseline, target speed-up) compared within each group that holds both.
RATIOS = [("fused kernel", "OpenCV chain", 5.0)]
# (name, target per second): rates read off a benchmark's median, shown beside the ratios.
RATES = [("synthetic frame", 300.0)]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TIMINGS] = {}


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
    rows = []
    for group in sorted({g for g, _ in timings}):
        for candidate, baseline, target in RATIOS:
            if (group, candidate) in timings and (group, baseline) in timings:
                (fast, fast_min), (slow, slow_min) = (
                    timings[(group, candidate)],
                    timings[(group, baseline)],
                )
                rows.append(
                    (group, slow * 1e6, fast * 1e6, slow / fast, slow_min / fast_min, target)
                )
    write = terminalreporter.write_line
    _write_rates(write, timings)
    if not rows:
        return
    write("")
    write(f"speed-ups measured in this run ({platform.processor() or platform.machine()}):")
    write(
        f"{'group':<26} {'baseline us':>11} {'fused us':>9} {'speed-up':>9} {'(of mins)':>9} "
        f"{'target':>7}"
    )
    for group, slow, fast, ratio, ratio_min, target in rows:
        verdict = "met" if ratio >= target else "MISSED"
        write(
            f"{group:<26} {slow:11.1f} {fast:9.1f} {ratio:8.2f}x {ratio_min:8.2f}x "
            f"{target:5.1f}x {verdict}"
        )
    write("(baseline and fused: medians; the verdict reads the median speed-up)")


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
