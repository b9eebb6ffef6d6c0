"""Engines: every engine on this machine x the I3D family, one 1x40x100x100x3 clip at a time.

pytest bench/test_engines.py --benchmark-enable      # full width, the thesis's clip
pytest bench/test_engines.py                         # smoke: tiny networks, each run once

Untrained full-size bundles (``training.export --random-init``) are built once and cached (see
``networks.py``). Figures: median and p95 ms per clip, GFLOP/s achieved and its share of the
machine's fp32 peak measured in the same run (a 2048 x 2048 SGEMM); ratios OpenVINO vs TensorFlow,
folded vs two-branch dilation averaging, INT8/fp16 vs fp32.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.networks import ARCHS, FULL, SMOKE, onnx_gflop, random_bundle, two_branch_bundle
from gesture_rt import bundle as bundles
from gesture_rt.engines import available, open_engine

pytest.importorskip("tensorflow", reason="building the benchmark bundles needs TensorFlow")

NAMES = {"i3d": "I3D", "nl_i3d": "NL-I3D", "g_i3d": "G-I3D", "modified_i3d": "Modified-I3D"}
FOLDED, TWO_BRANCH = "Modified-I3D", "Modified-I3D two-branch"
ENGINES = [e for e in ("openvino", "onnxruntime", "tensorflow") if available(e)]


@pytest.fixture(scope="session")
def size(request) -> dict:
    return FULL if request.config.getoption("benchmark_enable") else SMOKE


@pytest.fixture(scope="session")
def networks(size) -> dict[str, bundles.Bundle]:
    """Every benchmarked network by name (built on first use, then cached on disk)."""
    found = {}
    for arch in ARCHS:
        found[NAMES[arch]] = bundles.load(random_bundle(arch, **size))
    found[TWO_BRANCH] = bundles.load(two_branch_bundle(found[FOLDED].root))
    for precision in ("int8", "fp16"):
        path = random_bundle("modified_i3d", **size, formats=("openvino",), precision=precision)
        found[f"Modified-I3D {precision}"] = bundles.load(path)
    return found


@pytest.fixture(scope="session")
def gflops(networks) -> dict[str, float]:
    """GFLOP of one clip, from each network's ONNX graph (precision variants: their fp32's)."""
    return {
        name: onnx_gflop(networks[name if "onnx" in b.formats else FOLDED].path("onnx"))
        for name, b in networks.items()
    }


def clip_for(bundle: bundles.Bundle) -> np.ndarray:
    shape = (1, *bundle.input_shape)
    return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


CASES = [(NAMES[a], e) for a in ARCHS for e in ENGINES]
CASES += [(TWO_BRANCH, e) for e in ENGINES if e != "tensorflow"]  # no SavedModel of it
CASES += [(f"Modified-I3D {p}", "openvino") for p in ("int8", "fp16") if "openvino" in ENGINES]


@pytest.mark.parametrize(("network", "engine"), CASES, ids=[f"{n}-{e}" for n, e in CASES])
def test_engine_latency(clip_benchmark, networks, gflops, network, engine):
    bundle = networks[network]
    with open_engine(bundle, engine) as runner:
        logits = clip_benchmark(network, engine, runner.infer, clip_for(bundle), gflops[network])
    assert logits.shape == (1, len(bundle.labels)) and np.isfinite(logits).all()


def test_fp32_peak(peak_benchmark):
    """The machine's fp32 multiply-add peak in practice: a 2048 x 2048 SGEMM on every core
    (NumPy's BLAS; at 1024 it reached only 77% of this on the 2-core EPYC)."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), np.float32)
    out = peak_benchmark(np.matmul, a, a, 2 * n**3 / 1e9)
    assert out.shape == (n, n)
