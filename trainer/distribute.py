"""Data-parallel training with tf.distribute: several local accelerators, or several Vertex replicas.

Which strategy (:func:`strategy_for_environment`):

* several machines in ``TF_CONFIG`` (or Vertex's ``CLUSTER_SPEC``; Vertex starts one machine per
  replica of ``vertex.trainer.replica_count``): :class:`MultiWorkerReplicator`, i.e.
  ``MultiWorkerMirroredStrategy``'s collective all-reduce, each machine using its local GPUs;
* one machine with several GPUs (``accelerator_count > 1``): ``snt.distribute.Replicator``
  (a ``MirroredStrategy``);
* otherwise none (the default strategy; the single-device code path).

Semantics: ``training.batch`` is the *global* batch. Every worker reads the same deterministic
training stream and each replica takes its slice of every global batch (replica ``i`` of ``n``
takes rows ``[i B/n, (i+1) B/n)``), so ``B`` must be divisible by the number of replicas.
Gradients are averaged over replicas and batch-norm statistics are computed over the global
batch (``CrossReplicaBatchNorm``), so a step equals a single-device step on the same global
batch (up to dropout noise and summation order), and ``training.learning_rate`` needs no
scaling. Variables are replica-local copies kept identical by applying the same averaged
update on every replica (Sonnet's ``Replicator`` model).

Only the chief writes the checkpoints, logs and the export that count; the other workers run
the same steps (collectives need every worker) and write into temporary directories that are
removed at the end.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import sonnet as snt
import tensorflow as tf
# MultiWorkerMirroredStrategy's implementation: Sonnet's optimisers accept only Replicator
# strategies, so the multi-worker strategy is a Replicator driven by the collective extended.
from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

from components.errors import InputError

# Vertex CustomJob worker pools -> TensorFlow task types (pool 0 is the chief).
VERTEX_POOL_TASKS = {"workerpool0": "chief", "workerpool1": "worker"}
TRAINING_TASKS = ("chief", "master", "worker")


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This machine's place in a (possibly one-machine) training cluster."""

    cluster: Mapping[str, Sequence[str]]
    task_type: str = ""
    task_index: int = 0

    @property
    def num_workers(self) -> int:
        return sum(len(self.cluster.get(task, ())) for task in TRAINING_TASKS) or 1

    @property
    def is_chief(self) -> bool:
        """The chief (or, without one, worker 0) writes checkpoints and the export."""
        if self.task_type in ("chief", "master"):
            return True
        has_chief = any(self.cluster.get(task) for task in ("chief", "master"))
        return not self.task_type or (self.task_type == "worker" and self.task_index == 0 and not has_chief)


def _parse_json(name: str, text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"${name} is not valid JSON ({error}): {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise InputError(f"${name} must be a JSON object, got {text[:200]!r}")
    return value


def cluster_role(environ: Optional[Mapping[str, str]] = None) -> ClusterRole:
    """The cluster from ``TF_CONFIG``, else from Vertex's ``CLUSTER_SPEC`` (its worker pools named
    as TensorFlow tasks), else a single machine."""
    environ = os.environ if environ is None else environ
    if environ.get("TF_CONFIG"):
        config = _parse_json("TF_CONFIG", environ["TF_CONFIG"])
        cluster = {task: list(addresses) for task, addresses in (config.get("cluster") or {}).items()}
        task = config.get("task") or {}
        return ClusterRole(cluster, str(task.get("type", "")), int(task.get("index", 0)))
    if environ.get("CLUSTER_SPEC"):
        config = _parse_json("CLUSTER_SPEC", environ["CLUSTER_SPEC"])
        pools = config.get("cluster") or {}
        unsupported = sorted(set(pools) - set(VERTEX_POOL_TASKS))
        if unsupported:
            raise InputError(f"$CLUSTER_SPEC has worker pools {unsupported}: the Trainer uses workerpool0 "
                             "(chief) and workerpool1 (workers) only")
        cluster = {VERTEX_POOL_TASKS[pool]: list(addresses) for pool, addresses in pools.items()}
        task = config.get("task") or {}
        return ClusterRole(cluster, VERTEX_POOL_TASKS.get(str(task.get("type", "")), ""), int(task.get("index", 0)))
    return ClusterRole({})


class MultiWorkerReplicator(snt.distribute.Replicator):
    """``MultiWorkerMirroredStrategy`` (collective all-reduce over machines and their local
    devices) with the ``Replicator``'s replica-local variables, so Sonnet's optimisers run on it."""

    def __init__(self, cluster_resolver: tf.distribute.cluster_resolver.ClusterResolver):
        # Replicator adds no state of its own; the collective extended replaces MirroredStrategy's.
        tf.distribute.Strategy.__init__(self, CollectiveAllReduceExtended(
            self, cluster_resolver=cluster_resolver,
            communication_options=tf.distribute.experimental.CommunicationOptions()))


def strategy_for_environment(role: Optional[ClusterRole] = None,
                             devices: Optional[Sequence[str]] = None) -> Optional[tf.distribute.Strategy]:
    """The strategy for this machine (module docstring), or None for single-device training.

    ``devices`` forces a one-machine ``Replicator`` over those devices (e.g. two logical CPUs).
    """
    role = role or cluster_role()
    if role.num_workers > 1:
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec({task: list(addresses) for task, addresses in role.cluster.items()
                                  if task in TRAINING_TASKS and addresses}),
            task_type=role.task_type, task_id=role.task_index, rpc_layer="grpc")
        return MultiWorkerReplicator(resolver)
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) < 2:
            return None
        devices = [device.name for device in gpus]
    return snt.distribute.Replicator(devices=list(devices))


