"""The I3D family (thesis chapter 4): I3D, NL-I3D, G-I3D, Dilate-I3D and Modified-I3D, one builder.

The backbone is Inception-v1 inflated to 3D exactly as DeepMind's kinetics-i3d builds it, with the
same endpoint and layer names, so a variable's Keras path (``Mixed_3b/Branch_1/Conv3d_0b_3x3/
conv_3d/kernel``) is its kinetics-i3d checkpoint name without the scope. The variants only switch
on three things at fixed places:

- ``non_local``: an embedded-Gaussian non-local block after the named modules (eqs. 4.3-4.7);
- ``gated``: spatiotemporal feature gates after each conv larger than 1x1x1 in the named modules
  (eqs. 4.8-4.9);
- ``dilated``: random temporal dilation d in {1, 2} of the 3x3x3 convs of the named units in
  training; in evaluation, the units chosen by ``dilation_eval`` average their d=1 and d=2 outputs.

Tensors are channels-last: a clip is (batch, T, H, W, C).
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import keras
from keras import ops

# kinetics-i3d's endpoints, input to output; non-local blocks add NonLocal_<module> after theirs.
ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
    "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits",
)  # fmt: skip

# Output channels of each inception module's branches: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | pool -> 1x1.
INCEPTION = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# The units whose 3x3x3 convs can be dilated, counted from the input side as in thesis 5.1.5:
# "top-N" is the first N of them, "bottom-N" the last N, "full" all that were trained dilated.
DILATABLE = ("Conv3d_2c_3x3", *INCEPTION)


@dataclass(frozen=True)
class Variant:
    """Where an architecture departs from plain I3D (unit names as in ``DILATABLE``)."""

    non_local: tuple[str, ...] = ()
    gated: tuple[str, ...] = ()
    dilated: tuple[str, ...] = ()


# Thesis 4.2: non-local blocks between the 6th and 7th modules and before the last one; gates in
# the 6th and the second-to-last modules; Modified-I3D = G-I3D gates + Top-5 dilation (5.1.6).
ARCHITECTURES = {
    "i3d": Variant(),
    "nl_i3d": Variant(non_local=("Mixed_4e", "Mixed_5b")),
    "g_i3d": Variant(gated=("Mixed_4e", "Mixed_5b")),
    "dilate_i3d": Variant(dilated=DILATABLE),
    "modified_i3d": Variant(gated=("Mixed_4e", "Mixed_5b"), dilated=DILATABLE[:5]),
}

# kinetics-i3d's BatchNorm: beta and moving statistics, no gamma, epsilon 1e-3. Its statistics
# decay at 0.999 a step; Keras's 0.99 is kept, which settles within the short runs a CPU affords.
# Synchronized: under tf.distribute the statistics are the global batch's, so N replicas train
# exactly as one device would on the same batch (and it is plain BatchNorm without a strategy).
BATCH_NORM = {"scale": False, "epsilon": 1e-3, "momentum": 0.99, "synchronized": True}
serializable = keras.saving.register_keras_serializable(package="gesture_rt")


def dilation_units(mode: str, trained: Sequence[str]) -> tuple[str, ...]:
    """The units that average d=1 and d=2 in evaluation for ``mode`` (full/none/top-N/bottom-N)."""
    if mode == "full":
        return tuple(trained)
    if mode == "none":
        return ()
    match = re.fullmatch(r"(top|bottom)-(\d+)", mode) if isinstance(mode, str) else None
    if match is None or not 1 <= int(match[2]) <= len(DILATABLE):
        raise ValueError(
            f"dilation_eval must be 'full', 'none', 'top-N' or 'bottom-N' with 1 <= N <= "
            f"{len(DILATABLE)}, got {mode!r}"
        )
    n = int(match[2])
    units = DILATABLE[:n] if match[1] == "top" else DILATABLE[-n:]
    untrained = [u for u in units if u not in trained]
    if untrained:
        raise ValueError(
            f"dilation_eval={mode!r} asks to average dilations in {untrained}, which this "
            f"architecture does not train dilated (it dilates {list(trained) or 'nothing'})"
        )
    return units


@serializable
class TemporalDilationConv3D(keras.layers.Conv3D):
    """A stride-1 Conv3D whose 3-tap temporal kernel can run dilated (d=2) without dilated convs.

    TensorFlow's CPU Conv3D rejects dilation > 1, so every form is a plain convolution of a
    5-tap temporal kernel built from the same 3 taps ``[w0, w1, w2]``:
    d=2 is ``[w0, 0, w1, 0, w2]``; the evaluation average of d=1 and d=2 is
    ``[w0/2, w0/2, w1, w2/2, w2/2]`` (exact: convolution is linear and zero padding agrees).
    ``random_dilation``: in training each call draws d in {1, 2} with equal odds (one draw per
    layer per step, shared by the batch). ``average_dilation``: in evaluation return the average.
    """

    def __init__(self, *args, random_dilation=False, average_dilation=False, seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_dilation = bool(random_dilation)
        self.average_dilation = bool(average_dilation)
        self.seed = seed
        if (self.random_dilation or self.average_dilation) and (
            self.kernel_size[0] != 3 or self.strides[0] != 1 or self.padding != "same"
        ):
            raise ValueError(
                "temporal dilation needs a 3-tap temporal kernel, temporal stride 1 and 'same' "
                f"padding, got kernel_size={self.kernel_size}, strides={self.strides}, "
                f"padding={self.padding!r}"
            )
        if self.random_dilation:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if training and self.random_dilation:
            draw = keras.random.uniform((), seed=self.seed_generator)
            outputs = ops.cond(
                draw < 0.5,
                lambda: self.convolution_op(inputs, self.kernel),
                lambda: self.convolution_op(inputs, dilated_kernel(self.kernel)),
            )
        elif not training and self.average_dilation:
            outputs = self.convolution_op(inputs, averaged_kernel(self.kernel))
        else:
            outputs = self.convolution_op(inputs, self.kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    @property
    def temporal_taps(self) -> int:
        """Temporal kernel length of the evaluation-mode convolution."""
        return 5 if self.average_dilation else self.kernel_size[0]

    def get_config(self):
        return {
            **super().get_config(),
            "random_dilation": self.random_dilation,
            "average_dilation": self.average_dilation,
            "seed": self.seed,
        }


def dilated_kernel(kernel):
    """The 3-tap temporal kernel with dilation 2, as a 5-tap one: [w0, 0, w1, 0, w2]."""
    zero = ops.zeros_like(kernel[:1])
    return ops.concatenate([kernel[:1], zero, kernel[1:2], zero, kernel[2:]], axis=0)


def averaged_kernel(kernel):
    """The average of dilations 1 and 2 as one 5-tap kernel: [w0/2, w0/2, w1, w2/2, w2/2]."""
    half0, half2 = kernel[:1] * 0.5, kernel[2:] * 0.5
    return ops.concatenate([half0, half0, kernel[1:2], half2, half2], axis=0)


@serializable
class FeatureGate(keras.layers.Layer):
    """Spatiotemporal feature gating (eqs. 4.8-4.9): x * sigmoid(W avg_pool_ST(x)), W is DxD.

    W starts at zero, so a fresh gate multiplies by exactly 0.5 whatever the input;
    ``training.models.weights.fine_tune_init`` compensates that when loading an ungated network.
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(channels, channels), initializer="zeros", name="kernel"
        )

    def call(self, inputs):
        pooled = ops.mean(inputs, axis=(1, 2, 3))
        gate = ops.sigmoid(ops.matmul(pooled, self.kernel))
        return inputs * gate[:, None, None, None, :]

    def macs(self, input_shape) -> int:
        return input_shape[-1] ** 2


