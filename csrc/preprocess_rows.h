// Internal to the CPU kernel: the per-frame tables and the job the scalar and SIMD rows share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "preprocess.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GESTURE_RT_X86 1
#else
#define GESTURE_RT_X86 0
#endif

namespace gesture_rt {

// Horizontal taps of one crop column, as byte offsets into a source row.
struct ColumnTap {
  std::ptrdiff_t offset0, offset1;
  int w1;  // weight of offset1, in 1/2048
};

// Vertical taps of one crop row, as byte offsets from the frame's first pixel.
struct RowTap {
  std::ptrdiff_t offset0, offset1;
  int w1;           // weight of offset1, in 1/2048
  bool wide_loads;  // 8-byte loads at every column's offset0 stay inside the frame
};

// The taps of every crop pixel for one frame shape and stride; rebuilt only when they change.
struct Plan {
  Geometry geometry{};
  std::ptrdiff_t row_stride = 0, pixel_stride = 0, channel_stride = 0;
  std::vector<ColumnTap> columns;
  std::vector<std::int16_t> weight_pairs;  // (2048 - w1, w1) of each column, 4 times: 8 per column
  std::vector<RowTap> rows;
};

template <typename T>
struct FrameJob {
  const std::uint8_t* data;
  const Plan* plan;
  const ChannelMap* channels;
  std::ptrdiff_t channel_offset[3];  // byte offsets of the R, G, B samples inside a pixel
  OutputView<T> out;
};

#if GESTURE_RT_X86
// Writes the rows whose RowTap allows wide loads with AVX2, recording in done[y] how many pixels
// of row y it wrote (the scalar rows finish the rest); returns how many rows it wrote. Needs
// pixel_stride 3 or 4, channel_stride 1 and HWC (pixel stride 3) or CHW (pixel stride 1) output.
int rows_avx2(const FrameJob<float>& job, int* done);
int rows_avx2(const FrameJob<std::uint16_t>& job, int* done);
bool cpu_has_avx2();
#endif

}  // namespace gesture_rt
