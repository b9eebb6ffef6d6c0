"""``python -m training.gradcam CHECKPOINT_OR_BUNDLE CLIP [--class LABEL] [--layers ...]``: where
the network looks, frame by frame and layer by layer (thesis 5.3).

Writes into ``--out``: ``grid.png`` (rows: the input then each endpoint; columns: frames sampled
over the clip), one animation per endpoint (``<endpoint>.gif`` or ``.mp4``), ``maps.npz`` (each
endpoint's map at the clip's T x H x W, float32) and ``summary.json``, which is also printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

import training  # noqa: F401  (TensorFlow's CPU settings, before it is imported)
from gesture_rt.synthetic.dataset import write_image
from training.checkpoints import Network, load_network
from training.data.records import write_text
from training.gradcam import render
from training.gradcam.cam import GradCam, grad_cam, hand_energy_ratio
from training.gradcam.clips import SYNTHETIC, Clip, load_clip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.gradcam",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("model", help="a training run's folder, a checkpoint prefix, a bundle folder "
                                 "holding Keras weights, or a bundled model's name")  # fmt: skip
    p.add_argument("clip", help=f"a video file, a folder of frames (a Jester video) or "
                                f"'{SYNTHETIC}LABEL[,seed=N][,difficulty=X][,context=hold|rest]"
                                f"[,size=WIDTHxHEIGHT]'")  # fmt: skip
    p.add_argument(
        "--class",
        dest="target",
        default=None,
        help="the label to explain (default: the network's top-1)",
    )
    p.add_argument(
        "--layers",
        default="all",
        help="comma-separated endpoints, or 'all' (each Conv3d_* and Mixed_*)",
    )
    p.add_argument("--out", default=None, help="output folder (default: gradcam-<clip name>)")
    p.add_argument("--columns", type=int, default=8, help="frames shown in the grid")
    p.add_argument("--cell", type=int, default=128, help="grid cell height in pixels")
    p.add_argument("--animation", choices=render.ANIMATIONS, default="gif")
    p.add_argument(
        "--source-fps",
        type=float,
        default=None,
        help="the clip's rate (default: a video's own; frames: the model's)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def explain(args: argparse.Namespace) -> dict:
    """Run the command: check the options, compute the maps, write the files; the summary."""
    if not 16 <= args.cell <= 1024:
        raise ValueError(f"cell must be 16..1024 pixels, got {args.cell}")
    render.sampled_frames(1, args.columns)  # validates --columns before the slow part
    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"out: {args.out} exists and is not a folder")
    network, clip, cam = _compute(args)
    out = Path(args.out or f"gradcam-{_safe(clip.name)}")
    out.mkdir(parents=True, exist_ok=True)
    files = _write_pictures(args, out, clip, cam, network.training_fps)
    files.append(_save_maps(out / "maps.npz", cam.maps))
    top = np.argsort(-cam.probabilities)[:3]
    summary = {
        "model": network.source, "clip": clip.name, "truth": clip.label, "class": cam.label,
        "top3": [{"label": network.labels[i], "probability": round(float(cam.probabilities[i]), 4)}
                 for i in top],
        "layers": list(cam.maps),
        "files": [str(f) for f in files],
    }  # fmt: skip
    if clip.boxes is not None:
        summary["hand_energy_ratio"] = hand_ratios(cam.maps, clip.boxes)
    write_text(out / "summary.json", json.dumps(summary, indent=1, allow_nan=False) + "\n")
    return summary


def _compute(args: argparse.Namespace) -> tuple[Network, Clip, GradCam]:
    """Load the network and the clip, and take the gradients (with a progress bar)."""
    steps = tqdm(total=3, desc="grad-cam", unit="step", disable=args.quiet)
    steps.set_postfix_str("model")
    network = load_network(args.model)
    steps.update()
    steps.set_postfix_str("clip")
    clip = load_clip(args.clip, network.model.input_shape[1:], network.resize_short,
                     network.training_fps, args.source_fps)  # fmt: skip
    steps.update()
    steps.set_postfix_str("gradients")
    cam = grad_cam(network.model, clip.frames, args.target, args.layers, network.labels)
    steps.update()
    steps.close()
    return network, clip, cam


def _write_pictures(args: argparse.Namespace, out: Path, clip: Clip, cam: GradCam,
                    fps: float) -> list[Path]:  # fmt: skip
    images = clip.images()
    picture = render.grid(images, cam.maps, args.columns, args.cell, clip.boxes)
    files = [write_image(out / "grid.png", picture)]
    if args.animation != "none":
        for name in tqdm(cam.maps, desc="animations", unit="endpoint", disable=args.quiet):
            frames = render.animation_frames(images, cam.maps[name], f"{name}: {cam.label}")
            files.append(render.write_animation(out / f"{name}.{args.animation}", frames, fps))
    return files


def hand_ratios(maps: dict[str, np.ndarray], boxes: np.ndarray) -> dict[str, float | None]:
    """Each map's hand energy ratio, rounded; None (JSON null: it has no NaN) where no frame
    shows the hand inside the crop."""
    ratios = {name: hand_energy_ratio(heat, boxes) for name, heat in maps.items()}
    return {name: round(r, 3) if np.isfinite(r) else None for name, r in ratios.items()}


def _save_maps(path: Path, maps: dict[str, np.ndarray]) -> Path:
    temporary = path.with_name(f".{path.stem}.partial.npz")
    np.savez_compressed(temporary, **{n: m.astype(np.float32) for n, m in maps.items()})
    temporary.replace(path)
    return path


def _safe(name: str) -> str:
    """A clip's name as a folder name (a synthetic spec holds commas and spaces)."""
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.removeprefix(SYNTHETIC))
    return kept.strip("._") or "clip"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = explain(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
