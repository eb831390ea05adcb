"""Mixed-precision training and gradient checkpointing on the tiny model.

The Trainer's steps run eagerly here (``tf.config.run_functions_eagerly``): the same Python code
as the traced step, without tracing the model graph (which costs tens of seconds under load).
"""
from __future__ import annotations

import numpy as np
import pytest
import sonnet as snt
import tensorflow as tf
from sonnet.src.batch_norm import BaseBatchNorm

from components.errors import InputError
from tests.conftest import TINY_WINDOW
from trainer import recompute
from trainer.enformer import build_enformer
from trainer.heads import PayloadModel
from trainer.precision import step_scope
from trainer.settings import TrainingConfig
from trainer.training import FitConfig, Trainer, mse_loss


def _tiny_payload_model(seed: int = 5) -> PayloadModel:
    tf.random.set_seed(seed)
    return PayloadModel(build_enformer("tiny"), 16, 16, 1, pooling="flatten", input_length=TINY_WINDOW)


def _batch(size: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    one_hot = tf.one_hot(rng.integers(0, 4, (size, TINY_WINDOW)), 4)
    return one_hot, tf.constant(rng.uniform(0.5, 2.0, size), tf.float32)


@pytest.fixture
def eager_functions():
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _payload_loss(labels, predictions):
    return mse_loss(labels, tf.squeeze(predictions, -1))


def test_precision_and_recompute_are_validated_settings():
    assert TrainingConfig().precision == "float32" and TrainingConfig().recompute is False
    assert TrainingConfig(precision="bfloat16", recompute=True).precision == "bfloat16"
    with pytest.raises(ValueError, match="precision"):
        TrainingConfig(precision="float16")
    with pytest.raises(ValueError, match="precision"):
        with step_scope("float16"):
            pass


@pytest.mark.slow
def test_bfloat16_training_with_recompute_keeps_float32_variables_optimizer_state_and_outputs(tmp_path,
                                                                                           eager_functions):
    model = _tiny_payload_model()
    inputs, labels = _batch()
    float32_prediction = model(inputs).numpy()
    with step_scope("bfloat16", training=False):
        bfloat16_prediction = model(inputs)
    # The bfloat16 path is really taken (rounding differs) and its output is float32.
    assert bfloat16_prediction.dtype == tf.float32
    assert not np.array_equal(bfloat16_prediction.numpy(), float32_prediction)
    np.testing.assert_allclose(bfloat16_prediction.numpy(), float32_prediction, rtol=0.1)

    config = FitConfig(1e-3, epochs=1, steps=1, precision="bfloat16", recompute=True)
    trainer = Trainer(model, _payload_loss, config, str(tmp_path))
    results = trainer.fit(lambda skip: iter([(inputs, labels)]), lambda: iter([(inputs, labels)]))
    assert np.isfinite(results[0].train_loss) and np.isfinite(results[0].valid_loss)
    assert not np.allclose(model(inputs).numpy(), float32_prediction)  # the step changed the weights
    # Batch-norm moving averages count updates in int64; every floating variable stays float32.
    assert {v.dtype for v in model.variables if v.dtype.is_floating} == {tf.float32}
    slots = [v for v in trainer.optimizer.variables if v.dtype != tf.int64]  # Adam's step counter is int64
    assert slots and {v.dtype for v in slots} == {tf.float32}
    assert trainer._predict(inputs).dtype == tf.float32


def _batch_norm_statistics(model: PayloadModel):
    return [v for m in model.enformer.trunk_module.submodules if isinstance(m, BaseBatchNorm)
            for v in m.variables if not v.trainable]


def _gradients_and_statistics(model: PayloadModel, recompute_blocks: bool):
    """Loss, gradients and batch-norm moving statistics after one training-mode pass (statistics restored)."""
    inputs, labels = _batch()
    statistics = _batch_norm_statistics(model)
    saved = [v.numpy() for v in statistics]
    with recompute.seeded_dropout(tf.constant([5, 7], tf.int64), recompute=recompute_blocks), \
            tf.GradientTape() as tape:
        loss = _payload_loss(labels, model(inputs, is_training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    updated = [v.numpy() for v in statistics]
    for variable, value in zip(statistics, saved):
        variable.assign(value)
    return float(loss), [g.numpy() for g in gradients], updated


@pytest.mark.slow
def test_recompute_gives_the_same_gradients_and_updates_batch_norm_once(monkeypatch):
    model = _tiny_payload_model()
    calls = []
    original = tf.recompute_grad
    monkeypatch.setattr(tf, "recompute_grad", lambda f: calls.append(f) or original(f))
    loss, gradients, statistics = _gradients_and_statistics(model, recompute_blocks=False)
    assert not calls
    loss_rc, gradients_rc, statistics_rc = _gradients_and_statistics(model, recompute_blocks=True)
    # Every conv-tower block (6) and transformer block (1 in the tiny model) is checkpointed.
    assert len(calls) == 6 + model.enformer.config.num_transformer_layers
    assert loss_rc == loss
    assert len(gradients) == len(gradients_rc) == len(model.trainable_variables)
    for plain, checkpointed in zip(gradients, gradients_rc):
        np.testing.assert_allclose(checkpointed, plain, rtol=1e-5, atol=1e-6)
    assert any(np.abs(g).max() > 0 for g in gradients[:-3])  # the trunk receives gradient
    for plain, checkpointed in zip(statistics, statistics_rc):
        np.testing.assert_allclose(checkpointed, plain, rtol=1e-6, atol=1e-7)



def test_cluster_role_from_tf_config_and_vertex_cluster_spec():
    import json

    from components.errors import InputError
    from trainer.distribute import cluster_role

    assert cluster_role({}).num_workers == 1 and cluster_role({}).is_chief
    cluster = {"chief": ["a:2222"], "worker": ["b:2222", "c:2222"]}
    worker = cluster_role({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})})
    assert worker.num_workers == 3 and not worker.is_chief
    chief = cluster_role({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}})})
    assert chief.is_chief
    vertex = {"cluster": {"workerpool0": ["a:2222"], "workerpool1": ["b:2222"]},
              "task": {"type": "workerpool1", "index": 0}, "environment": "cloud"}
    role = cluster_role({"CLUSTER_SPEC": json.dumps(vertex)})
    assert (role.task_type, role.num_workers, role.is_chief) == ("worker", 2, False)
    with pytest.raises(InputError, match="TF_CONFIG"):
        cluster_role({"TF_CONFIG": "{not json"})
    with pytest.raises(InputError, match="workerpool2"):
        cluster_role({"CLUSTER_SPEC": json.dumps({"cluster": {"workerpool0": ["a"], "workerpool2": ["p"]}})})





