"""Training: the CI pipeline (records -> steps -> evaluation -> a loadable checkpoint), resume after
a kill and after Ctrl-C, tf.distribute equivalence (two replicas; two worker processes),
evaluation outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import training  # noqa: F401  (before TensorFlow: its CPU settings)

tf = pytest.importorskip("tensorflow", reason="training tests need the train extra (tensorflow)")

from gesture_rt.synthetic.dataset import make_dataset  # noqa: E402
from training import evaluate as ev  # noqa: E402
from training.checkpoints import load_trained, read_metrics  # noqa: E402
from training.data.convert import ConvertOptions, convert  # noqa: E402
from training.train import TrainConfig, Trainer, config_from_args, parse_args  # noqa: E402
from training.train import main as train_main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small enough to trace and step quickly on two cores: 8 frames of 24 x 32, 24 x 24 crops.
TINY = ["--width", "0.25", "--crop", "24", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("training")
    root = make_dataset(base / "jester", train=54, validation=27, seed=11, frames=10,
                        size=(32, 56), workers=1, progress=False)  # fmt: skip
    options = ConvertOptions(frames=8, height=24, width=32, shard_size=16)
    convert(root, base / "records", options=options, workers=1, progress=False)
    return base / "records"


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory) -> Path:
    """The CI integration run: 48 steps of Modified-I3D, evaluated at the end (batches of 16, no
    augmentation or dropout, so that 48 steps on 54 clips show the loss falling)."""
    run = tmp_path_factory.mktemp("run") / "modified"
    argv = ["--records", str(records), "--model-dir", str(run), "--arch", "modified_i3d",
            "--steps", "48", "--lr", "0.01", "--eval-every", "48", "--checkpoint-every", "12",
            "--log-every", "1", "--no-augment", "--dropout", "0", *TINY,
            "--batch-size", "16"]  # fmt: skip
    assert train_main(argv) == 0
    return run


def _train_losses(run: Path) -> list[float]:
    return [m["loss"] for m in read_metrics(run) if m["kind"] == "train"]


def test_ci_pipeline_trains_with_a_falling_loss(trained):
    losses = _train_losses(trained)
    assert len(losses) == 48
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3, losses  # measured: 3.46 -> 2.65
    validation = [m for m in read_metrics(trained) if m["kind"] == "validation"]
    assert [v["step"] for v in validation] == [48] and validation[0]["clips"] == 27
    assert sorted(p.name for p in (trained / "checkpoints").glob("*.index")) == [
        "ckpt-12.index", "ckpt-24.index", "ckpt-36.index", "ckpt-48.index"]  # fmt: skip
    assert list((trained / "logs" / "train").glob("events.out.tfevents.*"))


def test_a_trained_checkpoint_loads_back_for_export(trained, records):
    model, config = load_trained(trained)
    assert config["model"]["arch"] == "modified_i3d" and len(config["labels"]) == 27
    assert model.spec.input_shape == (8, 24, 24, 3)
    same, _ = load_trained(trained / "checkpoints" / "ckpt-48")
    for a, b in zip(model.weights, same.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    earlier, _ = load_trained(trained / "checkpoints" / "ckpt-12")
    assert any(not np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(model.weights, earlier.weights, strict=True))  # fmt: skip
    undilated, _ = load_trained(trained, dilation_eval="none")
    assert undilated.spec.dilation_eval == "none"
    with pytest.raises(FileNotFoundError, match="checkpoint must be"):
        load_trained(records)


def test_the_exporter_accepts_the_trained_checkpoint_and_the_runtime_runs_it(trained, tmp_path):
    from gesture_rt.recognizer import GestureRecognizer
    from training.export import main as export_main

    out = tmp_path / "bundle"
    argv = [str(trained), str(out), "--formats", "openvino", "--parity-clips", "4", "--quiet"]
    assert export_main(argv) == 0
    with GestureRecognizer.create(bundle=out, clip_len=8, stride=4) as recognizer:
        manifest = recognizer.manifest
        assert manifest["source"]["checkpoint"].endswith("ckpt-48")
        assert manifest["preprocessing"]["resize_short"] == 24  # the records' frame height
        assert recognizer.labels == load_trained(trained)[1]["labels"]
        frames = np.random.default_rng(0).integers(0, 255, (12, 30, 40, 3), np.uint8)
        predictions = [recognizer.push(f, 80.0 * i) for i, f in enumerate(frames)]
    assert [i for i, p in enumerate(predictions) if p] == [7, 11]


def test_evaluate_writes_metrics_plots_and_the_dilation_sweep(trained, records, tmp_path):
    out = tmp_path / "eval"
    assert ev.main([str(trained), "--records", str(records), "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["clips"] == 27 and 0 <= result["top1"] <= result["top5"] <= 1
    assert len(result["per_class"]) == 27
    matrix = np.array(result["confusion"])
    assert matrix.shape == (27, 27) and matrix.sum() == 27
    assert np.trace(matrix) == round(result["top1"] * 27)
    assert set(result["dilation_sweep"]) == {"top-1", "top-2", "top-3", "top-4", "top-5",
                                             "full", "none"}  # fmt: skip
    assert result["dilation_sweep"]["full"] == pytest.approx(result["top1"])
    assert result["dilation_sweep"]["top-5"] == result["dilation_sweep"]["full"]  # same units
    for png in ("per_class_accuracy.png", "confusion_matrix.png"):
        image = cv2.imread(str(out / png))
        assert image is not None and min(image.shape[:2]) > 300
    report = (out / "report.md").read_text()
    assert "| 5 |" in report and "![confusion matrix](confusion_matrix.png)" in report
    assert not [p for p in os.listdir(out) if "partial" in p]


def test_scores_and_confusion_matrix_by_hand():
    logits = np.array([[5, 1, 0, 0, 0, 0], [0, 5, 1, 0, 0, 0], [9, 0, 0, 0, 0, 8]], float)
    labels = np.array([0, 2, 5])
    result = ev.scores(logits, labels)
    assert result["top1"] == pytest.approx(1 / 3) and result["top5"] == pytest.approx(1.0)
    assert result["clips"] == 3 and result["loss"] > 0
    matrix = ev.confusion_matrix(logits.argmax(1), labels, 6)
    assert matrix[0, 0] == 1 and matrix[2, 1] == 1 and matrix[5, 0] == 1 and matrix.sum() == 3
    accuracy = ev.per_class_accuracy(matrix)
    assert accuracy[0] == 1.0 and accuracy[2] == 0.0 and np.isnan(accuracy[3])


def test_sweep_modes_follow_table_5_2():
    assert ev.sweep_modes("i3d") == []
    assert ev.sweep_modes("modified_i3d") == [*(f"top-{n}" for n in range(1, 6)), "full", "none"]
    modes = ev.sweep_modes("dilate_i3d")
    assert len(modes) == 22 and modes[-2:] == ["full", "none"] and "bottom-10" in modes
    table = ev.sweep_table({"top-1": 0.9172, "bottom-1": 0.915, "full": 0.918, "none": 0.9156})
    assert "| 1 | 91.72% | 91.50% |" in table and "| Full | 91.80% |" in table


def checkpoint_step(run: Path) -> int:
    """The step of the checkpoint a run's state file names, 0 before the first."""
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def test_training_resumes_after_a_kill(records, tmp_path):
    """SIGKILL a training process after its second checkpoint; the same command resumes from
    that checkpoint: its weights and momentum slots, its step (no step twice, none missing), the
    learning-rate schedule (the rate drops at step 50, after the resume), and the same next step.

    The loss is not the judge: this tiny I3D at lr 0.01 stays near chance (ln 27 = 3.3) for all
    60 steps on every CPU, and whether two 10-step means differed by 0.3 came down to rounding
    (it failed on AMX Xeons). What is checked instead is that training continued from the
    checkpoint, directly."""
    run = tmp_path / "run"
    flags = ["--records", str(records), "--arch", "i3d", "--steps", "60", "--lr", "0.01",
             "--boundaries", "50", "--checkpoint-every", "15", "--eval-every", "1000",
             "--log-every", "1", "--no-augment", "--dropout", "0", *TINY]  # fmt: skip
    command = [sys.executable, "-m", "training.train", "--model-dir", str(run), *flags]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "first.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        # Wait on the checkpoint state file, not on ckpt-30.index: TensorFlow writes the index
        # before it names the checkpoint in the state file, and a kill between the two leaves 15.
        while checkpoint_step(run) < 30:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no second checkpoint within 5 minutes"
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert max(m["step"] for m in read_metrics(run)) < 60
    at_kill = tmp_path / "at-kill"  # the run as the kill left it, for the direct checks below
    shutil.copytree(run, at_kill)
    latest = checkpoint_step(run)
    assert latest in (30, 45)  # (the kill may land after a third checkpoint)
    resumed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at step {latest}" in resumed.stderr
    lines = [m for m in read_metrics(run) if m["kind"] == "train"]
    assert [m["step"] for m in lines] == list(range(1, 61))  # no step twice, none missing
    rates = {m["step"]: m["lr"] for m in lines}
    assert rates[50] == pytest.approx(0.01) and rates[51] == pytest.approx(0.001)

    # A trainer restored from the kill's checkpoint holds exactly the checkpoint's weights and
    # optimizer slots (momentum included: a restart from scratch would have zeros there) ...
    config = config_from_args(parse_args(["--model-dir", str(at_kill), *flags]))
    trainer = Trainer(replace(config, steps=latest + 1), progress=False)
    assert f"at step {latest}" in trainer.restore_or_initialise() and trainer.step == latest
    saved = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(at_kill / "checkpoints")))
    for weight in trainer.model.weights:
        key = f"model/by_path/{weight.path.replace('/', '.S')}/.ATTRIBUTES/VARIABLE_VALUE"
        np.testing.assert_array_equal(weight.numpy(), saved.get_tensor(key), err_msg=key)
    slots = trainer.optimizer.variables[1:]  # [0] is the step counter, saved as _iterations
    for i, slot in enumerate(slots, 1):
        key = f"optimizer/_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"
        np.testing.assert_array_equal(slot.numpy(), saved.get_tensor(key), err_msg=slot.path)
    assert any(np.abs(s.numpy()).max() > 0 for s in slots if "momentum" in s.path)
    # ... and its next step is the one the resumed process took: same data, same loss.
    trainer.run()
    step = latest + 1
    here = [m["loss"] for m in read_metrics(at_kill) if m["kind"] == "train" and m["step"] == step]
    there = [m["loss"] for m in lines if m["step"] == step]
    assert here == pytest.approx(there, rel=1e-4), (here, there, [m["loss"] for m in lines])


