"""``python -m training.evaluate CHECKPOINT --records DIR``: top-1/top-5, per-class accuracy (a
bar chart like figure 5.3), a confusion matrix, and the dilation sweep of table 5.2 (Top-N,
Bottom-N, Full and No dilation) — metrics.json, two PNGs and report.md in one folder."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

import training  # noqa: F401  (TensorFlow's CPU settings, before it is imported)
from training.data.records import write_text


def predict(model, dataset) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(logits N x K, labels N, video ids or []) over a ``clip_dataset`` (training=False)."""
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    logits, labels, ids = [], [], []
    for batch in dataset:
        logits.append(forward(batch[0]).numpy())
        labels.append(batch[1].numpy())
        if len(batch) > 2:
            ids += [v.decode() for v in batch[2].numpy()]
    if not logits:
        raise ValueError("dataset: no clips to evaluate")
    return np.concatenate(logits), np.concatenate(labels), ids


def scores(logits: np.ndarray, labels: np.ndarray) -> dict:
    """top1, top5 (fractions), mean cross-entropy loss, clips."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    return {
        "top1": float(np.mean(top5[:, 0] == labels)),
        "top5": float(np.mean((top5 == labels[:, None]).any(axis=1))),
        "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
        "clips": len(labels),
    }


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class (NaN for a class with no clips)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def sweep_modes(arch: str) -> list[str]:
    """The evaluation dilation modes an architecture accepts, in table 5.2's order."""
    from training.models.i3d import ARCHITECTURES, DILATABLE, dilation_units

    trained = ARCHITECTURES[arch].dilated
    if not trained:
        return []
    modes = [f"{side}-{n}" for side in ("top", "bottom") for n in range(1, len(DILATABLE) + 1)]
    valid = []
    for mode in [*modes, "full", "none"]:
        try:
            dilation_units(mode, trained)
        except ValueError:
            continue
        valid.append(mode)
    return valid


