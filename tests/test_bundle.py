"""A bundle is data: its manifest is read as untrusted input and checked for sense, every file in
its folder must be listed, hashed, regular and inside it, and names resolve only to packaged
bundles. Each hostile bundle here is built by the test; each refusal names what is wrong."""

import json
import logging
import os
import shutil

import pytest

from gesture_rt import bundle as bundles
from gesture_rt.labels import JESTER_LABELS
from gesture_rt.recognizer import DEFAULT_BUNDLE


def manifest_fields() -> dict:
    return {
        "model": {"arch": "modified_i3d"},
        "labels": list(JESTER_LABELS),
        "input": {"name": "clip", "shape": [40, 64, 64, 3], "layout": "NTHWC", "dtype": "float32"},
        "preprocessing": {"resize_short": 64, "crop": 64, "mean": 127.5, "std": 127.5},
        "training_fps": 12.0,
        "stride": 20,
        "threshold": 0.5,
        "precision": "fp32",
        "formats": {"onnx": "model.onnx"},
    }


@pytest.fixture
def bundle_dir(tmp_path):
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"not really onnx, but checksummed all the same")
    bundles.write_manifest(root, manifest_fields())
    return root


def rewrite(root, **changes):
    manifest = json.loads((root / bundles.MANIFEST).read_text())
    manifest.update(changes)
    (root / bundles.MANIFEST).write_text(json.dumps(manifest))


def test_a_written_bundle_loads_with_its_fields(bundle_dir):
    loaded = bundles.load(bundle_dir)
    assert loaded.labels == list(JESTER_LABELS)
    assert loaded.input_shape == (40, 64, 64, 3)
    assert loaded.preprocessing == bundles.Preprocessing(64, 64)
    assert loaded.formats == ("onnx",) and loaded.path("onnx") == bundle_dir / "model.onnx"
    assert (loaded.stride, loaded.threshold, loaded.training_fps) == (20, 0.5, 12.0)
    entry = loaded.manifest["files"]["model.onnx"]
    assert entry["sha256"] == bundles.sha256(bundle_dir / "model.onnx") and entry["size"] == 45
    with pytest.raises(bundles.BundleError, match=r"no 'openvino' network; it has"):
        loaded.path("openvino")


def test_an_altered_file_is_refused(bundle_dir):
    with open(bundle_dir / "model.onnx", "r+b") as f:
        f.write(b"N")  # same size, other bytes
    with pytest.raises(bundles.BundleError, match=r"model.onnx was altered"):
        bundles.load(bundle_dir)


def test_a_missing_file_is_refused(bundle_dir):
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(bundles.BundleError, match=r"model.onnx is missing"):
        bundles.load(bundle_dir)


def test_read_hands_over_the_hashed_bytes_and_catches_a_swap_after_loading(bundle_dir):
    loaded = bundles.load(bundle_dir)
    assert loaded.read("model.onnx") == (bundle_dir / "model.onnx").read_bytes()
    (bundle_dir / "model.onnx").write_bytes(b"swapped in after the bundle was verified!!!!!")
    with pytest.raises(bundles.BundleError, match=r"model.onnx was altered"):
        loaded.read("model.onnx")
    with pytest.raises(bundles.BundleError, match=r"'manifest.json' is not among its files"):
        loaded.read("manifest.json")


def test_extracted_is_a_private_copy_of_verified_bytes_removed_afterwards(bundle_dir):
    loaded = bundles.load(bundle_dir)
    with loaded.extracted("model.onnx") as copy:
        assert copy.read_bytes() == (bundle_dir / "model.onnx").read_bytes()
        assert copy.parent != bundle_dir and oct(copy.parent.stat().st_mode & 0o777) == "0o700"
    assert not copy.exists()


def test_a_bundle_is_written_at_the_oldest_version_that_reads_it(bundle_dir):
    assert bundles.load(bundle_dir).manifest["format_version"] == 1  # older readers take it
    (bundle_dir / "keras").mkdir()
    (bundle_dir / "keras" / "model.weights.h5").write_bytes(b"weights")
    fields = manifest_fields()
    fields["formats"] = {**fields["formats"], "keras": "keras/model.weights.h5"}
    manifest = bundles.write_manifest(bundle_dir, fields)
    assert manifest["format_version"] == 2  # keras came with 2
    assert bundles.load(bundle_dir).formats == ("onnx", "keras")
    (bundle_dir / "openvino-int8").mkdir()
    (bundle_dir / "openvino-int8" / "model.xml").write_bytes(b"<net/>")
    (bundle_dir / "openvino-int8" / "model.bin").write_bytes(b"")
    fields["precisions"] = {"bf16": {"agreement": None, "not_measured": "no bf16 here"},
                            "int8": {"network": "openvino-int8/model.xml", "agreement": AGREES}}
    manifest = bundles.write_manifest(bundle_dir, fields)
    assert manifest["format_version"] == 3 == bundles.FORMAT_VERSION  # precisions came with 3
    loaded = bundles.load(bundle_dir)
    assert loaded.agreements == {"bf16": None, "int8": AGREES}
    assert loaded.int8_network == bundle_dir / "openvino-int8" / "model.xml"


