"""TensorFlow side of gesture_rt: the I3D model family, Jester data, training, export, Grad-CAM.

It may import ``gesture_rt`` (labels, synthetic source, reference preprocessing); ``gesture_rt``
never imports it.
"""

import os

import gesture_rt  # noqa: F401  (blocks OpenVINO's and NNCF's telemetry before they load)

# TensorFlow 2.21 leaves its oneDNN kernels off on CPUs it does not single out, and its own CPU
# Conv3D backprop is slow: measured here (2-core AMD EPYC), one forward+backward of I3D's 7x7x7
# first conv on a 4x8x32x32x3 batch takes 2.4 s without oneDNN and 15 ms with it. Asking for it
# works only before TensorFlow is first imported, hence here; an explicit setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# TensorFlow's C++ info and warning lines (CUDA probing, grappler cost estimates) drown the
# progress bars; its errors still show. An explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
