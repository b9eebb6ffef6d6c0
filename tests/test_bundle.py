"""Bundle manifests: checksums verified, newer versions, missing/altered files and escaping
paths refused with errors that name the bundle and the problem."""

import json
import os

import pytest

from gesture_rt import bundle as bundles
from gesture_rt.labels import JESTER_LABELS


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


def test_a_symlink_leading_outside_is_refused(bundle_dir, tmp_path):
    secret = tmp_path / "secret.onnx"
    secret.write_bytes(b"x")
    os.symlink(secret, bundle_dir / "link.onnx")
    manifest = json.loads((bundle_dir / bundles.MANIFEST).read_text())
    manifest["files"]["link.onnx"] = {"size": 1, "sha256": bundles.sha256(secret)}
    (bundle_dir / bundles.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(bundles.BundleError, match=r"'link.onnx' .* points outside"):
        bundles.load(bundle_dir)


def test_a_format_whose_network_is_not_listed_is_refused(bundle_dir):
    rewrite(bundle_dir, formats={"openvino": "openvino/model.xml"})
    with pytest.raises(bundles.BundleError, match=r"openvino network .* not among its files"):
        bundles.load(bundle_dir)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something else"}, "is not a gesture_rt.bundle manifest"),
        ({"labels": []}, "labels must be a non-empty list"),
        ({"input": {"shape": [40, 64, 64]}}, "input shape must be 4 positive integers"),
        ({"precision": "int8"}, r"its network is 'int8' only .* re-export it"),
        ({"precisions": {"fp16": {"agreement": None}}}, "precisions must map some of"),
        ({"precisions": {"bf16": {"agreement": {**AGREES, "clips": 0}}}},
         "agreement must be null or hold clips"),
        ({"precisions": {"bf16": {"agreement": {**AGREES, "top1_agreement": 1.5}}}},
         "agreement must be null or hold clips"),
        ({"precisions": {"bf16": {}}}, "agreement must be null or hold clips"),
        ({"precisions": {"int8": {"agreement": None, "network": "model.onnx"}}},
         "the int8 network 'model.onnx' must be an OpenVINO .xml among its files"),
        ({"precisions": {"int8": {"agreement": None, "network": "../x.xml"}}},
         "points outside the bundle"),
        ({"formats": {"pickle": "model.pkl"}}, "formats must be a subset"),
        ({"smoothing": 0}, "smoothing must be a positive integer"),
    ],
)
def test_malformed_manifests_are_refused(bundle_dir, changes, message):
    rewrite(bundle_dir, **changes)
    with pytest.raises(bundles.BundleError, match=message):
        bundles.load(bundle_dir)


def test_unreadable_manifest_and_unknown_names(bundle_dir, tmp_path):
    (bundle_dir / bundles.MANIFEST).write_text("{ not json")
    with pytest.raises(bundles.BundleError, match=r"unreadable manifest.json"):
        bundles.load(bundle_dir)
    with pytest.raises(bundles.BundleError, match=r"bundle must be a bundle folder .* got 'nope'"):
        bundles.load("nope")
    with pytest.raises(bundles.BundleError, match=r"bundle must be a bundle folder"):
        bundles.load(tmp_path)
