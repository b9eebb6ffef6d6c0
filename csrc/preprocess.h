// Fused frame preprocessing: bilinear resize (short side -> resize_short, cv2.INTER_LINEAR
// sampling), centre crop, channel reorder to RGB and normalisation, computed only for the pixels
// inside the crop and written straight into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gesture_rt {

// Where the crop lies, for a source frame of a given size.
struct Geometry {
  int src_h, src_w;          // source frame
  int resized_h, resized_w;  // (round(H*s), round(W*s)), s = resize_short / min(H, W)
  int top, left;             // crop origin inside the resized frame
  int crop_h, crop_w;
  double scale_y, scale_x;   // source pixels per resized pixel, as cv2.resize computes them
};

// Throws std::invalid_argument when the resized frame cannot hold the crop.
Geometry make_geometry(int src_h, int src_w, int resize_short, int crop_h, int crop_w);

// A uint8 frame in memory: strides in bytes, any sign (NumPy views work without a copy).
struct FrameView {
  const std::uint8_t* data;
  int height, width;
  std::ptrdiff_t row_stride, pixel_stride, channel_stride;
};

// Destination of one model frame: strides in elements.
template <typename T>
struct OutputView {
  T* data;
  std::ptrdiff_t row_stride, pixel_stride, channel_stride;
};

// out[c] = bilinear_4m(taps of source_channel[c]) * gain[c] + bias[c] for c in R, G, B; the
// gain folds in the 1/2048^2 of the fixed-point weights.
struct ChannelMap {
  int source_channel[3];
  float gain[3];
  float bias[3];
};

// Lets the CPU kernel use SIMD rows where the CPU has them (the default); returns the previous
// setting. The scalar rows are the definition: tests run both.
bool set_simd(bool enabled);
bool simd_available();             // this CPU has the SIMD rows' instructions
std::uint64_t simd_row_count();    // rows the calling thread has written with SIMD, for tests

// float32 output, or float16 written as IEEE binary16 bits.
void preprocess_frame(const FrameView& frame, const Geometry& geometry, const ChannelMap& channels,
                      const OutputView<float>& out);
void preprocess_frame(const FrameView& frame, const Geometry& geometry, const ChannelMap& channels,
                      const OutputView<std::uint16_t>& out);

}  // namespace gesture_rt
