// gesture_rt._native: the Preprocessor (argument checks, zero-copy views, GIL released while the
// kernel runs) around the fused kernel of preprocess.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixel_math.h"
#include "preprocess.h"

namespace py = pybind11;
using gesture_rt::Geometry;

namespace {

std::string shape_str(const py::array& a) { return py::str(py::tuple(a.attr("shape"))); }
std::string type_name(const py::handle& obj) { return py::str(py::type::of(obj).attr("__name__")); }

int channels_of(const std::string& order) {
  if (order == "bgr" || order == "rgb") return 3;
  if (order == "bgra" || order == "rgba") return 4;
  throw py::value_error("channel_order must be one of 'bgr', 'rgb', 'bgra', 'rgba', got '" + order +
                        "'");
}

class Preprocessor {
 public:
  Preprocessor(int resize_short, int crop_h, int crop_w, std::string channel_order,
               std::string dtype, std::array<double, 3> mean, std::array<double, 3> std,
               std::string layout)
      : resize_short_(resize_short), crop_h_(crop_h), crop_w_(crop_w),
        channel_order_(std::move(channel_order)), dtype_name_(std::move(dtype)), mean_(mean),
        std_(std), layout_(std::move(layout)) {
    if (resize_short < 1) throw py::value_error("resize_short must be >= 1, got " + std::to_string(resize_short));
    if (crop_h < 1 || crop_w < 1)
      throw py::value_error("crop must be >= 1, got " + std::to_string(crop_h) + "x" + std::to_string(crop_w));
    if (crop_h > resize_short || crop_w > resize_short)
      throw py::value_error("crop " + std::to_string(crop_h) + "x" + std::to_string(crop_w) +
                            " does not fit a frame whose short side is resized to resize_short=" +
                            std::to_string(resize_short));
    in_channels_ = channels_of(channel_order_);
    if (dtype_name_ != "float32" && dtype_name_ != "float16")
      throw py::value_error("dtype must be 'float32' or 'float16', got '" + dtype_name_ + "'");
    if (layout_ != "hwc" && layout_ != "chw")
      throw py::value_error("layout must be 'hwc' or 'chw', got '" + layout_ + "'");
    const bool rgb_first = channel_order_[0] == 'r';
    for (int c = 0; c < 3; ++c) {
      if (!std::isfinite(mean[c])) throw py::value_error("mean must be finite");
      if (!std::isfinite(std[c]) || std[c] == 0.0) throw py::value_error("std must be finite and non-zero");
      map_.source_channel[c] = rgb_first ? c : 2 - c;
      map_.gain[c] = static_cast<float>(1.0 / (std[c] * gesture_rt::kWeightOne * gesture_rt::kWeightOne));
      map_.bias[c] = static_cast<float>(-mean[c] / std[c]);
      if (!std::isfinite(map_.gain[c]) || !std::isfinite(map_.bias[c]))
        throw py::value_error("mean and std must keep (x - mean) / std within float32 range");
    }
    dtype_ = py::dtype(dtype_name_);
  }

  std::vector<py::ssize_t> shape() const {
    return layout_ == "hwc" ? std::vector<py::ssize_t>{crop_h_, crop_w_, 3}
                            : std::vector<py::ssize_t>{3, crop_h_, crop_w_};
  }
  py::tuple output_shape() const { return py::cast(shape()); }