@serializable
class Unit3D(keras.layers.Layer):
    """Conv3D (no bias) -> BatchNorm (no gamma) -> ReLU [-> feature gate], kinetics-i3d's unit.

    ``batch_norm=False, activation=False, use_bias=True`` gives the logits' plain conv.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Sequence[int] = (1, 1, 1),
        strides: Sequence[int] = (1, 1, 1),
        *,
        batch_norm: bool = True,
        activation: bool = True,
        use_bias: bool = False,
        random_dilation: bool = False,
        average_dilation: bool = False,
        gated: bool = False,
        folded: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.options = {
            "filters": filters, "kernel_size": tuple(kernel_size), "strides": tuple(strides),
            "batch_norm": batch_norm, "activation": activation, "use_bias": use_bias,
            "random_dilation": random_dilation, "average_dilation": average_dilation,
            "gated": gated, "folded": folded,
        }  # fmt: skip
        if folded:  # inference only: BatchNorm becomes the bias, dilation averaging 5 taps
            kernel_size = (5 if average_dilation else kernel_size[0], *kernel_size[1:])
            batch_norm, use_bias, random_dilation, average_dilation = False, True, False, False
        self.conv = TemporalDilationConv3D(
            filters, kernel_size, strides, padding="same", use_bias=use_bias,
            random_dilation=random_dilation, average_dilation=average_dilation, name="conv_3d",
        )  # fmt: skip
        self.batch_norm = (
            keras.layers.BatchNormalization(**BATCH_NORM, name="batch_norm") if batch_norm else None
        )
        self.use_activation = activation
        self.gate = FeatureGate(name="feature_gate") if gated else None

    def build(self, input_shape):
        self.conv.build(input_shape)
        output_shape = self.conv.compute_output_shape(input_shape)
        if self.batch_norm is not None:
            self.batch_norm.build(output_shape)
        if self.gate is not None:
            self.gate.build(output_shape)

    def call(self, inputs, training=False):
        x = self.conv(inputs, training=training)
        if self.batch_norm is not None:
            x = self.batch_norm(x, training=training)
        if self.use_activation:
            x = ops.relu(x)
        return self.gate(x) if self.gate is not None else x

    def folded_weights(self) -> tuple:
        """(kernel, bias) of the one plain convolution this unit computes in evaluation:
        dilation averaging as 5 taps, then BatchNorm's affine map (no gamma) folded in."""
        conv = self.conv
        kernel = averaged_kernel(conv.kernel) if conv.average_dilation else conv.kernel
        bias = conv.bias if conv.use_bias else ops.zeros((conv.filters,))
        if self.batch_norm is None:
            return ops.convert_to_tensor(kernel), ops.convert_to_tensor(bias)
        bn = self.batch_norm
        scale = ops.rsqrt(bn.moving_variance + bn.epsilon)
        return kernel * scale, (bias - bn.moving_mean) * scale + bn.beta

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def macs(self, input_shape) -> int:
        """Multiply-adds of one evaluation-mode call (dilation averaging as its folded 5 taps)."""
        out = self.compute_output_shape(input_shape)
        _, kh, kw = self.conv.kernel_size
        conv = math.prod(out[1:]) * self.conv.temporal_taps * kh * kw * input_shape[-1]
        return conv + (self.gate.macs(out) if self.gate is not None else 0)

    @property
    def temporal_footprint(self) -> tuple[int, int]:
        """(temporal kernel length in evaluation, temporal stride), for eq. 4.2."""
        return self.conv.temporal_taps, self.conv.strides[0]

    def get_config(self):
        return {**super().get_config(), **self.options}


