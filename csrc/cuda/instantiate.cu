// Build-time check only: instantiates every kernel variant that gesture_rt.gpu loads through
// CuPy, so nvcc compiles (and CI fails on) the exact source shipped as package data.
#include "preprocess.cu"

void* gesture_rt_kernel_variant(int index) {
  void* const variants[] = {
      reinterpret_cast<void*>(&preprocess_frame<float>),
      reinterpret_cast<void*>(&preprocess_frame<unsigned short>),
  };
  return variants[index];
}
