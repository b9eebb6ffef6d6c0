"""``training.data convert`` against hostile or odd data sets (issue 20): each bad video or line is
skipped with its reason, the run finishes, and every other video is converted."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import training  # noqa: F401  (before TensorFlow: its CPU settings)

tf = pytest.importorskip("tensorflow", reason="training tests need the train extra (tensorflow)")

from gesture_rt.synthetic.dataset import make_dataset  # noqa: E402
from training.data import convert as conv  # noqa: E402
from training.data import records  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = conv.ConvertOptions(frames=8, height=24, width=32, shard_size=7, quality=90)
FRAME = "00006.jpg"  # 12 frames a video, the centre 8 (00003..00010) are read: this one always


@pytest.fixture(scope="module")
def jester_dir(tmp_path_factory) -> Path:
    """27 train videos of 12 frames (the split the tests convert) and 1 validation video."""
    root = tmp_path_factory.mktemp("jester") / "jester"
    return make_dataset(root, train=27, validation=1, seed=5, frames=12, size=(32, 56),
                        workers=1, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def reference(jester_dir, tmp_path_factory) -> dict:
    """The train split's manifest entry, converted from the untouched data set."""
    out = tmp_path_factory.mktemp("reference")
    return conv.convert(jester_dir, out, splits=["train"], options=SMALL, workers=1,
                        progress=False)["splits"]["train"]  # fmt: skip


@pytest.fixture
def copy(jester_dir, tmp_path) -> tuple[Path, list[str]]:
    """A copy of the data set to damage, and its train ids in order."""
    root = tmp_path / "jester"
    shutil.copytree(jester_dir, root)
    rows = (root / "jester-v1-train.csv").read_text().splitlines()
    return root, [row.split(";")[0] for row in rows]


def _frame(root: Path, video: str) -> Path:
    return root / "20bn-jester-v1" / video / FRAME


def _converted_ids(out: Path) -> set[str]:
    spec = records.feature_spec(tf)
    return {
        tf.io.parse_single_example(r, spec)["video"].numpy().decode()
        for path in records.shard_paths(out, "train")
        for r in tf.data.TFRecordDataset(str(path))
    }


def _assert_only_skipped(out: Path, info: dict, ids: list[str], skipped: dict) -> None:
    """``info`` (a split's manifest entry) skips exactly ``skipped`` ({video: (reason, detail
    fragment)}) and the records hold every other video."""
    examples = {e["video"]: e for e in info["skipped_examples"]}
    assert set(examples) == set(skipped), info["skipped_examples"]
    for video, (reason, fragment) in skipped.items():
        assert examples[video]["reason"] == reason and fragment in examples[video]["detail"]
    reasons = [reason for reason, _ in skipped.values()]
    assert info["skipped"] == {r: reasons.count(r) for r in reasons}
    rest = set(ids) - set(skipped)
    assert info["videos"] == len(rest) and _converted_ids(out) == rest


