"""``python -m bench.quality``: one run measures every cell of its grid, prints the table the
docs quote, writes the same figures as JSON, and refuses a bad grid with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import quality


def test_every_cell_of_the_grid_is_measured_and_tabled(tmp_path, capsys):
    out = tmp_path / "quality.json"
    argv = ["--clip-seeds", "31001", "--stream-seeds", "32001", "--stream-seconds", "20",
            "--shapes", "176x100,160x120", "--difficulties", "0.2,0.6", "--contexts", "hold",
            "--precision", "fp32", "--json", str(out), "--quiet"]  # fmt: skip
    assert quality.main(argv) == 0
    result = json.loads(out.read_text())
    clips = result["clips"]
    assert [(c["difficulty"], c["shape"]) for c in clips] == [
        (0.2, "176x100"), (0.2, "160x120"), (0.6, "176x100"), (0.6, "160x120")]
    assert all(c["clips"] == 27 and 0 <= c["top1"] <= 1 for c in clips)
    assert len({c["top1"] for c in clips}) > 1  # conditions differ, figures differ
    for stream in result["streams"]:
        right = round((stream["precision"] or 0) * stream["events"])
        assert right <= stream["gestures"] and stream["shape"] == "640x480"
        assert stream["recall"] == pytest.approx(right / stream["gestures"], abs=1e-3)
    printed = capsys.readouterr().out
    assert printed.count("| 0.2 | 176x100 | hold | 27 |") == 1 and ">= 0.95: " in printed
    assert result["precision"] == "fp32" and result["grid"]["shapes"] == ["176x100", "160x120"]


@pytest.mark.parametrize(("value", "target", "verdict"), [
    (0.97, 0.95, ">= 0.95: met"), (0.9, 0.95, ">= 0.95: short by 0.050"), (None, 0.9, "-"),
])  # fmt: skip
def test_each_cell_says_whether_its_target_is_met(value, target, verdict):
    assert quality._verdict(value, target) == verdict


@pytest.mark.parametrize("argv", [["--shapes", "100"], ["--difficulties", "2"],
                                  ["--clip-seeds", "x"], ["--contexts", "upside-down"]])
def test_a_bad_grid_exits_2(argv, capsys):
    try:
        code = quality.main([*argv, "--stream-seeds", "1", "--stream-seconds", "5", "--quiet"])
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code
    assert code == 2


def test_the_quoted_cells_of_the_default_models_quality_table(capsys):
    """docs/benchmarks.md quotes the default grid's table in fp32; its two 176x100 cells at
    difficulty 0.2 are measured again here (the whole grid takes minutes)."""
    argv = ["--difficulties", "0.2", "--shapes", "176x100", "--precision", "fp32",
            "--stream-seeds", "32001", "--stream-seconds", "5", "--quiet"]  # fmt: skip
    assert quality.main(argv) == 0
    printed = capsys.readouterr().out
    docs = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    for row in ("| 0.2 | 176x100 | hold | 81 | 0.840 |", "| 0.2 | 176x100 | rest | 81 | 0.951 |"):
        assert row in printed and row in docs
