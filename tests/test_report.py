"""The training report: figures 5.2 and 5.3, confusion matrices and table 5.2 from run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the report needs the train extra (matplotlib)")

from training import report

LABELS = ["Swiping Left", "Swiping Right", "Thumb Up"]


def make_run(root, name, curve=(), evaluation=True, labels=LABELS, boundaries=(300,), init=None):
    folder = root / name
    folder.mkdir()
    training = {"boundaries": list(boundaries), "records": "rec", "init": init}
    config = {"model": {"arch": "modified_i3d", "width": 0.25}, "labels": labels,
              "training": training}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    lines = [{"kind": "train", "step": s, "loss": 1.0} for s, _ in curve]
    lines += [{"kind": "validation", "step": s, "top1": t, "top5": 1.0} for s, t in curve]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    if evaluation:
        (folder / "eval-validation").mkdir()
        confusion = [[8, 2, 0], [1, 9, 0], [0, 0, 10]]
        per_class = {label: np.diag(confusion)[i] / 10 for i, label in enumerate(labels)}
        sweep = {"top-1": 0.85, "top-2": 0.9, "full": 0.9, "none": 0.8}
        metrics = {"top1": 0.9, "top5": 1.0, "clips": 30, "per_class": per_class,
                   "confusion": confusion, "dilation_sweep": sweep}  # fmt: skip
        (folder / "eval-validation" / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_one_command_writes_every_figure_and_the_report(tmp_path, capsys):
    a = make_run(tmp_path, "a", curve=[(100, 0.2), (200, 0.6), (400, 0.9)])
    b = make_run(tmp_path, "b", curve=[(100, 0.1), (200, 0.5)], evaluation=False)
    c = make_run(tmp_path, "c", evaluation=True, init="runs/a")
    out = tmp_path / "report"
    assert report.main([str(a), str(b), str(c), "--out", str(out),
                        "--names", "Modified-I3D,I3D,G-I3D", "--title", "Ours"]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == str(out / "report.md")
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion_G-I3D.png", "confusion_Modified-I3D.png", "per_class_accuracy.png",
        "report.md", "top1_vs_step.png"]  # fmt: skip
    text = (out / "report.md").read_text()
    assert text.startswith("# Ours\n")
    first = "| Modified-I3D | modified_i3d (width 0.25) | rec | scratch | 90.00% (400) | 90.00% |"
    assert f"{first} 100.00% | 30 |" in text
    assert "| I3D | modified_i3d (width 0.25) | rec | scratch | 50.00% (200) | — | — | — |" in text
    assert "| G-I3D | modified_i3d (width 0.25) | rec | runs/a | — |" in text
    assert "| 1 | 85.00% | — |" in text and "| None | 80.00% |" in text  # table 5.2
    assert "lowest Swiping Left 80.0%" in text
    assert "Not evaluated (no eval output): I3D" in text
    for image in ("top1_vs_step.png", "per_class_accuracy.png", "confusion_G-I3D.png"):
        assert f"]({image})" in text and (out / image).read_bytes().startswith(b"\x89PNG")


def test_the_validation_curve_is_read_from_the_log(tmp_path):
    run = report.load_run(make_run(tmp_path, "r", curve=[(200, 0.5), (100, 0.25)]))
    assert run.curve == [(100, 0.25), (200, 0.5)] and run.evaluation["top1"] == 0.9


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        (lambda t: t / "missing", [], r"config.json is missing"),
        (lambda t: make_run(t, "empty", evaluation=False), [], r"neither validation lines"),
        (lambda t: make_run(t, "x"), ["--names", "a,b"], r"2 names for 1 runs"),
    ],
)
def test_bad_runs_are_named(tmp_path, capsys, setup, argv, message):
    folder = setup(tmp_path)
    assert report.main([str(folder), "--out", str(tmp_path / "out"), *argv]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)


def broken(folder, file, text):
    (folder / file).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: broken(f, "config.json", "[]"), r"config.json is not a run's settings"),
        (lambda f: broken(f, "metrics.jsonl", '{"kind": "validation", "step": null, "top1": 1}'),
         r"metrics.jsonl has validation lines without a numeric step"),
        (lambda f: broken(f, "eval-validation/metrics.json", '{"top1": 1, "top5": 1, "clips": 3}'),
         r"metrics.json lacks per_class"),
        (lambda f: broken(f, "eval-validation/metrics.json", json.dumps(
            {"top1": 1, "top5": 1, "clips": 3, "per_class": {"a": 1.0, "b": 1.0},
             "confusion": [[1, 0]]})), r"needs a 2 x 2 confusion matrix"),
    ],
)  # fmt: skip
def test_damaged_run_files_are_named_before_anything_is_written(tmp_path, capsys, damage, message):
    folder = damage(make_run(tmp_path, "run", curve=[(100, 0.5)]))
    out = tmp_path / "out"
    assert report.main([str(folder), "--out", str(out)]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not out.exists()


def test_runs_need_distinct_names_and_the_same_classes(tmp_path, capsys):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a = make_run(tmp_path / "one", "run")
    b = make_run(tmp_path / "two", "run")
    assert report.main([str(a), str(b), "--out", str(tmp_path / "o")]) == 2
    assert "distinct names" in capsys.readouterr().err
    for names in ("a b,a_b", "x, x"):  # one file name; one name once stripped
        assert report.main([str(a), str(b), "--out", str(tmp_path / "o"), "--names", names]) == 2
        assert "distinct names" in capsys.readouterr().err
    other = make_run(tmp_path, "other", labels=["A", "B", "C"])
    assert report.main([str(a), str(other), "--out", str(tmp_path / "o")]) == 2
    assert "different classes" in capsys.readouterr().err
    (b / "eval-validation" / "metrics.json").write_text("{ half")
    assert report.main([str(b), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable evaluation" in capsys.readouterr().err
