"""Attribution: batched ISM speed, and whether attributions find the planted demo motifs.

``run(quick, model, data, config, ...)`` measures:

* ``ism_speed`` -- ISM positions/s of a ~3 kb payload in a demo-sized window: all its bases,
  ``batch`` mutants per call of the compiled score function
  (:func:`components.interpret.attribution.ism_deltas`), vs one mutant per call, both through
  the same compiled function and as the original scripts would do it (the eager Sonnet model),
  on the first ``single_positions`` bases (rates per position). Throughput does not depend on
  the weights, so this uses a random model of the demo's architecture. Goal: >= 20x the eager
  one-mutant-per-call loop.
* with the trained demo model (default ``out/demo/serving``, the Pusher directory, highest
  version; data ``out/demo/data``): ``auroc`` -- per-base ``|score|`` pooled over held-out
  payloads (the demo config's split seed and folds; payloads longer than the window skipped)
  for "the base lies in an occurrence of ACT1, ACT2 or REP on either strand"
  (:func:`pipeline.demo_data.find_motif_sites`): ISM on ``ism_payloads`` payloads, gradient x
  input on ``saliency_payloads``. Goal >= 0.85 (ISM).
* ``motif_knockout`` -- whether the model uses each planted motif at all: the mean change of
  the prediction when one occurrence (or, as a control, a random motif-free 9-mer) is
  replaced by random bases.
* ``motifs`` -- seqlet clustering on the ISM attributions; for each planted motif the best
  ``pwm_similarity`` of a discovered PWM to its consensus. Goal: each >= 0.8.

Prints JSON (progress on stderr).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np

SPEED_GOAL = 20.0
AUROC_GOAL = 0.85
SIMILARITY_GOAL = 0.8


def _demo_settings(config: str) -> Dict[str, object]:
    import yaml

    with open(config, encoding="utf-8") as handle:
        payloads = yaml.safe_load(handle)["payloads"]
    return payloads


def _held_out(data: str, settings: Dict[str, object], window: int, count: int):
    """First ``count`` eval-split payloads (table order) that fit in the window, as report.Payload."""
    from components.interpret.report import Payload
    from components.payload_example_gen import constructs, params

    folds = params.normalize_folds(settings["folds"])
    entries = constructs.read_activity_tables([os.path.join(data, "activity.tsv")])
    eval_split = [name for name, _ in folds][-1]
    names = [e.name for e in entries if constructs.assign_split(e.name, int(settings["seed"]), folds) == eval_split]
    from components import genome

    sequences = {constructs.fasta_key(name): seq for name, seq, _ in genome.iter_fasta(os.path.join(data, "payloads.fa"))}
    chosen = [constructs.fasta_key(n) for n in names if len(sequences[constructs.fasta_key(n)]) <= window][:count]
    return [Payload(key, sequences[key]) for key in chosen]


def _motif_mask(sequence: str) -> np.ndarray:
    from pipeline.demo_data import find_motif_sites

    mask = np.zeros(len(sequence), dtype=bool)
    for site in find_motif_sites(sequence):
        mask[site.start:site.end] = True
    return mask


def _auroc_summary(results, payloads) -> Dict[str, object]:
    """Pooled AUROC of per-base |score| for "inside a planted motif occurrence"."""
    from components.interpret.attribution import auroc

    scores = np.concatenate([np.abs(r.scores) for r in results])
    labels = np.concatenate([_motif_mask(p.sequence) for p in payloads])
    return {"payloads": len(payloads), "bases": int(scores.size), "motif_bases": int(labels.sum()),
            "mean_abs_score_in_motifs": round(float(scores[labels].mean()), 6),
            "mean_abs_score_elsewhere": round(float(scores[~labels].mean()), 6),
            "auroc": round(auroc(scores, labels), 4)}


def _knockout(predictor, payloads, left: str, right: str, construct_length: int, random_windows: int = 15
              ) -> Dict[str, object]:
    """Does the model use the planted motifs at all? Prediction change when one motif occurrence
    (or a random motif-free 9-mer, ``random_windows`` per payload) is replaced by random bases."""
    from components import genome
    from components.interpret import attribution
    from components.payload_example_gen.constructs import build_construct, layout
    from pipeline.demo_data import find_motif_sites
    from trainer.predict.predictor import ACTIVITY

    rng = np.random.default_rng(0)
    window = predictor.input_length
    score = attribution.output_score_fn(predictor.function, window, ACTIVITY)
    deltas: Dict[str, List[float]] = {}
    for payload in payloads:
        size = len(payload.sequence)
        place = attribution.centred_window(size, layout(size, construct_length).shift, construct_length, window)
        construct = build_construct(payload.sequence, left, right, construct_length)
        codes = genome.encode_sequence(construct[place.start:place.start + window])
        sites = find_motif_sites(payload.sequence)
        mask = _motif_mask(payload.sequence)
        free = [i for i in range(size - 9) if not mask[i:i + 9].any()]
        starts = [(site.motif, site.start) for site in sites]
        starts += [("random", int(i)) for i in rng.choice(free, min(random_windows, len(free)), replace=False)]
        batch = np.repeat(codes[None], len(starts), axis=0)
        for row, (_, start) in enumerate(starts):
            batch[row, start - place.offset:start - place.offset + 9] = rng.integers(0, 4, 9)
        reference = float(np.asarray(score(genome.one_hot(codes)[None]))[0])
        changes = np.asarray(score(genome.one_hot(batch)), dtype=np.float64) - reference
        for (kind, _), change in zip(starts, changes):
            deltas.setdefault(kind, []).append(float(change))
    return {kind: {"n": len(values), "mean_change": round(float(np.mean(values)), 4),
                   "mean_abs_change": round(float(np.mean(np.abs(values))), 4)} for kind, values in sorted(deltas.items())}


def run(quick: bool = False, model: Optional[str] = None, data: str = "out/demo/data",
        config: str = "pipeline/configs/demo.yaml", batch: int = 8, ism_payloads: int = 4,
        saliency_payloads: int = 40) -> Dict[str, object]:
    import tensorflow as tf

    from components import genome
    from components.interpret import attribution, motifs, report
    from components.payload_example_gen.constructs import locus_flanks
    from pipeline.demo_data import MOTIFS
    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel
    from trainer.predict.predictor import ACTIVITY, from_modules, load_predictor

    model = model or ("out/demo/serving" if os.path.isdir("out/demo/serving") else None)
    trained = model is not None and os.path.isdir(data)
    settings = _demo_settings(config)
    window = int(settings["window_length"])

    # ---- speed: throughput does not depend on the weights, so a random model of the demo's
    # architecture (small preset, mean-pooled single-head payload head) serves; it also gives
    # the eager Sonnet module for the one-mutant-per-call loop of the original scripts.
    tf.random.set_seed(0)
    enformer = build_enformer("small")
    payload_model = PayloadModel(enformer, 64, 64, 1, pooling="mean")
    speed_predictor = from_modules(enformer, payload_model, None, {ACTIVITY: None}, window)
    compiled = attribution.output_score_fn(speed_predictor.function, window, ACTIVITY)

    def eager(one_hot: np.ndarray) -> np.ndarray:
        return payload_model(tf.constant(one_hot), is_training=False).numpy()[:, 0]

    rng = np.random.default_rng(0)
    payload_bp = 300 if quick else 3000
    single_positions = 10 if quick else 40
    one_hot = genome.one_hot(rng.integers(0, 4, window).astype(np.uint8))
    first = (window - payload_bp) // 2
    positions = np.arange(first, first + payload_bp)
    attribution.ism_deltas(compiled, one_hot, batch, positions[:batch])  # trace + warm up
    attribution.ism_deltas(compiled, one_hot, 1, positions[:2])
    eager(one_hot[None])
    timings = {}
    for mode, fn, size, count in (("batched_compiled", compiled, batch, payload_bp),
                                  ("one_mutant_per_call_compiled", compiled, 1, single_positions),
                                  ("one_mutant_per_call_eager", eager, 1, single_positions)):
        start = time.perf_counter()
        attribution.ism_deltas(fn, one_hot, size, positions[:count])
        timings[mode] = (count / (time.perf_counter() - start), time.perf_counter() - start)
    rates = {mode: rate for mode, (rate, _) in timings.items()}
    speedup = rates["batched_compiled"] / rates["one_mutant_per_call_eager"]
    result: Dict[str, object] = {
        "benchmark": "attribution",
        "window_bp": window,
        "ism_speed": {
            "model": "small preset, payload head (mean pooling, 64/64/1), random weights",
            "payload_bp": payload_bp, "mutants": 3 * payload_bp, "batch": batch,
            "batched_seconds": round(timings["batched_compiled"][1], 1),
            "one_mutant_per_call_positions": single_positions,
            "positions_per_s": {mode: round(rate, 3) for mode, rate in rates.items()},
            "speedup_vs_eager_one_mutant_per_call": round(speedup, 2),
            "speedup_vs_compiled_one_mutant_per_call": round(
                rates["batched_compiled"] / rates["one_mutant_per_call_compiled"], 2),
            "goal": SPEED_GOAL, "meets_goal": bool(speedup >= SPEED_GOAL),
            "predictor_traces": speed_predictor.trace_count(),
        },
    }
    if not trained:
        result["auroc"] = result["motifs"] = "skipped: no trained demo model (pass --model out/demo/serving)"
        return result

    # ---- truth: held-out demo payloads
    predictor = load_predictor(model, {ACTIVITY: None})
    window = predictor.input_length
    result["model"] = predictor.source
    # Gradient x input is one backward pass per payload: all held-out payloads that fit; ISM on the first few.
    many = _held_out(data, settings, window, 4 if quick else saliency_payloads)
    payloads = many[:2 if quick else ism_payloads]
    construct_length = int(settings["construct_length"])
    left, right = locus_flanks(os.path.join(data, "reference.fa"), str(settings["context"]),
                               {p.name: len(p.sequence) for p in many}, construct_length)
    target = report.Target(ACTIVITY)
    results: List[report.PayloadAttribution] = []
    start = time.perf_counter()
    for number, payload in enumerate(payloads, start=1):
        results.append(report.attribute_payload(predictor.function, window, payload, left, right, construct_length,
                                                target, "ism", False, batch))
        print(f"[{number}/{len(payloads)}] {payload.name}: {len(payload.sequence)} bp, "
              f"{results[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    ism_seconds = time.perf_counter() - start
    result["auroc"] = {"ism": _auroc_summary(results, payloads), "goal": AUROC_GOAL}
    result["auroc"]["ism"]["seconds"] = round(ism_seconds, 1)
    result["auroc"]["meets_goal"] = bool(result["auroc"]["ism"]["auroc"] >= AUROC_GOAL)
    start = time.perf_counter()
    saliency = [report.attribute_payload(predictor.function, window, payload, left, right, construct_length, target,
                                         "saliency") for payload in many]
    result["auroc"]["saliency"] = _auroc_summary(saliency, many)
    result["auroc"]["saliency"]["seconds"] = round(time.perf_counter() - start, 1)
    result["motif_knockout"] = _knockout(predictor, many, left, right, construct_length)
    options = report.MotifOptions()
    found, seqlets = report.discover_motifs(results, options)
    trimmed = {m.name: (motifs.trimmed_pwm(m, options.min_information), len(m.members)) for m in found}
    recovery = {}
    for name, word in MOTIFS.items():
        target_pwm = genome.one_hot(genome.encode_sequence(word))
        best = max(trimmed, key=lambda m: motifs.pwm_similarity(trimmed[m][0], target_pwm), default=None)
        similarity = motifs.pwm_similarity(trimmed[best][0], target_pwm) if best else 0.0
        recovery[name] = {"consensus": word, "best_motif": best,
                          "best_consensus": motifs.consensus(trimmed[best][0]) if best else None,
                          "seqlets": trimmed[best][1] if best else 0, "similarity": round(similarity, 3),
                          "recovered": bool(similarity >= SIMILARITY_GOAL)}
    result["motifs"] = {
        "seqlets": len(seqlets), "motifs": {name: motifs.consensus(pwm) for name, (pwm, _) in trimmed.items()},
        "planted": recovery, "goal": SIMILARITY_GOAL,
        "meets_goal": all(item["recovered"] for item in recovery.values()),
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="trained demo model (default out/demo/serving when present)")
    parser.add_argument("--data", default="out/demo/data")
    parser.add_argument("--config", default="pipeline/configs/demo.yaml")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--ism-payloads", type=int, default=4)
    parser.add_argument("--saliency-payloads", type=int, default=40)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.model, args.data, args.config, args.batch, args.ism_payloads, args.saliency_payloads), indent=2))
