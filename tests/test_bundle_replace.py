"""Writing a bundle is crash-proof: a writer SIGKILLed at any step leaves a loadable bundle, old or
new, at the target (or, where the filesystem cannot swap folders atomically, one the next writer
restores), and the next writer to the same place removes what the killed one left."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gesture_rt import bundle as bundles

FIELDS = {
    "model": {"arch": "modified_i3d"},
    "labels": ["a", "b"],
    "input": {"name": "clip", "shape": [8, 32, 32, 3]},
    "preprocessing": {"resize_short": 32, "crop": 32, "mean": 127.5, "std": 127.5},
    "training_fps": 12.0,
    "stride": 4,
    "threshold": 0.5,
    "formats": {"onnx": "model.onnx"},
}

# A writer of the bundle at argv[1] holding b"new" that stops (prints "ready", sleeps) at the
# step named argv[2], for the test to SIGKILL it there.
WRITER = """
import json, pathlib, shutil, sys, time
from gesture_rt import bundle as bundles

out, point = pathlib.Path(sys.argv[1]), sys.argv[2]

def pause(at):
    if at == point:
        print("ready", flush=True)
        time.sleep(600)

exchange = (lambda a, b: False) if point.startswith("fallback") else bundles._exchange
def swap(a, b):
    pause("before-swap")
    done = exchange(a, b)
    pause("after-swap")
    return done
bundles._exchange = swap
rename = pathlib.Path.rename
def paused_rename(self, target):
    moved = rename(self, target)
    if str(target).endswith(".old"):
        pause("fallback-between-renames")
    return moved
pathlib.Path.rename = paused_rename
rmtree = shutil.rmtree
def paused_rmtree(path, *args, **kwargs):
    if pathlib.Path(path).exists():
        pause("cleanup" if ".tmp-" in str(path) else "fallback-removing-old")
    return rmtree(path, *args, **kwargs)
shutil.rmtree = paused_rmtree

with bundles.staging(out) as work:
    staged = work / "bundle"
    staged.mkdir()
    (staged / "model.onnx").write_bytes(b"new")
    pause("staged")
    bundles.write_manifest(staged, json.loads(sys.argv[3]))
    pause("manifest")
    bundles.replace_bundle(staged, out)
print("done", flush=True)
"""

# step -> what the target holds after a kill there (fallback-between-renames: nothing, until
# the next writer's recover() puts the old one back)
STEPS = {
    "staged": b"old",
    "manifest": b"old",
    "before-swap": b"old",
    "after-swap": b"new",
    "cleanup": b"new",
    "fallback-between-renames": None,
    "fallback-removing-old": b"new",
}


def write_bundle(root, content: bytes) -> None:
    root.mkdir()
    (root / "model.onnx").write_bytes(content)
    bundles.write_manifest(root, FIELDS)


def network(root) -> bytes:
    return bundles.load(root).read("model.onnx")


def leftovers(out) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def kill_writer_at(out, step: str) -> None:
    command = [sys.executable, "-c", WRITER, str(out), step, json.dumps(FIELDS)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as writer:  # fmt: skip
        line = writer.stdout.readline().strip()
        writer.kill()  # SIGKILL: no handler, no finally, no cleanup
        assert line == "ready", writer.stderr.read()


@pytest.mark.parametrize("step", list(STEPS))
def test_a_writer_killed_at_any_step_leaves_a_whole_bundle(tmp_path, step):
    out = tmp_path / "bundle"
    write_bundle(out, b"old")
    kill_writer_at(out, step)
    expected = STEPS[step]
    if expected is None:  # only where the filesystem cannot exchange two folders atomically
        assert not out.exists() and leftovers(out)
    else:
        assert network(out) == expected  # loads: whole, verified
    bundles.recover(out)  # what the next export to the same place does first
    assert network(out) == (expected or b"old") and leftovers(out) == []
    with bundles.staging(out) as work:  # and the next replacement goes through
        write_bundle(work / "bundle", b"newer")
        bundles.replace_bundle(work / "bundle", out)
    assert network(out) == b"newer" and leftovers(out) == []


def test_staging_folders_of_live_writers_are_kept_and_of_dead_ones_removed(tmp_path):
    out = tmp_path / "bundle"
    alive = tmp_path / f".bundle.tmp-{os.getpid()}-abc"  # this process: still writing
    dead = tmp_path / ".bundle.tmp-99999999-abc"  # no such process
    unnumbered = tmp_path / ".bundle.tmp-k2j3h4"  # an older gesture_rt's name: no owner to ask
    other = tmp_path / ".other.tmp-99999999-abc"  # another bundle's: not ours to touch
    alike = tmp_path / ".bundle.tmp-5.tmp-99999999-abc"  # the bundle "bundle.tmp-5"'s
    for folder in (alive, dead, unnumbered, other, alike):
        folder.mkdir()
    bundles.recover(out)
    kept = [alive.name, other.name, alike.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_symlinked_target_is_refused_not_replaced_by_a_folder(tmp_path):
    write_bundle(tmp_path / "v1", b"old")
    (tmp_path / "current").symlink_to(tmp_path / "v1")
    with (pytest.raises(ValueError, match=r"out: .*current is a symbolic link; give the folder"),
          bundles.staging(tmp_path / "current")):  # fmt: skip
        pass
    assert (tmp_path / "current").is_symlink() and network(tmp_path / "current") == b"old"


def test_a_replaced_bundle_is_readable_by_everyone(tmp_path):
    out = tmp_path / "bundle"
    with bundles.staging(out) as work:
        (work / "model.onnx").write_bytes(b"new")
        bundles.write_manifest(work, FIELDS)
        bundles.replace_bundle(work, out)
    assert oct(out.stat().st_mode & 0o777) == "0o755" and network(out) == b"new"


def test_recover_finishes_a_two_rename_replacement_that_completed(tmp_path):
    out = tmp_path / "bundle"
    write_bundle(out, b"new")
    write_bundle(tmp_path / ".bundle.old", b"old")
    bundles.recover(out)
    assert network(out) == b"new" and leftovers(out) == []