def test_bfloat16_prediction_keeps_float32_outputs_close_to_float32(tiny_payload_model, tmp_path, capsys):
    """``precision='bfloat16'`` prediction of the tiny payload export: rebuilt from its weights, the
    trunk runs in bfloat16 and every output (species head, payload head) stays float32, within
    bfloat16's rounding of float32 (8 mantissa bits through the tiny trunk: relative 5 %). An
    export without weights is a fixed float32 graph: ``predict-regions --precision bfloat16``
    refuses it (exit 2) before loading anything."""
    import shutil

    from components import genome
    from pipeline.cli import main
    from trainer.predict.predictor import load_predictor

    half = load_predictor(tiny_payload_model["serving"], {"mouse": [0, 3], "activity": None}, precision="bfloat16")
    full = load_predictor(tiny_payload_model["serving"], {"activity": None})  # the float32 SavedModel signature
    assert (half.precision, full.precision) == ("bfloat16", "float32") and half.modules is not None
    one_hot, _ = _batch(3, seed=4)
    predicted = half(one_hot.numpy())
    expected = {"mouse": tiny_payload_model["enformer"](one_hot)["mouse"].numpy()[:, :, [0, 3]],
                "activity": full(one_hot.numpy())["activity"]}
    for name, value in expected.items():
        assert predicted[name].dtype == np.float32 and predicted[name].shape == value.shape
        assert not np.array_equal(predicted[name], value)  # the bfloat16 path was taken
        np.testing.assert_allclose(predicted[name], value, rtol=0.05, atol=1e-3 * np.abs(value).max())

    fixed_graph = str(tmp_path / "no-weights")
    shutil.copytree(tiny_payload_model["serving"], fixed_graph)
    shutil.rmtree(f"{fixed_graph}/assets.extra/weights")
    reference = str(tmp_path / "genome.fa")
    genome.write_fasta(reference, [("chrA", "ACGT" * 500)])
    output = tmp_path / "x.npy"
    assert main(["predict-regions", fixed_graph, "chrA:1-100", "--head", "finetune", "--reference", reference,
                 "--precision", "bfloat16", "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "--precision bfloat16" in error and "fixed float32 graph" in error and not output.exists()


# ---------------------------------------------------------------------------------------------
# Fine-tuning a pretrained trunk: batch norms on their moving statistics, a fresh head
# initialised once on the first training batch
# ---------------------------------------------------------------------------------------------
def test_trunk_batch_norm_is_a_finetune_setting():
    assert TrainingConfig().trunk_batch_norm == "batch"
    assert TrainingConfig(trunk_batch_norm="moving").trunk_batch_norm == "moving"
    with pytest.raises(ValueError, match="trunk_batch_norm"):
        TrainingConfig(trunk_batch_norm="frozen")
    with pytest.raises(ValueError, match="finetune only"):
        TrainingConfig(mode="tracks", trunk_batch_norm="moving")


@pytest.mark.slow
def test_moving_trunk_batch_norm_keeps_its_statistics_while_the_trunk_trains():
    model = _tiny_payload_model()
    inputs, labels = _batch()
    statistics = _batch_norm_statistics(model)
    loaded = [v.numpy().copy() for v in statistics]
    model.trunk_batch_norm = "moving"
    with tf.GradientTape() as tape:
        loss = _payload_loss(labels, model(inputs, is_training=True))
    assert all(np.array_equal(before, v.numpy()) for before, v in zip(loaded, statistics))
    trunk_gradients = tape.gradient(loss, model.enformer.trunk_module.trainable_variables)
    assert all(g is not None for g in trunk_gradients) and any(np.abs(g).max() > 0 for g in trunk_gradients)
    model.trunk_batch_norm = "batch"  # the original behaviour: batch statistics update the averages
    model(inputs, is_training=True)
    assert not all(np.array_equal(before, v.numpy()) for before, v in zip(loaded, statistics))
    with pytest.raises(InputError, match="trunk_batch_norm"):
        model.trunk_batch_norm = "frozen"


@pytest.mark.slow
def test_fit_initialises_on_the_first_training_batch_only_at_a_fresh_start(tmp_path, eager_functions):
    class Linear(snt.Module):  # the Trainer's bookkeeping is under test, not a model
        def __init__(self):
            super().__init__()
            self.linear = snt.Linear(1)

        def __call__(self, inputs: tf.Tensor, is_training: bool = False) -> tf.Tensor:
            return self.linear(inputs)

    model = Linear()
    batches = [(tf.reshape(inputs, [2, -1]), labels) for inputs, labels in (_batch(seed=seed) for seed in range(3))]
    model(batches[0][0])  # Sonnet creates variables on the first call
    seen, initialised = [], []

    def stream(skip: int):
        for inputs, labels in batches[skip:]:
            seen.append(float(labels[0]))
            yield inputs, labels

    def initialise(inputs: tf.Tensor, labels: tf.Tensor) -> None:
        initialised.append(float(labels[0]))

    evaluation = lambda: iter(batches[:1])  # noqa: E731
    Trainer(model, _payload_loss, FitConfig(1e-3, epochs=1, steps=1), str(tmp_path)).fit(
        stream, evaluation, initialize=initialise)
    # Initialised on the first batch, which then also trained: one batch drawn for one step.
    assert initialised == seen == [float(batches[0][1][0])]
    resumed = Trainer(model, _payload_loss, FitConfig(1e-3, epochs=2, steps=1), str(tmp_path))
    results = resumed.fit(stream, evaluation, initialize=initialise)
    assert [r.epoch for r in results] == [2]
    assert initialised == [float(batches[0][1][0])]  # a resume restores instead of initialising
    assert seen[1:] == [float(batches[1][1][0])]
