"""The CUDA twin: installed kernel sources always; parity with the C++ kernel where a GPU is."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gesture_rt import ClipRing, Preprocessor, gpu
from gesture_rt.testing import camera_like_frame


def test_kernel_sources_are_installed_as_package_data():
    source = gpu.kernel_path()
    assert source.name == "preprocess.cu"
    assert '#include "pixel_math.h"' in source.read_text()
    assert gpu.kernel_path("pixel_math.h").is_file()
    with pytest.raises(FileNotFoundError, match=r"missing\.cu"):
        gpu.kernel_path("missing.cu")


def test_the_build_compiled_the_cuda_kernels_for_every_target():
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed: the build cannot compile-check the CUDA kernels")
    build = Path(__file__).resolve().parents[1] / "build"
    objects = list(build.glob("*/CMakeFiles/gesture_rt_cuda_check.dir/csrc/cuda/instantiate.cu.o"))
    if not build.is_dir():
        pytest.skip("the package was built outside this checkout's build/ folder")
    assert objects, "nvcc is installed but the build did not compile csrc/cuda/instantiate.cu"
    binary = max(objects, key=lambda p: p.stat().st_mtime).read_bytes()
    for arch in (b"sm_80", b"sm_87", b"sm_90"):  # A100, Jetson Orin, H100/H200
        assert arch in binary
    for variant in (b"preprocess_frameIf", b"preprocess_frameIt"):  # float32, float16 bits
        assert variant in binary


def _nvrtc() -> ctypes.CDLL:
    """NVRTC from the nvidia-cuda-nvrtc wheel (a test need) or a CUDA toolkit."""
    spec = importlib.util.find_spec("nvidia")
    roots = (
        list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
    )
    folders = [p.parent for root in roots for p in sorted(Path(root).glob("*/lib/libnvrtc.so*"))]
    folders += [Path("/usr/local/cuda/lib64")]
    for folder in folders:
        libraries = sorted(folder.glob("libnvrtc.so*"))
        if libraries:
            # NVRTC dlopens its builtins by name; loaded first, they are found whatever the
            # library path (under a sanitizer's preload too).
            for builtins in sorted(folder.glob("libnvrtc-builtins.so*")):
                ctypes.CDLL(str(builtins), mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(str(libraries[0]))
    pytest.skip("NVRTC is not installed (pip install nvidia-cuda-nvrtc)")


@pytest.mark.parametrize("arch", ["compute_80", "compute_87", "compute_90"])
def test_the_shipped_kernel_compiles_with_nvrtc_as_cupy_compiles_it(arch):
    nvrtc = _nvrtc()
    path = gpu.kernel_path()
    program = ctypes.c_void_p()
    name = path.name.encode()
    assert (
        nvrtc.nvrtcCreateProgram(
            ctypes.byref(program), gpu.kernel_source(path).encode(), name, 0, None, None
        )
        == 0
    )
    try:
        for expression in gpu.KERNEL_VARIANTS.values():
            assert nvrtc.nvrtcAddNameExpression(program, expression.encode()) == 0
        # CuPy appends -ftz=true and the architecture to the options it is given.
        options = [*gpu.nvrtc_options(path), "-ftz=true", f"-arch={arch}"]
        argv = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = nvrtc.nvrtcCompileProgram(program, len(options), argv)
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        assert status == 0, log.value.decode(errors="replace")
        for expression in gpu.KERNEL_VARIANTS.values():
            lowered = ctypes.c_char_p()
            assert (
                nvrtc.nvrtcGetLoweredName(program, expression.encode(), ctypes.byref(lowered)) == 0
            )
            assert b"preprocess_frame" in lowered.value
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


@pytest.fixture(scope="module")
def emulated_kernel(tmp_path_factory):
    """csrc/cuda/preprocess.cu, as installed, compiled for the CPU (tests/cuda_emulation.cpp)."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to build the CPU emulation of the CUDA kernel")
    library = tmp_path_factory.mktemp("cuda_emulation") / "emulation.so"
    source = Path(__file__).with_name("cuda_emulation.cpp")
    flags = ["-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-Wno-unknown-pragmas"]
    command = [compiler, *flags, f"-I{gpu.kernel_path().parent}", str(source), "-o", str(library)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    return ctypes.CDLL(str(library))


_CTYPES = {np.int32: ctypes.c_int, np.int64: ctypes.c_longlong, np.float32: ctypes.c_float,
           np.float64: ctypes.c_double}  # fmt: skip


def run_emulated(library, preprocessor: gpu.CudaPreprocessor, frame: np.ndarray) -> np.ndarray:
    """Launches the kernel with exactly the arguments CudaPreprocessor gives CuPy."""
    out = np.full(preprocessor.output_shape, np.nan, preprocessor.dtype)
    grid, args = preprocessor.launch_arguments(frame, out)
    converted = [
        ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) else _CTYPES[type(a)](a)
        for a in args
    ]
    getattr(library, f"emulate_{preprocessor.dtype}")(grid[0], grid[1], *converted)
    return out


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["hwc", "chw"])
@pytest.mark.parametrize("order", ["bgr", "rgba"])
@pytest.mark.parametrize(
    "view",
    [lambda f: f, lambda f: f[:, 100:740], lambda f: f[::-2, ::3], lambda f: f[5:6, 7:9]],
    ids=["whole", "band", "reversed-decimated", "tiny"],
)
def test_cuda_kernel_emulated_on_cpu_matches_the_cpu_kernel_bit_for_bit(
    emulated_kernel, dtype, layout, order, view
):
    frame = view(camera_like_frame(720, 1280, channels=len(order), seed=12))
    options = {
        "resize_short": 112,
        "crop": (112, 100),
        "channel_order": order,
        "dtype": dtype,
        "layout": layout,
        "mean": (120.0, 115.0, 100.0),
        "std": (60.0, 58.0, 57.0),
    }
    got = run_emulated(emulated_kernel, gpu.CudaPreprocessor(**options), frame)
    np.testing.assert_array_equal(got, Preprocessor(**options)(frame))  # bit for bit


