"""Export: BatchNorm and dilation averaging folded exactly, bundles in three formats that every
engine runs (pinned to fp32) with the Keras model's logits, bf16 and INT8 measured against fp32,
and nothing half-written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import training  # noqa: F401  (before TensorFlow: its CPU settings)

tf = pytest.importorskip("tensorflow", reason="export tests need the train extra (tensorflow)")

from gesture_rt import bundle as bundles  # noqa: E402
from gesture_rt.engines import available, open_engine  # noqa: E402
from gesture_rt.engines import openvino as openvino_engine  # noqa: E402
from gesture_rt.engines.openvino import capabilities  # noqa: E402
from training import export as ex  # noqa: E402
from training import quantize  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.live_clips import live_clips  # noqa: E402
from training.models.i3d import ARCHITECTURES, fold  # noqa: E402

SHAPE = (8, 32, 32, 3)  # small enough to convert three times on two cores


def small(arch: str, dilation: str | None = None, seed: int = 3):
    return ex.random_model(arch, 0.25, SHAPE, dilation, seed)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_fold_matches_the_unfolded_network(arch):
    model = small(arch)
    folded = fold(model)
    clips = ex.random_clips(3, SHAPE, seed=1)
    reference = model(clips, training=False).numpy()
    result = ex.parity(reference, folded(clips).numpy())
    assert result["max_rel_diff"] < 1e-5 and result["top1_agreement"] == 1.0
    assert not any("batch_norm" in w.path for w in folded.weights)


def test_fold_runs_dilation_averaging_as_five_taps_and_none_as_three():
    averaged = fold(small("modified_i3d", "full")).get_layer("Conv3d_2c_3x3")
    plain = fold(small("modified_i3d", "none")).get_layer("Conv3d_2c_3x3")
    assert averaged.conv.kernel.shape[0] == 5 and plain.conv.kernel.shape[0] == 3
    clips = ex.random_clips(2, SHAPE)
    full, none = small("modified_i3d", "full"), small("modified_i3d", "none")
    assert not np.allclose(full(clips, training=False), none(clips, training=False))


def test_folding_twice_is_refused():
    with pytest.raises(ValueError, match=r"folded already"):
        fold(fold(small("i3d")))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "bundle"
    options = ex.ExportOptions(formats=bundles.FORMATS, parity_clips=6, agreement_clips=8,
                               training_fps=12.0, resize_short=40)  # fmt: skip
    manifest = ex.export(None, out, options, model=small("modified_i3d"),
                         source={"random_init": True}, progress=False)  # fmt: skip
    return out, manifest


def test_the_bundle_manifest_describes_the_network(exported):
    out, manifest = exported
    loaded = bundles.load(out)
    assert loaded.manifest == manifest
    assert loaded.input_shape == SHAPE and len(loaded.labels) == 27
    assert loaded.preprocessing == bundles.Preprocessing(40, 32)
    assert loaded.formats == ("openvino", "onnx", "savedmodel", "keras")
    assert manifest["model"]["folded"] and manifest["model"]["arch"] == "modified_i3d"
    for check in ("folded", "openvino", "onnx", "savedmodel", "keras"):
        assert manifest["parity"][check]["max_rel_diff"] <= ex.PARITY_TOLERANCE
        assert manifest["parity"][check]["top1_agreement"] == 1.0
    assert not list(out.parent.glob(".bundle.tmp-*"))  # the staging folder is gone


@pytest.mark.parametrize("engine", ["openvino", "onnxruntime", "tensorflow"])
def test_every_engine_gives_the_same_logits(exported, engine):
    if not available(engine):
        pytest.skip(f"{engine} is not installed")
    out, _ = exported
    clips = ex.random_clips(3, SHAPE, seed=7)
    with (open_engine(out, engine="openvino", precision="fp32") as reference,
          open_engine(out, engine=engine, precision="fp32",
                      allow_bundle_code=True) as e):  # its own SavedModel  # fmt: skip
        assert e.name == engine and e.device == "cpu" and e.precision == "fp32"
        expected = reference.infer(clips)
        result = ex.parity(expected, e.infer(clips))
        single = e.infer(clips[0])
    assert result["max_rel_diff"] <= ex.PARITY_TOLERANCE and result["top1_agreement"] == 1.0
    assert single.shape == (27,) and np.allclose(single, expected[0], atol=1e-4)


def test_the_keras_weights_rebuild_the_network_for_the_training_tools(exported, tmp_path):
    out, _ = exported
    network = load_network(out)
    assert network.resize_short == 40 and network.labels == bundles.load(out).labels
    assert network.model.spec.folded and network.model.input_shape[1:] == SHAPE
    clips = ex.random_clips(2, SHAPE, seed=9)
    with open_engine(out, engine="openvino", precision="fp32") as engine:
        expected = engine.infer(clips)
    assert ex.parity(expected, network.model(clips).numpy())["max_rel_diff"] <= ex.PARITY_TOLERANCE
    lean = tmp_path / "lean"
    ex.export(None, lean, ex.ExportOptions(formats=("onnx",), parity_clips=2, agreement_clips=2),
              model=small("i3d"), progress=False)  # fmt: skip
    with pytest.raises(bundles.BundleError, match=r"differentiated.*--formats \.\.\.,keras"):
        load_network(lean)
    with pytest.raises(FileNotFoundError, match=r"training run's folder.*bundled models"):
        load_network(tmp_path / "nothing")


def test_a_run_planted_under_a_bundled_name_is_not_what_the_name_loads(tmp_path, monkeypatch):
    planted = tmp_path / "modified_i3d_synthetic"
    planted.mkdir()
    (planted / "config.json").write_text("{ a planted training run")
    monkeypatch.chdir(tmp_path)
    network = load_network("modified_i3d_synthetic")  # Grad-CAM's CLI resolves names so
    assert network.source == str(bundles.BUNDLED / "modified_i3d_synthetic")


def test_quantize_adds_int8_to_an_existing_bundle_beside_or_in_place(exported, tmp_path):
    pytest.importorskip("nncf", reason="INT8 needs nncf")
    out, _ = exported
    options = quantize.PrecisionOptions(int8=True, clips=4, calibration_clips=4)
    beside = tmp_path / "beside"
    manifest = quantize.quantize_bundle(out, beside, options, progress=False)
    assert bundles.load(beside).int8_network == beside / bundles.INT8_NETWORK
    assert manifest["precisions"]["int8"]["agreement"]["clips"] == 4
    assert set(bundles.load(out).manifest["files"]) < set(manifest["files"])
    in_place = tmp_path / "in-place"
    shutil.copytree(out, in_place)
    assert quantize.main([str(in_place), "--int8", "--clips", "4", "--calibration-clips", "4",
                          "--quiet"]) == 0  # fmt: skip
    assert bundles.load(in_place).int8_network is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside", "in-place"]  # nothing left


def test_keras_weights_alone_are_not_a_bundle():
    with pytest.raises(ValueError, match=r"Keras weights alone make a bundle no engine can run"):
        ex.ExportOptions(formats=("keras",))


def test_auto_picks_openvino_on_cpu_and_engines_check_their_input(exported):
    out, _ = exported
    with open_engine(out) as engine:
        assert engine.name == "openvino"
        with pytest.raises(ValueError, match=r"clip must have shape \(8, 32, 32, 3\)"):
            engine.infer(np.zeros((8, 32, 31, 3), np.float32))
        with pytest.raises(ValueError, match=r"clip must be float32"):
            engine.infer(np.zeros(SHAPE, np.uint8))
    with pytest.raises(RuntimeError, match=r"closed"):
        engine.infer(np.zeros(SHAPE, np.float32))
    with pytest.raises(ValueError, match=r"engine must be 'auto' or one of"):
        open_engine(out, engine="torch")
    with pytest.raises(ValueError, match=r"device must be one of"):
        open_engine(out, device="tpu")
    with pytest.raises(ValueError, match=r"device: the tensorflow engine runs on"):
        open_engine(out, engine="tensorflow", device="npu", allow_bundle_code=True)


def test_an_existing_bundle_is_kept_unless_forced(exported):
    out, manifest = exported
    with pytest.raises(FileExistsError, match=r"pass --force"):
        ex.export(None, out, ex.ExportOptions(), model=small("i3d"), progress=False)
    assert bundles.load(out).manifest == manifest


def test_a_failure_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    def disk_full(model, path):
        path.write_bytes(b"half an onnx file")
        raise OSError("No space left on device")

    monkeypatch.setattr(ex, "save_onnx", disk_full)
    out = tmp_path / "bundle"
    with pytest.raises(OSError, match=r"No space left"):
        ex.export(None, out, ex.ExportOptions(formats=("openvino", "onnx"), parity_clips=2),
                  model=small("i3d"), progress=False)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_parity_failures_name_the_network_and_the_numbers():
    reference = np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)
    with pytest.raises(RuntimeError, match=r"the onnx network disagrees .* 2 random clips: max "
                                           r"relative logit difference 3\.33e-02"):  # fmt: skip
        nudged = reference + np.float32([[0, 0.1], [0, 0]])
        ex.check_parity("the onnx network", ex.parity(reference, nudged))
    with pytest.raises(RuntimeError, match=r"top-1 agreement 50.00%"):
        ex.check_parity("x", ex.parity(reference, np.float32([[2.0, 1.0], [3.0, 0.0]])))


def test_int8_sits_beside_fp32_with_the_agreement_the_engines_show(tmp_path):
    pytest.importorskip("nncf", reason="INT8 export needs nncf")
    out = tmp_path / "int8"
    options = ex.ExportOptions(formats=("openvino",), int8=True, parity_clips=4,
                               agreement_clips=6, calibration_clips=4, resize_short=32)  # fmt: skip
    manifest = ex.export(None, out, options, model=small("modified_i3d"), progress=False)
    loaded = bundles.load(out)
    assert manifest["format_version"] == 3 and loaded.int8_network == out / bundles.INT8_NETWORK
    assert "FakeQuantize" not in (out / bundles.FORMAT_PATHS["openvino"]).read_text()
    assert "FakeQuantize" in loaded.int8_network.read_text()  # really quantised
    recorded = manifest["precisions"]["int8"]
    assert recorded["calibration"]["clips"] == 4 and recorded["agreement"]["clips"] == 6
    # The recorded figure is what the runtime's int8 engine gives on the same clips.
    clips = live_clips(6, SHAPE, 32, ex.JESTER_FPS, quantize.MEASUREMENT_SEED)
    with (open_engine(out, precision="fp32") as fp32,
          open_engine(out, precision="int8") as int8):  # fmt: skip
        assert int8.precision == "int8"
        measured = quantize.agreement(fp32.infer(clips), int8.infer(clips), windows=3)
    assert measured == recorded["agreement"]


def test_bf16_is_measured_where_the_cpu_has_it_and_said_unmeasured_elsewhere(tmp_path,
                                                                              monkeypatch):
    model = small("i3d")
    options = ex.ExportOptions(formats=("openvino",), parity_clips=2, agreement_clips=4)
    here = ex.export(None, tmp_path / "here", options, model=model, progress=False)
    bf16 = here["precisions"]["bf16"]
    if "BF16" in capabilities("CPU"):
        assert bf16["agreement"]["clips"] == 4 and "not_measured" not in bf16
    else:
        assert bf16["agreement"] is None and "has no bf16" in bf16["not_measured"]
    # An AVX2-only CPU, whatever this one is: bf16 is said unmeasured, and auto passes it over.
    monkeypatch.setattr(quantize, "capabilities", lambda device: ("FP32", "INT8"))
    there = ex.export(None, tmp_path / "there", options, model=model, progress=False)
    assert there["precisions"]["bf16"]["agreement"] is None
    assert "the exporting CPU has no bf16" in there["precisions"]["bf16"]["not_measured"]
    assert here["parity"]["openvino"] == there["parity"]["openvino"]  # fp32 parity: the same
    # Run where bf16 is available: auto still passes it over, its agreement being unmeasured.
    monkeypatch.setattr(openvino_engine, "capabilities", lambda device: ("FP32", "BF16", "INT8"))
    with open_engine(tmp_path / "there") as engine:
        assert engine.precision == "fp32" and "bf16: its agreement" in engine.precision_reason


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formats": ("tflite",)}, "formats must be distinct names"),
        ({"formats": ()}, "formats must be distinct names"),
        ({"int8": True, "formats": ("onnx",)}, "the INT8 network is OpenVINO's"),
        ({"agreement_clips": 1}, "clips must be an integer >= 2"),
        ({"stride": 0}, "stride must be an integer"),
        ({"threshold": 2.0}, "threshold must be in"),
    ],
)
def test_bad_export_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        ex.ExportOptions(**options)


def test_cli_needs_a_checkpoint_or_random_init(tmp_path, capsys):
    assert ex.main([str(tmp_path / "b")]) == 2
    assert "give a CHECKPOINT, or --random-init" in capsys.readouterr().err
    assert ex.main([str(tmp_path / "run"), str(tmp_path / "b")]) == 2
    assert "checkpoint must be a training run's folder" in capsys.readouterr().err


def test_cli_random_init_writes_a_bundle(tmp_path, capsys):
    out = tmp_path / "random"
    killed = [tmp_path / ".random.tmp-99999999-x1", tmp_path / ".random.tmp-k2j3h4"]  # dead writers
    for folder in killed:
        (folder / "bundle").mkdir(parents=True)
    argv = ["--random-init", "--arch", "g_i3d", "--width", "0.125", "--input-shape", "8,32,32,3",
            "--formats", "openvino", "--parity-clips", "2", "--agreement-clips", "4", "--quiet",
            "--smoothing", "3", str(out)]  # fmt: skip
    assert ex.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["parity"]["openvino"]["top1_agreement"] == 1.0
    assert bundles.load(out).manifest["source"] == {"random_init": True, "seed": 0}
    assert bundles.load(out).smoothing == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["random"]  # their leftovers are gone
