"""Type stubs of the compiled module (use the re-exports in gesture_rt)."""

import numpy as np
import numpy.typing as npt

__version__: str

class Geometry:
    src_h: int
    src_w: int
    resized_h: int
    resized_w: int
    top: int
    left: int
    crop_h: int
    crop_w: int
    scale_y: float
    scale_x: float

class Preprocessor:
    def __init__(
        self,
        resize_short: int,
        crop_h: int,
        crop_w: int,
        channel_order: str,
        dtype: str,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        layout: str,
    ) -> None: ...
    def __call__(
        self, frame: npt.NDArray[np.uint8], out: npt.NDArray[np.floating] | None = None
    ) -> npt.NDArray[np.floating]: ...
    def geometry(self, height: int, width: int) -> Geometry: ...
    @property
    def resize_short(self) -> int: ...
    @property
    def crop(self) -> tuple[int, int]: ...
    @property
    def channel_order(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def layout(self) -> str: ...
    @property
    def mean(self) -> tuple[float, float, float]: ...
    @property
    def std(self) -> tuple[float, float, float]: ...
    @property
    def output_shape(self) -> tuple[int, int, int]: ...
    @property
    def kernel_constants(
        self,
    ) -> tuple[tuple[int, int, int], tuple[float, float, float], tuple[float, float, float]]: ...

def set_simd(enabled: bool) -> bool: ...
def simd_available() -> bool: ...
def simd_row_count() -> int: ...
