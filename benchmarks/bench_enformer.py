"""Enformer CPU benchmark: forward throughput, peak memory, precision, training step (JSON).

Measures, in one run on this machine:
  * fp32 and bf16 ``tf.matmul`` throughput (4096 x 4096), the yardstick;
  * full-size trunk forward at 25,600 bp, batch 1: float32, float32 + XLA (``jit_compile``),
    bfloat16 (AMX through oneDNN) -- sequences/s, peak RSS, achieved FLOP/s as a fraction of
    the fp32 matmul peak (nominal model cost 4.15e11 FLOP per 25.6 kb sequence);
  * Pearson r between bfloat16 and float32 predictions (same random weights, human head);
  * training-step time of the ``tiny`` config (payload head, batch 2, 25.6 kb).

Each forward configuration runs in its own subprocess so that peak RSS is per configuration.
The development machines are shared, so model calls are interleaved with fp32 matmuls (and,
for the bf16/fp32 comparison, with each other in one process) and ratios are medians of
adjacent pairs; absolute times are best-of-N.
Goals: float32 >= 65% of the fp32 matmul peak; bfloat16 >= 2.2x float32 with r >= 0.999.

Usage: ``python -m benchmarks.bench_enformer`` (prints JSON); ``run(quick=True)`` for a short run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import numpy as np

from components.genome import one_hot

LENGTH = 25_600
MODEL_FLOP_PER_SEQUENCE = 4.15e11
MATMUL_SIZE = 4096
MODES = {
    "float32": dict(jit_compile=False, compute_dtype="float32"),
    "float32_xla": dict(jit_compile=True, compute_dtype="float32"),
    "bfloat16": dict(jit_compile=False, compute_dtype="bfloat16"),
}
GOALS = {"fp32_fraction_of_matmul_peak": 0.65, "bf16_speedup": 2.2, "bf16_pearson_r": 0.999}


def _best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_gflops(dtype_name: str, repeats: int = 5) -> float:
    """Best-of-``repeats`` throughput of one 4096^3 matmul in GFLOP/s."""
    import tensorflow as tf

    dtype = tf.as_dtype(dtype_name)
    a = tf.cast(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE], seed=1), dtype)
    b = tf.cast(tf.random.normal([MATMUL_SIZE, MATMUL_SIZE], seed=2), dtype)
    product = tf.function(lambda: tf.matmul(a, b))
    product().numpy()
    return 2 * MATMUL_SIZE ** 3 / _best_time(lambda: product().numpy(), repeats) / 1e9


def _inputs():
    import tensorflow as tf

    codes = np.random.default_rng(0).integers(0, 5, (1, LENGTH))
    return tf.constant(one_hot(codes))


def _forward_fn(model):
    import tensorflow as tf

    if model.jit_compile:
        return lambda v: model.trunk(v)
    return tf.function(lambda v: model.trunk(v), autograph=False)


def _matmul_seconds():
    """A timed fp32 4096^3 matmul closure (for interleaving with model calls)."""
    import tensorflow as tf

    a = tf.random.normal([MATMUL_SIZE, MATMUL_SIZE], seed=1)
    b = tf.random.normal([MATMUL_SIZE, MATMUL_SIZE], seed=2)
    product = tf.function(lambda: tf.matmul(a, b))
    product().numpy()

    def timed() -> float:
        start = time.perf_counter()
        product().numpy()
        return time.perf_counter() - start

    return timed


def _timed(fn, x) -> float:
    start = time.perf_counter()
    fn(x).numpy()
    return time.perf_counter() - start


def _child(mode: str, repeats: int, output: str) -> None:
    """One configuration in a fresh process (so peak RSS is its own).

    The machine may be shared, so each model call is paired with an fp32 matmul timed right
    before it, and fractions of the matmul peak are medians of these pairs.
    """
    import tensorflow as tf

    from trainer.enformer import build_enformer

    x = _inputs()
    matmul = _matmul_seconds()
    flop_matmul = 2 * MATMUL_SIZE ** 3
    if mode == "paired":  # float32 and bfloat16 side by side with identical weights
        tf.random.set_seed(0)
        fp32 = build_enformer("full")
        bf16 = build_enformer("full", compute_dtype="bfloat16")
        for source, target in zip(fp32.variables, bf16.variables):
            target.assign(source)
        f32, b16 = _forward_fn(fp32), _forward_fn(bf16)
        f32(x), b16(x)
        rounds = [(matmul(), _timed(f32, x), _timed(b16, x)) for _ in range(repeats)]
        emb32, emb16 = f32(x), b16(x)
        p32 = fp32.apply_heads(emb32, heads=["human"])["human"].numpy().ravel()
        p16 = bf16.apply_heads(emb16, heads=["human"])["human"].numpy().ravel()
        result = dict(
            mode=mode, rounds=rounds,
            speedup_median=float(np.median([r[1] / r[2] for r in rounds])),
            speedup_best=min(r[1] for r in rounds) / min(r[2] for r in rounds),
            fp32_fraction_median=float(np.median([(MODEL_FLOP_PER_SEQUENCE / r[1]) / (flop_matmul / r[0]) for r in rounds])),
            pearson_r_human_head=float(np.corrcoef(p32, p16)[0, 1]),
            max_relative_difference=float(np.max(np.abs(p32 - p16)) / np.max(np.abs(p32))))
    else:
        tf.random.set_seed(0)
        model = build_enformer("full", **MODES[mode])
        forward = _forward_fn(model)
        start = time.perf_counter()
        forward(x).numpy()
        first_call = time.perf_counter() - start
        rounds = [(matmul(), _timed(forward, x)) for _ in range(repeats)]
        seconds = min(r[1] for r in rounds)
        result = dict(
            mode=mode, seconds_per_sequence=seconds, sequences_per_second=1.0 / seconds,
            first_call_seconds=first_call,
            achieved_gflops=MODEL_FLOP_PER_SEQUENCE / seconds / 1e9,
            fp32_matmul_gflops_same_process=flop_matmul / min(r[0] for r in rounds) / 1e9,
            fraction_of_fp32_matmul_median_of_pairs=float(np.median(
                [(MODEL_FLOP_PER_SEQUENCE / r[1]) / (flop_matmul / r[0]) for r in rounds])))
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    with open(output + ".json", "w") as handle:
        json.dump(result, handle)


def _run_child(mode: str, repeats: int, workdir: str) -> Dict[str, Any]:
    output = os.path.join(workdir, mode)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-m", "benchmarks.bench_enformer", "--child", mode, "--repeats", str(repeats),
                    "--output", output], check=True, cwd=root, env=env, stdout=subprocess.DEVNULL)
    with open(output + ".json") as handle:
        return json.load(handle)


def training_step_seconds(repeats: int) -> Dict[str, Any]:
    """Tiny-config payload fine-tuning step (trunk + SingleHead 64/64), batch 2, 25.6 kb."""
    import sonnet as snt
    import tensorflow as tf

    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel

    tf.random.set_seed(0)
    model = PayloadModel(build_enformer("tiny"), 64, 64, 1, input_length=LENGTH)
    optimizer = snt.optimizers.Adam(1e-4)
    variables = model.trainable_variables
    rng = np.random.default_rng(0)
    x = tf.constant(one_hot(rng.integers(0, 5, (2, LENGTH))))
    y = tf.constant(rng.uniform(size=(2, 1)), tf.float32)

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, is_training=True) - y))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    start = time.perf_counter()
    step().numpy()
    first = time.perf_counter() - start
    return {"config": "tiny", "batch": 2, "length": LENGTH, "seconds_per_step": _best_time(lambda: step().numpy(), repeats),
            "first_step_seconds_including_trace": first}


def run(quick: bool = False) -> Dict[str, Any]:
    """Run every measurement; returns JSON-able results (see module docstring)."""
    import tensorflow as tf

    repeats = 2 if quick else 4
    modes: List[str] = ["float32", "bfloat16"] if quick else list(MODES)
    results: Dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "tensorflow": tf.__version__,
                    "load_average_start": list(os.getloadavg())},
        "matmul_gflops": {"float32": matmul_gflops("float32"), "bfloat16": matmul_gflops("bfloat16")},
        "length": LENGTH, "batch": 1, "model_flop_per_sequence": MODEL_FLOP_PER_SEQUENCE,
        "forward": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-enformer-") as workdir:
        for mode in modes:
            results["forward"][mode] = _run_child(mode, repeats, workdir)
        paired = _run_child("paired", repeats + 1, workdir)
    results["matmul_gflops_end"] = {"float32": matmul_gflops("float32")}
    peak = max(results["matmul_gflops"]["float32"], results["matmul_gflops_end"]["float32"],
               *(r["fp32_matmul_gflops_same_process"] for r in results["forward"].values()))
    results["fp32_matmul_peak_gflops"] = peak
    for entry in results["forward"].values():
        entry["fraction_of_best_fp32_matmul"] = entry["achieved_gflops"] / peak
    results["bfloat16_vs_float32"] = {
        "speedup_median_of_pairs": paired["speedup_median"],
        "speedup_best_times": paired["speedup_best"],
        "pearson_r_human_head": paired["pearson_r_human_head"],
        "max_relative_difference": paired["max_relative_difference"],
        "fp32_fraction_of_matmul_median_of_pairs": paired["fp32_fraction_median"],
        "rounds_seconds_matmul_fp32_bf16": paired["rounds"],
        "note": "one process, identical random (untrained) weights, calls interleaved",
    }
    results["training_step"] = training_step_seconds(repeats)
    fraction = paired["fp32_fraction_median"]
    speedup = paired["speedup_median"]
    r = paired["pearson_r_human_head"]
    results["goals"] = {
        "fp32_fraction_of_matmul_peak": {"goal": GOALS["fp32_fraction_of_matmul_peak"], "value": fraction,
                                         "met": fraction >= GOALS["fp32_fraction_of_matmul_peak"]},
        "bf16_speedup": {"goal": GOALS["bf16_speedup"], "value": speedup, "met": speedup >= GOALS["bf16_speedup"]},
        "bf16_pearson_r": {"goal": GOALS["bf16_pearson_r"], "value": r, "met": r >= GOALS["bf16_pearson_r"]},
    }
    results["machine"]["load_average_end"] = list(os.getloadavg())
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=list(MODES) + ["paired"], help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.repeats, arguments.output)
    else:
        print(json.dumps(run(quick=arguments.quick), indent=2))