  Geometry geometry(int height, int width) const {
    try {
      return gesture_rt::make_geometry(height, width, resize_short_, crop_h_, crop_w_);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }

  py::array call(const py::object& frame_obj, const py::object& out_obj) const {
    const gesture_rt::FrameView frame = frame_view(frame_obj);
    const Geometry g = geometry(frame.height, frame.width);
    py::array out = out_obj.is_none() ? py::array(dtype_, shape()) : checked_out(out_obj);
    if (overlaps(frame_obj, out)) throw py::value_error("out must not share memory with frame");
    const auto item = static_cast<py::ssize_t>(out.itemsize());
    const auto s = out.strides();
    const bool hwc = layout_ == "hwc";
    const std::ptrdiff_t rs = (hwc ? s[0] : s[1]) / item, ps = (hwc ? s[1] : s[2]) / item,
                         cs = (hwc ? s[2] : s[0]) / item;
    void* data = out.mutable_data();
    py::gil_scoped_release release;
    if (item == 4) {
      gesture_rt::preprocess_frame(frame, g, map_, gesture_rt::OutputView<float>{static_cast<float*>(data), rs, ps, cs});
    } else {
      gesture_rt::preprocess_frame(frame, g, map_,
                                   gesture_rt::OutputView<std::uint16_t>{static_cast<std::uint16_t*>(data), rs, ps, cs});
    }
    return out;
  }

  // What the CUDA twin needs to apply the same channel map: (source channels, gains, biases).
  py::tuple kernel_constants() const {
    const auto& m = map_;
    return py::make_tuple(py::make_tuple(m.source_channel[0], m.source_channel[1], m.source_channel[2]),
                          py::make_tuple(m.gain[0], m.gain[1], m.gain[2]),
                          py::make_tuple(m.bias[0], m.bias[1], m.bias[2]));
  }

  int resize_short() const { return resize_short_; }
  py::tuple crop() const { return py::make_tuple(crop_h_, crop_w_); }
  const std::string& channel_order() const { return channel_order_; }
  const std::string& dtype() const { return dtype_name_; }
  const std::string& layout() const { return layout_; }
  py::tuple mean() const { return py::make_tuple(mean_[0], mean_[1], mean_[2]); }
  py::tuple stddev() const { return py::make_tuple(std_[0], std_[1], std_[2]); }

 private:
  gesture_rt::FrameView frame_view(const py::object& obj) const {
    if (!py::isinstance<py::array>(obj))
      throw py::type_error("frame must be a numpy.ndarray of uint8 (HxWx" + std::to_string(in_channels_) +
                           "), got " + type_name(obj));
    const auto a = py::reinterpret_borrow<py::array>(obj);
    if (a.dtype().num() != uint8_num_)
      throw py::type_error("frame must have dtype uint8, got " + std::string(py::str(a.dtype())));
    if (a.ndim() != 3 || a.shape(2) != in_channels_)
      throw py::value_error("frame must have shape (H, W, " + std::to_string(in_channels_) +
                            ") for channel_order='" + channel_order_ + "', got " + shape_str(a));
    if (a.shape(0) < 1 || a.shape(1) < 1) throw py::value_error("frame must not be empty, got shape " + shape_str(a));
    if (a.shape(0) > INT_MAX || a.shape(1) > INT_MAX) throw py::value_error("frame is too large: " + shape_str(a));
    return {static_cast<const std::uint8_t*>(a.data()), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)),
            a.strides(0), a.strides(1), a.strides(2)};
  }

