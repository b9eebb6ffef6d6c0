"""What the CPU can do: its vector features, OpenVINO's own matrix product at each precision (the
practical peak that the engine table's "of peak" divides by), and the ISA's theoretical peak.

NumPy's SGEMM is not a fair peak: on an AMX Xeon OpenBLAS reached 119-149 GFLOP/s while
OpenVINO's fp32 convolutions reached 250, so "share of peak" read above 100%. OpenVINO's MatMul
uses the same kernels (oneDNN) as its convolutions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
GEMM_SIZE = 2048


def reduced_precisions() -> list[str]:
    """bf16 and int8, as far as this CPU runs them (OpenVINO's capabilities)."""
    from gesture_rt.engines.openvino import capabilities

    has = capabilities("CPU")
    return [p for p, needed in (("bf16", "BF16"), ("int8", "INT8")) if needed in has]


def cpu_flags() -> list[str]:
    """The features of FEATURES that /proc/cpuinfo lists for this CPU (Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    flags = set(line.split(":", 1)[-1].split())
    return [f for f in FEATURES if f in flags]


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (nominal on a VM: turbo is not visible from inside)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def theoretical_gflops(precision: str, cores: int, flags: list[str], mhz: float | None
                       ) -> float | None:  # fmt: skip
    """Multiply-add throughput of the ISA at the reported clock, two operations per multiply-add:
    fp32 on two FMA units of 8 (AVX2) or 16 (AVX-512) lanes; bf16 and int8 on AMX's tile unit
    (1,024 bf16 or 2,048 int8 multiply-adds a cycle), or on AVX-512 (bf16: twice fp32's lanes;
    int8 with VNNI: four times). None where the ISA has no such unit or the clock is unknown."""
    if mhz is None:
        return None
    fp32_lanes = 16 if "avx512f" in flags else 8 if "fma" in flags else 0
    per_cycle = {  # multiply-adds per core per cycle
        "fp32": 2 * fp32_lanes,
        "bf16": 1024 if "amx_bf16" in flags else 4 * fp32_lanes if "avx512_bf16" in flags else 0,
        "int8": 2048 if "amx_int8" in flags else 8 * fp32_lanes if "avx512_vnni" in flags else 0,
    }[precision]
    return 2 * per_cycle * cores * mhz / 1e3 or None


def matmul_network(precision: str, n: int = GEMM_SIZE):
    """An n x n by n x n product as an OpenVINO model; for int8 both sides pass a FakeQuantize,
    which OpenVINO runs as an INT8 product (as it runs an NNCF-quantised network)."""
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    a = ops.parameter([n, n], np.float32, name="a")
    b = ops.constant(rng.uniform(-1, 1, (n, n)).astype(np.float32))
    left, right = a.output(0), b.output(0)
    if precision == "int8":
        low, high = ops.constant(np.float32(-1)), ops.constant(np.float32(1))
        left = ops.fake_quantize(left, low, high, low, high, 256).output(0)
        right = ops.fake_quantize(right, low, high, low, high, 255).output(0)
    return ov.Model([ops.matmul(left, right, False, False)], [a], f"gemm-{precision}")


def gemm_flop(n: int = GEMM_SIZE) -> float:
    return 2.0 * n**3 / 1e9
