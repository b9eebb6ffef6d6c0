"""``python -m training.report RUN [RUN ...] --out DIR``: the thesis's training figures from our own
runs, in one Markdown report: top-1 against step from each run's log (figure 5.2), per-class
accuracy of the runs side by side (figure 5.3), each run's confusion matrix and dilation sweep
(table 5.2) from its ``training.evaluate`` output (``RUN/eval-SPLIT/metrics.json``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.checkpoints import read_config, read_metrics
from training.data.records import write_text
from training.evaluate import (
    plot_confusion,
    plot_per_class,
    pyplot,
    save_figure,
    sweep_table,
)


@dataclass(frozen=True)
class Run:
    """What one run left behind: its name, settings, validation curve and evaluation (if any)."""

    name: str
    folder: Path
    config: dict
    curve: list[tuple[int, float]] = field(default_factory=list)
    evaluation: dict | None = None


def load_run(folder: str | Path, name: str | None = None, split: str = "validation") -> Run:
    """A run folder's config, its logged validation top-1 by step and its evaluation output."""
    folder = Path(folder)
    config = read_config(folder)  # FileNotFoundError names a folder that is not a run
    if not isinstance(config, dict):
        raise ValueError(f"runs: {folder / 'config.json'} is not a run's settings (an object)")
    lines = [
        m for m in read_metrics(folder) if isinstance(m, dict) and m.get("kind") == "validation"
    ]
    if not all(_number(m.get("step")) and _number(m.get("top1")) for m in lines):
        raise ValueError(f"runs: {folder / 'metrics.jsonl'} has validation lines without a "
                         f"numeric step and top1")  # fmt: skip
    curve = sorted((int(m["step"]), float(m["top1"])) for m in lines)
    evaluation = None
    path = folder / f"eval-{split}" / "metrics.json"
    if path.is_file():
        try:
            evaluation = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"runs: {path} is not a readable evaluation ({error})") from None
        _check_evaluation(path, evaluation)
    if not curve and evaluation is None:
        raise ValueError(
            f"runs: {folder} has neither validation lines in its log nor an evaluation in "
            f"eval-{split}/ (run python -m training.evaluate {folder} --records ...)"
        )
    return Run(name or folder.name, folder, config, curve, evaluation)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _check_evaluation(path: Path, evaluation) -> None:
    """What the report reads from ``training.evaluate``'s metrics.json, checked up front."""
    problem = None
    if not isinstance(evaluation, dict):
        problem = "is not an object"
    elif not all(_number(evaluation.get(k)) for k in ("top1", "top5", "clips")):
        problem = "lacks numeric top1, top5 and clips"
    elif not isinstance(evaluation.get("per_class"), dict) or not evaluation["per_class"]:
        problem = "lacks per_class accuracies"
    else:
        classes = len(evaluation["per_class"])
        matrix = evaluation.get("confusion")
        if not (isinstance(matrix, list) and len(matrix) == classes
                and all(isinstance(r, list) and len(r) == classes for r in matrix)):  # fmt: skip
            problem = f"needs a {classes} x {classes} confusion matrix"
        elif not isinstance(evaluation.get("dilation_sweep", {}), dict):
            problem = "has a dilation_sweep that is not an object"
    if problem:
        raise ValueError(f"runs: {path} {problem} (is it training.evaluate's output?)")


