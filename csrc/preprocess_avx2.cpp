// AVX2 + F16C rows of the fused kernel, two output pixels per 256-bit vector. One 8-byte load
// holds a pixel and its right neighbour (both horizontal taps), a byte shuffle widens them into
// (left, right) 16-bit pairs, one pmaddwd applies the fixed-point column weights and two 32-bit
// multiplies the row weights, all exactly; the normalisation is a separate multiply and add.
// So these rows compute bit for bit what the scalar rows (the definition) compute. Selected at
// run time (preprocess.cpp) on CPUs that have these extensions.
#include "preprocess_rows.h"

#if GESTURE_RT_X86

#include <immintrin.h>

#include <cstring>

#include "pixel_math.h"

namespace gesture_rt {
namespace {

#define GRT_AVX2 __attribute__((target("avx2,f16c")))

struct LaneConstants {
  __m256i widen;        // bytes of a pixel pair -> (left, right) 16-bit pairs per channel lane
  __m256 gain, bias;    // per lane, in the frame's channel order; lane 3 (alpha/padding) gets 0
  __m256i wy0, wy1;     // row weights of row0 and row1, in 1/2048
};

GRT_AVX2 inline LaneConstants make_constants(const ChannelMap& m, int pixel_stride) {
  alignas(16) float gain4[4] = {0, 0, 0, 0}, bias4[4] = {0, 0, 0, 0};
  for (int c = 0; c < 3; ++c) {
    gain4[m.source_channel[c]] = m.gain[c];
    bias4[m.source_channel[c]] = m.bias[c];
  }
  alignas(16) std::int8_t widen[16];
  for (int c = 0; c < 4; ++c) {  // word 2c = byte c (left pixel), word 2c+1 = byte c + stride
    widen[4 * c] = static_cast<std::int8_t>(c);
    widen[4 * c + 1] = -128;  // zero
    widen[4 * c + 2] = static_cast<std::int8_t>(c + pixel_stride);
    widen[4 * c + 3] = -128;
  }
  return {_mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(widen))),
          _mm256_broadcast_ps(reinterpret_cast<const __m128*>(gain4)),
          _mm256_broadcast_ps(reinterpret_cast<const __m128*>(bias4)), _mm256_setzero_si256(),
          _mm256_setzero_si256()};
}

// Columns blended for pixels x (low lane) and x+1 (high lane) of one source row, times 2048.
GRT_AVX2 inline __m256i blend_columns(const std::uint8_t* row, std::ptrdiff_t offset_a,
                                      std::ptrdiff_t offset_b, __m256i weights, __m256i widen) {
  const __m256i bytes = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + offset_a))),
      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + offset_b)), 1);
  return _mm256_madd_epi16(_mm256_shuffle_epi8(bytes, widen), weights);
}

// Pixels x and x+1, normalised, lanes [c0 c1 c2 c3 | c0 c1 c2 c3] permuted by `order`.
GRT_AVX2 inline __m256 pixel_pair(const std::uint8_t* __restrict row0,
                                  const std::uint8_t* __restrict row1,
                                  const ColumnTap* __restrict cols,
                                  const std::int16_t* __restrict weight_pairs, int x,
                                  const LaneConstants& k, __m256i order) {
  const std::ptrdiff_t a = cols[x].offset0, b = cols[x + 1].offset0;
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weight_pairs + 8 * x));
  const __m256i upper = blend_columns(row0, a, b, w, k.widen);
  const __m256i lower = blend_columns(row1, a, b, w, k.widen);
  const __m256i value = _mm256_add_epi32(_mm256_mullo_epi32(upper, k.wy0),
                                         _mm256_mullo_epi32(lower, k.wy1));  // bilinear_4m
  const __m256 out = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(value), k.gain), k.bias);
  return _mm256_permutevar8x32_ps(out, order);
}

GRT_AVX2 inline void store_hwc(float* dst, __m256 v) { _mm256_storeu_ps(dst, v); }
GRT_AVX2 inline void store_hwc(std::uint16_t* dst, __m256 v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

// The row's last pair: exactly 6 values.
GRT_AVX2 inline void store_last_hwc(float* dst, __m256 v) {
  _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(v, 1));
}
GRT_AVX2 inline void store_last_hwc(std::uint16_t* dst, __m256 v) {
  const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), h);
  const int last = _mm_extract_epi32(h, 2);
  std::memcpy(dst + 4, &last, 4);
}