# `python -m training.train` as a terminal starts it. A test run in the background (`pytest &`)
# passes on an ignored SIGINT, which Python keeps ignoring (as training does, on purpose).
WITH_CTRL_C = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from training.train import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip


def _wait_for_train_step(process, run: Path, step: int, log: Path) -> None:
    """Until metrics.jsonl logs training step ``step`` (the process is then inside the loop)."""
    deadline = time.monotonic() + 300
    while not any(m["kind"] == "train" and m["step"] >= step for m in read_metrics(run)):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "no training step logged within 5 minutes"
        time.sleep(0.1)


def test_ctrl_c_saves_the_step_it_stops_at_and_the_run_resumes_from_it(records, tmp_path):
    """SIGINT (Ctrl-C) to `python -m training.train` inside its loop: it finishes the step, saves
    a checkpoint of it (no periodic one is due: --checkpoint-every 1000), says so and exits 130;
    the same command resumes from that step, no step twice, none missing."""
    run = tmp_path / "run"
    flags = ["--records", str(records), "--model-dir", str(run), "--arch", "i3d",
             "--checkpoint-every", "1000", "--eval-every", "1000", "--eval-batches", "1",
             "--log-every", "1", "--no-augment", *TINY]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = tmp_path / "first.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", WITH_CTRL_C, *flags, "--steps", "400"],
                                   cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=stderr)  # fmt: skip
    try:
        _wait_for_train_step(process, run, 3, log)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130, log.read_text()[-3000:]
    finally:
        process.kill()
        process.wait()
    message = log.read_text().strip().splitlines()[-1]
    prefix = tf.train.latest_checkpoint(str(run / "checkpoints"))
    step = int(prefix.rsplit("-", 1)[1])
    assert 3 <= step < 400
    assert message == (f"interrupted at step {step}: checkpoint {prefix} saved; run the same "
                       "command to resume from it")  # fmt: skip
    saved = tf.train.load_checkpoint(prefix)
    assert saved.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == step
    steps = [m["step"] for m in read_metrics(run) if m["kind"] == "train"]
    assert steps == list(range(1, step + 1))  # the stopped step was finished, logged and saved

    command = [sys.executable, "-m", "training.train", *flags, "--steps", str(step + 2)]
    resumed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {prefix} at step {step}" in resumed.stderr
    steps = [m["step"] for m in read_metrics(run) if m["kind"] == "train"]
    assert steps == list(range(1, step + 3))
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["step"] == step + 2