def plot_curves(runs: Sequence[Run], path: str | Path) -> Path:
    """Validation top-1 against training step, one line per run; dashed: learning-rate drops."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    legend = "learning rate drop"
    for run in runs:
        steps, top1 = zip(*run.curve, strict=True)
        start = run.config.get("training", {}).get("init")
        label = f"{run.name} (from {start})" if start else run.name
        line = axes.plot(steps, 100 * np.asarray(top1), marker="o", markersize=3, label=label)
        for boundary in run.config.get("training", {}).get("boundaries", []):
            axes.axvline(boundary, color=line[0].get_color(), linestyle="--", alpha=0.5,
                         label=legend)  # fmt: skip
            legend = None  # one legend entry for all of them
    axes.set_xlabel("training step")
    axes.set_ylabel("validation top-1 (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title("Top-1 accuracy during training")
    return save_figure(figure, path)


def write_report(runs: Sequence[Run], out: str | Path, title: str = "Training report") -> Path:
    """The PNGs and ``report.md`` in ``out``; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", _summary_table(runs), ""]
    curves = [run for run in runs if run.curve]
    if curves:
        plot_curves(curves, out / "top1_vs_step.png")
        lines += ["## Top-1 during training (figure 5.2)", "", "![top-1](top1_vs_step.png)", ""]
    evaluated = [run for run in runs if run.evaluation]
    if evaluated:
        labels = list(evaluated[0].evaluation["per_class"])
        if any(list(run.evaluation["per_class"]) != labels for run in evaluated):
            raise ValueError("runs: the evaluated runs name different classes; report them apart")
        accuracies = {run.name: [_nan(run.evaluation["per_class"][c]) for c in labels]
                      for run in evaluated}  # fmt: skip
        plot_per_class(accuracies, labels, out / "per_class_accuracy.png")
        lines += ["## Per-class top-1 (figure 5.3)", "",
                  "![per-class accuracy](per_class_accuracy.png)", ""]  # fmt: skip
        lines += _lowest_classes(accuracies, labels)
    for run in evaluated:
        image = f"confusion_{_file_name(run.name)}.png"
        plot_confusion(np.asarray(run.evaluation["confusion"]), labels, out / image)
        lines += [f"## {run.name}: confusion matrix", "", f"![confusion matrix]({image})", ""]
        if run.evaluation.get("dilation_sweep"):
            lines += [f"## {run.name}: dilation sweep (table 5.2)", "",
                      sweep_table(run.evaluation["dilation_sweep"]), ""]  # fmt: skip
    missing = [run.name for run in runs if not run.evaluation]
    if missing:
        lines += [f"Not evaluated (no eval output): {', '.join(missing)}; run "
                  "`python -m training.evaluate RUN --records DIR` for their per-class "
                  "accuracy, confusion matrix and dilation sweep.", ""]  # fmt: skip
    write_text(out / "report.md", "\n".join(lines))
    return out / "report.md"


def _summary_table(runs: Sequence[Run]) -> str:
    rows = ["| run | architecture | trained on | from | validation top-1 (last logged, step) | "
            "evaluated top-1 | top-5 | clips |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for run in runs:
        model, training = run.config.get("model", {}), run.config.get("training", {})
        e = run.evaluation or {}
        cells = [
            run.name,
            f"{model.get('arch', '?')} (width {model.get('width', 1.0):g})",
            str(training.get("records", "—")),
            str(training.get("init") or "scratch"),
            f"{100 * run.curve[-1][1]:.2f}% ({run.curve[-1][0]})" if run.curve else "—",
            *(f"{100 * e[k]:.2f}%" if k in e else "—" for k in ("top1", "top5")),
            str(e.get("clips", "—")),
        ]
        rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows)


def _lowest_classes(accuracies: dict[str, list[float]], labels: Sequence[str]) -> list[str]:
    """The three hardest classes of each run (the thesis's discussion of figure 5.3)."""
    lines = []
    for name, values in accuracies.items():
        order = [i for i in np.argsort(values) if not np.isnan(values[i])][:3]
        worst = ", ".join(f"{labels[i]} {100 * values[i]:.1f}%" for i in order)
        lines.append(f"- {name}: lowest {worst}")
    return [*lines, ""]


def _nan(value) -> float:
    return float("nan") if value is None else float(value)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m training.report",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("runs", nargs="+", help="training run folders")
    p.add_argument("--out", required=True, help="the report's folder")
    p.add_argument("--names", default=None,
                   help="comma-separated run names (default: their folder names)")  # fmt: skip
    p.add_argument("--split", default="validation", help="which eval-SPLIT output to read")
    p.add_argument("--title", default="Training report", help="the report's heading")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        names = args.names.split(",") if args.names else [Path(r).name for r in args.runs]
        names = [n.strip() for n in names]
        if len(names) != len(args.runs):
            raise ValueError(f"names: {len(names)} names for {len(args.runs)} runs")
        if len({_file_name(n) for n in names}) != len(names) or not all(names):
            raise ValueError(f"names: runs need distinct names (as file names too), got {names}")
        runs = [load_run(r, n, args.split) for r, n in zip(args.runs, names, strict=True)]
        report = write_report(runs, args.out, args.title)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
