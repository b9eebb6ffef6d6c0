"""Every figure is a ratio against a baseline measured in the same run: each benchmark records
its median under (group, name), and the summary divides baseline by candidate."""

from __future__ import annotations

import platform

import pytest

MEDIANS = pytest.StashKey[dict]()
# (candidate, baseline, target speed-up) compared within each group that holds both.
RATIOS = [("fused kernel", "OpenCV chain", 5.0)]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[MEDIANS] = {}


@pytest.fixture
def measure(request, benchmark):
    """``measure(group, name, fn, *args, **kwargs)``: benchmark fn and keep its median."""

    def run(group: str, name: str, fn, *args, **kwargs):
        benchmark.group = group
        benchmark.name = name
        result = benchmark(fn, *args, **kwargs)
        if benchmark.stats is not None:  # None under --benchmark-disable
            request.config.stash[MEDIANS][(group, name)] = benchmark.stats.stats.median
        return result

    return run


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    medians = config.stash.get(MEDIANS, {})
    rows = []
    for group in sorted({g for g, _ in medians}):
        for candidate, baseline, target in RATIOS:
            if (group, candidate) in medians and (group, baseline) in medians:
                fast, slow = medians[(group, candidate)], medians[(group, baseline)]
                rows.append((group, slow * 1e6, fast * 1e6, slow / fast, target))
    if not rows:
        return
    write = terminalreporter.write_line
    write("")
    write(f"speed-ups measured in this run ({platform.processor() or platform.machine()}):")
    write(f"{'group':<28} {'baseline us':>12} {'fused us':>10} {'speed-up':>9} {'target':>7}")
    for group, slow, fast, ratio, target in rows:
        verdict = "met" if ratio >= target else "MISSED"
        write(f"{group:<28} {slow:12.1f} {fast:10.1f} {ratio:8.2f}x {target:5.1f}x {verdict}")
