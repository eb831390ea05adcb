"""Distance-assay throughput: every window batched through the compiled predictor vs one call per step.

``run(quick)`` runs the assay (:func:`components.distance_assay.run_assay`) for ``pairs`` site
pairs x ``shuffles`` backgrounds x every distance on a synthetic genome with a randomly
initialised ``small`` Enformer (mouse head, one track):

* ``batched_compiled_B`` -- the ``distance-assay`` path: ``--batch B`` windows per call of the
  fixed-signature compiled predictor, batches running across positions and pairs, for a few B
  (on a 2-core CPU the best B is small; the speed-ups use the best one);
* ``compiled_one_step`` -- the original's loop: one call per step (mobile-element position, and
  the fixed site alone), that step's ``shuffles`` backgrounds in the call, compiled function;
* ``compiled_one_window`` -- the same loop with one call per window (batch 1);
* ``eager_one_step`` -- the original's loop with the Sonnet model called eagerly.

Every mode does the same work (backgrounds drawn, windows built, fixed-site-alone windows
included). The modes run interleaved, ``repeats`` times, and the best time of each counts,
because other jobs share the CPU.
Rates are positions/s (one position = one mobile-element placement on all its backgrounds) and
windows/s. Prints JSON.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Dict

import numpy as np


def run(quick: bool = False) -> Dict[str, object]:
    import tensorflow as tf

    from components import distance_assay as da, genome
    from trainer.enformer import build_enformer
    from trainer.predict.predictor import from_modules, predict_codes

    n_pairs, shuffles, length, step = (1, 4, 2048, 128) if quick else (2, 4, 2048, 128)
    batch_sizes = (8,) if quick else (1, 8, 32)
    repeats = 1 if quick else 2
    rng = np.random.default_rng(0)
    tf.random.set_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench-distance-") as tmp:
        fasta = os.path.join(tmp, "genome.fa")
        sites = os.path.join(tmp, "sites.bedpe")
        chrom_length = n_pairs * 4_000 + 4_000
        genome.write_fasta(fasta, [("chr1", genome.decode_codes(rng.integers(0, 4, chrom_length)))])
        with open(sites, "w") as handle:
            for i in range(n_pairs):
                fixed = 2_000 + 4_000 * i
                handle.write(f"chr1\t{fixed}\t{fixed + 200}\tchr1\t{fixed + 1_000}\t{fixed + 1_300}\tpair{i}\n")
        pairs = da.read_site_pairs(sites)
        enformer = build_enformer("small")  # random weights: throughput does not depend on them
        predictor = from_modules(enformer, request={"mouse": [10]}, length=length)

        def score(codes: np.ndarray) -> np.ndarray:
            return predict_codes(predictor, codes)["mouse"][:, :, 0]

        grid = da.distance_grid(length, step)

        def batched(batch: int) -> tuple:
            result = da.run_assay(pairs, reference, score, length=length, step=step, shuffles=shuffles, seed=0,
                                  batch=batch)
            return int((result.mobile_starts >= 0).sum()), result.seconds, result.windows

        def one_call_per_step(call, windows_per_call: int) -> tuple:
            """The original loop: per pair and position, calls on that position's backgrounds."""
            done, windows, started = 0, 0, time.perf_counter()
            for pair in pairs:
                inputs = da.pair_inputs(pair, reference, grid, length, shuffles, 0, None)
                steps = [(-1, -1)] + [(0, int(p)) for p in np.flatnonzero(inputs.layout.valid)]
                for orientation, position in steps:
                    codes = np.stack([da.build_window(inputs, k, orientation, position, da.ORIENTATIONS)
                                      for k in range(shuffles)])
                    for first in range(0, shuffles, windows_per_call):
                        call(codes[first:first + windows_per_call])
                    windows += shuffles
                    done += position >= 0
            return done, time.perf_counter() - started, windows

        def eager(codes: np.ndarray) -> np.ndarray:
            return enformer(tf.constant(genome.one_hot(codes)), is_training=False)["mouse"][:, :, 10].numpy()

        modes = {
            **{f"batched_compiled_{b}": (lambda b=b: batched(b)) for b in batch_sizes},
            "compiled_one_step": lambda: one_call_per_step(score, shuffles),
            "compiled_one_window": lambda: one_call_per_step(score, 1),
            "eager_one_step": lambda: one_call_per_step(eager, shuffles),
        }
        with genome.ReferenceGenome(fasta) as reference:
            da.run_assay(pairs[:1], reference, score, length=length, step=step, shuffles=1, seed=0, batch=8)
            eager(np.zeros((1, length), dtype=np.uint8))  # warm-up: compiled trace and eager variables exist
            best: Dict[str, tuple] = {}
            for _ in range(repeats):  # interleaved, best of repeats: other jobs share the CPU
                for name, measure in modes.items():
                    positions, seconds, windows = measure()
                    if name not in best or seconds < best[name][1]:
                        best[name] = (positions, seconds, windows)
    rates = {name: positions / seconds for name, (positions, seconds, _) in best.items()}
    batched_rates = {name: rate for name, rate in rates.items() if name.startswith("batched")}
    best_batched = max(batched_rates, key=batched_rates.get)
    positions, _, windows = best[best_batched]
    return {
        "benchmark": "distance_assay",
        "model": "small (random weights)",
        "pairs": n_pairs,
        "repeats": repeats,
        "shuffles": shuffles,
        "window_bp": length,
        "step_bp": step,
        "batch_sizes": list(batch_sizes),
        "best_batched": best_batched,
        "positions": positions,
        "windows": windows,
        "positions_per_s": {k: round(v, 3) for k, v in rates.items()},
        "windows_per_s": {k: round(v * shuffles, 2) for k, v in rates.items()},
        "speedup_vs_eager_one_step": round(rates[best_batched] / rates["eager_one_step"], 2),
        "speedup_vs_compiled_one_step": round(rates[best_batched] / rates["compiled_one_step"], 2),
        "speedup_vs_compiled_one_window": round(rates[best_batched] / rates["compiled_one_window"], 2),
        "retraces": predictor.trace_count(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
