"""Design throughput: candidates/s for ``enformer-tfx design``'s generation and scoring.

``run(quick)`` writes the demo world (seed 7, scale 1), generates ``candidates`` edits of its
annotated payloads (5,000; 200 with ``quick``) and scores them as the command does: spliced
constructs, 3 window shifts x 2 strands = 6 windows per candidate, 128 windows per model call.

Model: ``$DESIGN_BENCH_MODEL``, else the newest pushed demo model under ``out/demo/serving``,
else a randomly initialised ``small`` payload model (throughput does not depend on weights).
Prints JSON: seconds and rates for generation and scoring, and which model was used.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Dict

DEMO_SERVING = os.path.join("out", "demo", "serving")
CONSTRUCT, WINDOW, CONTEXT_KEY = 5376, 4096, "context"


def _predictor(window: int):
    from trainer.predict.predictor import ACTIVITY, from_modules, load_predictor

    model = os.environ.get("DESIGN_BENCH_MODEL") or (DEMO_SERVING if os.path.isdir(DEMO_SERVING) else "")
    request = {ACTIVITY: None, "activity_members": None}
    if model:
        return load_predictor(model, request, strict=False)
    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel

    payload = PayloadModel(build_enformer("small"), 64, 64, 1, pooling="mean", input_length=window)
    return from_modules(payload.enformer, payload, None, request, window, strict=False,
                        source="random small payload model")


def run(quick: bool = False) -> Dict[str, object]:
    from components.designer import candidates as candidates_lib, design, scoring
    from pipeline.demo_data import generate_demo_data

    count = 200 if quick else 5000
    with tempfile.TemporaryDirectory(prefix="bench-design-") as tmp:
        manifest = generate_demo_data(tmp, seed=7, scale=1.0)
        options = design.DesignOptions(candidates=count, construct_length=CONSTRUCT, seed=1)
        start = time.perf_counter()
        prepared = design.prepare(os.path.join(tmp, "payloads.fa"), os.path.join(tmp, "annotation.bed"),
                                  os.path.join(tmp, "reference.fa"), str(manifest[CONTEXT_KEY]), options)
        generation = time.perf_counter() - start
        predictor = _predictor(WINDOW)
        sequences = [c.sequence for c in prepared.candidates]
        scoring.score_sequences(sequences[:22], predictor, prepared.left_flank, prepared.right_flank, CONSTRUCT,
                                predictor.input_length)  # warm-up: trace once, as in a long run
        start = time.perf_counter()
        mean, sd = scoring.score_sequences(sequences, predictor, prepared.left_flank, prepared.right_flank,
                                           CONSTRUCT, predictor.input_length, shifts=3, reverse_complement=True,
                                           batch_windows=128)
        seconds = time.perf_counter() - start
    n = len(sequences)
    return {
        "candidates": n,
        "parents": len({c.parent for c in prepared.candidates}),
        "generation_seconds": round(generation, 2),
        "scoring_seconds": round(seconds, 1),
        "candidates_per_second": round(n / seconds, 2),
        "windows_per_second": round(6 * n / seconds, 1),
        "window_bp": predictor.input_length,
        "ensemble": sd is not None,
        "model": predictor.source,
        "edit_kinds": list(candidates_lib.DEFAULT_EDIT_KINDS),
        "mean_predicted": float(mean.mean()),
    }
