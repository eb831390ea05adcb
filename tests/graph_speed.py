"""The suite's TensorFlow graphs run without Grappler's optimisation passes (every test process,
the test process itself and the child processes it starts).

The suite's models are tiny and most graphs run a few times, so optimising a graph on its first
call costs more than the run saves (a tiny model's train-step and export tests took about 0.6x as
long without it). The passes only rewrite graphs for speed; the tests compare results. Users,
benchmarks and `make demo` keep the passes.
"""
from __future__ import annotations


def switch_off_grappler() -> None:
    """Run this process's graphs without Grappler (imports TensorFlow: call it after anything that
    must precede TensorFlow's initialisation, such as the CLI's log-level setting)."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
