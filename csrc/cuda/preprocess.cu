// CUDA twin of csrc/preprocess.cpp: one thread per output pixel of the crop, reading a device
// frame of any strides and writing one slot of a device clip ring. The per-pixel arithmetic is
// the shared pixel_math.h, so both kernels follow one definition.
//
// Loaded at run time by gesture_rt.gpu through CuPy (NVRTC), with name_expressions
// "preprocess_frame<float>" and "preprocess_frame<unsigned short>" (float16 written as bits).
#include "pixel_math.h"

template <typename T>
__global__ void preprocess_frame(const unsigned char* __restrict__ src, int src_h, int src_w,
                                 long long row_stride, long long pixel_stride,
                                 long long channel_r, long long channel_g, long long channel_b,
                                 double scale_y, double scale_x, int top, int left, int crop_h,
                                 int crop_w, float gain_r, float gain_g, float gain_b,
                                 float bias_r, float bias_g, float bias_b, T* __restrict__ dst,
                                 long long dst_row, long long dst_pixel, long long dst_channel) {
  using namespace gesture_rt;
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= crop_w || y >= crop_h) return;
  const Tap tx = source_tap(left + x, scale_x, src_w);
  const Tap ty = source_tap(top + y, scale_y, src_h);
  const unsigned char* p00 = src + ty.i0 * row_stride + tx.i0 * pixel_stride;
  const unsigned char* p01 = src + ty.i0 * row_stride + tx.i1 * pixel_stride;
  const unsigned char* p10 = src + ty.i1 * row_stride + tx.i0 * pixel_stride;
  const unsigned char* p11 = src + ty.i1 * row_stride + tx.i1 * pixel_stride;
  const long long channel[3] = {channel_r, channel_g, channel_b};
  const float gain[3] = {gain_r, gain_g, gain_b};
  const float bias[3] = {bias_r, bias_g, bias_b};
  T* out = dst + y * dst_row + x * dst_pixel;
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    const long long k = channel[c];
    const int v = bilinear_4m(p00[k], p01[k], p10[k], p11[k], tx.w1, ty.w1);
    out[c * dst_channel] = encode(normalise(v, gain[c], bias[c]), static_cast<T*>(nullptr));
  }
}