@serializable
class InceptionModule(keras.layers.Layer):
    """Inflated inception module (fig. 4.2b): four branches concatenated along channels.

    ``widths``: (1x1, 1x1 -> 3x3, 1x1 -> 3x3, pool -> 1x1) output channels as in ``INCEPTION``.
    ``temporal_kernel``: 3 for the inflated module, 1 for the 2D Inception-v1 one it inflates.
    """

    def __init__(
        self,
        widths: Sequence[int],
        *,
        temporal_kernel: int = 3,
        random_dilation: bool = False,
        average_dilation: bool = False,
        gated: bool = False,
        folded: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        b0, b1a, b1b, b2a, b2b, b3 = widths
        t = temporal_kernel
        self.options = {
            "widths": tuple(widths), "temporal_kernel": t, "random_dilation": random_dilation,
            "average_dilation": average_dilation, "gated": gated, "folded": folded,
        }  # fmt: skip
        f = {"folded": folded}
        spatial = {
            "kernel_size": (t, 3, 3), "random_dilation": random_dilation,
            "average_dilation": average_dilation, "gated": gated, **f,
        }  # fmt: skip
        # kinetics-i3d (after TF-slim's Inception-v1) names Mixed_5b's second 3x3 "Conv3d_0a_3x3".
        b2_name = "Conv3d_0a_3x3" if self.name == "Mixed_5b" else "Conv3d_0b_3x3"
        self.branches = [
            Branch([Unit3D(b0, name="Conv3d_0a_1x1", **f)], name="Branch_0"),
            Branch(
                [
                    Unit3D(b1a, name="Conv3d_0a_1x1", **f),
                    Unit3D(b1b, name="Conv3d_0b_3x3", **spatial),
                ],
                name="Branch_1",
            ),
            Branch(
                [Unit3D(b2a, name="Conv3d_0a_1x1", **f), Unit3D(b2b, name=b2_name, **spatial)],
                name="Branch_2",
            ),
            Branch(
                [
                    keras.layers.MaxPooling3D((t, 3, 3), 1, "same", name="MaxPool3d_0a_3x3"),
                    Unit3D(b3, name="Conv3d_0b_1x1", **f),
                ],
                name="Branch_3",
            ),
        ]

    def build(self, input_shape):
        for branch in self.branches:
            branch.build(input_shape)

    def call(self, inputs, training=False):
        return ops.concatenate([b(inputs, training=training) for b in self.branches], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], sum(self.options["widths"][i] for i in (0, 2, 4, 5)))

    def macs(self, input_shape) -> int:
        return sum(branch.macs(input_shape) for branch in self.branches)

    @property
    def temporal_footprint(self) -> tuple[int, int]:
        return max(branch.temporal_footprint[0] for branch in self.branches), 1

    def get_config(self):
        return {**super().get_config(), **self.options}


