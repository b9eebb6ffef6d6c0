"""The I3D family: shapes, parameter counts, dilation folding, weights, introspection."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import training  # noqa: F401  (before TensorFlow: it asks for TF's oneDNN CPU kernels)

tf = pytest.importorskip("tensorflow", reason="model tests need the train extra (tensorflow)")
keras = pytest.importorskip("keras")

from training.models import (  # noqa: E402
    ARCHITECTURES,
    DILATABLE,
    ENDPOINTS,
    build_model,
    endpoint_model,
    endpoint_names,
)
from training.models.__main__ import main as models_main  # noqa: E402
from training.models.i3d import (  # noqa: E402
    I3D,
    FeatureGate,
    NonLocalBlock,
    TemporalDilationConv3D,
)
from training.models.summary import summarise, totals  # noqa: E402
from training.models.weights import (  # noqa: E402
    fine_tune_init,
    inflate,
    kinetics_variable_map,
    load_kinetics_i3d,
    transfer_weights,
)

KINETICS_I3D = Path(__file__).resolve().parents[2] / "shared" / "reference" / "kinetics-i3d"
SMALL = {"input_shape": (8, 32, 32, 3), "width": 0.25}
ARCHS = sorted(ARCHITECTURES)


def trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def randomise(model, seed: int = 0) -> None:
    """Random weights everywhere (BN statistics plausible), as a trained network would have."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        else:  # gates and W_z too: a trained network's are not at their start
            w.assign(rng.normal(0.0, 0.1, w.shape).astype("float32"))


def clip(shape, seed: int = 1, batch: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (batch, *shape)).astype("float32")


# --- structure -------------------------------------------------------------------------------


def test_parameter_counts_match_the_thesis():
    counts = {arch: trainable(build_model(arch)) for arch in ARCHS}
    # I3D: kinetics-i3d's RGB checkpoint holds 12,689,984 trainable values with a 400-way head;
    # with 27 classes that is 12,689,984 - 1024*400 - 400 + 1024*27 + 27 ("12.3M").
    assert counts["i3d"] == 12_689_984 - (1024 * 400 + 400) + (1024 * 27 + 27) == 12_307_659

    def non_local(c: int) -> int:  # θ, φ, g: C -> C/2; W_z: C/2 -> C (eqs. 4.4-4.7, no bias)
        return 3 * c * (c // 2) + (c // 2) * c

    # Blocks after Mixed_4e (528 channels) and Mixed_5b (832): "almost 2M", total "14.2M".
    assert counts["nl_i3d"] - counts["i3d"] == non_local(528) + non_local(832) == 1_942_016
    assert round(counts["nl_i3d"] / 1e6, 1) == 14.2
    # Gates after Mixed_4e's 3x3 convs (288, 64 ch) and Mixed_5b's (320, 128): thesis 5.1.4.
    assert counts["g_i3d"] - counts["i3d"] == 288**2 + 64**2 + 320**2 + 128**2 == 205_824
    assert counts["dilate_i3d"] == counts["i3d"]  # dilation adds no parameters
    assert counts["modified_i3d"] == counts["g_i3d"]


@pytest.mark.parametrize(
    ("input_shape", "final_map", "pool"),
    [
        ((40, 100, 100, 3), (5, 4, 4, 1024), (2, 4, 4)),
        ((40, 224, 224, 3), (5, 7, 7, 1024), (2, 7, 7)),
        ((64, 224, 224, 3), (8, 7, 7, 1024), (2, 7, 7)),
        ((8, 112, 160, 3), (1, 4, 5, 1024), (1, 4, 5)),
    ],
)
@pytest.mark.parametrize("arch", ARCHS)
def test_output_shapes_and_final_pool_follow_the_input(arch, input_shape, final_map, pool):
    model = build_model(arch, num_classes=27, input_shape=input_shape)
    assert tuple(model.get_layer("Mixed_5c").output.shape[1:]) == final_map
    assert model.get_layer("Logits").pool_size == pool
    assert tuple(model.output.shape) == (None, 27)


@pytest.mark.parametrize(
    ("arch", "input_shape", "num_classes"),
    [("modified_i3d", (1, 32, 32, 3), 1), ("nl_i3d", (7, 33, 45, 1), 2),
     ("dilate_i3d", (3, 17, 9, 2), 4), ("g_i3d", (16, 112, 112, 3), 27)],
)  # fmt: skip
def test_odd_inputs_run_forward(arch, input_shape, num_classes):
    model = build_model(arch, num_classes, input_shape, width=0.1)
    logits = model(clip(input_shape), training=False).numpy()
    assert logits.shape == (2, num_classes) and np.isfinite(logits).all()


def test_endpoints_follow_kinetics_i3d_and_non_local_blocks_sit_where_the_thesis_puts_them():
    names = [layer.name for layer in build_model("nl_i3d", **SMALL).layers[1:]]
    plain = [layer.name for layer in build_model("i3d", **SMALL).layers[1:]]
    assert plain[:5] == ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3",
                         "MaxPool3d_3a_3x3"]  # fmt: skip
    assert plain[-3:] == ["Mixed_5b", "Mixed_5c", "Logits"]
    assert tuple(plain) == ENDPOINTS == tuple(endpoint_names(build_model("i3d", **SMALL)))
    assert names[names.index("Mixed_4e") + 1] == "NonLocal_4e"
    assert names[names.index("NonLocal_4e") + 1] == "Mixed_4f"  # between the 6th and 7th modules
    assert names[names.index("Mixed_5b") + 1 : names.index("Mixed_5c")] == ["NonLocal_5b"]