# Runs the loop in a child process that sends itself SIGINTs once step 3 is logged, and prints
# what stopped it. In a child: a KeyboardInterrupt raised at an arbitrary point inside
# TensorFlow's loop can leave TensorFlow unusable, which in the test process itself crashed a
# later test (a segmentation fault in CI).
INTERRUPTER = """
import json, signal, sys
sys.path.append(sys.argv[1])
import training
import tensorflow as tf
from training import train
from training.train import Trainer, config_from_args, parse_args

signal.signal(signal.SIGINT, signal.default_int_handler)
config = config_from_args(parse_args(json.loads(sys.argv[2])))
trainer = Trainer(config, strategy=tf.distribute.get_strategy(), progress=False)
log, signals = Trainer._log, int(sys.argv[3])

def log_then_interrupt(self, values, writers, kind):
    log(self, values, writers, kind)
    if kind == "train" and values["step"] == 3:
        for _ in range(signals):
            signal.raise_signal(signal.SIGINT)

Trainer._log = log_then_interrupt
try:
    trainer.run()
except train.Interrupted as stopped:
    back = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print(json.dumps({"message": str(stopped), "checkpoint": stopped.checkpoint,
                      "handler_back": back}))
"""


@pytest.mark.parametrize(
    ("strategy", "signals", "why", "again"),
    [("multiworker", 1, "under --strategy multiworker all workers save a checkpoint together, "
      "and one interrupted worker cannot make the others save", "on every worker "),
     ("default", 2, "a second Ctrl-C stopped it at once", "")],
    ids=["multiworker", "second-ctrl-c"],
)  # fmt: skip
def test_an_interrupt_that_cannot_save_says_so_and_where_the_run_resumes(
    records, tmp_path, strategy, signals, why, again
):
    """Under multiworker (a save is collective: one worker cannot save alone; here the config
    says multiworker, the strategy is this process's own) one Ctrl-C, elsewhere a second one,
    stops the loop at once: no checkpoint of step 3, and the message names the last one (2)."""
    run = tmp_path / "run"
    argv = ["--records", str(records), "--model-dir", str(run), "--arch", "i3d", "--steps", "10",
            "--log-every", "1", "--checkpoint-every", "2", "--eval-every", "100", "--strategy",
            strategy, "--no-augment", *TINY]  # fmt: skip
    command = [sys.executable, "-c", INTERRUPTER, str(REPO), json.dumps(argv), str(signals)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout.strip().splitlines()[-1])
    prefix = str(run / "checkpoints" / "ckpt-2")
    assert stopped["message"] == (f"interrupted at step 3: no checkpoint saved ({why}); run the "
                                  f"same command {again}to resume from {prefix}")  # fmt: skip
    assert stopped["checkpoint"] is None and stopped["handler_back"]
    assert tf.train.latest_checkpoint(str(run / "checkpoints")) == prefix