AGREES = {"clips": 600, "top1_agreement": 0.995, "max_rel_diff": 0.03}


def test_a_newer_format_version_is_refused(bundle_dir):
    rewrite(bundle_dir, format_version=bundles.FORMAT_VERSION + 1)
    with pytest.raises(bundles.BundleError, match=r"newer than this gesture_rt reads"):
        bundles.load(bundle_dir)


@pytest.mark.parametrize("path", ["../outside.onnx", "/etc/passwd", "a/../../x"])
def test_paths_outside_the_bundle_are_refused(bundle_dir, path):
    manifest = json.loads((bundle_dir / bundles.MANIFEST).read_text())
    manifest["files"][path] = {"size": 1, "sha256": "0" * 64}
    (bundle_dir / bundles.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundles.BundleError, match=r"points outside the bundle"):
        bundles.load(bundle_dir)


def test_a_listed_symlink_is_refused_even_with_the_right_hash(bundle_dir, tmp_path):
    secret = tmp_path / "secret.onnx"
    secret.write_bytes(b"x")
    os.symlink(secret, bundle_dir / "link.onnx")
    manifest = json.loads((bundle_dir / bundles.MANIFEST).read_text())
    manifest["files"]["link.onnx"] = {"size": 1, "sha256": bundles.sha256(secret)}
    (bundle_dir / bundles.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundles.BundleError, match=r"symbolic links: \['link.onnx'\]"):
        bundles.load(bundle_dir)


def test_unlisted_files_symlinked_folders_and_pipes_are_refused(bundle_dir, tmp_path):
    (bundle_dir / "extra.bin").write_bytes(b"weights nobody hashed")
    with pytest.raises(bundles.BundleError, match=r"does not list: \['extra.bin'\]"):
        bundles.load(bundle_dir)
    (bundle_dir / "extra.bin").unlink()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, bundle_dir / "openvino")
    with pytest.raises(bundles.BundleError, match=r"symbolic links: \['openvino'\]"):
        bundles.load(bundle_dir)
    (bundle_dir / "openvino").unlink()
    os.mkfifo(bundle_dir / "pipe")  # would block a reader forever
    with pytest.raises(bundles.BundleError, match=r"does not list: \['pipe'\]"):
        bundles.load(bundle_dir)
    manifest = json.loads((bundle_dir / bundles.MANIFEST).read_text())
    manifest["files"]["pipe"] = {"size": 0, "sha256": "e3b0c44298fc1c149afbf4c8996fb924"
                                                      "27ae41e4649b934ca495991b7852b855"}
    (bundle_dir / bundles.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundles.BundleError, match=r"not regular files: \['pipe'\]"):
        bundles.load(bundle_dir)


def test_an_openvino_network_whose_weights_are_unlisted_is_refused(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundles.BUNDLED / DEFAULT_BUNDLE, copy)
    manifest = json.loads((copy / bundles.MANIFEST).read_text())
    del manifest["files"]["openvino/model.bin"]  # the report's case: .bin neither hashed nor listed
    (copy / bundles.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundles.BundleError, match=r"openvino network's \['openvino/model.bin'\]"):
        bundles.load(copy)


