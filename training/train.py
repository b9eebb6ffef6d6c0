"""``python -m training.train``: the thesis's training (5.1.2) of any I3D-family network.

SGD with momentum 0.9, batch 16, softmax cross-entropy, learning rate 1e-3 cut 10x after 140k
and 160k steps, 170k steps; every number is a flag. One custom loop serves every tf.distribute
strategy (DESIGN.md: ``model.fit`` fails under MultiWorkerMirroredStrategy): the global batch is
split over the replicas, each replica's loss is summed over its clips and divided by the global
batch, and the optimizer sums the gradients over replicas (synchronous SGD, thesis 5.1.2);
BatchNorm statistics are those of the global batch. A killed run resumes from its last
checkpoint: same step, optimizer slots and learning-rate schedule. Ctrl-C in the training loop
stops after the current step with a checkpoint of it (exit status 130), except under
multiworker, where one worker cannot save alone; the message says which happened.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import training  # noqa: F401  (TensorFlow's CPU settings, before it is imported)
from training.checkpoints import CHECKPOINTS, CONFIG, METRICS, read_config, tracked_weights
from training.data.augment import Augmentation

STRATEGIES = ("default", "mirrored", "multiworker")
MODEL_KEYS = ("arch", "num_classes", "input_shape", "width", "dropout")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``init``: ``kinetics:PATH`` (a kinetics-i3d checkpoint) or an earlier
    run (folder or checkpoint prefix) to fine-tune from (5.1.3's chain), used when the run
    starts, not when it resumes."""

    records: str
    model_dir: str
    arch: str = "i3d"
    width: float = 1.0
    dropout: float = 0.5
    batch_size: int = 16
    learning_rate: float = 1e-3
    boundaries: tuple[int, ...] = (140_000, 160_000)
    decay: float = 0.1
    momentum: float = 0.9
    steps: int = 170_000
    init: str | None = None
    eval_every: int = 2000
    eval_batches: int | None = None
    checkpoint_every: int = 1000
    log_every: int = 10
    keep: int = 5
    seed: int = 0
    strategy: str = "default"
    shuffle_buffer: int = 256
    crop: int = 100
    cache: bool = False
    augmentation: Augmentation | None = field(default_factory=Augmentation)

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps", "eval_every", "checkpoint_every", "log_every", "keep"):
            _require_int(name, getattr(self, name), 1)
        _require_int("shuffle_buffer", self.shuffle_buffer, 1)
        _require_int("crop", self.crop, 8)
        _require_int("seed", self.seed, 0)
        if self.eval_batches is not None:
            _require_int("eval_batches", self.eval_batches, 1)
        for name in ("learning_rate", "decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.momentum, int | float) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        bounds = list(self.boundaries)
        if any(
            isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in bounds
        ) or bounds != sorted(set(bounds)):
            raise ValueError(
                f"boundaries must be increasing positive step numbers, got {self.boundaries!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")


def _require_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def make_strategy(name: str):
    """``default``: this process's one device; ``mirrored``: every local GPU (or the CPU);
    ``multiworker``: the machines named in TF_CONFIG, synchronous all-reduce."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG naming the cluster and this task"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def is_chief(strategy) -> bool:
    """Whether this task writes the run's files (worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C. ``checkpoint``: the one saved on the way out, or None (the
    message then says why not, and where the run resumes)."""

    def __init__(self, message: str, checkpoint: str | None = None):
        super().__init__(message)
        self.checkpoint = checkpoint


class _CtrlC:
    """Holds the first SIGINT until the current step is done, so that the loop can save a
    consistent checkpoint and stop; a second one interrupts at once (KeyboardInterrupt). Only
    replaces Python's own handler, in the main thread: an ignored SIGINT (a background job) or a
    program's own handler is left alone."""

    def __init__(self, enabled: bool):
        self.requested = False
        self._installed = (
            enabled
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if self._installed:
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # os.write, not print: a handler may run in the middle of another write to stderr
        os.write(2, b"\nCtrl-C: stopping after this step to save a checkpoint "
                    b"(Ctrl-C again stops at once, without saving)\n")  # fmt: skip

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _saved_message(step: int, prefix: str) -> Interrupted:
    return Interrupted(
        f"interrupted at step {step}: checkpoint {prefix} saved; run the same command to resume "
        "from it",
        prefix,
    )


def make_train_step(model, optimizer, strategy, global_batch: int):
    """A tf.function running one synchronous SGD step on the next global batch of a distributed
    iterator; returns the batch's mean loss. Each replica's loss is its clips' summed
    cross-entropy over the global batch, so the optimizer's sum over replicas is the mean."""
    import keras
    import tensorflow as tf

    def replica_step(clips, labels):
        with tf.GradientTape() as tape:
            logits = model(clips, training=True)
            losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(iterator):
        losses = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    return train_step


class Trainer:
    """The model, optimizer, checkpoints and logs of one run; ``run()`` trains to ``steps``."""

    def __init__(self, config: TrainConfig, strategy=None, progress: bool = True):
        import keras
        import tensorflow as tf

        from training.data.pipeline import dataset_labels
        from training.data.records import read_manifest
        from training.models.i3d import build_model

        self.config, self.progress = config, progress
        self.strategy = strategy or make_strategy(config.strategy)
        self.chief = is_chief(self.strategy)
        self.model_dir = Path(config.model_dir)
        manifest = read_manifest(config.records)
        self.labels = dataset_labels(config.records)
        self.model_spec = {
            "arch": config.arch,
            "num_classes": len(self.labels),
            "input_shape": [manifest["frames"], config.crop, config.crop, 3],
            "width": float(config.width),
            "dropout": float(config.dropout),
        }
        self._check_run_folder()
        keras.utils.set_random_seed(config.seed)  # the same start for the same --seed
        with self.strategy.scope():
            self.model = build_model(
                **{**self.model_spec, "input_shape": tuple(self.model_spec["input_shape"])}
            )
            rates = [
                config.learning_rate * config.decay**i for i in range(len(config.boundaries) + 1)
            ]
            # The schedule sees the steps already taken: "1e-3 for the first 140k steps" means
            # steps 1..140000, taken at iterations 0..139999.
            boundaries = [b - 1 for b in config.boundaries]
            schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, rates)
            self.optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum)
            self.optimizer.build(self.model.trainable_variables)
            self.checkpoint = tf.train.Checkpoint(
                model=tracked_weights(self.model), optimizer=self.optimizer
            )
        # Every worker saves (the save is collective); only the chief's copy is the run's, the
        # others' go to MODEL_DIR/worker-N/ (their own, where MODEL_DIR is shared storage).
        directory = self.model_dir / CHECKPOINTS
        if not self.chief:
            task = self.strategy.cluster_resolver.task_id
            directory = self.model_dir / f"worker-{task}" / CHECKPOINTS
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(directory), max_to_keep=config.keep
        )

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def _check_run_folder(self) -> None:
        """A resumed run must train the same network on the same labels."""
        wanted = {"model": self.model_spec, "labels": self.labels}
        if (self.model_dir / CONFIG).is_file():
            previous = read_config(self.model_dir)
            changed = [k for k in MODEL_KEYS if previous["model"].get(k) != self.model_spec[k]]
            if changed or previous["labels"] != self.labels:
                what = ", ".join(changed) or "labels"
                raise ValueError(
                    f"model_dir: {self.model_dir} holds a run of another network ({what} differ); "
                    "use a fresh folder to start a new run"
                )
        if self.chief:
            self.model_dir.mkdir(parents=True, exist_ok=True)
            from training.data.records import write_json

            settings = {k: v for k, v in asdict(self.config).items() if k != "augmentation"}
            aug = self.config.augmentation
            write_json(self.model_dir / CONFIG, {**wanted, "training": settings,
                                                 "augmentation": aug and asdict(aug)})  # fmt: skip

    def restore_or_initialise(self) -> str:
        """Resume from the latest checkpoint, else apply ``init``. Says which it did."""
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self._truncate_metrics()
            return f"resumed from {latest} at step {self.step}"
        init = self.config.init
        if not init:
            return "started from random weights"
        if init.startswith("kinetics:"):
            from training.models.weights import load_kinetics_i3d

            report = load_kinetics_i3d(self.model, init.removeprefix("kinetics:"))
        else:
            from training.checkpoints import load_trained
            from training.models.weights import fine_tune_init

            source, _ = load_trained(init)
            report = fine_tune_init(self.model, source)
        return f"initialised from {init} ({report})"

    def _truncate_metrics(self) -> None:
        """Drop lines logged after the checkpoint we resume from: those steps are redone."""
        path = self.model_dir / METRICS
        if not self.chief or not path.is_file():
            return
        from training.checkpoints import read_metrics

        kept = [m for m in read_metrics(self.model_dir) if m["step"] <= self.step]
        temporary = path.with_name(f".{path.name}.partial")
        temporary.write_text("".join(json.dumps(m) + "\n" for m in kept), encoding="utf-8")
        os.replace(temporary, path)

    def run(self) -> dict:
        """Train to ``config.steps``; returns the last validation metrics.

        Ctrl-C (SIGINT) raises Interrupted: the first one is held until the current step (its
        log line, checkpoint and validation) is done, then that step is saved; a second one, or
        any under multiworker (whose save needs every worker), stops at once without saving."""
        import tensorflow as tf

        from training.data.pipeline import clip_dataset

        config = self.config
        message = self.restore_or_initialise()
        self._say(message)
        start = self.step
        data = clip_dataset(config.records, "train", config.batch_size, training=True,
                            augmentation=config.augmentation,
                            seed=config.seed, offset=start * config.batch_size,
                            shuffle_buffer=config.shuffle_buffer, crop=config.crop,
                            cache=config.cache)  # fmt: skip
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        iterator = iter(self.strategy.experimental_distribute_dataset(data.with_options(options)))
        train_step = make_train_step(self.model, self.optimizer, self.strategy, config.batch_size)
        writers = self._writers()
        bar = self._bar(start)
        last_eval, window, tick, saved = {}, [], time.perf_counter(), None
        ctrl_c = _CtrlC(enabled=config.strategy != "multiworker")
        try:
            while self.step < config.steps:
                rate = self._lr()  # the one this step uses
                loss = float(train_step(iterator))
                step = self.step
                window.append(loss)
                bar.update()
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{rate:.0e}")
                if step % config.log_every == 0 or step == config.steps:
                    now = time.perf_counter()
                    mean = sum(window) / len(window)
                    speed = len(window) / (now - tick)
                    logged = {"step": step, "loss": mean, "lr": rate, "steps_per_s": speed}
                    self._log(logged, writers, "train")
                    window, tick = [], now
                if step % config.checkpoint_every == 0 or step == config.steps:
                    saved = (step, self.manager.save(checkpoint_number=step))
                if step % config.eval_every == 0 or step == config.steps:
                    last_eval = self.validate()
                    self._log({"step": step, **last_eval}, writers, "validation")
                    top1, top5 = last_eval["top1"], last_eval["top5"]
                    self._say(f"step {step}: validation top-1 {top1:.4f} top-5 {top5:.4f}")
                if ctrl_c.requested:  # the step is whole: save it (unless just saved) and stop
                    if not saved or saved[0] != step:
                        saved = (step, self.manager.save(checkpoint_number=step))
                    raise _saved_message(step, saved[1])
        except Interrupted:
            raise
        except KeyboardInterrupt:
            raise self._interrupted(second=ctrl_c.requested) from None
        finally:
            ctrl_c.restore()
            bar.close()
        return last_eval

    def _interrupted(self, second: bool) -> Interrupted:
        """An interrupt that did not wait for a save: what the run folder holds, and why."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(self.manager.directory)  # on disk, not in memory
        if latest and latest.endswith(f"-{self.step}"):  # this step's save got through
            return _saved_message(self.step, latest)
        if self.config.strategy == "multiworker":
            why = ("under --strategy multiworker all workers save a checkpoint together, and "
                   "one interrupted worker cannot make the others save")  # fmt: skip
            again = "run the same command on every worker"
        else:
            why = "a second Ctrl-C stopped it at once" if second else (
                "it could not be held to the end of the step: training ran outside the main "
                "thread or under another SIGINT handler")  # fmt: skip
            again = "run the same command"
        where = f"resume from {latest}" if latest else "start again (no checkpoint yet)"
        return Interrupted(
            f"interrupted at step {self.step}: no checkpoint saved ({why}); {again} to {where}"
        )

    def validate(self) -> dict:
        from training.data.pipeline import clip_dataset
        from training.evaluate import predict, scores

        config = self.config
        data = clip_dataset(config.records, "validation", config.batch_size, training=False,
                            crop=config.crop)  # fmt: skip
        if self.config.eval_batches:
            data = data.take(self.config.eval_batches)
        logits, labels, _ = predict(self.model, data)
        return scores(logits, labels)

    def _lr(self) -> float:
        return float(self.optimizer.learning_rate)

    def _writers(self) -> dict:
        import tensorflow as tf

        if not self.chief:
            return {}
        logs = self.model_dir / "logs"
        return {
            name: tf.summary.create_file_writer(str(logs / name))
            for name in ("train", "validation")
        }

    def _log(self, values: dict, writers: dict, kind: str) -> None:
        import tensorflow as tf

        if not self.chief:
            return
        with open(self.model_dir / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, **values}) + "\n")
        with writers[kind].as_default(step=values["step"]):
            for name, value in values.items():
                if name != "step" and isinstance(value, int | float):
                    tf.summary.scalar(name, value)
        writers[kind].flush()

    def _bar(self, start: int):
        from tqdm import tqdm

        return tqdm(
            total=self.config.steps,
            initial=start,
            desc=f"training {self.config.arch}",
            unit="step",
            disable=not (self.progress and self.chief),
            dynamic_ncols=True,
        )

    def _say(self, message: str) -> None:
        if self.chief:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)  # (above the progress bar)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--records", required=True, help="a converted record set (python -m training.data convert)"
    )
    p.add_argument(
        "--model-dir", required=True, help="the run's folder: checkpoints, logs, metrics"
    )
    p.add_argument("--arch", default="i3d", help="i3d, nl_i3d, g_i3d, dilate_i3d or modified_i3d")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    p.add_argument("--dropout", type=float, default=defaults["dropout"])
    p.add_argument("--batch-size", type=int, default=16, help="global batch, over all replicas")
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    p.add_argument("--boundaries", default="140000,160000", help="steps at which the rate is cut")
    p.add_argument("--decay", type=float, default=0.1, help="factor applied at each boundary")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--steps", type=int, default=170_000)
    p.add_argument(
        "--init",
        default=None,
        help="kinetics:CKPT_PREFIX, or an earlier run's folder or checkpoint",
    )
    p.add_argument("--eval-every", type=int, default=2000, help="validation every N steps")
    p.add_argument(
        "--eval-batches", type=int, default=None, help="validation batches (default: all)"
    )
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--keep", type=int, default=5, help="checkpoints kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", choices=STRATEGIES, default="default")
    p.add_argument("--shuffle-buffer", type=int, default=256)
    p.add_argument("--crop", type=int, default=100, help="the network's input side")
    p.add_argument("--cache", action="store_true", help="keep the decoded clips in memory")
    aug = Augmentation()
    p.add_argument("--no-augment", action="store_true", help="train on centre crops")
    p.add_argument("--augment-probability", type=float, default=aug.probability)
    p.add_argument("--rotation", type=float, default=aug.rotation, help="max per-frame degrees")
    p.add_argument(
        "--crop-jitter",
        type=float,
        default=aug.crop_jitter,
        help="1.0: independent per-frame crops",
    )
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    try:
        boundaries = tuple(int(b) for b in args.boundaries.split(",") if b.strip())
    except ValueError:
        raise ValueError(
            f"boundaries must be comma-separated step numbers, got {args.boundaries!r}"
        ) from None
    augmentation = None if args.no_augment else Augmentation(
        probability=args.augment_probability, rotation=args.rotation, crop_jitter=args.crop_jitter,
        flip=not args.no_flip)  # fmt: skip
    return TrainConfig(
        records=args.records, model_dir=args.model_dir, arch=args.arch, width=args.width,
        dropout=args.dropout, batch_size=args.batch_size, learning_rate=args.lr,
        boundaries=boundaries, decay=args.decay, momentum=args.momentum, steps=args.steps,
        init=args.init, eval_every=args.eval_every, eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every, log_every=args.log_every, keep=args.keep,
        seed=args.seed, strategy=args.strategy, shuffle_buffer=args.shuffle_buffer,
        crop=args.crop, cache=args.cache,
        augmentation=augmentation,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        trainer = Trainer(config_from_args(args), progress=not args.quiet)
        result = trainer.run()
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as interrupt:
        print(interrupt, file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # while setting up: nothing trained, nothing to save
        print("interrupted before the training loop: nothing saved; run the same command to "
              "start again (from the run's last checkpoint, if it has one)",
              file=sys.stderr)  # fmt: skip
        return 130
    if trainer.chief:
        print(
            json.dumps(
                {"step": trainer.step, **{k: v for k, v in result.items() if k != "confusion"}}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