def _cupy_with_a_gpu():
    cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gesture_rt[gpu]')")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cp.cuda.runtime.CUDARuntimeError as error:
        pytest.skip(f"no usable CUDA device: {error}")
    return cp


@pytest.fixture(scope="module")
def cp():
    return _cupy_with_a_gpu()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["hwc", "chw"])
@pytest.mark.parametrize(
    ("height", "width"), [(480, 640), (720, 1280), (1080, 1920), (37, 251), (1, 1)]
)
def test_matches_the_cpu_kernel(cp, dtype, layout, height, width):
    frame = camera_like_frame(height, width, seed=height + width)
    want = Preprocessor(dtype=dtype, layout=layout)(frame)
    got = gpu.CudaPreprocessor(dtype=dtype, layout=layout)(cp.asarray(frame))
    assert isinstance(got, cp.ndarray) and got.dtype == want.dtype
    np.testing.assert_array_equal(cp.asnumpy(got), want)  # one arithmetic: bit for bit


@pytest.mark.gpu
@pytest.mark.parametrize("order", ["bgr", "rgb", "bgra", "rgba"])
def test_strided_device_frames_and_channel_orders(cp, order):
    host = camera_like_frame(720, 1280, channels=len(order), seed=3)
    device = cp.asarray(host)
    for view in (lambda f: f[:, 100:740], lambda f: f[::2, ::-3], lambda f: f[::-1]):
        want = Preprocessor(120, 100, order)(view(host))
        got = gpu.CudaPreprocessor(120, 100, order)(view(device))
        np.testing.assert_array_equal(cp.asnumpy(got), want)


@pytest.mark.gpu
def test_device_ring_is_filled_in_place_and_handed_over_whole(cp):
    ring = ClipRing(clip_len=8, preprocessor=gpu.CudaPreprocessor())
    cpu_ring = ClipRing(clip_len=8)
    for n in range(20):
        frame = camera_like_frame(480, 640, seed=n)
        ring.push(cp.asarray(frame))
        cpu_ring.push(frame)
    clip = ring.latest()
    assert isinstance(clip.frames, cp.ndarray) and clip.last_frame == 19
    np.testing.assert_array_equal(cp.asnumpy(clip.frames), cpu_ring.latest().frames)


@pytest.mark.gpu
def test_kernels_compile_once_per_device(cp):
    first = gpu.kernel_module(0)
    assert gpu.kernel_module(0) is first


@pytest.mark.gpu
def test_bad_device_input(cp):
    p = gpu.CudaPreprocessor()
    with pytest.raises(TypeError, match=r"frame must be a cupy\.ndarray"):
        p(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        p(cp.zeros((48, 64, 3), cp.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        p(cp.zeros((48, 64, 3), cp.uint8), out=cp.zeros((3, 100, 100), cp.float32))