def sweep_table(results: Mapping[str, float]) -> str:
    """Table 5.2 as Markdown: top-1 for each Top-N / Bottom-N, then Full and None."""
    rows = ["| N | Top-N top-1 | Bottom-N top-1 |", "|---|---|---|"]
    numbers = sorted({int(m.split("-")[1]) for m in results if "-" in m})
    for n in numbers:
        top, bottom = results.get(f"top-{n}"), results.get(f"bottom-{n}")
        rows.append(f"| {n} | {_percent(top)} | {_percent(bottom)} |")
    rows += ["", "| evaluation dilation | top-1 |", "|---|---|"]
    rows += [
        f"| {name} | {_percent(results[m])} |"
        for m, name in (("full", "Full"), ("none", "None"))
        if m in results
    ]
    return "\n".join(rows)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def plot_per_class(
    accuracies: Mapping[str, Sequence[float]], labels: Sequence[str], path: str | Path
) -> Path:
    """Grouped horizontal bars, one colour per model (figure 5.3)."""
    plt = pyplot()
    names = list(accuracies)
    height = 0.8 / max(len(names), 1)
    figure, axes = plt.subplots(figsize=(9, 0.32 * len(labels) * max(1, len(names) ** 0.5) + 1.5))
    y = np.arange(len(labels))
    for i, name in enumerate(names):
        axes.barh(
            y + (i - (len(names) - 1) / 2) * height,
            100 * np.asarray(accuracies[name]),
            height,
            label=name,
        )
    axes.set_yticks(y, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("accuracy (%)")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    axes.set_title("Per-class top-1 accuracy")
    return save_figure(figure, path)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: str | Path) -> Path:
    """Row-normalised confusion matrix (rows: true class)."""
    plt = pyplot()
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(11, 10))
    image = axes.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels, rotation=90, fontsize=7)
    axes.set_yticks(ticks, labels, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            axes.text(j, i, str(count), ha="center", va="center", fontsize=5,
                      color="white" if matrix[i, j] / totals[i, 0] > 0.5 else "black")  # fmt: skip
    figure.colorbar(image, ax=axes, fraction=0.04, label="fraction of the true class")
    axes.set_title("Confusion matrix")
    return save_figure(figure, path)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> Path:
    """Save atomically (a temporary name, then a rename)."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        figure.tight_layout()
        figure.savefig(temporary, dpi=110)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        pyplot().close(figure)
    return path


def evaluate(
    checkpoint: str | Path,
    records: str | Path,
    out: str | Path,
    split: str = "validation",
    batch_size: int = 16,
    sweep: bool = True,
    max_batches: int | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate a checkpoint on a record set and write metrics.json, the PNGs and report.md."""
    from training.checkpoints import load_trained
    from training.data.pipeline import clip_dataset, dataset_labels
    from training.data.records import write_json

    model, config = load_trained(checkpoint)
    labels = dataset_labels(records)
    if labels != config["labels"]:
        raise ValueError(f"records: {records} has other labels than the checkpoint was trained on")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def run(network) -> tuple[np.ndarray, np.ndarray]:
        crop = config["model"]["input_shape"][1]
        data = clip_dataset(records, split, batch_size, training=False, crop=crop)
        if max_batches:
            data = data.take(max_batches)
        logits, truth, _ = predict(network, _progress(data, progress, network))
        return logits, truth

    logits, truth = run(model)
    result = {"checkpoint": str(checkpoint), "split": split, "arch": config["model"]["arch"],
              "dilation_eval": model.spec.dilation_eval, **scores(logits, truth)}  # fmt: skip
    matrix = confusion_matrix(logits.argmax(axis=1), truth, len(labels))
    result["per_class"] = dict(zip(labels, per_class_accuracy(matrix).tolist(), strict=True))
    result["confusion"] = matrix.tolist()
    plot_per_class(
        {config["model"]["arch"]: per_class_accuracy(matrix)},
        labels,
        out / "per_class_accuracy.png",
    )
    plot_confusion(matrix, labels, out / "confusion_matrix.png")
    if sweep:
        result["dilation_sweep"] = {}
        for mode in sweep_modes(config["model"]["arch"]):
            swept, _ = load_trained(checkpoint, dilation_eval=mode)
            result["dilation_sweep"][mode] = scores(*run(swept))["top1"]
    write_json(out / "metrics.json", result)
    _write_report(out, result, labels)
    return result


def _progress(data, enabled: bool, network):
    from tqdm import tqdm

    return tqdm(
        data,
        desc=f"evaluating ({network.spec.dilation_eval} dilation)",
        unit="batch",
        disable=not enabled,
        leave=False,
    )


def _write_report(out: Path, result: dict, labels: Sequence[str]) -> None:
    lines = [
        f"# Evaluation of {result['checkpoint']}",
        "",
        f"{result['arch']} on the {result['split']} split ({result['clips']} clips), "
        f"evaluation dilation `{result['dilation_eval']}`: top-1 **{_percent(result['top1'])}**, "
        f"top-5 {_percent(result['top5'])}, loss {result['loss']:.4f}.",
        "",
        "![per-class accuracy](per_class_accuracy.png)",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ]
    if result.get("dilation_sweep"):
        lines += ["## Dilation sweep (table 5.2)", "", sweep_table(result["dilation_sweep"]), ""]
    write_text(out / "report.md", "\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "checkpoint", help="a training run's folder (its latest checkpoint) or a checkpoint prefix"
    )
    p.add_argument("--records", required=True, help="a converted record set")
    p.add_argument("--split", default="validation")
    p.add_argument("--out", default=None, help="output folder (default: CHECKPOINT_RUN/eval-SPLIT)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-sweep", action="store_true", help="skip the dilation sweep")
    p.add_argument(
        "--max-batches", type=int, default=None, help="evaluate only the first N batches"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from training.checkpoints import resolve

    args = parse_args(argv)
    try:
        out = args.out or resolve(args.checkpoint)[0] / f"eval-{args.split}"
        result = evaluate(args.checkpoint, args.records, out, args.split, args.batch_size,
                          not args.no_sweep, args.max_batches, not args.quiet)  # fmt: skip
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = {k: result[k] for k in ("top1", "top5", "loss", "clips")}
    if "dilation_sweep" in result:
        summary["dilation_sweep"] = result["dilation_sweep"]
    print(json.dumps({**summary, "out": str(out)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
