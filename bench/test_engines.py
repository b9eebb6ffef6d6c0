"""Engines: every engine on this machine x the I3D family, one 1x40x100x100x3 clip at a time, at
every precision this CPU runs (fp32 everywhere; Modified-I3D also in bf16 and INT8 on OpenVINO).

pytest bench/test_engines.py --benchmark-enable      # full width, the thesis's clip
pytest bench/test_engines.py                         # smoke: tiny networks, each run once

Untrained full-size bundles (``training.export --random-init``) are built once and cached (see
``networks.py``); the bundled trained model runs beside them, at every precision. Figures:
median and p95 ms per clip, GFLOP/s achieved and its share of the practical peak at the same
precision, measured in the same run (OpenVINO's own 2048 x 2048 matrix product, ``peak.py``),
beside the ISA's theoretical peak; ratios OpenVINO vs TensorFlow, folded vs two-branch dilation
averaging, bf16 and INT8 vs fp32, with their measured agreement.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.networks import ARCHS, FULL, SMOKE, onnx_gflop, random_bundle, two_branch_bundle
from bench.peak import gemm_flop, matmul_network, reduced_precisions
from gesture_rt import bundle as bundles
from gesture_rt.engines import available, open_engine
from gesture_rt.engines.openvino import compile_network
from gesture_rt.recognizer import DEFAULT_BUNDLE

pytest.importorskip("tensorflow", reason="building the benchmark bundles needs TensorFlow")

NAMES = {"i3d": "I3D", "nl_i3d": "NL-I3D", "g_i3d": "G-I3D", "modified_i3d": "Modified-I3D"}
FOLDED, TWO_BRANCH = "Modified-I3D", "Modified-I3D two-branch"
BUNDLED = "bundled model (64 px, w 0.25)"  # the trained default: its real agreement
ENGINES = [e for e in ("openvino", "onnxruntime", "tensorflow") if available(e)]
REDUCED = reduced_precisions()  # fp32 runs everywhere


@pytest.fixture(scope="session")
def size(request) -> dict:
    return FULL if request.config.getoption("benchmark_enable") else SMOKE


@pytest.fixture(scope="session")
def networks(size) -> dict[str, bundles.Bundle]:
    """Every benchmarked network by name (built on first use, then cached on disk). Only
    Modified-I3D gets an INT8 network and the README's 600-clip agreement."""
    full = size is FULL
    found = {}
    for arch in ARCHS:
        modified = arch == "modified_i3d"
        clips = 600 if full and modified else 2 if not full else 20
        found[NAMES[arch]] = bundles.load(random_bundle(arch, **size, int8=modified,
                                                        agreement_clips=clips))  # fmt: skip
    found[TWO_BRANCH] = bundles.load(two_branch_bundle(found[FOLDED].root))
    found[BUNDLED] = bundles.load(DEFAULT_BUNDLE)
    return found


@pytest.fixture(scope="session")
def gflops(networks) -> dict[str, float]:
    """GFLOP of one clip, from each network's ONNX graph."""
    return {name: onnx_gflop(b.path("onnx")) for name, b in networks.items()}


def clip_for(bundle: bundles.Bundle) -> np.ndarray:
    shape = (1, *bundle.input_shape)
    return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


CASES = [(NAMES[a], e, "fp32") for a in ARCHS for e in ENGINES]
CASES += [(TWO_BRANCH, e, "fp32") for e in ENGINES if e != "tensorflow"]  # no SavedModel of it
CASES += [(n, "openvino", p) for n in (FOLDED, BUNDLED) for p in ("fp32", *REDUCED)
          if "openvino" in ENGINES and (n, "openvino", p) not in CASES]  # fmt: skip


@pytest.mark.parametrize(("network", "engine", "precision"), CASES,
                         ids=[f"{n}-{e}-{p}" for n, e, p in CASES])  # fmt: skip
def test_engine_latency(clip_benchmark, networks, gflops, network, engine, precision):
    bundle = networks[network]
    # the bench's own bundles, SavedModels included: built here, trusted as its code is
    with open_engine(bundle, engine, precision=precision, allow_bundle_code=True) as runner:
        assert runner.precision == precision
        logits = clip_benchmark(network, engine, precision, runner.infer, clip_for(bundle),
                                gflops[network], bundle.agreements.get(precision))  # fmt: skip
    assert logits.shape == (1, len(bundle.labels)) and np.isfinite(logits).all()


@pytest.mark.parametrize("precision", ["fp32", *REDUCED])
def test_peak(peak_benchmark, precision):
    """The practical peak at ``precision``: OpenVINO's own 2048 x 2048 matrix product, compiled
    as the engine compiles a network (``peak.py``)."""
    request = compile_network(matmul_network(precision), "cpu", precision).create_infer_request()
    a = np.random.default_rng(1).uniform(-1, 1, (2048, 2048)).astype(np.float32)
    # Shared input and output: copying 2 x 16 MB a call cost bf16 and INT8 a third of their rate.
    run = lambda: request.infer({0: a}, share_inputs=True, share_outputs=True)[0]  # noqa: E731
    out = peak_benchmark(precision, run, gemm_flop())
    assert out.shape == (2048, 2048) and np.isfinite(out).all()