def num_replicas(strategy: Optional[tf.distribute.Strategy]) -> int:
    return 1 if strategy is None else int(strategy.num_replicas_in_sync)


def check_global_batch(strategy: Optional[tf.distribute.Strategy], batch: int) -> None:
    """Raise :class:`InputError` unless the global ``batch`` splits evenly over the replicas."""
    replicas = num_replicas(strategy)
    if batch % replicas:
        raise InputError(f"training.batch {batch} is the global batch and must be divisible by the "
                         f"{replicas} replicas (GPUs x machines); use e.g. {max(replicas, batch // replicas * replicas)}")


def scope(strategy: Optional[tf.distribute.Strategy]) -> contextlib.AbstractContextManager:
    """Create the model's and optimiser's variables inside this (a no-op without a strategy)."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def create_optimizer_slots(strategy: Optional[tf.distribute.Strategy], optimizer: Any,
                           variables: Sequence[tf.Variable]) -> None:
    """Create a Sonnet optimiser's slots for ``variables`` now, under ``strategy``'s scope.

    Sonnet creates them lazily in the first ``apply()`` behind a run-once guard. Inside a
    replicated step only the first replica would create them while the others never reach the
    variable-creation barrier, and the step hangs. On one device, variables created inside the
    first call make ``tf.function`` trace the train step twice (once to create them, once
    without), and tracing is most of a short training run's time.
    """
    with scope(strategy):
        optimizer._initialize(list(variables))  # dm-sonnet 2.0.2: the slot builder of Adam


def replica_slice(*tensors: tf.Tensor) -> Tuple[tf.Tensor, ...]:
    """This replica's rows of each global-batch tensor ``[B, ...] -> [B / n, ...]`` (all of them
    outside a multi-replica context)."""
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:
        return tensors
    index = context.replica_id_in_sync_group
    return tuple(t[index * (t.shape[0] // replicas):(index + 1) * (t.shape[0] // replicas)] for t in tensors)


def mean_over_replicas(values: List[tf.Tensor]) -> List[tf.Tensor]:
    """All-reduce mean of per-replica tensors (identity on one replica)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, values)


def run_replicated(strategy: Optional[tf.distribute.Strategy], step: Callable[..., tf.Tensor],
                   *args: tf.Tensor) -> tf.Tensor:
    """``step(*args)`` on every replica (each sees the global batch and slices it with
    :func:`replica_slice`); the replicas' scalar results averaged."""
    if strategy is None:
        return step(*args)
    per_replica = strategy.run(step, args=args)
    return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)


@contextlib.contextmanager
def worker_directories(role: ClusterRole, *directories: str) -> Iterator[Tuple[str, ...]]:
    """``directories`` on the chief; on other workers fresh temporary directories, removed on exit."""
    if role.is_chief:
        yield directories
        return
    root = tempfile.mkdtemp(prefix=f"enformer-tfx-{role.task_type}{role.task_index}-")
    try:
        yield tuple(os.path.join(root, str(i), os.path.basename(d.rstrip("/"))) for i, d in enumerate(directories))
    finally:
        shutil.rmtree(root, ignore_errors=True)
