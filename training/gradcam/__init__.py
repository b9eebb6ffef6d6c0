"""Grad-CAM for video (thesis 5.3): ``grad_cam`` returns each endpoint's map for a clip;
``python -m training.gradcam`` draws them. See ``cam`` (the maths), ``clips`` (what a clip can
be) and ``render`` (the pictures)."""

from training.gradcam.cam import (
    GradCam,
    cell_centres,
    grad_cam,
    hand_energy_ratio,
    layer_choices,
    localisation_map,
    pool_to_cells,
    resize_trilinear,
    resolve_layers,
)
from training.gradcam.clips import Clip, load_clip

__all__ = [
    "Clip",
    "GradCam",
    "cell_centres",
    "grad_cam",
    "hand_energy_ratio",
    "layer_choices",
    "load_clip",
    "localisation_map",
    "pool_to_cells",
    "resize_trilinear",
    "resolve_layers",
]
