// Internal to the CPU kernel: one output row's work, shared by the scalar and the SIMD rows.
#pragma once

#include <cstddef>
#include <cstdint>

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

// Vertical taps of one crop row.
struct RowTaps {
  const std::uint8_t* row0;
  const std::uint8_t* row1;
  int wy1;  // weight of row1, in 1/2048
};

template <typename T>
struct RowJob {
  RowTaps row;
  const ColumnTap* columns;
  const std::int16_t* weight_pairs;  // (2048 - w1, w1) of each column, 4 times: 8 per column
  int width;                   // crop width
  const ChannelMap* channels;
  std::ptrdiff_t channel_offset[3];  // byte offsets of the R, G, B samples inside a pixel
  OutputView<T> out;           // data points at this row's first pixel
};

#if GESTURE_RT_X86
// Write pixels [0, n) of the row with AVX2 and return n (the rest is left to the scalar row).
// Needs pixel_stride 3 or 4, channel_stride 1, 8 readable bytes at every offset0 (a pixel and
// its right neighbour in one load), and HWC or CHW output.
int rows_avx2(const RowJob<float>& job, int pixel_stride);
int rows_avx2(const RowJob<std::uint16_t>& job, int pixel_stride);
bool cpu_has_avx2();
#endif

}  // namespace gesture_rt