# --- forward, training, determinism ----------------------------------------------------------


def train_step(model):
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


@pytest.mark.parametrize("arch", ARCHS)
def test_every_variant_evaluates_deterministically_and_trains_a_step(arch):
    keras.utils.set_random_seed(0)
    model = build_model(arch, num_classes=5, **SMALL)
    x, labels = clip(SMALL["input_shape"], batch=3), np.array([0, 1, 2])
    first, second = model(x, training=False).numpy(), model(x, training=False).numpy()
    assert first.shape == (3, 5) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)

    before = [w.numpy() for w in model.trainable_weights]
    assert np.isfinite(train_step(model)(x, labels).numpy())
    changed = [
        not np.array_equal(b, w.numpy())
        for b, w in zip(before, model.trainable_weights, strict=True)
    ]
    # Everything learns from the first step except theta, phi and g of a fresh non-local block,
    # whose gradients are zero while W_z is (W_z itself moves, so they learn from step 2 on).
    frozen = [w.path for w, c in zip(model.trainable_weights, changed, strict=True) if not c]
    assert all(p.split("/")[1] in {"theta", "phi", "g"} for p in frozen), frozen
    assert any(p.startswith("NonLocal_") for p in frozen) == (arch == "nl_i3d")


@pytest.mark.parametrize(("arch", "varies"), [("modified_i3d", True), ("i3d", False)])
def test_random_dilation_is_drawn_anew_at_every_traced_training_step(arch, varies):
    keras.utils.set_random_seed(1)
    model = build_model(arch, num_classes=3, dropout=0.0, **SMALL)
    forward = tf.function(lambda x: model(x, training=True))  # BatchNorm on batch statistics
    x = clip(SMALL["input_shape"], batch=2)
    outputs = [forward(x).numpy() for _ in range(12)]  # weights fixed: only dilation can vary
    distinct = {o.tobytes() for o in outputs}
    assert (len(distinct) > 1) == varies


# --- dilation --------------------------------------------------------------------------------


def dilated_reference(x, kernel, dilation: int):
    return tf.nn.convolution(x, kernel, padding="SAME", dilations=(dilation, 1, 1)).numpy()