def _run_cli(root: Path, out: Path) -> subprocess.CompletedProcess:
    """``python -m training.data convert`` with two worker processes, in its own process group
    so that a hung worker is killed with it at the timeout."""
    command = [sys.executable, "-m", "training.data", "convert", str(root), str(out), "--splits",
               "train", "--frames", "8", "--size", "24x32", "--shard-size", "7", "--quality",
               "90", "--workers", "2", "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    # A read that never ends (an unfixed converter on /dev/zero) then fails with MemoryError at
    # 2 GiB of data instead of taking the machine's memory (set long before TensorFlow loads).
    resource.prlimit(process.pid, resource.RLIMIT_DATA, (2 << 30, 2 << 30))
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the conversion did not finish within 3 minutes (blocked on a frame?)")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize(
    ("make", "detail"),
    [(os.mkfifo, "a FIFO, not a regular file"),
     (lambda path: os.symlink("/dev/zero", path), "a character device, not a regular file")],
    ids=["fifo", "symlink-to-dev-zero"],
)  # fmt: skip
def test_the_cli_skips_a_frame_that_would_block_or_never_end(copy, tmp_path, make, detail):
    """A FIFO (an open that waits for a writer forever) or a symlink to /dev/zero (a read that
    never ends) as a frame: the command exits 0 in time and skips that video alone."""
    root, ids = copy
    _frame(root, ids[4]).unlink()
    make(_frame(root, ids[4]))
    out = tmp_path / "records"
    result = _run_cli(root, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["train"] == {"videos": 26, "skipped": {"irregular_frame": 1}}
    info = records.read_manifest(out)["splits"]["train"]
    _assert_only_skipped(out, info, ids, {ids[4]: ("irregular_frame", f"{FRAME}: {detail}")})


def _too_many_bytes(root: Path, video: str) -> None:
    with open(_frame(root, video), "r+b") as f:
        f.truncate(conv.MAX_FRAME_BYTES + 1)  # (sparse: no disk used)


def _too_many_pixels(root: Path, video: str) -> None:
    """A small JPEG whose frame header declares 8193 x 8193 pixels, one row and column over."""
    path = _frame(root, video)
    data = bytearray(path.read_bytes())
    i = 2
    while data[i + 1] not in (0xC0, 0xC2):  # walk the segments to the frame header
        i += 2 + struct.unpack_from(">H", data, i + 2)[0]
    struct.pack_into(">HH", data, i + 5, 8193, 8193)
    path.write_bytes(bytes(data))


def _dangling_symlink(root: Path, video: str) -> None:
    _frame(root, video).unlink()
    _frame(root, video).symlink_to(root / "nowhere.jpg")


def _symlink_to_a_folder(root: Path, video: str) -> None:
    _frame(root, video).unlink()
    _frame(root, video).symlink_to(root / "20bn-jester-v1", target_is_directory=True)


@pytest.mark.parametrize(
    ("damage", "reason", "detail"),
    [(_too_many_bytes, "oversized_frame", "16777217 bytes, over the limit of 16 MiB a frame"),
     (_too_many_pixels, "oversized_frame", "8193x8193 pixels, over the limit of 67108864"),
     (_dangling_symlink, "unreadable_frame", "No such file or directory"),
     (_symlink_to_a_folder, "irregular_frame", "a folder, not a regular file")],
    ids=["over-16-MiB", "over-64-megapixels", "dangling-symlink", "symlink-to-a-folder"],
)  # fmt: skip
def test_a_frame_past_the_limits_skips_its_video_alone(copy, tmp_path, damage, reason, detail):
    root, ids = copy
    damage(root, ids[7])
    out = tmp_path / "records"
    info = conv.convert(root, out, splits=["train"], options=SMALL, workers=1,
                        progress=False)["splits"]["train"]  # fmt: skip
    _assert_only_skipped(out, info, ids, {ids[7]: (reason, f"{FRAME}: {detail}")})


def test_an_id_longer_than_a_file_name_skips_its_line_alone(copy, tmp_path):
    """5,000 characters pass the id's character check, but no file system has such a name: the
    lookup itself fails (ENAMETOOLONG), which used to abort the whole conversion."""
    root, ids = copy
    long_id = "x" * 5000
    with open(root / "jester-v1-train.csv", "a", encoding="utf-8") as f:
        f.write(f"{long_id};Swiping Left\n")
    out = tmp_path / "records"
    info = conv.convert(root, out, splits=["train"], options=SMALL, workers=2,
                        progress=False)["splits"]["train"]  # fmt: skip
    expected = ("bad_id", "video id is 5000 bytes long, longer than a file name may be")
    _assert_only_skipped(out, info, [*ids, long_id], {long_id: expected})


def test_a_symlink_to_a_regular_file_is_followed(copy, tmp_path, reference):
    """Frames that are symlinks (a deduplicated or linked data set) are read through: the
    records are byte for byte those of the untouched data set."""
    root, ids = copy
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for video in ids[:3]:
        target = elsewhere / f"{video}.jpg"
        shutil.move(_frame(root, video), target)
        _frame(root, video).symlink_to(target)
    out = tmp_path / "records"
    info = conv.convert(root, out, splits=["train"], options=SMALL, workers=1,
                        progress=False)["splits"]["train"]  # fmt: skip
    assert info["skipped"] == {} and info["shards"] == reference["shards"]
