"""What engines accept from a bundle: the graph's shapes must be the manifest's (refused, not
reshaped), standard operators only (no OpenVINO extensions, no ONNX custom domains, no external
data), and a SavedModel, which is a program, runs only when the caller allows bundle code.
Every hostile bundle is the packaged default, altered and re-hashed by the test."""

import json
import shutil

import numpy as np
import pytest

from gesture_rt import GestureRecognizer
from gesture_rt import bundle as bundles
from gesture_rt.engines import available, open_engine
from gesture_rt.live.app import main
from gesture_rt.recognizer import DEFAULT_BUNDLE

ONNX = pytest.mark.skipif(not available("onnxruntime"), reason="onnxruntime is not installed")
tf_needed = pytest.mark.skipif(not available("tensorflow"), reason="needs TensorFlow (train extra)")


def altered(tmp_path, **changes):
    """A copy of the default bundle with manifest ``changes``, re-hashed: a valid-looking bundle."""
    copy = tmp_path / "bundle"
    if not copy.exists():
        shutil.copytree(bundles.BUNDLED / DEFAULT_BUNDLE, copy)
    manifest = json.loads((copy / bundles.MANIFEST).read_text())
    manifest.update(changes)
    manifest = {k: v for k, v in manifest.items() if v is not None}
    bundles.write_manifest(copy, manifest)
    return copy


ENGINES = ["openvino", pytest.param("onnxruntime", marks=ONNX)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_graph_of_another_input_shape_is_refused_not_reshaped(tmp_path, engine):
    prep = {"resize_short": 96, "crop": 96, "mean": 127.5, "std": 127.5}
    copy = altered(tmp_path, input={"name": "clip", "shape": [40, 96, 96, 3]}, preprocessing=prep)
    with pytest.raises(bundles.BundleError, match=r"takes clips of shape \(\?, 40, 64, 64, 3\), "
                                                  r"but the manifest's input shape is "
                                                  r"\(\?, 40, 96, 96, 3\)"):  # fmt: skip
        open_engine(copy, engine=engine, precision="fp32")


@pytest.mark.parametrize("engine", ENGINES)
def test_labels_must_be_as_many_as_the_networks_outputs(tmp_path, engine):
    labels = bundles.load(DEFAULT_BUNDLE).labels
    copy = altered(tmp_path, labels=labels[:5], output=None)
    with pytest.raises(bundles.BundleError, match=r"outputs of shape \(\?, 27\), but the manifest "
                                                  r"has 5 labels"):  # fmt: skip
        open_engine(copy, engine=engine, precision="fp32")
    with pytest.raises(bundles.BundleError, match="5 labels"):
        GestureRecognizer.create(bundle=copy, engine=engine)


def test_the_int8_network_is_checked_like_the_others(tmp_path):
    copy = altered(tmp_path)
    xml = copy / "openvino-int8" / "model.xml"
    xml.write_bytes(xml.read_bytes().replace(b'version="opset8"', b'version="evil_ext"', 1))
    altered(tmp_path)
    with open_engine(copy, precision="fp32") as engine:  # the fp32 network is fine
        assert engine.precision == "fp32"
    with pytest.raises(bundles.BundleError, match=r"openvino-int8/model.xml has layers outside"):
        open_engine(copy, precision="int8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda x: x.replace(b'version="opset8"', b'version="my_extension"', 1),
         r"layers outside OpenVINO's standard operator sets: \['.* \(my_extension\)'\]"),
        (lambda x: x.replace(b"<net ", b'<!DOCTYPE net [<!ENTITY e "e">]>\n<net ', 1),
         "declares a DTD"),
        (lambda x: x[: len(x) // 2], "is not an OpenVINO IR"),
        (lambda x: x.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>'
                             b'\n<!DOCTYPE net [<!ENTITY e "e">]>', 1)
         .decode().encode("utf-16"), "declares a DTD"),  # not visible to a byte regex
    ],
)
def test_openvino_extensions_and_odd_xml_are_refused(tmp_path, edit, message):
    copy = altered(tmp_path)
    xml = copy / "openvino" / "model.xml"
    xml.write_bytes(edit(xml.read_bytes()))
    altered(tmp_path)
    with pytest.raises(bundles.BundleError, match=message):
        open_engine(copy, engine="openvino", precision="fp32")


