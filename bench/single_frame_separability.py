"""Measures that single frames cannot separate the synthetic direction pairs (README figures).

For each pair, at the default difficulty: ridge classifiers on 22x12 thumbnails, trained on 180
clips and tested on 60, from one random frame of a clip against frames 8 and 27 together.
python bench/single_frame_separability.py  (about 2 minutes)
"""

from __future__ import annotations

import cv2
import numpy as np

from gesture_rt.synthetic import REVERSAL_PAIRS, render_clip

CLIPS_PER_CLASS, TRAIN = 120, 180


def thumbnail(image: np.ndarray) -> np.ndarray:
    return (
        cv2.resize(image, (22, 12), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() / 255
    )


def ridge_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    x = np.c_[features, np.ones(len(features))]
    train, test = slice(None, TRAIN), slice(TRAIN, None)
    w = np.linalg.solve(
        x[train].T @ x[train] + np.eye(x.shape[1]), x[train].T @ (2 * labels[train] - 1)
    )
    return float(((x[test] @ w > 0) == labels[test]).mean())


def main() -> int:
    rng = np.random.default_rng(0)
    single, two = [], []
    for first, second in REVERSAL_PAIRS:
        one_frame, two_frames, labels = [], [], []
        for k in range(CLIPS_PER_CLASS):
            for label, y in ((first, 0), (second, 1)):
                frames = render_clip(label, 1000 + 2 * k + y).frames
                one_frame.append(thumbnail(frames[rng.integers(len(frames))]))
                two_frames.append(np.r_[thumbnail(frames[8]), thumbnail(frames[27])])
                labels.append(y)
        labels = np.array(labels)
        single.append(ridge_accuracy(np.array(one_frame), labels))
        two.append(ridge_accuracy(np.array(two_frames), labels))
        print(f"{first} / {second}: one frame {single[-1]:.2f}, frames 8 and 27 {two[-1]:.2f}")
    print(f"mean over {len(single)} pairs: one frame {np.mean(single):.2f}, two {np.mean(two):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