@pytest.fixture
def dilatable_conv():
    layer = TemporalDilationConv3D(
        6, (3, 3, 3), padding="same", use_bias=False, random_dilation=True, average_dilation=True
    )
    x = clip((9, 7, 7, 4), seed=3)
    layer.build(x.shape)
    layer.kernel.assign(np.random.default_rng(4).normal(0, 1, layer.kernel.shape))
    return layer, x


def test_evaluation_average_of_two_dilations_equals_the_folded_5_tap_convolution(dilatable_conv):
    layer, x = dilatable_conv
    kernel = layer.kernel.numpy()
    two_branch = (dilated_reference(x, kernel, 1) + dilated_reference(x, kernel, 2)) / 2
    folded = layer(x, training=False).numpy()
    scale = np.abs(two_branch).max()
    np.testing.assert_allclose(folded, two_branch, rtol=0, atol=1e-4 * scale)


def test_training_draws_dilation_1_or_2_per_call(dilatable_conv):
    layer, x = dilatable_conv
    kernel = layer.kernel.numpy()
    references = [dilated_reference(x, kernel, d) for d in (1, 2)]
    seen = set()
    for _ in range(40):
        y = layer(x, training=True).numpy()
        errors = [np.abs(y - ref).max() / np.abs(ref).max() for ref in references]
        assert min(errors) < 1e-5  # exactly one of the two dilations
        seen.add(int(np.argmin(errors)) + 1)
    assert seen == {1, 2}


@pytest.mark.parametrize(
    ("arch", "mode", "averaged"),
    [
        ("dilate_i3d", "full", DILATABLE),
        ("dilate_i3d", "none", ()),
        ("dilate_i3d", "top-5", ("Conv3d_2c_3x3", "Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c")),
        ("dilate_i3d", "bottom-2", ("Mixed_5b", "Mixed_5c")),
        ("modified_i3d", "full", DILATABLE[:5]),
        ("modified_i3d", "top-1", ("Conv3d_2c_3x3",)),
    ],
)
def test_dilation_eval_modes_choose_units_from_the_input_side(arch, mode, averaged):
    model = build_model(arch, dilation_eval=mode, **SMALL)
    trained = ARCHITECTURES[arch].dilated
    for conv in (layer for layer in _walk(model) if isinstance(layer, TemporalDilationConv3D)):
        unit = conv.path.split("/")[0]
        three = conv.kernel_size[0] == 3 and unit in DILATABLE
        assert conv.average_dilation == (three and unit in averaged), conv.path
        assert conv.random_dilation == (three and unit in trained), conv.path


def test_averaging_in_evaluation_changes_only_the_chosen_units():
    full = build_model("dilate_i3d", dilation_eval="full", **SMALL)
    randomise(full)
    none = build_model("dilate_i3d", dilation_eval="none", **SMALL)
    none.set_weights(full.get_weights())
    x = clip(SMALL["input_shape"])
    probe = ["Conv3d_2b_1x1", "Conv3d_2c_3x3"]
    a, b = (endpoint_model(m, probe)(x) for m in (full, none))
    np.testing.assert_array_equal(a["Conv3d_2b_1x1"], b["Conv3d_2b_1x1"])
    assert np.abs(a["Conv3d_2c_3x3"] - b["Conv3d_2c_3x3"]).max() > 1e-3


def test_non_local_block_computes_eqs_4_3_to_4_7():
    block = NonLocalBlock()
    x = clip((2, 3, 3, 6), seed=10)
    block.build(x.shape)
    rng = np.random.default_rng(11)
    for conv in (block.theta, block.phi, block.g, block.w_z):
        conv.kernel.assign(rng.normal(0, 0.5, conv.kernel.shape))
    flat = x.reshape(2, -1, 6)
    theta, phi, g = (flat @ c.kernel.numpy()[0, 0, 0] for c in (block.theta, block.phi, block.g))
    similarity = np.exp(theta @ phi.transpose(0, 2, 1))  # f(x_i, x_j), eq. 4.5
    y = (similarity / similarity.sum(axis=-1, keepdims=True)) @ g  # eq. 4.3, C(x) = sum_j f
    z = y @ block.w_z.kernel.numpy()[0, 0, 0] + flat  # eq. 4.7
    np.testing.assert_allclose(block(x).numpy(), z.reshape(x.shape), rtol=1e-5, atol=1e-5)