GRT_AVX2 inline void store_planes(float* dst, std::ptrdiff_t plane, __m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  _mm_storel_pi(reinterpret_cast<__m64*>(dst), lo);
  _mm_storeh_pi(reinterpret_cast<__m64*>(dst + plane), lo);
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 2 * plane), hi);
}
GRT_AVX2 inline void store_planes(std::uint16_t* dst, std::ptrdiff_t plane, __m256 v) {
  const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
  const int r = _mm_extract_epi32(h, 0), g = _mm_extract_epi32(h, 1), b = _mm_extract_epi32(h, 2);
  std::memcpy(dst, &r, 4);
  std::memcpy(dst + plane, &g, 4);
  std::memcpy(dst + 2 * plane, &b, 4);
}

// HWC rows: the permute reorders to RGB and packs the pair as [R0 G0 B0 R1 G1 B1 . .].
template <typename T>
GRT_AVX2 int row_hwc(const std::uint8_t* __restrict row0, const std::uint8_t* __restrict row1,
                     const ColumnTap* __restrict cols, const std::int16_t* __restrict weights,
                     int width, const LaneConstants& k, __m256i order, T* __restrict dst) {
  int x = 0;
  for (; x + 2 < width; x += 2) {  // 8 values written: 2 spill into pixel x+2, written next
    store_hwc(dst + 3 * x, pixel_pair(row0, row1, cols, weights, x, k, order));
  }
  if (x + 1 < width) {
    store_last_hwc(dst + 3 * x, pixel_pair(row0, row1, cols, weights, x, k, order));
    x += 2;
  }
  return x;
}

// CHW rows: the permute packs [R0 R1 G0 G1 B0 B1 . .], two values into each plane.
template <typename T>
GRT_AVX2 int row_chw(const std::uint8_t* __restrict row0, const std::uint8_t* __restrict row1,
                     const ColumnTap* __restrict cols, const std::int16_t* __restrict weights,
                     int width, const LaneConstants& k, __m256i order, T* __restrict dst,
                     std::ptrdiff_t plane) {
  int x = 0;
  for (; x + 1 < width; x += 2) {
    store_planes(dst + x, plane, pixel_pair(row0, row1, cols, weights, x, k, order));
  }
  return x;
}

template <typename T>
GRT_AVX2 int rows_avx2_impl(const FrameJob<T>& job, int* done) {
  const Plan& plan = *job.plan;
  const ChannelMap& m = *job.channels;
  const int* s = m.source_channel;
  const bool hwc = job.out.pixel_stride == 3;
  const __m256i order = hwc ? _mm256_setr_epi32(s[0], s[1], s[2], 4 + s[0], 4 + s[1], 4 + s[2], 3, 7)
                            : _mm256_setr_epi32(s[0], 4 + s[0], s[1], 4 + s[1], s[2], 4 + s[2], 3, 7);
  LaneConstants k = make_constants(m, static_cast<int>(plan.pixel_stride));
  const int width = plan.geometry.crop_w;
  int rows = 0;
  for (int y = 0; y < plan.geometry.crop_h; ++y) {
    const RowTap& ty = plan.rows[y];
    if (!ty.wide_loads) continue;
    ++rows;
    k.wy0 = _mm256_set1_epi32(kWeightOne - ty.w1);
    k.wy1 = _mm256_set1_epi32(ty.w1);
    T* dst = job.out.data + y * job.out.row_stride;
    done[y] = hwc ? row_hwc(job.data + ty.offset0, job.data + ty.offset1, plan.columns.data(),
                            plan.weight_pairs.data(), width, k, order, dst)
                  : row_chw(job.data + ty.offset0, job.data + ty.offset1, plan.columns.data(),
                            plan.weight_pairs.data(), width, k, order, dst, job.out.channel_stride);
  }
  return rows;
}

}  // namespace

int rows_avx2(const FrameJob<float>& job, int* done) { return rows_avx2_impl(job, done); }
int rows_avx2(const FrameJob<std::uint16_t>& job, int* done) { return rows_avx2_impl(job, done); }

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"); }

}  // namespace gesture_rt

#endif  // GESTURE_RT_X86