@serializable
class Branch(keras.layers.Layer):
    """A chain of layers inside an inception module (a named scope: ``Branch_1/Conv3d_0b_3x3``)."""

    def __init__(self, layers: Sequence[keras.layers.Layer], **kwargs):
        super().__init__(**kwargs)
        self.chain = list(layers)

    def build(self, input_shape):
        for layer in self.chain:
            layer.build(input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def call(self, inputs, training=False):
        x = inputs
        for layer in self.chain:
            x = layer(x, training=training) if isinstance(layer, Unit3D) else layer(x)
        return x

    def compute_output_shape(self, input_shape):
        for layer in self.chain:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def macs(self, input_shape) -> int:
        total = 0
        for layer in self.chain:
            if isinstance(layer, Unit3D):
                total += layer.macs(input_shape)
            input_shape = layer.compute_output_shape(input_shape)
        return total

    @property
    def temporal_footprint(self) -> tuple[int, int]:
        """Stride-1 chain: kernel lengths add up (eq. 4.2 with unit strides)."""
        return 1 + sum(temporal_footprint(layer)[0] - 1 for layer in self.chain), 1

    def get_config(self):
        layers = [keras.saving.serialize_keras_object(layer) for layer in self.chain]
        return {**super().get_config(), "layers": layers}

    @classmethod
    def from_config(cls, config):
        layers = [keras.saving.deserialize_keras_object(c) for c in config.pop("layers")]
        return cls(layers, **config)


@serializable
class NonLocalBlock(keras.layers.Layer):
    """Embedded-Gaussian non-local block (eqs. 4.3-4.7): z = W_z softmax(θ(x)ᵀφ(x)) g(x) + x.

    θ, φ and g are 1x1x1 convs to half the channels; the softmax runs over all T·H·W positions;
    W_z (1x1x1, back to the input's channels) starts at zero, so a fresh block is the identity.
    All four are the weight matrices of eqs. 4.4-4.7, without biases (Wang et al.'s code adds
    them; without, the increment is 2C² a block and NL-I3D has the thesis's 14.2M parameters).
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        inner = max(1, channels // 2)
        self.theta, self.phi, self.g = (
            keras.layers.Conv3D(inner, 1, use_bias=False, name=name)
            for name in ("theta", "phi", "g")
        )
        self.w_z = keras.layers.Conv3D(
            channels, 1, use_bias=False, kernel_initializer="zeros", name="W_z"
        )
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        self.w_z.build((*input_shape[:-1], inner))
        self.positions = math.prod(input_shape[1:4])

    def call(self, inputs):
        def flat(conv):
            return ops.reshape(conv(inputs), (-1, self.positions, self.theta.filters))

        similarity = ops.matmul(flat(self.theta), ops.transpose(flat(self.phi), (0, 2, 1)))
        # The softmax over j, written out: keras.ops.softmax warns on a single position.
        weights = ops.exp(similarity - ops.max(similarity, axis=-1, keepdims=True))
        weights = weights / ops.sum(weights, axis=-1, keepdims=True)
        y = ops.reshape(
            ops.matmul(weights, flat(self.g)), (-1, *inputs.shape[1:4], self.theta.filters)
        )
        return inputs + self.w_z(y)

    def macs(self, input_shape) -> int:
        n, channels, inner = math.prod(input_shape[1:4]), input_shape[-1], self.theta.filters
        return 4 * n * channels * inner + 2 * n * n * inner

    temporal_footprint = (1, 1)  # pointwise; its global reach is reported separately


@serializable
class Logits(keras.layers.Layer):
    """Average pool (2 x H' x W', stride 1) -> dropout -> 1x1x1 conv with bias -> mean over time.

    The pool covers the whole final feature map spatially (4x4 at 100x100 input, 7x7 at 224x224)
    and 2 steps in time (fewer if the map is shorter), so it is derived from the input size.
    """

    def __init__(self, num_classes: int, dropout: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dropout = keras.layers.Dropout(dropout)
        self.conv = Unit3D(
            num_classes, batch_norm=False, activation=False, use_bias=True, name="Conv3d_0c_1x1"
        )

    def build(self, input_shape):
        self.pool_size = (min(2, input_shape[1]), *input_shape[2:4])
        self.conv.build(self._pooled(input_shape))

    def _pooled(self, input_shape):
        return (input_shape[0], input_shape[1] - self.pool_size[0] + 1, 1, 1, input_shape[-1])

    def call(self, inputs, training=False):
        x = ops.average_pool(inputs, self.pool_size, strides=1, padding="valid")
        x = self.conv(self.dropout(x, training=training), training=training)
        return ops.mean(x, axis=(1, 2, 3))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def macs(self, input_shape) -> int:
        return self.conv.macs(self._pooled(input_shape))

    @property
    def temporal_footprint(self) -> tuple[int, int]:
        return self.pool_size[0], 1

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "dropout": self.dropout.rate,
        }


def temporal_footprint(layer: keras.layers.Layer) -> tuple[int, int]:
    """(temporal kernel length, temporal stride) of an endpoint layer, for eq. 4.2."""
    if isinstance(layer, keras.layers.MaxPooling3D):
        return layer.pool_size[0], layer.strides[0]
    return layer.temporal_footprint


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a family member; JSON-able, the model's config."""

    arch: str = "i3d"
    num_classes: int = 27
    input_shape: tuple[int, int, int, int] = (40, 100, 100, 3)
    width: float = 1.0
    dropout: float = 0.5
    dilation_eval: str = "full"
    inflated: bool = True
    folded: bool = False

    def __post_init__(self):
        if not isinstance(self.arch, str) or self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {self.arch!r}")
        classes = _positive_int(self.num_classes)
        if classes is None:
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes!r}")
        shape = self.input_shape
        dims = [_positive_int(n) for n in shape] if isinstance(shape, Iterable) else []
        if isinstance(shape, str | Mapping) or len(dims) != 4 or None in dims:
            raise ValueError(
                f"input_shape must be 4 positive integers (T, H, W, C), got {self.input_shape!r}"
            )
        if not _real(self.width) or not 0 < self.width < math.inf:
            raise ValueError(f"width must be a positive finite number, got {self.width!r}")
        if not _real(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a rate in [0, 1), got {self.dropout!r}")
        for flag in ("inflated", "folded"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if not self.inflated and self.variant.dilated:
            raise ValueError(
                f"arch={self.arch!r} dilates in time, which the 2D network (inflated=False) has not"
            )
        dilation_units(self.dilation_eval, self.variant.dilated)  # validates the mode
        normalised = {"arch": str(self.arch), "num_classes": classes, "input_shape": tuple(dims),
                      "width": float(self.width), "dropout": float(self.dropout)}  # fmt: skip
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    @property
    def variant(self) -> Variant:
        return ARCHITECTURES[self.arch]

    def channels(self, n: int) -> int:
        """A channel count scaled by the width multiplier (at least 1)."""
        return max(1, round(n * self.width))

    def as_dict(self) -> dict:
        return {**asdict(self), "input_shape": list(self.input_shape)}


def _positive_int(n) -> int | None:
    """``n`` as an int if it is a positive integer (NumPy's included, bool not), else None."""
    if isinstance(n, bool):
        return None
    try:
        value = operator.index(n)
    except TypeError:
        return None
    return value if value > 0 else None


def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@serializable
class I3D(keras.Model):
    """A member of the I3D family: clip (batch, T, H, W, C) in [-1, 1] -> class logits.

    Every endpoint of ``ENDPOINTS`` (and each ``NonLocal_<module>``) is one layer of that name, so
    ``model.get_layer("Mixed_4e").output`` is its activation. ``inflated=False`` builds the 2D
    Inception-v1 that I3D inflates from (every temporal kernel and stride 1: frames pass alone).
    ``folded=True`` builds the inference form that ``fold`` fills: no BatchNorm, every conv with
    a bias, dilation-averaged convs as plain 5-tap ones, nothing random.
    """

    def __init__(
        self,
        arch: str = "i3d",
        num_classes: int = 27,
        input_shape=(40, 100, 100, 3),
        width: float = 1.0,
        dropout: float = 0.5,
        dilation_eval: str = "full",
        inflated: bool = True,
        folded: bool = False,
        name: str | None = None,
        trainable: bool = True,
    ):
        spec = ModelSpec(
            arch, num_classes, input_shape, width, dropout, dilation_eval, inflated, folded
        )
        inputs = keras.Input(spec.input_shape, name="clip")
        super().__init__(inputs, _network(inputs, spec), name=name or spec.arch)
        self.trainable = trainable
        self.spec = spec

    def get_config(self):
        return {**self.spec.as_dict(), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def build_model(arch: str = "i3d", num_classes: int = 27, input_shape=(40, 100, 100, 3),
                width: float = 1.0, **options) -> I3D:  # fmt: skip
    """Build a family member: ``arch`` in ``ARCHITECTURES``; options as ``ModelSpec``."""
    return I3D(arch, num_classes, input_shape, width, **options)


def fold(model: I3D) -> I3D:
    """The evaluation-mode ``model`` as plain convolutions (``folded=True``), so an engine runs
    each layer once: BatchNorm folded into the conv before it, the average of dilations 1 and 2
    into one 5-tap temporal kernel (exact: both are linear, see ``averaged_kernel``)."""
    if model.spec.folded:
        raise ValueError(f"model: {model.name} is folded already")
    folded = build_model(**{**model.spec.as_dict(), "folded": True})
    units = [layer for layer in model._flatten_layers() if isinstance(layer, Unit3D)]
    twins = [layer for layer in folded._flatten_layers() if isinstance(layer, Unit3D)]
    convs = set()
    for unit, twin in zip(units, twins, strict=True):
        kernel, bias = unit.folded_weights()
        twin.conv.kernel.assign(kernel)
        twin.conv.bias.assign(bias)
        convs.update((twin.conv.kernel.path, twin.conv.bias.path))
    source = {w.path: w for w in model.weights}
    for weight in folded.weights:  # gates and non-local blocks are taken as they are
        if weight.path not in convs:
            weight.assign(source[weight.path])
    return folded


def endpoint_names(model: keras.Model) -> list[str]:
    """The model's endpoints, input to output."""
    return [layer.name for layer in model.layers if layer.name != "clip"]


def endpoint_model(model: keras.Model, names: Sequence[str] | None = None) -> keras.Model:
    """A model sharing ``model``'s weights that returns {endpoint name: activation}."""
    names = endpoint_names(model) if names is None else list(names)
    known = set(endpoint_names(model))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"names: no endpoints {unknown} in {model.name}; it has {sorted(known)}")
    return keras.Model(model.input, {n: model.get_layer(n).output for n in names})


def _network(x, spec: ModelSpec):
    """The layer graph, input to logits (fig. 4.1)."""
    v, c = spec.variant, spec.channels
    # The 2D network it inflates from has temporal kernels and strides of 1 everywhere.
    t, step = (3, 2) if spec.inflated else (1, 1)
    averaged = dilation_units(spec.dilation_eval, v.dilated)

    def dilation(unit: str) -> dict:
        return {"random_dilation": unit in v.dilated, "average_dilation": unit in averaged, **f}

    f = {"folded": spec.folded}

    def pool(name, size, strides):
        return keras.layers.MaxPooling3D(size, strides, "same", name=name)

    first = (7 if spec.inflated else 1, 7, 7)
    x = Unit3D(c(64), first, (step, 2, 2), name="Conv3d_1a_7x7", **f)(x)
    x = pool("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2))(x)
    x = Unit3D(c(64), name="Conv3d_2b_1x1", **f)(x)
    x = Unit3D(c(192), (t, 3, 3), name="Conv3d_2c_3x3", **dilation("Conv3d_2c_3x3"))(x)
    x = pool("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2))(x)
    for name, widths in INCEPTION.items():
        if name == "Mixed_4b":
            x = pool("MaxPool3d_4a_3x3", (t, 3, 3), (step, 2, 2))(x)
        elif name == "Mixed_5b":
            x = pool("MaxPool3d_5a_2x2", (step, 2, 2), (step, 2, 2))(x)
        x = InceptionModule(
            [c(w) for w in widths], temporal_kernel=t, gated=name in v.gated, name=name,
            **dilation(name),
        )(x)  # fmt: skip
        if name in v.non_local:
            x = NonLocalBlock(name=f"NonLocal_{name.removeprefix('Mixed_')}")(x)
    return Logits(spec.num_classes, spec.dropout, name="Logits")(x)
