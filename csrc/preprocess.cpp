#include "preprocess.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixel_math.h"
#include "preprocess_rows.h"

namespace gesture_rt {

Geometry make_geometry(int src_h, int src_w, int resize_short, int crop_h, int crop_w) {
  if (src_h < 1 || src_w < 1) throw std::invalid_argument("frame must have height and width >= 1");
  Geometry g{};
  g.src_h = src_h;
  g.src_w = src_w;
  const double s = static_cast<double>(resize_short) / std::min(src_h, src_w);
  // std::nearbyint rounds half to even, like Python's round().
  const double resized_h = std::nearbyint(src_h * s), resized_w = std::nearbyint(src_w * s);
  if (std::max(resized_h, resized_w) > std::numeric_limits<int>::max()) {
    throw std::invalid_argument("resize_short=" + std::to_string(resize_short) +
                                " would resize the frame beyond 2^31 pixels a side");
  }
  g.resized_h = static_cast<int>(resized_h);
  g.resized_w = static_cast<int>(resized_w);
  if (g.resized_h < crop_h || g.resized_w < crop_w) {
    throw std::invalid_argument("resized frame " + std::to_string(g.resized_h) + "x" +
                                std::to_string(g.resized_w) + " is smaller than the crop " +
                                std::to_string(crop_h) + "x" + std::to_string(crop_w));
  }
  g.crop_h = crop_h;
  g.crop_w = crop_w;
  g.top = (g.resized_h - crop_h) / 2;
  g.left = (g.resized_w - crop_w) / 2;
  // cv2.resize: inv_scale = dst / src, scale = 1 / inv_scale (not src / dst: the last bit differs).
  g.scale_y = 1.0 / (static_cast<double>(g.resized_h) / src_h);
  g.scale_x = 1.0 / (static_cast<double>(g.resized_w) / src_w);
  return g;
}

namespace {

std::atomic<bool> simd_allowed{true};
thread_local std::uint64_t simd_rows_written = 0;

// The definition, pixel by pixel: pixels [x_begin, width) of row y.
template <typename T>
void row_scalar(const FrameJob<T>& job, int y, int x_begin) {
  const Plan& plan = *job.plan;
  const ChannelMap& m = *job.channels;
  const RowTap& ty = plan.rows[y];
  const std::uint8_t* r0 = job.data + ty.offset0;
  const std::uint8_t* r1 = job.data + ty.offset1;
  T* dst = job.out.data + y * job.out.row_stride + x_begin * job.out.pixel_stride;
  for (int x = x_begin; x < plan.geometry.crop_w; ++x, dst += job.out.pixel_stride) {
    const ColumnTap& tx = plan.columns[x];
    for (int c = 0; c < 3; ++c) {
      const std::ptrdiff_t k = job.channel_offset[c];
      const int v = bilinear_4m(r0[tx.offset0 + k], r0[tx.offset1 + k], r1[tx.offset0 + k],
                                r1[tx.offset1 + k], tx.w1, ty.w1);
      dst[c * job.out.channel_stride] = encode(normalise(v, m.gain[c], m.bias[c]), static_cast<T*>(nullptr));
    }
  }
}

bool same_shape(const Plan& p, const Geometry& g, const FrameView& f) {
  const Geometry& h = p.geometry;
  return h.src_h == g.src_h && h.src_w == g.src_w && h.resized_h == g.resized_h &&
         h.resized_w == g.resized_w && h.crop_h == g.crop_h && h.crop_w == g.crop_w &&
         h.top == g.top && h.left == g.left && p.row_stride == f.row_stride &&
         p.pixel_stride == f.pixel_stride && p.channel_stride == f.channel_stride;
}

void build_plan(Plan& p, const Geometry& g, const FrameView& f) {
  p.geometry = g;
  p.row_stride = f.row_stride;
  p.pixel_stride = f.pixel_stride;
  p.channel_stride = f.channel_stride;
  p.columns.resize(static_cast<std::size_t>(g.crop_w));
  p.weight_pairs.resize(8 * static_cast<std::size_t>(g.crop_w));
  std::ptrdiff_t widest = 0;
  for (int x = 0; x < g.crop_w; ++x) {
    const Tap t = source_tap(g.left + x, g.scale_x, g.src_w);
    p.columns[x] = {t.i0 * f.pixel_stride, t.i1 * f.pixel_stride, t.w1};
    widest = std::max(widest, p.columns[x].offset0);
    for (int k = 0; k < 8; k += 2) {
      p.weight_pairs[8 * x + k] = static_cast<std::int16_t>(kWeightOne - t.w1);
      p.weight_pairs[8 * x + k + 1] = static_cast<std::int16_t>(t.w1);
    }
  }
  // The frame's highest byte, as an offset from its first pixel: a wide load must end there.
  auto reach = [](std::ptrdiff_t n, std::ptrdiff_t stride) { return std::max<std::ptrdiff_t>(0, (n - 1) * stride); };
  const std::ptrdiff_t last_byte =
      reach(f.height, f.row_stride) + reach(f.width, f.pixel_stride) + reach(3, f.channel_stride);
  p.rows.resize(static_cast<std::size_t>(g.crop_h));
  for (int y = 0; y < g.crop_h; ++y) {
    const Tap t = source_tap(g.top + y, g.scale_y, g.src_h);
    const std::ptrdiff_t o0 = t.i0 * f.row_stride, o1 = t.i1 * f.row_stride;
    p.rows[y] = {o0, o1, t.w1, std::max(o0, o1) + widest + 7 <= last_byte};
  }
}

template <typename T>
void run(const FrameView& f, const Geometry& g, const ChannelMap& m, const OutputView<T>& out) {
  // Per thread, so no lock and no allocation per frame while frames keep their shape.
  thread_local Plan plan;
  thread_local std::vector<int> done;
  if (!same_shape(plan, g, f)) build_plan(plan, g, f);
  done.assign(static_cast<std::size_t>(g.crop_h), 0);
  const FrameJob<T> job{f.data, &plan, &m,
                        {m.source_channel[0] * f.channel_stride, m.source_channel[1] * f.channel_stride,
                         m.source_channel[2] * f.channel_stride},
                        out};
#if GESTURE_RT_X86
  static const bool has_avx2 = cpu_has_avx2();
  const bool wide_pixels = (f.pixel_stride == 3 || f.pixel_stride == 4) && f.channel_stride == 1;
  const bool layout_ok = (out.pixel_stride == 3 && out.channel_stride == 1) || out.pixel_stride == 1;
  if (has_avx2 && wide_pixels && layout_ok && simd_allowed.load(std::memory_order_relaxed)) {
    simd_rows_written += static_cast<std::uint64_t>(rows_avx2(job, done.data()));
  }
#endif
  for (int y = 0; y < g.crop_h; ++y) {
    if (done[y] < g.crop_w) row_scalar(job, y, done[y]);
  }
}

}  // namespace

bool set_simd(bool enabled) { return simd_allowed.exchange(enabled); }

bool simd_available() {
#if GESTURE_RT_X86
  return cpu_has_avx2();
#else
  return false;
#endif
}

std::uint64_t simd_row_count() { return simd_rows_written; }

void preprocess_frame(const FrameView& frame, const Geometry& geometry, const ChannelMap& channels,
                      const OutputView<float>& out) {
  run(frame, geometry, channels, out);
}

void preprocess_frame(const FrameView& frame, const Geometry& geometry, const ChannelMap& channels,
                      const OutputView<std::uint16_t>& out) {
  run(frame, geometry, channels, out);
}

}  // namespace gesture_rt
