"""Interpretation: ISM, gradient x input, seqlets/motifs, ``attribute`` and ``predict-payload``.

Tiny random models only: exactness (ISM = brute force, saliency = finite differences,
coordinates) is what is tested here; that attributions find planted motifs on a trained model
is measured by ``benchmarks/bench_attribution.py``.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from components import genome

L = 1280  # model window (10 bins)


def _run(argv):
    from pipeline.cli import main

    return main(argv)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("interpret")


@pytest.fixture(scope="module")
def tiny(workdir):
    """A tiny payload model (trunk + flatten head) as modules, a Predictor, and an exported artifact."""
    import tensorflow as tf

    from trainer.enformer import build_enformer
    from trainer.export import export_saved_model
    from trainer.heads import PayloadModel
    from trainer.predict.predictor import from_modules

    tf.random.set_seed(5)
    enformer = build_enformer("tiny")
    payload = PayloadModel(enformer, 16, 16, 1, pooling="flatten", input_length=L)
    serving = os.path.join(workdir, "artifact", "Format-Serving")
    export_saved_model(payload, serving, L)
    payload.checkpoint().save(os.path.join(serving, "assets.extra", "weights", "ckpt"))
    predictor = from_modules(enformer, payload, None, {"activity": None, "mouse": [10]}, L)
    return dict(enformer=enformer, payload=payload, predictor=predictor, serving=serving)


def _window(seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, 4, L).astype(np.uint8)
    codes[100:105] = genome.N_CODE
    return genome.one_hot(codes)


# ------------------------------------------------------------------------------------- core
def test_ism_equals_brute_force_single_mutants(tiny):
    from components.interpret.attribution import ism_deltas, ism_scores, output_score_fn

    predictor = tiny["predictor"]
    score = output_score_fn(predictor.function, L, "activity")
    one_hot = _window(1)
    positions = np.arange(96, 130)  # a short payload, including 5 N bases
    calls = []
    deltas = ism_deltas(lambda x: calls.append(len(x)) or score(x), one_hot, batch_size=40, positions=positions)
    assert deltas.shape == (positions.size, 4)
    mutants = 3 * (positions.size - 5) + 4 * 5
    assert sum(calls) == mutants + 1 and max(calls) == 40  # batched, never one mutant per call
    reference = float(predictor(one_hot[None])["activity"][0])
    for row, position in enumerate(positions):
        for base in range(4):
            if one_hot[position, base] == 1:
                assert deltas[row, base] == 0.0
                continue
            mutant = one_hot.copy()
            mutant[position] = 0.0
            mutant[position, base] = 1.0
            brute = float(predictor(mutant[None])["activity"][0]) - reference
            assert deltas[row, base] == pytest.approx(brute, rel=1e-3, abs=1e-6)
    scores = ism_scores(deltas, one_hot[positions])
    row = 10  # an A/C/G/T base: reference minus the mean of its three mutants
    alternatives = [b for b in range(4) if one_hot[positions[row], b] == 0]
    assert scores[row] == pytest.approx(-np.mean(deltas[row, alternatives]))
    assert scores[6] == pytest.approx(-np.mean(deltas[6]))  # position 102 is N: four alternatives


def test_saliency_matches_finite_differences(tiny):
    from components.interpret.attribution import gradient_x_input, output_score_fn

    predictor = tiny["predictor"]
    for output, kwargs in (("activity", {}), ("mouse", {"bins": (3, 6), "reverse_complement": True})):
        score = output_score_fn(predictor.function, L, output, **kwargs)
        one_hot = _window(2)
        gradient, per_base = gradient_x_input(score, one_hot[None])
        assert gradient.shape == (1, L, 4) and per_base.shape == (1, L)
        np.testing.assert_allclose(per_base[0], (gradient[0] * one_hot).sum(-1))
        eps = 1e-2
        rng = np.random.default_rng(0)
        for position, base in zip(rng.integers(0, L, 12), rng.integers(0, 4, 12)):
            up, down = one_hot.copy(), one_hot.copy()
            up[position, base] += eps
            down[position, base] -= eps
            numeric = (float(score(up[None])[0]) - float(score(down[None])[0])) / (2 * eps)
            assert gradient[0, position, base] == pytest.approx(numeric, rel=0.05, abs=2e-4 * max(1.0, abs(numeric)))


def test_rc_score_is_mean_of_strands(tiny):
    from components.interpret.attribution import output_score_fn
    from trainer.predict.predictor import predict_codes

    predictor = tiny["predictor"]
    codes = np.random.default_rng(3).integers(0, 4, (2, L)).astype(np.uint8)
    both = predict_codes(predictor, codes, reverse_complement=True)
    score = output_score_fn(predictor.function, L, "mouse", bins=(2, 5), reverse_complement=True)
    np.testing.assert_allclose(score(genome.one_hot(codes)), both["mouse"][:, 2:5, 0].mean(1), rtol=1e-5)
    activity = output_score_fn(predictor.function, L, "activity", reverse_complement=True)
    np.testing.assert_allclose(activity(genome.one_hot(codes)), both["activity"], rtol=1e-5)


def test_centred_window_coordinates():
    from components.interpret.attribution import centred_window

    short = centred_window(payload_length=300, shift=690, construct_length=1664, window_length=L)
    assert short.start == 690 + 150 - 640 and (short.first, short.last) == (0, 300)
    assert short.positions[0] == 690 - short.start and short.offset == short.start - 690
    assert short.bins(128) == ((690 - short.start) // 128, -(-(990 - short.start) // 128))
    long = centred_window(payload_length=3000, shift=-668, construct_length=1664, window_length=L)
    assert long.start == 192 and long.first == 192 + 668 and long.last == long.first + L
    edge = centred_window(payload_length=100, shift=10, construct_length=1664, window_length=L)
    assert edge.start == 0 and (edge.first, edge.last) == (0, 100)


def test_auroc():
    from components.interpret.attribution import auroc

    assert auroc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]) == 0.0
    assert auroc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