  // Whether the memory spans of two arrays (lowest to highest byte) intersect.
  static bool overlaps(const py::object& frame, const py::array& out) {
    auto span = [](const py::array& a) {
      auto lo = reinterpret_cast<std::intptr_t>(a.data()), hi = lo + a.itemsize();
      for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        const py::ssize_t reach = (a.shape(d) - 1) * a.strides(d);
        (reach < 0 ? lo : hi) += reach;
      }
      return std::make_pair(lo, hi);
    };
    const auto [flo, fhi] = span(py::reinterpret_borrow<py::array>(frame));
    const auto [olo, ohi] = span(out);
    return flo < ohi && olo < fhi;
  }

  py::array checked_out(const py::object& obj) const {
    if (!py::isinstance<py::array>(obj))
      throw py::type_error("out must be a numpy.ndarray of " + dtype_name_ + ", got " + type_name(obj));
    auto out = py::reinterpret_borrow<py::array>(obj);
    const py::dtype dt = out.dtype();
    if (dt.num() != dtype_.num() || dt.byteorder() == '>')  // '>': non-native on our targets
      throw py::type_error("out must have dtype " + dtype_name_ + ", got " + std::string(py::str(dt)));
    const std::vector<py::ssize_t> want = shape();
    if (out.ndim() != 3 || out.shape(0) != want[0] || out.shape(1) != want[1] || out.shape(2) != want[2])
      throw py::value_error("out must have shape " + std::string(py::str(output_shape())) + " (layout='" +
                            layout_ + "'), got " + shape_str(out));
    if (!out.writeable()) throw py::value_error("out must be writeable");
    const auto item = static_cast<py::ssize_t>(out.itemsize());
    const auto* s = out.strides();
    // A stride matters only along an axis longer than 1 (NumPy's own contiguity rule).
    auto is = [&](int axis, py::ssize_t expected) { return want[axis] == 1 || s[axis] == expected; };
    // Rows of a slot are written contiguously; a channel-first slot may sit inside a larger
    // (C, T, H, W) ring, so only its channel stride is free (a whole plane or more, in items).
    const bool ok = reinterpret_cast<std::uintptr_t>(out.data()) % item == 0 &&
                    (layout_ == "hwc"
                         ? is(2, item) && is(1, 3 * item) && is(0, 3 * crop_w_ * item)
                         : is(2, item) && is(1, crop_w_ * item) && s[0] % item == 0 &&
                               s[0] >= static_cast<py::ssize_t>(crop_h_) * crop_w_ * item);
    if (!ok)
      throw py::value_error(layout_ == "hwc" ? "out must be C-contiguous and aligned"
                                             : "out must be aligned with C-contiguous (H, W) channel planes");
    return out;
  }

  int resize_short_, crop_h_, crop_w_, in_channels_ = 3;
  std::string channel_order_, dtype_name_;
  std::array<double, 3> mean_, std_;
  std::string layout_;
  gesture_rt::ChannelMap map_{};
  py::dtype dtype_;
  int uint8_num_ = py::dtype::of<std::uint8_t>().num();
};

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "gesture_rt compiled kernels (private: use gesture_rt.Preprocessor)";
  m.attr("__version__") = GESTURE_RT_VERSION;
  m.def("set_simd", &gesture_rt::set_simd, py::arg("enabled"),
        "Allow (default) or forbid the SIMD rows of the CPU kernel; returns the previous setting.");
  m.def("simd_available", &gesture_rt::simd_available, "Whether this CPU runs the SIMD rows.");
  m.def("simd_row_count", &gesture_rt::simd_row_count,
        "Rows the calling thread has written with SIMD rows so far (for tests).");

  py::class_<Geometry>(m, "Geometry", "Where the crop of a source frame lies.")
      .def_readonly("src_h", &Geometry::src_h)
      .def_readonly("src_w", &Geometry::src_w)
      .def_readonly("resized_h", &Geometry::resized_h)
      .def_readonly("resized_w", &Geometry::resized_w)
      .def_readonly("top", &Geometry::top)
      .def_readonly("left", &Geometry::left)
      .def_readonly("crop_h", &Geometry::crop_h)
      .def_readonly("crop_w", &Geometry::crop_w)
      .def_readonly("scale_y", &Geometry::scale_y)
      .def_readonly("scale_x", &Geometry::scale_x)
      .def("__repr__", [](const Geometry& g) {
        return "Geometry(src=" + std::to_string(g.src_h) + "x" + std::to_string(g.src_w) +
               ", resized=" + std::to_string(g.resized_h) + "x" + std::to_string(g.resized_w) +
               ", crop=" + std::to_string(g.crop_h) + "x" + std::to_string(g.crop_w) + " at (" +
               std::to_string(g.top) + ", " + std::to_string(g.left) + "))";
      });

  py::class_<Preprocessor>(m, "Preprocessor")
      .def(py::init<int, int, int, std::string, std::string, std::array<double, 3>, std::array<double, 3>,
                    std::string>(),
           py::arg("resize_short"), py::arg("crop_h"), py::arg("crop_w"), py::arg("channel_order"),
           py::arg("dtype"), py::arg("mean"), py::arg("std"), py::arg("layout"))
      .def("__call__", &Preprocessor::call, py::arg("frame"), py::arg("out") = py::none())
      .def("geometry", &Preprocessor::geometry, py::arg("height"), py::arg("width"))
      .def_property_readonly("resize_short", &Preprocessor::resize_short)
      .def_property_readonly("crop", &Preprocessor::crop)
      .def_property_readonly("channel_order", &Preprocessor::channel_order)
      .def_property_readonly("dtype", &Preprocessor::dtype)
      .def_property_readonly("layout", &Preprocessor::layout)
      .def_property_readonly("mean", &Preprocessor::mean)
      .def_property_readonly("std", &Preprocessor::stddev)
      .def_property_readonly("output_shape", &Preprocessor::output_shape)
      .def_property_readonly("kernel_constants", &Preprocessor::kernel_constants);
}