@ONNX
def test_onnx_custom_domains_and_external_data_are_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    copy = altered(tmp_path)
    path = copy / "model.onnx"
    model = onnx.load(str(path))
    model.graph.node[0].domain = "com.example.custom"
    model.opset_import.append(onnx.helper.make_opsetid("com.example.custom", 1))
    onnx.save(model, str(path))
    altered(tmp_path)
    with pytest.raises(bundles.BundleError, match=r"operator domains \['com.example.custom'\]"):
        open_engine(copy, engine="onnxruntime")
    model = onnx.load(str(bundles.BUNDLED / DEFAULT_BUNDLE / "model.onnx"))
    onnx.save(model, str(path), save_as_external_data=True, location="weights.data",
              size_threshold=0)  # fmt: skip
    altered(tmp_path)  # weights.data is listed and hashed, still refused: ONNX must be whole
    with pytest.raises(bundles.BundleError, match=r"keeps tensors .* in external files"):
        open_engine(copy, engine="onnxruntime")


@ONNX
@pytest.mark.parametrize("where", ["sparse constant", "sparse initializer indices"])
def test_external_data_hidden_in_sparse_tensors_is_refused(tmp_path, monkeypatch, where):
    """ONNX Runtime reads external data relative to the working directory for a model given as
    bytes: any external tensor, wherever it sits in the model, would read a file of the user's."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    (tmp_path / "secret.txt").write_text("the user's api key")
    monkeypatch.chdir(tmp_path)
    copy = altered(tmp_path)
    model = onnx.load(str(copy / "model.onnx"))
    values = onnx.TensorProto(name="leak", data_type=onnx.TensorProto.UINT8, dims=[18])
    values.data_location = onnx.TensorProto.EXTERNAL
    values.external_data.add(key="location", value="secret.txt")
    indices = helper.make_tensor("at", onnx.TensorProto.INT64, [18], list(range(18)))
    if where == "sparse constant":
        sparse = helper.make_sparse_tensor(values, indices, [64])
        model.graph.node.append(helper.make_node("Constant", [], ["unused"], sparse_value=sparse))
    else:
        values, indices = indices, values  # the external tensor as the indices
        model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [64]))
    onnx.save(model, str(copy / "model.onnx"))
    altered(tmp_path)
    with pytest.raises(bundles.BundleError, match=r"keeps tensors \['(leak|at)'\] in external"):
        open_engine(copy, engine="onnxruntime")


@ONNX
def test_an_onnx_network_taking_another_input_type_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    copy = altered(tmp_path)
    model = onnx.load(str(copy / "model.onnx"))
    clip = model.graph.input[0]
    for node in model.graph.node:  # the graph reads clip_f32, cast from a float16 clip
        node.input[:] = ["clip_f32" if name == clip.name else name for name in node.input]
    model.graph.node.insert(0, helper.make_node("Cast", [clip.name], ["clip_f32"],
                                                to=onnx.TensorProto.FLOAT))  # fmt: skip
    clip.type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    onnx.save(model, str(copy / "model.onnx"))
    altered(tmp_path)
    with pytest.raises(bundles.BundleError, match=r"takes float16 clips; a bundle's network"):
        open_engine(copy, engine="onnxruntime")


def test_an_openvino_network_taking_another_input_type_is_refused(tmp_path):
    import openvino as ov

    copy = altered(tmp_path)
    xml = copy / "openvino" / "model.xml"
    steps = ov.preprocess.PrePostProcessor(ov.Core().read_model(str(xml)))
    steps.input().tensor().set_element_type(ov.Type.u8)  # OpenVINO would convert silently
    ov.save_model(steps.build(), str(tmp_path / "u8.xml"), compress_to_fp16=False)  # not over
    for suffix in (".xml", ".bin"):  # the weights OpenVINO has mapped
        (tmp_path / "u8").with_suffix(suffix).replace(xml.with_suffix(suffix))
    altered(tmp_path)
    with pytest.raises(bundles.BundleError, match=r"takes uint8 clips; a bundle's network takes"):
        open_engine(copy, engine="openvino", precision="fp32")


def test_logits_of_another_shape_than_declared_are_refused_at_inference(monkeypatch):
    with open_engine(DEFAULT_BUNDLE, engine="openvino", precision="fp32") as engine:
        monkeypatch.setattr(engine, "_run", lambda batch: np.zeros((1, 1000), np.float32))
        declared = r"gave logits of shape \(1, 1000\) for 1 clip\(s\); it declares \(1, 27\)"
        with pytest.raises(bundles.BundleError, match=declared):
            engine.infer(np.zeros((40, 64, 64, 3), np.float32))


@tf_needed
def test_the_tensorflow_engine_on_a_bundle_without_a_savedmodel_says_so():
    with pytest.raises(bundles.BundleError, match=r"has no 'savedmodel' network; it has"):
        open_engine(DEFAULT_BUNDLE, engine="tensorflow")


def test_engines_run_the_verified_bytes_not_a_file_swapped_after_loading(tmp_path):
    copy = altered(tmp_path)
    loaded = bundles.load(copy)
    weights = copy / "openvino" / "model.bin"
    weights.write_bytes(bytes(weights.stat().st_size))  # zeroed after verification
    with pytest.raises(bundles.BundleError, match=r"openvino/model.bin was altered"):
        open_engine(loaded, engine="openvino", precision="fp32")


# -- a SavedModel is a program ------------------------------------------------------------------



def program_bundle(tmp_path, witness):
    """A bundle whose only network is a SavedModel that writes ``witness`` when it runs."""
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 40, 64, 64, 3], tf.float32, "clip")])
        def serve(self, clip):
            tf.io.write_file(str(witness), "written by a bundle")
            return {"logits": tf.zeros([tf.shape(clip)[0], 27])}

    copy = tmp_path / "program"
    copy.mkdir()
    module = Writer()
    tf.saved_model.save(module, str(copy / "savedmodel"),
                        signatures={"serving_default": module.serve})  # fmt: skip
    manifest = json.loads((bundles.BUNDLED / DEFAULT_BUNDLE / bundles.MANIFEST).read_text())
    manifest["formats"] = {"savedmodel": "savedmodel"}
    manifest.pop("precisions")
    bundles.write_manifest(copy, manifest)
    return copy


@tf_needed
def test_a_savedmodel_runs_only_when_bundle_code_is_allowed(tmp_path, capsys):
    witness = tmp_path / "witness.txt"
    copy = program_bundle(tmp_path, witness)
    with pytest.raises(bundles.BundleError, match=r"a SavedModel is a program .* engine 'auto' "
                                                  r"never runs"):  # fmt: skip
        GestureRecognizer.create(bundle=copy)
    with pytest.raises(bundles.BundleError, match=r"allow_bundle_code=True"):
        open_engine(copy, engine="tensorflow")
    with pytest.raises(bundles.BundleError, match=r"allow_bundle_code=True"):
        open_engine(copy, engine="tensorflow", allow_bundle_code="yes")  # only True allows
    code = main(["--no-display", "--source", "synthetic", "--seconds", "1", "--engine",
                 "tensorflow", "--bundle", str(copy)])  # fmt: skip
    assert code == 2 and "--allow-bundle-code" in capsys.readouterr().err
    assert not witness.exists()  # refused before any of its code ran
    with GestureRecognizer.create(bundle=copy, engine="tensorflow",
                                  allow_bundle_code=True) as recognizer:  # fmt: skip
        recognizer.classify_clip(np.zeros((40, 64, 64, 3), np.uint8))
    assert witness.read_text() == "written by a bundle"  # what allowing it means
