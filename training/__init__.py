"""TensorFlow side of gesture_rt: the I3D model family, Jester data, training, export, Grad-CAM.

It may import ``gesture_rt`` (labels, synthetic source, reference preprocessing); ``gesture_rt``
never imports it.
"""
