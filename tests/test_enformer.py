"""Enformer trunk, heads, model-source loading and export (trainer/enformer.py, heads.py, checkpoints.py, export.py).

Tiny configurations on CPU; the full-size model is built once, on a short input, for the
parameter count and the checkpoint paths.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf

from components import errors, genome, records
from trainer import checkpoints, encoding, enformer, export, heads

LENGTH = 25_600
SHORT = 2_560  # 20 bins: enough for the heads, fast to train


def _one_hot(rng: np.random.Generator, batch: int, length: int) -> tf.Tensor:
    return tf.constant(genome.one_hot(rng.integers(0, 5, size=(batch, length))))


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def tiny() -> enformer.Enformer:
    tf.random.set_seed(1)
    return enformer.build_enformer("tiny")


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny, tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("tiny_baseline")
    tf.train.Checkpoint(module=tiny).save(str(directory / "enformer"))
    return str(directory)


# ---------------------------------------------------------------------------------------------
# Structure and checkpoint compatibility
# ---------------------------------------------------------------------------------------------
REFERENCE_KEYS = {
    # stem conv, residual batch norm (EMA statistics), softmax pooling
    "module/_trunk/_layers/0/_layers/0/w": [15, 4, 768],
    "module/_trunk/_layers/0/_layers/1/_module/_layers/0/moving_mean/_counter": [],
    "module/_trunk/_layers/0/_layers/1/_module/_layers/0/moving_mean/_hidden": [1, 1, 768],
    "module/_trunk/_layers/0/_layers/1/_module/_layers/0/moving_variance/average": [1, 1, 768],
    "module/_trunk/_layers/0/_layers/1/_module/_layers/0/scale": [768],
    "module/_trunk/_layers/0/_layers/1/_module/_layers/2/w": [1, 768, 768],  # index 1 is gelu
    "module/_trunk/_layers/0/_layers/2/_logit_linear/w": [768, 768],
    # conv tower: last block widens to 1536 with width-5 convolution
    "module/_trunk/_layers/1/_layers/5/_layers/0/_layers/2/w": [5, 1280, 1536],
    "module/_trunk/_layers/1/_layers/5/_layers/2/_logit_linear/w": [1536, 1536],
    # transformer block 10: attention inside Residual(Sequential([LayerNorm, MHA, Dropout]))
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/0/scale": [1536],
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/1/_q_layer/w": [1536, 512],
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/1/_v_layer/w": [1536, 1536],
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/1/_r_k_layer/w": [192, 512],
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/1/_r_w_bias": [1, 8, 1, 64],
    "module/_trunk/_layers/2/_layers/10/_layers/0/_module/_layers/1/_embedding_layer/b": [1536],
    # MLP: LayerNorm, Linear, Dropout, relu, Linear -> the second Linear is index 4
    "module/_trunk/_layers/2/_layers/10/_layers/1/_module/_layers/1/w": [1536, 3072],
    "module/_trunk/_layers/2/_layers/10/_layers/1/_module/_layers/4/w": [3072, 1536],
    # index 3 (crop) holds no variables; final pointwise conv block at index 4
    "module/_trunk/_layers/4/_layers/0/_layers/2/w": [1, 1536, 3072],
    "module/_heads/human/_layers/0/w": [3072, 5313],
    "module/_heads/mouse/_layers/0/b": [1643],
}


@pytest.mark.slow
def test_full_model_parameters_and_reference_checkpoint_paths(tmp_path, rng):
    model = enformer.build_enformer("full")
    n_trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert n_trainable == enformer.REFERENCE_TRAINABLE_PARAMETERS == 251_221_292

    # Runs on a short input (no fixed length): 1,280 bp -> 10 bins of 2 * 1536 features.
    assert model.trunk(_one_hot(rng, 1, 1_280)).shape == (1, 10, 3072)

    prefix = tf.train.Checkpoint(module=model).write(str(tmp_path / "full"))
    keys = {k.replace("/.ATTRIBUTES/VARIABLE_VALUE", ""): s for k, s in tf.train.list_variables(prefix)}
    for key, shape in REFERENCE_KEYS.items():
        assert key in keys, key
        assert keys[key] == shape, key
    # 11 transformer blocks, 6 conv-tower blocks, nothing under the crop slot.
    blocks = {k.split("/")[5] for k in keys if k.startswith("module/_trunk/_layers/2/_layers/")}
    assert blocks == {str(i) for i in range(11)}
    assert not any(k.startswith("module/_trunk/_layers/3/") for k in keys)
    assert checkpoints.config_from_checkpoint(prefix).to_dict() == enformer.get_config("full").to_dict()


def test_checkpoint_round_trip_is_exact(tiny, tiny_checkpoint, rng):
    x = _one_hot(rng, 2, SHORT)
    expected = tiny(x)
    tf.random.set_seed(99)  # a fresh model with different random weights
    restored = checkpoints.load_enformer(tiny_checkpoint, "tiny")
    assert not np.allclose(enformer.build_enformer("tiny")(x)["human"], expected["human"])
    got = restored(x)
    for head in ("human", "mouse"):
        np.testing.assert_array_equal(got[head].numpy(), expected[head].numpy())
    # The preset can also be read off the checkpoint shapes.
    auto = checkpoints.load_enformer(tiny_checkpoint, "auto")
    assert auto.config == enformer.get_config("tiny")


def test_mismatched_checkpoint_is_a_clear_error(tiny_checkpoint):
    with pytest.raises(checkpoints.ModelSourceError) as error:
        checkpoints.load_enformer(tiny_checkpoint, "tiny", num_transformer_layers=2)
    message = str(error.value)
    assert "missing from the checkpoint" in message
    assert "_trunk/_layers/2/_layers/1/" in message  # names the absent second transformer block
    with pytest.raises(checkpoints.ModelSourceError, match="different shape"):
        checkpoints.load_enformer(tiny_checkpoint, "small")


@pytest.mark.slow
def test_is_training_is_dispatched_by_module_type(rng):
    model = enformer.build_enformer("tiny", heads={"human": 3})
    x = _one_hot(rng, 2, 1_280)
    norm = model.trunk_module._layers[0]._layers[1]._module._layers[0]
    counter = norm.moving_mean._counter
    before = int(counter.numpy())
    inference = model.trunk(x, is_training=False)
    assert int(counter.numpy()) == before
    np.testing.assert_array_equal(inference.numpy(), model.trunk(x, is_training=False).numpy())
    model.trunk(x, is_training=True)  # batch statistics + moving-average update, dropout on
    assert int(counter.numpy()) == before + 1


# ---------------------------------------------------------------------------------------------
# Shapes, lengths, numerics of the building blocks
# ---------------------------------------------------------------------------------------------
def test_output_shapes_with_and_without_crop(tiny, rng):
    x = _one_hot(rng, 2, LENGTH)
    assert tiny.trunk(x).shape == (2, 200, 96)
    outputs = tiny(x)
    assert outputs["human"].shape == (2, 200, 5313)
    assert outputs["mouse"].shape == (2, 200, 1643)
    assert float(tf.reduce_min(outputs["human"])) >= 0.0  # softplus
    cropped = enformer.build_enformer("tiny", target_length=100)
    assert cropped.trunk(x).shape == (2, 100, 96)
    assert cropped(x)["mouse"].shape == (2, 100, 1643)
    assert cropped.output_bins(LENGTH) == 100 and tiny.output_bins(LENGTH) == 200
    max_pool = enformer.build_enformer("tiny", pooling_type="max", heads={"human": 2})
    assert max_pool(x)["human"].shape == (2, 200, 2)


def test_length_errors(tiny, rng):
    with pytest.raises(enformer.SequenceLengthError, match="multiple of 128"):
        tiny(_one_hot(rng, 1, LENGTH + 1))
    assert issubclass(enformer.SequenceLengthError, ValueError)
    assert issubclass(enformer.SequenceLengthError, errors.InputError)
    cropped = enformer.build_enformer("tiny", target_length=896)
    with pytest.raises(enformer.SequenceLengthError, match="target_length=896"):
        cropped.trunk(_one_hot(rng, 1, LENGTH))


def test_positional_features_shape_and_values():
    length = 200
    distances = tf.range(-length + 1, length, dtype=tf.float32)
    features = enformer.positional_features(distances, 192, length).numpy()
    assert features.shape == (2 * length - 1, 192)
    center = length - 1  # row of distance 0
    exponential, central, gamma = features[:, :32], features[:, 32:64], features[:, 64:96]
    # Exponential: value 1 at distance 0; feature 0 has the minimum half life 2**3 = 8.
    np.testing.assert_allclose(exponential[center], 1.0)
    np.testing.assert_allclose(exponential[center + 8, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(exponential[center - 8, 0], 0.5, rtol=1e-6)
    # Central mask k (1-based) is 1 for |d| < 2**k - 1: at d = 10, k = 1..3 are 0, k >= 4 are 1.
    np.testing.assert_array_equal(central[center + 10, :5], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(central[center], np.ones(32))
    # Gamma: normalised by one maximum over the whole block, so the largest value is 1.
    assert gamma.max() == pytest.approx(1.0)
    assert gamma.min() > 0.0
    # Asymmetric half: sign(d) * symmetric features.
    np.testing.assert_allclose(features[center + 10, 96:], features[center + 10, :96])
    np.testing.assert_allclose(features[center - 10, 96:], -features[center - 10, :96])
    np.testing.assert_array_equal(features[center, 96:], 0.0)
    with pytest.raises(ValueError, match="divisible"):
        enformer.positional_features(distances, 100, length)


# Distances around the central-mask boundaries |d| = 2^k - 1, both signs, and the far end.
TABLE_DISTANCES = np.array([-127, -64, -63, -8, -7, -3, -1, 0, 1, 2, 3, 6, 7, 15, 16, 31, 62, 63, 199], np.float32)


def reference_positional_table(distances: np.ndarray, num: int, length: int) -> np.ndarray:
    """``[P, 6 num]`` float64 from the published Enformer formulas, written independently in NumPy.

    exponential: exp(-ln2 |d| / h), h = 2^linspace(3, log2 T, num);
    central mask: 1 if 2^k - 1 > |d| (k = 1..num);
    gamma: Gamma(|d|; mean_i, sd) + 1e-8 with mean_i = linspace(T/num, T, num), sd = T / (2 num),
    all divided by their one maximum over the distances and features given;
    then the same block again multiplied by sign(d).
    """
    import math

    magnitude = np.abs(distances.astype(np.float64))[:, None]
    half_life = 2.0 ** np.linspace(3.0, np.log2(length), num)
    exponential = np.exp(-np.log(2.0) * magnitude / half_life)
    central = (2.0 ** np.arange(1, num + 1) - 1.0 > magnitude).astype(np.float64)
    sd = length / (2 * num)
    mean = np.linspace(length / num, length, num)
    shape, rate = (mean / sd) ** 2, mean / sd ** 2
    log_pdf = np.array([[(a - 1) * math.log(x) - r * x + a * math.log(r) - math.lgamma(a) if x > 0 else -np.inf
                         for a, r in zip(shape, rate)] for x in magnitude[:, 0]])
    gamma = np.exp(log_pdf) + 1e-8
    gamma /= gamma.max()
    block = np.concatenate([exponential, central, gamma], axis=1)
    return np.concatenate([block, np.sign(distances)[:, None] * block], axis=1)


def test_central_mask_table_by_hand():
    distances = np.array([0, 1, -1, 2, 3, -3, 6, 7, 8, 15, 16], np.float32)
    got = enformer.positional_features(tf.constant(distances), 5, 200, functions=("central_mask",), symmetric=True)
    # Widths 2^k - 1 = 1, 3, 7, 15, 31: feature k is 1 exactly when |d| < width (|d| = width is 0).
    expected = [[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1],
                [0, 0, 1, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("num,length", [(8, 200), (4, 64)])
def test_positional_features_equal_published_formulas(num, length):
    got = enformer.positional_features(tf.constant(TABLE_DISTANCES), 6 * num, length).numpy()
    expected = reference_positional_table(TABLE_DISTANCES, num, length)
    assert got.shape == expected.shape
    # float32 lgamma of concentrations up to (2 num)^2 costs ~1e-4 relative; the gamma block's
    # normalisation (one maximum vs one per feature) moves values by percents.
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-6)


def test_relative_shift_matches_explicit_indexing():
    queries = 7
    logits = tf.random.normal([2, 3, queries, 2 * queries - 1], seed=3)
    shifted = enformer.relative_shift(logits).numpy()
    i = np.arange(queries)[:, None]
    j = np.arange(queries)[None, :]
    np.testing.assert_array_equal(shifted, logits.numpy()[:, :, i, j - i + queries - 1])


def test_gelu_and_softmax_pooling():
    x = tf.constant([-2.0, 0.0, 1.0, 3.0])
    np.testing.assert_allclose(enformer.gelu(x), x.numpy() / (1 + np.exp(-1.702 * x.numpy())), rtol=1e-6)
    pool = enformer.SoftmaxPooling1D(pool_size=2, per_channel=True, w_init_scale=2.0)
    values = tf.constant([[[1.0, 5.0], [3.0, -1.0]]])  # [1, 2, 2] -> one window
    out = pool(values).numpy()
    # Identity*2 logits: per channel softmax(2 * values) weights over the window.
    weights = np.exp(2 * values.numpy()[0]) / np.exp(2 * values.numpy()[0]).sum(0)
    np.testing.assert_allclose(out[0, 0], (weights * values.numpy()[0]).sum(0), rtol=1e-6)


@pytest.mark.slow
def test_bfloat16_and_jit_agree_with_float32(tiny_checkpoint, rng):
    x = _one_hot(rng, 2, SHORT)
    reference = checkpoints.load_enformer(tiny_checkpoint, "tiny")(x)["human"].numpy()
    bf16 = checkpoints.load_enformer(tiny_checkpoint, "tiny", compute_dtype="bfloat16")(x)["human"].numpy()
    assert np.corrcoef(reference.ravel(), bf16.ravel())[0, 1] > 0.99
    assert not np.array_equal(reference, bf16)  # it really ran in lower precision
    jit = checkpoints.load_enformer(tiny_checkpoint, "tiny", jit_compile=True)(x)["human"].numpy()
    np.testing.assert_allclose(jit, reference, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_pooling_gradient_does_not_materialise_channel_squares():
    """The logit Linear runs on a 2-D view: no [B, L/2, C, C] tensor in the gradient graph."""
    model = enformer.build_enformer("tiny", heads={"human": 2})
    pool = model.trunk_module._layers[0]._layers[2]
    channels = 24

    @tf.function(autograph=False)
    def grads(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(pool(x))
        return tape.gradient(loss, pool.trainable_variables)

    graph = grads.get_concrete_function(tf.TensorSpec([4, 64, channels])).graph
    shapes = [tuple(t.shape.as_list()) for op in graph.get_operations() for t in op.outputs
              if t.shape.rank is not None and t.shape.rank >= 2]
    assert (channels, channels) in shapes  # the weight gradient itself ...
    assert not [s for s in shapes if len(s) >= 3 and s[-2:] == (channels, channels)]  # ... none per position


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------
def test_one_hot_of_acgtn_and_lowercase():
    codes = genome.encode_sequence("ACGTNacgtnX")
    one_hot = encoding.one_hot(codes).numpy()
    expected = np.zeros((11, 4), np.float32)
    for position, channel in enumerate([0, 1, 2, 3, None, 0, 1, 2, 3, None, None]):
        if channel is not None:
            expected[position, channel] = 1.0
    np.testing.assert_array_equal(one_hot, expected)
    np.testing.assert_array_equal(encoding.one_hot_from_bytes(tf.constant(codes.tobytes())).numpy(), expected)
    np.testing.assert_array_equal(encoding.codes_from_text(tf.constant("ACGTNacgtnX")).numpy(), codes)
    np.testing.assert_array_equal(one_hot, genome.one_hot(codes))


def test_reverse_complement_and_centre_window():
    codes = genome.encode_sequence("AACGTN")
    np.testing.assert_array_equal(encoding.reverse_complement_codes(codes).numpy(), genome.reverse_complement_codes(codes))
    np.testing.assert_array_equal(encoding.reverse_complement_one_hot(encoding.one_hot(codes)).numpy(),
                                  genome.one_hot(genome.reverse_complement_codes(codes)))
    batch = tf.constant([b"0123456789", b"abcdefgh"])
    np.testing.assert_array_equal(encoding.center_window_bytes(batch, 4).numpy(), [b"3456", b"cdef"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter"):
        encoding.center_window_bytes(batch, 9)


# ---------------------------------------------------------------------------------------------
# Heads: training, legacy (Zenodo) checkpoints, errors
# ---------------------------------------------------------------------------------------------
# The published configurations: SingleHead64_64, SingleHead64_128, MultiHead64_64.
@pytest.mark.parametrize("config,pooling", [((64, 64, 1), "flatten"), ((64, 128, 1), "flatten"),
                                            ((64, 64, 4), "flatten"), ((64, 64, 4), "mean")])
def test_payload_heads_train(tiny_checkpoint, rng, config, pooling):
    trunk = checkpoints.load_enformer(tiny_checkpoint, "tiny")
    key, value, n_heads = config
    model = heads.PayloadModel(trunk, key, value, n_heads, pooling=pooling, input_length=SHORT)
    width = value * n_heads
    assert model.dense.input_size == (20 * width if pooling == "flatten" else width)
    x = _one_hot(rng, 4, SHORT)
    y = tf.constant(rng.uniform(0.5, 2.0, size=(4, 1)), tf.float32)
    optimizer = snt.optimizers.Adam(1e-3)
    variables = model.trainable_variables
    assert len(variables) == len(trunk.trunk_module.trainable_variables) + len(model.head_variables)
    start = [v.numpy().copy() for v in model.head_variables]

    def step(x, y):  # eager: tracing a training step costs more than these three steps
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, is_training=True) - y))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    losses = [float(step(x, y)) for _ in range(3)]
    assert all(np.isfinite(losses))
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(start, model.head_variables))
    assert model(x).shape == (4, 1)


def test_track_head_trains_with_frozen_trunk(tiny_checkpoint, rng):
    trunk = checkpoints.load_enformer(tiny_checkpoint, "tiny")
    model = heads.TrackModel(trunk, n_tracks=5)
    frozen = [v.numpy().copy() for v in trunk.trunk_module.variables]
    x = _one_hot(rng, 2, SHORT)
    y = tf.constant(rng.poisson(2.0, size=(2, 20, 5)), tf.float32)
    optimizer = snt.optimizers.Adam(1e-2)
    for _ in range(3):
        with tf.GradientTape() as tape:
            prediction = model(x, is_training=True)
            loss = tf.reduce_mean(prediction - y * tf.math.log(prediction + 1e-6))  # Poisson
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    assert prediction.shape == (2, 20, 5)
    assert model.trainable_variables == model.head_variables
    # Trunk weights and batch-norm statistics did not move.
    for before, variable in zip(frozen, trunk.trunk_module.variables):
        np.testing.assert_array_equal(before, variable.numpy())


def test_flatten_head_rejects_other_lengths(tiny, rng):
    model = heads.PayloadModel(tiny, 64, 64, 1, pooling="flatten", input_length=SHORT)
    with pytest.raises(errors.InputError, match="length-agnostic"):
        model(_one_hot(rng, 1, 2 * SHORT))
    agnostic = heads.PayloadModel(tiny, 64, 64, 1, pooling="mean", input_length=SHORT)
    assert agnostic(_one_hot(rng, 1, 2 * SHORT)).shape == (1, 1)


class _KerasAttention:
    """The original project's Keras 2 attention head (bias-free _q/_k/_v), rebuilt with tf_keras."""

    @staticmethod
    def make(key_size: int, value_size: int, num_heads: int):
        import tf_keras

        class Attention(tf_keras.layers.Layer):
            def __init__(self):
                super().__init__(name="attention")
                def init(seed):
                    return tf_keras.initializers.VarianceScaling(2.0, seed=seed)

                self._q = tf_keras.layers.Dense(key_size * num_heads, use_bias=False, kernel_initializer=init(1))
                self._k = tf_keras.layers.Dense(key_size * num_heads, use_bias=False, kernel_initializer=init(2))
                self._v = tf_keras.layers.Dense(value_size * num_heads, use_bias=False, kernel_initializer=init(3))

            def _split(self, x):
                x = tf.reshape(x, x.shape[:-1] + [num_heads, x.shape[-1] // num_heads])
                return tf.transpose(x, (0, 2, 1, 3))

            def call(self, inputs):
                q = self._split(self._q(inputs)) * key_size ** -0.5
                k, v = self._split(self._k(inputs)), self._split(self._v(inputs))
                out = tf.matmul(tf.nn.softmax(tf.matmul(q, k, transpose_b=True)), v)
                out = tf.transpose(out, (0, 2, 1, 3))
                return tf.reshape(out, out.shape[:-2] + [num_heads * value_size])

        return Attention()


@pytest.mark.parametrize("sizes", [(64, 128, 1), (64, 64, 4)])
def test_legacy_finetuned_checkpoint_loads(tmp_path, tiny_checkpoint, rng, sizes):
    import tf_keras

    key, value, n_heads = sizes
    tf.random.set_seed(5)
    original = checkpoints.load_enformer(tiny_checkpoint, "tiny")
    attention = _KerasAttention.make(key, value, n_heads)
    flatten = tf_keras.layers.Flatten()
    dense = tf_keras.layers.Dense(1, activation="softplus")
    finetune = enformer.Sequential([original.trunk_module, attention, flatten, dense])  # original layout
    x = _one_hot(rng, 2, SHORT)
    expected = dense(flatten(attention(original.trunk(x)))).numpy()
    directory = tmp_path / "SingleHead"
    tf.train.Checkpoint(module=original, finetune=finetune).save(str(directory / "ckpt"))
    with open(str(directory) + ".json", "w") as handle:  # the original project's modeldef
        json.dump({"key_size": key, "value_size": value, "num_heads": n_heads, "baseline": "original"}, handle)

    loaded = checkpoints.load_payload_model(str(directory))
    assert loaded.head_config == dict(key_size=key, value_size=value, num_heads=n_heads, pooling="flatten")
    assert loaded.input_bins == 20
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    # The species heads of the fine-tuned module stay usable.
    assert loaded.enformer(x)["mouse"].shape == (2, 20, 1643)


def test_legacy_track_head_loads_and_checks_size(tmp_path, tiny, rng):
    import tf_keras

    dense = tf_keras.layers.Dense(5, activation="softplus")
    x = _one_hot(rng, 1, SHORT)
    expected = dense(tiny.trunk(x)).numpy()
    tf.train.Checkpoint(head=dense).save(str(tmp_path / "head" / "ckpt"))
    model = checkpoints.load_track_model(str(tmp_path / "head"), tiny, n_tracks=5)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(checkpoints.ModelSourceError, match="head size mismatch.*5 tracks, expected 7"):
        checkpoints.load_track_model(str(tmp_path / "head"), tiny, n_tracks=7)


@pytest.mark.slow
def test_baseline_resolution_errors(tmp_path, monkeypatch):
    with pytest.raises(checkpoints.ModelSourceError, match="path not found"):
        checkpoints.load_enformer(str(tmp_path / "does-not-exist"), "tiny")
    with pytest.raises(checkpoints.ModelSourceError, match="without a checkpoint"):
        checkpoints.load_enformer(str(tmp_path), "tiny")
    monkeypatch.delenv(checkpoints.ENV_BASELINE, raising=False)
    with pytest.raises(checkpoints.ModelSourceError, match="ENFORMERBASELINE"):
        checkpoints.resolve_model(None)
    monkeypatch.setenv(checkpoints.ENV_TENSORHUB, "https://www.kaggle.com/models/deepmind/enformer/TensorFlow2/enformer/1")
    with pytest.raises(checkpoints.ModelSourceError, match="tensorflow_hub|cannot fetch"):
        checkpoints.load_enformer("tensorhub")
    assert checkpoints.resolve_model("random") == checkpoints.ModelSource(checkpoints.SourceKind.RANDOM, None, "random")
    assert isinstance(checkpoints.load_enformer("random", "tiny"), enformer.Enformer)


@pytest.mark.slow
def test_tensorhub_savedmodel_window_alignment(tmp_path, rng):
    """A local SavedModel with the hub interface (393,216 bp in, 896 bins out).

    Stand-in for the hub Enformer that returns each bin's base counts, so the test sees
    exactly which input bins the adapter's padding and cropping map to which outputs.
    """
    hub_like = tf.Module()
    hub_like.model = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, checkpoints.HUB_SEQUENCE_LENGTH, 4], tf.float32)])
    def predict_on_batch(x):
        counts = tf.reduce_sum(tf.reshape(x, [-1, 3072, 128, 4]), axis=2)[:, 1088:1088 + 896]
        return {"human": counts, "mouse": counts[..., :2]}

    hub_like.model.predict_on_batch = predict_on_batch
    tf.saved_model.save(hub_like, str(tmp_path / "hub"))
    model = checkpoints.load_enformer(f"tensorhub:{tmp_path / 'hub'}")
    for length in (LENGTH, 128 * 201):  # even and odd number of bins
        x = _one_hot(rng, 2, length)
        out = model(x)
        np.testing.assert_array_equal(out["human"].numpy(), tf.reduce_sum(tf.reshape(x, [2, -1, 128, 4]), 2).numpy())
        assert out["mouse"].shape == (2, length // 128, 2)
    with pytest.raises(enformer.SequenceLengthError, match="at most 896 bins"):
        model(_one_hot(rng, 1, 128 * 897))
    with pytest.raises(checkpoints.ModelSourceError, match="trunk"):
        model.trunk(_one_hot(rng, 1, LENGTH))


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_saved_model_signatures_agree_with_python(tmp_path, tiny_checkpoint, rng):
    trunk = checkpoints.load_enformer(tiny_checkpoint, "tiny")
    payload = heads.PayloadModel(trunk, 64, 64, 4, input_length=SHORT)
    tracks = heads.TrackModel(trunk, n_tracks=3)
    export_dir = export.export_saved_model({"activity": payload, "tracks": tracks}, str(tmp_path / "model"), SHORT)
    loaded = tf.saved_model.load(export_dir)
    assert set(loaded.signatures) == {"serving_default", export.RAW_SIGNATURE, export.DECODE_TARGET_SIGNATURE}
    assert export.read_metadata(export_dir)["input_length"] == SHORT
    # Track exports decode the float16 target bytes for TFMA's labels.
    target = rng.gamma(2.0, size=(SHORT // 128, 3)).astype(np.float16)
    example = records.track_example(np.zeros(SHORT, np.uint8), target, "chr1", 0, SHORT)
    decoded = loaded.signatures[export.DECODE_TARGET_SIGNATURE](examples=tf.constant([example]))
    np.testing.assert_array_equal(decoded[export.TARGET_VALUES].numpy()[0], target.astype(np.float32))

    codes = rng.integers(0, 5, size=(3, SHORT + 1_280)).astype(np.uint8)  # constructs longer than the window
    served = loaded.signatures["serving_default"](examples=tf.constant([records.payload_example(c, "p", "g", 1.0)
                                                                        for c in codes]))
    window = tf.constant(genome.one_hot(codes[:, 640:640 + SHORT]))
    np.testing.assert_allclose(served["activity"].numpy(), payload(window).numpy()[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["tracks"].numpy(), tracks(window).numpy(), rtol=1e-5, atol=1e-6)
    raw = loaded.signatures[export.RAW_SIGNATURE](one_hot=window)
    np.testing.assert_allclose(raw["activity"].numpy(), served["activity"].numpy(), rtol=1e-6)
    assert raw["tracks"].shape == (3, 20, 3)
