// Runs csrc/cuda/preprocess.cu on the CPU, so tests can check the CUDA kernel's indexing,
// strides and channel handling on machines without a GPU: CUDA's keywords become plain C++ and
// a loop over the grid sets blockIdx and threadIdx. Built by tests/test_gpu.py with the host
// compiler; the GPU itself is checked by the GPU tests where one exists.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict

struct Index3 {
  unsigned x, y, z;
};
static Index3 blockIdx, threadIdx;
static const Index3 blockDim = {32, 8, 1};  // gesture_rt.gpu.BLOCK

#include "preprocess.cu"

template <typename T>
static void launch(int grid_x, int grid_y, const unsigned char* src, int src_h, int src_w,
                   long long row_stride, long long pixel_stride, long long channel_r,
                   long long channel_g, long long channel_b, double scale_y, double scale_x,
                   int top, int left, int crop_h, int crop_w, float gain_r, float gain_g,
                   float gain_b, float bias_r, float bias_g, float bias_b, T* dst,
                   long long dst_row, long long dst_pixel, long long dst_channel) {
  for (int by = 0; by < grid_y; ++by)
    for (int bx = 0; bx < grid_x; ++bx)
      for (unsigned ty = 0; ty < blockDim.y; ++ty)
        for (unsigned tx = 0; tx < blockDim.x; ++tx) {
          blockIdx = {static_cast<unsigned>(bx), static_cast<unsigned>(by), 0};
          threadIdx = {tx, ty, 0};
          preprocess_frame<T>(src, src_h, src_w, row_stride, pixel_stride, channel_r, channel_g,
                              channel_b, scale_y, scale_x, top, left, crop_h, crop_w, gain_r,
                              gain_g, gain_b, bias_r, bias_g, bias_b, dst, dst_row, dst_pixel,
                              dst_channel);
        }
}

extern "C" {
void emulate_float32(int gx, int gy, const unsigned char* a, int b, int c, long long d, long long e,
                     long long f, long long g, long long h, double i, double j, int k, int l,
                     int m, int n, float o, float p, float q, float r, float s, float t, void* u,
                     long long v, long long w, long long x) {
  launch(gx, gy, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t,
         static_cast<float*>(u), v, w, x);
}
void emulate_float16(int gx, int gy, const unsigned char* a, int b, int c, long long d, long long e,
                     long long f, long long g, long long h, double i, double j, int k, int l,
                     int m, int n, float o, float p, float q, float r, float s, float t, void* u,
                     long long v, long long w, long long x) {
  launch(gx, gy, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t,
         static_cast<unsigned short*>(u), v, w, x);
}
}