def test_an_interrupt_before_the_loop_says_nothing_was_saved(records, tmp_path, monkeypatch,
                                                              capsys):  # fmt: skip
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "restore_or_initialise", interrupted)
    run = tmp_path / "run"
    argv = ["--records", str(records), "--model-dir", str(run), "--arch", "i3d", *TINY]
    assert train_main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted before the training loop: nothing saved; run the same command to start "
        "again (from the run's last checkpoint, if it has one)")  # fmt: skip
    assert not (run / "checkpoints").exists() or not list((run / "checkpoints").iterdir())


def test_a_restored_trainer_has_the_same_weights_slots_and_step(records, tmp_path):
    config = config_from_args(parse_args(["--records", str(records), "--model-dir",
                                          str(tmp_path / "run"), "--arch", "g_i3d", "--steps",
                                          "3", "--eval-every", "100", *TINY]))  # fmt: skip
    first = Trainer(config, progress=False)
    first.run()
    second = Trainer(config, progress=False)
    assert "at step 3" in second.restore_or_initialise() and second.step == 3
    for a, b in zip(first.optimizer.variables, second.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    momentum = [v for v in second.optimizer.variables if "momentum" in v.path]
    assert momentum and any(np.abs(v.numpy()).max() > 0 for v in momentum)
    for a, b in zip(first.model.weights, second.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_run_folder_refuses_another_network(records, trained):
    config = config_from_args(parse_args(["--records", str(records), "--model-dir", str(trained),
                                          "--arch", "i3d", *TINY]))  # fmt: skip
    with pytest.raises(ValueError, match="another network \\(arch"):
        Trainer(config, progress=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "steps must be an integer >= 1"),
        (["--lr", "-1"], "learning_rate must be a positive number"),
        (["--boundaries", "200,100"], "boundaries must be increasing"),
        (["--boundaries", "x"], "boundaries must be comma-separated"),
        (["--momentum", "1.0"], "momentum must be in"),
        (["--rotation", "400"], "rotation must be a number"),
    ],
)
def test_bad_training_arguments_are_refused(argv, message, capsys, tmp_path):
    code = train_main(["--records", str(tmp_path), "--model-dir", str(tmp_path / "m"), *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_train_cli_needs_converted_records(tmp_path, capsys):
    assert train_main(["--records", str(tmp_path), "--model-dir", str(tmp_path / "m")]) == 2
    assert "convert a data set first" in capsys.readouterr().err
    assert TrainConfig(records="r", model_dir="m").batch_size == 16  # the thesis's defaults
    assert TrainConfig(records="r", model_dir="m").boundaries == (140_000, 160_000)


# --- tf.distribute ------------------------------------------------------------------------------

REPLICAS = textwrap.dedent("""
    import sys, json
    import numpy as np
    import training
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from training.models.i3d import build_model
    from training.train import make_train_step

    rng = np.random.default_rng(0)
    clips = rng.uniform(-1, 1, (8, 8, 48, 48, 3)).astype(np.float32)
    labels = rng.integers(0, 27, 8).astype(np.int32)

    def one_update(strategy):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = build_model("g_i3d", 27, (8, 48, 48, 3), width=0.25, dropout=0.0)
            optimizer = keras.optimizers.SGD(0.01)
            optimizer.build(model.trainable_variables)
        before = [w.numpy() for w in model.trainable_variables]
        data = tf.data.Dataset.from_tensors((clips, labels)).repeat()
        step = make_train_step(model, optimizer, strategy, 8)
        iterator = iter(strategy.experimental_distribute_dataset(data))
        loss = float(step(iterator))
        return [w.numpy() - b for w, b in zip(model.trainable_variables, before)], loss

    one, loss1 = one_update(tf.distribute.get_strategy())
    two, loss2 = one_update(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    difference = np.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(one, two)))
    size = np.sqrt(sum(float(np.sum(a ** 2)) for a in one))
    print(json.dumps({"relative": difference / size, "loss1": loss1, "loss2": loss2,
                      "moved": max(float(np.abs(a).max()) for a in one)}))
""")


def test_two_replicas_update_like_one_device():
    """Two logical CPU devices (MirroredStrategy, 4 clips each) vs one device (8 clips), one SGD
    step from the same weights: the loss agrees to 1e-5 (BatchNorm's statistics are the global
    batch's on both), and the update, as a whole, to 5% (||u2 - u1|| / ||u1||; measured 2.6%).
    The forward pass agrees to 1e-6; the residual arises in the backward pass (largest in the
    deepest BatchNorm layers, where a replica holds few values a channel); not pinned further."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", REPLICAS], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["moved"] > 1e-4  # the weights did change
    assert figures["loss1"] == pytest.approx(figures["loss2"], rel=1e-5)
    assert figures["relative"] < 0.05, figures


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_processes_train_in_step_and_agree(records, tmp_path):
    """--strategy multiworker: two processes on loopback ports, TF_CONFIG naming both, train
    three synchronous steps; the chief's and the other worker's checkpoints hold the same
    weights."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        task = {"type": "worker", "index": index}
        env = {**os.environ, "PYTHONPATH": str(REPO),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}  # fmt: skip
        command = [sys.executable, "-m", "training.train", "--records", str(records),
                   "--model-dir", str(tmp_path / "run"), "--arch", "i3d", "--steps", "3",
                   "--strategy", "multiworker", "--eval-every", "3", "--checkpoint-every", "3",
                   *TINY]  # fmt: skip
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))  # fmt: skip
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=600))
    finally:
        for process in processes:
            process.kill()
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    chief = tf.train.load_checkpoint(str(tmp_path / "run" / "checkpoints" / "ckpt-3"))
    other = tf.train.load_checkpoint(str(tmp_path / "run" / "worker-1" / "checkpoints" / "ckpt-3"))
    names = [n for n in chief.get_variable_to_shape_map() if n.startswith("model/")]
    assert len(names) > 50
    for name in names:
        np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name))
    assert json.loads(outputs[0][0].strip().splitlines()[-1])["step"] == 3
    assert outputs[1][0].strip() == ""  # only the chief reports