def test_feature_gate_computes_eqs_4_8_and_4_9():
    gate = FeatureGate()
    x = clip((2, 3, 4, 5), seed=12)
    gate.build(x.shape)
    w = np.random.default_rng(13).normal(0, 1, (5, 5)).astype("float32")  # W, D x D
    gate.kernel.assign(w.T)  # the layer stores W transposed: pooled @ kernel = W @ pooled
    pooled = x.mean(axis=(1, 2, 3))  # avg_pool_ST
    attention = 1 / (1 + np.exp(-(pooled @ w.T)))  # A = sigmoid(W avg_pool_ST(x))
    expected = x * attention[:, None, None, None, :]
    np.testing.assert_allclose(gate(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def _walk(layer):
    for sub in getattr(layer, "layers", []) + list(getattr(layer, "chain", [])):
        yield sub
        yield from _walk(sub)
    for attr in ("branches", "conv"):
        subs = getattr(layer, attr, None)
        for sub in subs if isinstance(subs, list) else [subs] if subs is not None else []:
            yield sub
            yield from _walk(sub)


# --- serialisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "dilation_eval"), [("nl_i3d", "full"), ("modified_i3d", "top-2")])
def test_config_and_keras_file_round_trip(arch, dilation_eval, tmp_path):
    model = build_model(arch, num_classes=7, dilation_eval=dilation_eval, **SMALL)
    randomise(model)
    clone = I3D.from_config(model.get_config())
    assert clone.spec == model.spec
    clone.set_weights(model.get_weights())
    x = clip(SMALL["input_shape"])
    np.testing.assert_array_equal(clone(x), model(x))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, I3D) and loaded.spec == model.spec
    np.testing.assert_array_equal(loaded(x), model(x))

    model.trainable = False  # a frozen backbone stays frozen
    model.save(tmp_path / "frozen.keras")
    assert not keras.models.load_model(tmp_path / "frozen.keras").trainable_weights


# --- weights ---------------------------------------------------------------------------------


def test_inflated_network_sees_a_boring_video_as_the_2d_network_sees_its_image():
    image_net = build_model("i3d", input_shape=(1, 32, 32, 3), width=0.25, inflated=False)
    randomise(image_net, seed=5)
    video_net = build_model("i3d", input_shape=(128, 32, 32, 3), width=0.25)
    report = inflate(image_net, video_net)
    assert not report.fresh and len(report.loaded) == len(video_net.weights)
    kernel = video_net.get_layer("Conv3d_1a_7x7").conv.kernel.numpy()
    np.testing.assert_allclose(kernel.sum(axis=0), image_net.get_layer("Conv3d_1a_7x7").conv
                               .kernel.numpy()[0], rtol=1e-5, atol=1e-7)  # fmt: skip

    image = clip((1, 32, 32, 3), seed=6, batch=1)
    boring = np.repeat(image, 128, axis=1)
    names = ["Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c"]
    seen_2d = endpoint_model(image_net, names)(image)
    seen_3d = endpoint_model(video_net, names)(boring)
    for name in names:
        frames = seen_3d[name].numpy()[0]
        middle = frames[len(frames) // 2]  # far from the zero-padded ends of the clip
        expected = seen_2d[name].numpy()[0, 0]
        np.testing.assert_allclose(middle, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_kinetics_i3d_index_maps_one_to_one_onto_the_model():
    index = KINETICS_I3D / "rgb_imagenet.ckpt.index"
    if not index.is_file():
        pytest.skip(f"{index} is absent (../shared is not part of a user's clone)")
    shapes = tf.train.load_checkpoint(str(index.with_suffix(""))).get_variable_to_shape_map()
    assert len(shapes) == 230
    mapping = kinetics_variable_map(build_model("i3d", num_classes=400))
    assert set(mapping) == set(shapes)
    assert len({id(w) for w in mapping.values()}) == 230
    for name, shape in shapes.items():
        assert tuple(mapping[name].shape) == tuple(shape), name


def write_checkpoint(model, prefix) -> None:
    """A TF checkpoint with kinetics-i3d's variable names, as its Saver wrote them."""
    mapping = kinetics_variable_map(model)
    names = sorted(mapping)
    tf.raw_ops.SaveV2(
        prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
        tensors=[mapping[n].numpy() for n in names],
    )  # fmt: skip


def test_kinetics_checkpoint_loads_with_a_fresh_head(tmp_path):
    source = build_model("i3d", num_classes=400, **SMALL)
    randomise(source, seed=7)
    write_checkpoint(source, tmp_path / "rgb")
    x = clip(SMALL["input_shape"])

    same_head = build_model("i3d", num_classes=400, **SMALL)
    report = load_kinetics_i3d(same_head, tmp_path / "rgb.index")  # the index's name works too
    assert len(report.loaded) == len(source.weights) and not report.fresh
    np.testing.assert_array_equal(same_head(x), source(x))

    gated = build_model("g_i3d", num_classes=27, **SMALL)
    head_before = gated.get_layer("Logits").conv.conv.kernel.numpy()
    report = load_kinetics_i3d(gated, tmp_path / "rgb")
    assert len(report.loaded) == len(source.weights) - 2  # all but the 400-way head
    assert sorted({p.split("/")[0] for p in report.fresh}) == ["Logits", "Mixed_4e", "Mixed_5b"]
    np.testing.assert_array_equal(gated.get_layer("Logits").conv.conv.kernel, head_before)
    features = [endpoint_model(m, ["Mixed_5c"])(x)["Mixed_5c"] for m in (gated, source)]
    np.testing.assert_allclose(*features, rtol=0, atol=1e-5)  # gates start compensated


def test_a_mismatched_or_damaged_checkpoint_is_refused_and_the_model_left_untouched(tmp_path):
    narrow = build_model("i3d", **SMALL)
    write_checkpoint(narrow, tmp_path / "narrow")
    wider = build_model("i3d", input_shape=SMALL["input_shape"], width=0.5)
    model = build_model("i3d", **SMALL)
    before = [w.numpy() for w in wider.weights + model.weights]

    with pytest.raises(ValueError, match=r"Conv3d_1a_7x7/conv_3d/kernel.*shape"):
        load_kinetics_i3d(wider, tmp_path / "narrow")
    with pytest.raises(ValueError, match=r"checkpoint .*missing.* not a readable"):
        load_kinetics_i3d(model, tmp_path / "missing")
    with pytest.raises(ValueError, match="no variables under scope 'Flow/inception_i3d'"):
        load_kinetics_i3d(model, tmp_path / "narrow", scope="Flow/inception_i3d")

    partial = {w.path: w for w in narrow.weights if w.path.startswith("Conv3d_1a_7x7/")}
    names = [f"RGB/inception_i3d/{p.replace('/kernel', '/w')}" for p in partial]
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "partial"), tensor_names=names,
                      shape_and_slices=[""] * len(names),
                      tensors=[w.numpy() for w in partial.values()])  # fmt: skip
    with pytest.raises(ValueError, match="weights have no checkpoint variable"):
        load_kinetics_i3d(model, tmp_path / "partial")

    data = next(tmp_path.glob("narrow.data-*"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # a truncated download
    with pytest.raises(ValueError, match="values cannot be read"):
        load_kinetics_i3d(model, tmp_path / "narrow")

    after = [w.numpy() for w in wider.weights + model.weights]
    assert all(np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    with pytest.raises(TypeError, match="model must be an I3D model"):
        load_kinetics_i3d(keras.Sequential(), tmp_path / "narrow")


def test_non_local_i3d_starts_as_the_i3d_it_is_loaded_from():
    i3d = build_model("i3d", **SMALL)
    randomise(i3d, seed=8)
    nl = build_model("nl_i3d", **SMALL)
    report = fine_tune_init(nl, i3d)
    assert {p.split("/")[0] for p in report.fresh} == {"NonLocal_4e", "NonLocal_5b"}
    x = clip(SMALL["input_shape"], batch=3)
    np.testing.assert_allclose(nl(x), i3d(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("source_arch", "target_arch"),
                         [("i3d", "g_i3d"), ("dilate_i3d", "modified_i3d")])  # fmt: skip
def test_fresh_gates_halve_their_branches_and_fine_tune_init_compensates(source_arch, target_arch):
    shape = (16, 64, 64, 3)  # Mixed_5b still has 2x2x2 positions for the gates to average
    options = {"input_shape": shape, "width": 0.25, "dilation_eval": "top-5"}
    if target_arch == "g_i3d":
        options.pop("dilation_eval")
    source = build_model(source_arch, **options)
    randomise(source, seed=9)
    x = clip(shape, batch=3)
    expected = source(x).numpy()

    halved = build_model(target_arch, **options)
    transfer_weights(source, halved)
    gated = endpoint_model(halved, ["Mixed_4e"])(x)["Mixed_4e"].numpy()
    plain = endpoint_model(source, ["Mixed_4e"])(x)["Mixed_4e"].numpy()
    b0, _, b1, _, b2, _ = halved.get_layer("Mixed_4e").options["widths"]
    np.testing.assert_array_equal(gated[..., b0 : b0 + b1 + b2], plain[..., b0 : b0 + b1 + b2] / 2)
    np.testing.assert_array_equal(gated[..., :b0], plain[..., :b0])
    assert np.abs(halved(x).numpy() - expected).max() > 0.05 * np.abs(expected).max()

    compensated = build_model(target_arch, **options)
    randomise(compensated, seed=10)  # a reused model: its gates are not at W = 0
    fine_tune_init(compensated, source)
    np.testing.assert_allclose(compensated(x), expected, rtol=0, atol=1e-5)


# --- introspection ---------------------------------------------------------------------------


def test_temporal_receptive_fields_follow_eq_4_2():
    rows = {r.name: r for r in summarise(build_model("i3d"))}
    assert rows["Conv3d_1a_7x7"].temporal_receptive_field == 7
    assert rows["Conv3d_2c_3x3"].temporal_receptive_field == 7 + 2 * 2
    assert rows["Mixed_5c"].temporal_receptive_field == 99
    assert not rows["Mixed_5c"].global_context and rows["Logits"].global_context
    dilated = {r.name: r for r in summarise(build_model("dilate_i3d", dilation_eval="top-1"))}
    assert dilated["Conv3d_2c_3x3"].temporal_receptive_field == 7 + 4 * 2
    assert dilated["Mixed_5c"].temporal_receptive_field == 99 + 4
    gated = {r.name: r for r in summarise(build_model("g_i3d"))}
    assert not gated["Mixed_4d"].global_context and gated["Mixed_4e"].global_context


@pytest.mark.parametrize("arch", ["i3d", "dilate_i3d"])  # convolutions only: no gates, no NL
def test_convolution_flops_agree_with_tensorflows_profiler(arch):
    model = build_model(arch, **SMALL)
    spec = tf.TensorSpec((1, *SMALL["input_shape"]))

    @tf.autograph.experimental.do_not_convert
    def forward(x):
        return model(x, training=False)

    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )

    graph = convert_variables_to_constants_v2_as_graph(
        tf.function(forward).get_concrete_function(spec)
    )[0].graph
    profiler = tf.compat.v1.profiler
    options = profiler.ProfileOptionBuilder(profiler.ProfileOptionBuilder.float_operation())
    profile = profiler.profile(
        graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="scope",
        options=options.with_empty_output().build(),
    )  # fmt: skip
    conv_ops = {op.name for op in graph.get_operations() if op.type == "Conv3D"}
    counted = sum(n.float_ops for n in _profile_nodes(profile) if n.name in conv_ops)
    assert counted > 0
    assert counted == round(totals(summarise(model))["gflops"] * 1e9)


def _profile_nodes(node):
    for child in node.children:
        yield child
        yield from _profile_nodes(child)


def test_summary_command_prints_json_totals(capsys):
    assert models_main(["summary", "--arch", "g_i3d", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["params"] == 12_513_483
    assert report["model"]["arch"] == "g_i3d"
    assert [e["name"] for e in report["endpoints"]][-1] == "Logits"
    assert round(report["totals"]["gflops"], 1) == 29.8  # gates cost ~nothing
    assert models_main(["summary", "--arch", "i3d", "--width", "0.5"]) == 0
    assert "Mixed_5c" in capsys.readouterr().out


def test_summary_command_rejects_bad_arguments(capsys):
    assert models_main(["summary", "--arch", "i3d", "--dilation-eval", "top-2"]) == 2
    assert "dilation_eval" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        models_main(["summary", "--input-shape", "40,100"])


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"arch": "resnet"}, "arch must be one of"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
        ({"num_classes": 2.5}, "num_classes must be a positive integer"),
        ({"input_shape": (40, 100, 100)}, "input_shape must be 4 positive integers"),
        ({"input_shape": (40, 0, 100, 3)}, "input_shape must be 4 positive integers"),
        ({"input_shape": "40x100"}, "input_shape must be 4 positive integers"),
        ({"width": 0}, "width must be a positive finite number"),
        ({"width": float("nan")}, "width must be a positive finite number"),
        ({"dropout": 1.0}, r"dropout must be a rate in \[0, 1\)"),
        ({"arch": "dilate_i3d", "dilation_eval": "top-11"}, "dilation_eval must be"),
        ({"arch": "dilate_i3d", "dilation_eval": "middle-2"}, "dilation_eval must be"),
        ({"arch": "modified_i3d", "dilation_eval": "bottom-1"}, "does not train dilated"),
        ({"arch": ["i3d"]}, "arch must be one of"),
        ({"width": True}, "width must be a positive finite number"),
        ({"inflated": "no"}, "inflated must be True or False"),
        ({"arch": "dilate_i3d", "inflated": False}, "2D network"),
        ({"input_shape": {8: 1, 32: 1, 33: 1, 3: 1}}, "input_shape must be 4 positive integers"),
    ],
)
def test_bad_arguments_name_what_was_expected(options, message):
    with pytest.raises(ValueError, match=message):
        build_model(**options)


def test_numpy_integers_are_accepted_and_unknown_options_refused():
    model = build_model("i3d", np.int64(5), np.array([8, 32, 32, 3]), width=np.float32(0.25))
    assert model.spec.num_classes == 5 and model.spec.input_shape == (8, 32, 32, 3)
    assert type(model.spec.num_classes) is int and type(model.spec.width) is float
    with pytest.raises(TypeError, match="dilaton_eval"):
        build_model("dilate_i3d", dilaton_eval="none")


def test_fine_tune_init_refuses_a_source_with_blocks_the_target_lacks():
    gated, plain = build_model("g_i3d", **SMALL), build_model("i3d", **SMALL)
    before = [w.numpy() for w in plain.weights]
    with pytest.raises(ValueError, match=r"source .* has 4 weights of blocks the target"):
        fine_tune_init(plain, gated)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, plain.weights, strict=True))
    with pytest.raises(TypeError, match="source must be an I3D model"):
        fine_tune_init(plain, "i3d.keras")


def test_inflate_needs_a_2d_source():
    with pytest.raises(ValueError, match="image_model must be a 2D network"):
        inflate(build_model("i3d", **SMALL), build_model("i3d", **SMALL))
