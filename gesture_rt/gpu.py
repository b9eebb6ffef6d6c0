"""The CUDA twin of the preprocessor, for frames already on an NVIDIA GPU (CuPy arrays).

The kernel ships as source (``gesture_rt/kernels/preprocess.cu`` with the ``pixel_math.h`` it
shares with the C++ kernel), is compiled by CuPy (NVRTC) once per device on first use, and writes
straight into a slot of a device ``ClipRing``. CuPy is imported on first use, not with
``gesture_rt``: install it with ``pip install 'gesture_rt[gpu]'``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

import gesture_rt
from gesture_rt.preprocess import Preprocessor

KERNEL_FILE = "preprocess.cu"
# Template instances, by output dtype (float16 is written as IEEE binary16 bits).
KERNEL_VARIANTS = {
    "float32": "preprocess_frame<float>",
    "float16": "preprocess_frame<unsigned short>",
}
BLOCK = (32, 8, 1)  # threads per block: a warp along each output row
_modules: dict[int, Any] = {}
_modules_lock = threading.Lock()


def cupy() -> Any:
    try:
        import cupy as cp
    except ImportError as error:
        raise ImportError(
            "gesture_rt.gpu needs CuPy for CUDA 13: pip install 'gesture_rt[gpu]'"
        ) from error
    return cp


def kernel_path(name: str = KERNEL_FILE) -> Path:
    """The installed kernel source (package data under gesture_rt/kernels)."""
    for folder in gesture_rt.__path__:
        path = Path(folder) / "kernels" / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"kernel source {name} is not installed under gesture_rt/kernels")


def kernel_source(path: Path) -> str:
    """The kernel's code, with a #line directive so compiler errors point at the real file."""
    return f'#line 1 "{path}"\n' + path.read_text()


def nvrtc_options(path: Path) -> tuple[str, ...]:
    """NVRTC options for the kernel at ``path`` (CuPy adds the architecture)."""
    # --fmad=false: no fused multiply-adds, so roundings follow the C++ kernel's scalar rows.
    return ("--fmad=false", f"-I{path.parent}")


def kernel_module(device_id: int) -> Any:
    """The compiled kernels for one device, compiled once and cached."""
    with _modules_lock:
        if device_id not in _modules:
            cp = cupy()
            path = kernel_path()
            with cp.cuda.Device(device_id):
                module = cp.RawModule(
                    code=kernel_source(path),
                    options=nvrtc_options(path),
                    name_expressions=tuple(KERNEL_VARIANTS.values()),
                )
                module.compile()
            _modules[device_id] = module
        return _modules[device_id]


class CudaPreprocessor(Preprocessor):
    """``Preprocessor`` for CuPy frames on the GPU; same options, same definition.

    ``preprocessor(frame, out=None)`` takes a uint8 CuPy array (HxWxC, any strides) and writes
    a CuPy float array (a device ring slot, say) on the current CUDA stream.
    """

    @property
    def array_module(self) -> Any:
        return cupy()

    def __call__(self, frame: Any, out: Any = None) -> Any:
        cp = cupy()
        self._check_frame(cp, frame)
        out = self._checked_out(cp, frame.device.id, out)
        grid, args = self.launch_arguments(frame, out)
        kernel = kernel_module(frame.device.id).get_function(KERNEL_VARIANTS[self.dtype])
        with cp.cuda.Device(frame.device.id):
            kernel(grid, BLOCK, args)
        return out

    def launch_arguments(self, frame: Any, out: Any) -> tuple[tuple[int, int, int], tuple]:
        """The grid and arguments of ``preprocess_frame`` for checked ``frame`` and ``out``."""
        height, width, _ = frame.shape
        g = self.geometry(height, width)
        item = out.itemsize
        rs, ps, cs = (out.strides[i] // item for i in self._output_axes)
        sources, gains, biases = self.kernel_constants  # the C++ kernel's own channel map
        grid = (-(-g.crop_w // BLOCK[0]), -(-g.crop_h // BLOCK[1]), 1)
        args = (
            frame, np.int32(height), np.int32(width),
            np.int64(frame.strides[0]), np.int64(frame.strides[1]),
            *(np.int64(c * frame.strides[2]) for c in sources),
            np.float64(g.scale_y), np.float64(g.scale_x), np.int32(g.top), np.int32(g.left),
            np.int32(g.crop_h), np.int32(g.crop_w),
            *(np.float32(v) for v in gains), *(np.float32(v) for v in biases),
            out, np.int64(rs), np.int64(ps), np.int64(cs),
        )  # fmt: skip
        return grid, args

    @property
    def _output_axes(self) -> tuple[int, int, int]:
        """Axes of (row, pixel, channel) in the output array."""
        return (0, 1, 2) if self.layout == "hwc" else (1, 2, 0)

    def _check_frame(self, cp: Any, frame: Any) -> None:
        channels = len(self.channel_order)
        if not isinstance(frame, cp.ndarray):
            raise TypeError(f"frame must be a cupy.ndarray of uint8, got {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise TypeError(f"frame must have dtype uint8, got {frame.dtype}")
        if frame.ndim != 3 or frame.shape[2] != channels:
            raise ValueError(
                f"frame must have shape (H, W, {channels}) for channel_order="
                f"'{self.channel_order}', got {tuple(frame.shape)}"
            )
        if frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(f"frame must not be empty, got shape {tuple(frame.shape)}")

    def _checked_out(self, cp: Any, device_id: int, out: Any) -> Any:
        shape = tuple(self.output_shape)
        if out is None:
            with cp.cuda.Device(device_id):
                return cp.empty(shape, dtype=self.dtype)
        if not isinstance(out, cp.ndarray):
            raise TypeError(f"out must be a cupy.ndarray of {self.dtype}, got {type(out).__name__}")
        if out.dtype != np.dtype(self.dtype):
            raise TypeError(f"out must have dtype {self.dtype}, got {out.dtype}")
        if tuple(out.shape) != shape:
            raise ValueError(
                f"out must have shape {shape} (layout='{self.layout}'), got {out.shape}"
            )
        if out.device.id != device_id:
            raise ValueError(f"out is on GPU {out.device.id} but frame is on GPU {device_id}")
        item, (rs, ps, cs) = out.itemsize, (out.strides[i] for i in self._output_axes)
        crop_h, crop_w = self.crop
        # The same rule as the C++ kernel: contiguous rows; a channel-first slot may sit in a ring.
        if self.layout == "hwc":
            ok = (rs, ps, cs) == (3 * crop_w * item, 3 * item, item)
        else:
            ok = (rs, ps) == (crop_w * item, item) and cs >= crop_h * crop_w * item
        if not ok:
            raise ValueError(f"out must have C-contiguous rows for layout='{self.layout}'")
        return out