def test_a_format_whose_network_is_not_listed_is_refused(bundle_dir):
    rewrite(bundle_dir, formats={"openvino": "openvino/model.xml"})
    with pytest.raises(bundles.BundleError, match=r"openvino network's .* not among its files"):
        bundles.load(bundle_dir)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something else"}, "is not a gesture_rt.bundle manifest"),
        ({"labels": []}, "'labels' must be a non-empty list"),
        ({"labels": ["a", ""]}, "'labels' must be a non-empty list of non-empty printable strings"),
        ({"labels": ["Swiping Left", "Swiping Left"]}, r"'labels' must be unique \(repeated"),
        ({"output": {"classes": 5}}, r"'output.classes' must be an integer between 27 and 27"),
        ({"input": {"shape": [40, 64, 64]}}, r"'input.shape' must be \[T, H, W, 3\]"),
        ({"input": {"shape": [40, "64", 64, 3]}}, r"'input.shape' must be"),
        ({"precision": "int8"}, r"its network is 'int8' only .* re-export it"),
        ({"precisions": {"fp16": {"agreement": None}}}, "'precisions' must be an object with keys"),
        ({"precisions": {"bf16": {"agreement": {**AGREES, "clips": 0}}}},
         "'precisions.bf16.agreement' must be null or hold clips"),
        ({"precisions": {"bf16": {"agreement": {**AGREES, "top1_agreement": 1.5}}}},
         "agreement' must be null or hold clips"),
        ({"precisions": {"bf16": {}}}, "'precisions.bf16.agreement' must be present"),
        ({"precisions": {"int8": {"agreement": None, "network": "model.onnx"}}},
         "'precisions.int8.network' must be 'openvino-int8/model.xml'"),
        ({"formats": {"pickle": "model.pkl"}}, "'formats' must be a non-empty object"),
        ({"formats": {"onnx": "other.onnx"}}, r"'formats' must be 'onnx' at 'model.onnx'"),
        ({"smoothing": 0}, "'smoothing' must be an integer between 1 and 1000"),
        ({"smoothing": True}, "'smoothing' must be an integer between 1 and 1000"),
        ({"smoothing": 10**30}, "'smoothing' must be an integer between 1 and 1000"),
        ({"stride": 10**30}, "'stride' must be an integer between 1 and 10000"),
        ({"labels": ["Swiping Left\n{\"event\": \"forged\"}"]}, "printable strings"),
        ({"labels": ["\x1b[31mred"]}, "printable strings"),
        ({"labels": ["\ud800"]}, "printable strings"),
        ({"labels": ["x" * 101]}, "at most 100 characters"),
        ({"input": {"shape": [40, 64, 128, 3]}},
         "'preprocessing.resize_short' must be an integer between 128 and 4096"),
        ({"input": {"shape": [100_000, 64, 64, 3]}}, r"T <= 1024, H and W <= 4096"),
        ({"files": {"\ud800": {"size": 1, "sha256": "0" * 64}}}, "bad path"),
        ({"training_fps": 0}, r"'training_fps' must be a number in \[0.5, 1000\]"),
        ({"training_fps": -12}, r"'training_fps' must be a number in"),
        ({"training_fps": "12"}, r"'training_fps' must be a number in"),
        ({"training_fps": 1e300}, r"'training_fps' must be a number in"),
        ({"stride": 10.9}, "'stride' must be an integer between 1"),
        ({"stride": "10"}, "'stride' must be an integer between 1"),
        ({"stride": 0}, "'stride' must be an integer between 1"),
        ({"threshold": 0}, r"'threshold' must be a number in \(0, 1\]"),
        ({"threshold": 1.5}, r"'threshold' must be a number in \(0, 1\]"),
        ({"threshold": None}, r"'threshold' must be a number"),
        ({"preprocessing": {"resize_short": 64, "crop": 64, "mean": 127.5, "std": 1e-9}},
         r"'preprocessing.std' must be a number in \[0.00390625, 10000\]"),
        ({"preprocessing": {"resize_short": 64, "crop": 96, "mean": 127.5, "std": 127.5}},
         "'preprocessing.crop' must be an integer between 64 and 64"),
        ({"preprocessing": {"resize_short": 32, "crop": 64, "mean": 127.5, "std": 127.5}},
         "'preprocessing.resize_short' must be an integer between 64"),
        ({"preprocessing": {"crop": 64}}, "'preprocessing' must be an object of resize_short"),
        ({"channel_order": "bgr"}, r"'channel_order' must be one of \['rgb'\]"),
        ({"files": {"model.onnx": {"size": "45", "sha256": "0" * 64}}}, r"files\['model.onnx'\]"),
        ({"files": {"model.onnx": {"size": 45, "sha256": "0" * 64, "x": 1}}}, r"files\['model"),
        ({"files": {"./model.onnx": {"size": 45, "sha256": "0" * 64}}}, "is not canonical"),
        ({"files": {}}, "'files' must be a non-empty object"),
    ],
)
def test_manifests_that_make_no_sense_are_refused_naming_the_field(bundle_dir, changes, message):
    rewrite(bundle_dir, **changes)
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(bundle_dir)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{ not json", "unreadable manifest.json"),
        ('{"format": "gesture_rt.bundle", "training_fps": NaN}', "NaN is not a number JSON allows"),
        ('{"format": "gesture_rt.bundle", "stride": 1, "stride": 2}',
         r"repeated keys \['stride'\]"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ('{"format": "gesture_rt.bundle", "x": ' + "[" * 40 + "]" * 40 + "}", "deeper than 16"),
        ('{"pad": "' + "x" * (1 << 20) + '"}', r"manifest.json is \d+ bytes; at most 1048576"),
        (b"\xff\xfe{}", "unreadable manifest.json"),
        ('{"format": "gesture_rt.bundle", "stride": 1' + "0" * 5000 + "}", "unreadable manifest"),
    ],
)
def test_hostile_manifest_text_is_refused_without_crashing(bundle_dir, text, message):
    path = bundle_dir / bundles.MANIFEST
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(bundle_dir)


