// Per-pixel arithmetic of the fused preprocessing, shared by the C++ kernel and its CUDA twin so
// both follow one definition. Kept free of the standard library: NVRTC compiles it as well.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define GRT_HD __host__ __device__ __forceinline__
#else
#define GRT_HD inline
#endif

namespace gesture_rt {

// cv2.resize rounds its bilinear weights to multiples of 1/2048 (INTER_RESIZE_COEF_BITS = 11);
// so does this definition, which then keeps the exact value where cv2 rounds to uint8.
constexpr int kWeightBits = 11;
constexpr int kWeightOne = 1 << kWeightBits;

// Round half to even, for x >= 0 (as cv2's cvRound in the default rounding mode).
GRT_HD int round_half_even(float x) {
  const int whole = static_cast<int>(x);
  const float rest = x - static_cast<float>(whole);  // exact
  return whole + (rest > 0.5f || (rest == 0.5f && (whole & 1)) ? 1 : 0);
}

// One bilinear tap along an axis: value = (src[i0] * (2048 - w1) + src[i1] * w1) / 2048.
struct Tap {
  int i0;
  int i1;
  int w1;
};

// Source sampling position of destination index `d` exactly as cv2.resize(INTER_LINEAR) computes
// it: half-pixel centres, the position rounded to float, clamped (replicate) at both borders.
// `scale` is 1 / (dst_size / src_size), computed in double as OpenCV does.
GRT_HD Tap source_tap(int d, double scale, int src_size) {
  const float f = static_cast<float>((d + 0.5) * scale - 0.5);
  int i0 = static_cast<int>(f);
  if (static_cast<float>(i0) > f) --i0;  // floor for negative positions
  float frac = f - static_cast<float>(i0);
  if (i0 < 0) {
    i0 = 0;
    frac = 0.f;
  }
  if (i0 >= src_size - 1) {
    i0 = src_size - 1;
    frac = 0.f;
  }
  return Tap{i0, i0 + 1 < src_size ? i0 + 1 : i0, round_half_even(frac * kWeightOne)};
}

// The bilinear value of four 8-bit taps, times 2048^2, exactly: integer weights throughout
// (255 * 2^22 < 2^31), so every kernel computes the same integer, whatever its instruction set.
GRT_HD int bilinear_4m(int p00, int p01, int p10, int p11, int wx1, int wy1) {
  const int upper = p00 * (kWeightOne - wx1) + p01 * wx1;
  const int lower = p10 * (kWeightOne - wx1) + p11 * wx1;
  return upper * (kWeightOne - wy1) + lower * wy1;
}

// out = bilinear * gain + bias, the gain folding in 1 / 2048^2. Separate multiply and add (no
// fused multiply-add), in every kernel, so they round alike.
GRT_HD float normalise(int bilinear, float gain, float bias) {
  return static_cast<float>(bilinear) * gain + bias;
}

// IEEE binary16 bits of `f`, rounded to nearest even (F. Giesen's float_to_half_fast3_rtne).
GRT_HD unsigned short float_to_half_bits(float f) {
  union {
    float f;
    unsigned int u;
  } v{f};
  const unsigned int sign = v.u & 0x80000000u;
  v.u ^= sign;
  unsigned int h;
  if (v.u >= (127u + 16u) << 23) {                   // >= 65536: Inf, or NaN kept quiet
    h = v.u > (255u << 23) ? 0x7e00u : 0x7c00u;
  } else if (v.u < (113u << 23)) {                   // below 2^-14: subnormal half or zero
    union {
      float f;
      unsigned int u;
    } magic{0.f};
    magic.u = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    v.f += magic.f;                                  // the FPU rounds the mantissa for us
    h = v.u - magic.u;
  } else {
    const unsigned int mantissa_odd = (v.u >> 13) & 1u;
    v.u += (static_cast<unsigned int>(15 - 127) << 23) + 0xfffu + mantissa_odd;
    h = v.u >> 13;
  }
  return static_cast<unsigned short>(h | (sign >> 16));
}

// Output encodings: float32 as is, float16 as IEEE binary16 bits.
GRT_HD float encode(float v, float*) { return v; }
GRT_HD unsigned short encode(float v, unsigned short*) { return float_to_half_bits(v); }

}  // namespace gesture_rt
