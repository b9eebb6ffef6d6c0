"""The I3D model family in TensorFlow/Keras (thesis chapter 4): one builder, five architectures.

``build_model("modified_i3d", num_classes=27, input_shape=(40, 100, 100, 3))`` builds a member;
``python -m training.models summary --arch ARCH`` prints its endpoints, parameters, GFLOPs and
temporal receptive fields. ``training.models.weights`` inflates 2D weights, imports kinetics-i3d
checkpoints and initialises the variants for fine-tuning.
"""

from training.models.i3d import (
    ARCHITECTURES,
    DILATABLE,
    ENDPOINTS,
    I3D,
    ModelSpec,
    build_model,
    endpoint_model,
    endpoint_names,
)

__all__ = [
    "ARCHITECTURES",
    "DILATABLE",
    "ENDPOINTS",
    "I3D",
    "ModelSpec",
    "build_model",
    "endpoint_model",
    "endpoint_names",
]