def test_a_manifest_of_many_labels_or_keys_is_checked_in_linear_time(bundle_dir):
    labels = [f"g{i}" for i in range(100_000)]  # quadratic checks took minutes on this
    rewrite(bundle_dir, labels=labels, output={"classes": 5})
    with pytest.raises(bundles.BundleError, match=r"'output.classes' must be an integer between "
                                                  r"100000 and 100000"):  # fmt: skip
        bundles.load(bundle_dir)
    keys = ", ".join(f'"k{i}": 0' for i in range(60_000))
    (bundle_dir / bundles.MANIFEST).write_text("{" + keys + ', "k0": 1}')
    with pytest.raises(bundles.BundleError, match=r"repeated keys \['k0'\]"):
        bundles.load(bundle_dir)


def test_folders_nested_too_deep_are_refused(bundle_dir):
    # 17 levels are enough to hit the limit; at 1,100 os.walk raised RecursionError (and so
    # does rmtree, which pytest uses to clean up: hence not 1,100 here)
    bundle_dir.joinpath(*["d"] * 40).mkdir(parents=True)
    with pytest.raises(bundles.BundleError, match=r"nests folders deeper than 16 levels"):
        bundles.load(bundle_dir)


def test_a_manifest_that_is_a_symlink_or_a_pipe_is_refused(bundle_dir, tmp_path):
    real = tmp_path / "elsewhere.json"
    (bundle_dir / bundles.MANIFEST).rename(real)
    os.symlink(real, bundle_dir / bundles.MANIFEST)
    with pytest.raises(bundles.BundleError, match=r"manifest.json is a symbolic link"):
        bundles.load(bundle_dir)
    (bundle_dir / bundles.MANIFEST).unlink()
    os.mkfifo(bundle_dir / bundles.MANIFEST)
    with pytest.raises(bundles.BundleError, match=r"manifest.json is not a regular file"):
        bundles.load(bundle_dir)


# -- which bundle a name means --------------------------------------------------------------------


def test_a_bare_name_means_the_packaged_bundle_even_beside_a_planted_folder(
    tmp_path, monkeypatch, caplog
):
    planted = tmp_path / DEFAULT_BUNDLE
    shutil.copytree(bundles.BUNDLED / DEFAULT_BUNDLE, planted)
    rewrite(planted, threshold=0.01)  # would load fine if it were taken (hashes still match)
    bundles.write_manifest(planted, json.loads((planted / bundles.MANIFEST).read_text()))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="gesture_rt.bundle"):
        loaded = bundles.load(DEFAULT_BUNDLE)
    assert loaded.root == bundles.BUNDLED / DEFAULT_BUNDLE and loaded.threshold == 0.5
    assert f"not the folder '{DEFAULT_BUNDLE}'" in caplog.text and "'./" in caplog.text
    assert bundles.load(f"./{DEFAULT_BUNDLE}").threshold == 0.01  # as a path, it is the folder


def test_a_bare_name_that_is_not_packaged_points_to_the_path_form(bundle_dir, monkeypatch):
    monkeypatch.chdir(bundle_dir.parent)
    with pytest.raises(bundles.BundleError, match=r"'bundle' is not one of the bundled models .* "
                                                  r"give it as a path: './bundle'"):  # fmt: skip
        bundles.load("bundle")
    assert bundles.load("./bundle").root == bundle_dir.resolve()


@pytest.mark.parametrize(("value", "message"), [
    (None, "bundle must be a bundled model's name .* got NoneType"),
    (3, "got int"),
    ("nope", r"'nope' is not one of the bundled models"),
])  # fmt: skip
def test_unknown_bundles_are_refused_clearly(value, message, tmp_path):
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(value)
    with pytest.raises(bundles.BundleError, match=r"holds no manifest.json"):
        bundles.load(tmp_path)
    with pytest.raises(bundles.BundleError, match=r"no folder at"):
        bundles.load(tmp_path / "absent")
