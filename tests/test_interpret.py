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

from tests.conftest import TINY_WINDOW as L  # model window (10 bins)


def _run(argv):
    from pipeline.cli import main

    return main(argv)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("interpret")


@pytest.fixture(scope="module")
def tiny(tiny_payload_model):
    """The shared tiny payload model (trunk + flatten head) as modules, a Predictor, and an exported artifact."""
    from trainer.predict.predictor import from_modules

    enformer, payload = tiny_payload_model["enformer"], tiny_payload_model["payload"]
    predictor = from_modules(enformer, payload, None, {"activity": None, "mouse": [10]}, L)
    return dict(enformer=enformer, payload=payload, predictor=predictor, serving=tiny_payload_model["serving"])


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


def test_local_ism_equals_window_ism_and_brute_force(tiny):
    """Local recomputation of the receptive field gives the same deltas as whole mutant windows,
    at both window ends, at N bases and at payload ends, for the activity and a binned track (RC)."""
    from components.interpret.attribution import ism_deltas, output_score_fn
    from trainer.predict.local_ism import changed_bins, scorer_factory

    predictor = tiny["predictor"]
    enformer, payload = tiny["enformer"], tiny["payload"]
    assert changed_bins(L, enformer) < L // 128
    codes = np.random.default_rng(4).integers(0, 4, L).astype(np.uint8)
    codes[100:105] = genome.N_CODE
    codes[L - 3:] = genome.N_CODE
    one_hot = genome.one_hot(codes)
    # window ends, N bases, the ends of a short "payload" [600, 640), a run across a bin border
    positions = np.r_[0:5, 98:107, 598:602, 638:642, 766:770, L - 6:L]
    factory = scorer_factory(enformer, payload, None, L, predictor.outputs, batch_size=32)
    for output, bins, reverse in (("activity", None, False), ("mouse", (3, 6), True)):
        score = output_score_fn(predictor.function, L, output, bins=bins, reverse_complement=reverse)
        windows = ism_deltas(score, one_hot, 16, positions)
        calls = []
        scorer = factory(one_hot, output, bins, 0, reverse)
        local = ism_deltas(None, one_hot, 40, positions,
                           mutant_scorer=lambda p, r: calls.append(len(p)) or scorer(p, r))
        assert max(calls) == 40 and np.abs(windows).max() > 0
        # float32 scores: a delta is exact to about one ulp of the score (~1e-7 here)
        np.testing.assert_allclose(local, windows, rtol=1e-4, atol=1e-6)
    # brute force: one mutant window at a time through the plain model, both window ends
    reference = float(predictor(one_hot[None])["activity"][0])
    activity = ism_deltas(None, one_hot, 7, positions, mutant_scorer=factory(one_hot, "activity", None, 0, False))
    xla = scorer_factory(enformer, payload, None, L, predictor.outputs, batch_size=32, jit_compile=True)
    np.testing.assert_allclose(ism_deltas(None, one_hot, 32, positions, mutant_scorer=xla(one_hot, "activity", None, 0,
                                                                                          False)),
                               activity, rtol=1e-4, atol=1e-6)
    for row in (0, 4, 5, len(positions) - 4):
        for base in range(4):
            mutant = one_hot.copy()
            mutant[positions[row]] = np.eye(4)[base]
            if np.array_equal(mutant, one_hot):
                continue
            brute = float(predictor(mutant[None])["activity"][0]) - reference
            assert activity[row, base] == pytest.approx(brute, rel=1e-3, abs=1e-7)


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


def _planted_attributions(seed: int, count: int = 20):
    """Random payloads with ACT1 (scores up) and REP (scores down) planted on random strands."""
    rng = np.random.default_rng(seed)
    planted = {"ACT1": ("TATGCAAAT", 1.0), "REP": ("CCTTATCTG", -1.0)}
    payloads = []
    for p in range(count):
        codes = rng.integers(0, 4, 800).astype(np.uint8)
        scores = rng.normal(0, 0.05, 800)
        for k, (word, sign) in enumerate(planted.values()):
            for copy in range(2):
                start = 40 + 380 * copy + 160 * k + int(rng.integers(0, 100))
                motif = genome.encode_sequence(word)
                codes[start:start + 9] = motif if rng.random() < 0.5 else genome.reverse_complement_codes(motif)
                scores[start:start + 9] += sign * rng.uniform(0.4, 1.0, 9)
        payloads.append((f"p{p}", scores, genome.one_hot(codes)))
    return planted, payloads


def test_motif_discovery_recovers_planted_motifs(workdir):
    from components.interpret import motifs

    planted, payloads = _planted_attributions(0)
    thresholds = motifs.seqlet_thresholds([scores for _, scores, _ in payloads], 11, 6.0)
    seqlets = [s for name, scores, one_hot in payloads
               for s in motifs.extract_seqlets(name, scores, one_hot, 11, thresholds, 3)]
    assert len(seqlets) == 80  # exactly the planted sites: nothing from the noise
    found = motifs.cluster_seqlets(seqlets, min_similarity=0.7, max_shift=3, min_seqlets=3)
    assert sorted((m.name, len(m.members)) for m in found) == [("neg_1", 40), ("pos_1", 40)]
    trimmed = {m.name: motifs.trimmed_pwm(m) for m in found}
    for name, (word, sign) in planted.items():
        target = genome.one_hot(genome.encode_sequence(word))
        best = max(trimmed, key=lambda m: motifs.pwm_similarity(trimmed[m], target))
        assert motifs.pwm_similarity(trimmed[best], target) > 0.95 and best.startswith("pos" if sign > 0 else "neg")
        assert motifs.consensus(trimmed[best]) in (word, genome.decode_codes(genome.reverse_complement_codes(genome.encode_sequence(word))))
    # Members point at the planted words in their payload (on the recorded strand).
    sequences = {name: genome.decode_codes(np.argmax(one_hot, 1)) for name, _, one_hot in payloads}
    for motif in found:
        word = motifs.consensus(trimmed[motif.name])
        hits = 0
        for payload, start, end, strand in motif.members:
            text = sequences[payload][start:end]
            if strand < 0:
                text = genome.decode_codes(genome.reverse_complement_codes(genome.encode_sequence(text)))
            hits += word in text
        assert hits == len(motif.members)
    # Deterministic; MEME round trip.
    again = motifs.cluster_seqlets(seqlets, min_similarity=0.7, max_shift=3, min_seqlets=3)
    assert [m.members for m in again] == [m.members for m in found]
    path = os.path.join(workdir, "planted.meme")
    motifs.write_meme(path, [(name, pwm, 40) for name, pwm in trimmed.items()])
    back = motifs.read_meme(path)
    assert set(back) == set(trimmed) and all(np.allclose(back[n], trimmed[n], atol=1e-6) for n in back)
    # Pure noise: no seqlet passes the robust threshold.
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.05, 5000)
    assert motifs.extract_seqlets("n", noise, genome.one_hot(rng.integers(0, 4, 5000)), 11,
                                  motifs.seqlet_thresholds([noise], 11, 6.0), 3) == []


def test_seqlets_are_called_on_signed_sums():
    """A weak window of one sign is a seqlet; a strong window of alternating signs (which a sum
    of |score| would rank first) is not: background of both signs cancels, as in TF-MoDISco."""
    from components.interpret import motifs

    rng = np.random.default_rng(2)
    scores = rng.normal(0, 0.05, 2000)
    scores[500:511] += 0.5 * (-1.0) ** np.arange(11)  # |sum| 5.5, signed sum 0.5
    scores[1200:1209] -= 0.2  # |sum| about 1.8, signed sum -1.8
    one_hot = genome.one_hot(rng.integers(0, 4, 2000))
    low, high = motifs.seqlet_thresholds([scores], 11, 6.0)
    assert -1.8 < low < -0.5 and 0.5 < high < 1.8  # partial alternating windows sum to 0.5 at most
    seqlets = motifs.extract_seqlets("p", scores, one_hot, 11, (low, high), 3)
    assert [(s.sign, 1198 <= s.start <= 1200) for s in seqlets] == [(-1, True)]
    assert seqlets[0].importance == pytest.approx(-motifs.window_sums(scores, 11)[seqlets[0].start])


def test_pwm_similarity_and_bedgraph_runs(workdir):
    from components.interpret.motifs import pwm_similarity
    from components.signal_output import write_base_bedgraph

    act1 = genome.one_hot(genome.encode_sequence("TATGCAAAT"))
    assert pwm_similarity(act1, act1) == 1.0
    assert pwm_similarity(act1[::-1, ::-1], act1) == 1.0  # reverse complement
    assert pwm_similarity(act1[2:], act1) == pytest.approx(7 / 9)  # partial overlap counts only the covered columns
    assert pwm_similarity(np.full((9, 4), 0.25), act1) == pytest.approx(0.25)
    path = os.path.join(workdir, "runs.bedgraph")
    write_base_bedgraph(path, [("b", 5, np.array([1.0, 1.0, np.nan, 2.0])), ("a", 0, np.array([0.5, 0.5000001, 3.0]))])
    assert open(path).read() == "a\t0\t2\t0.5\na\t2\t3\t3\nb\t5\t7\t1\nb\t8\t9\t2\n"


# ------------------------------------------------------------------------------------- attribute
CONSTRUCT = 1664
CONTEXT = (3000, 3400)  # 0-based half-open; the command takes it 1-based


@pytest.fixture(scope="module")
def locus(workdir):
    """Reference, payload FASTA (two short payloads, one longer than the window) and site BED."""
    rng = np.random.default_rng(7)
    reference = os.path.join(workdir, "reference.fa")
    genome.write_fasta(reference, [("chr1", genome.decode_codes(rng.integers(0, 4, 8000))),
                                   ("chr2", genome.decode_codes(rng.integers(0, 4, 3000)))])
    payloads = {"P~a": genome.decode_codes(rng.integers(0, 4, 60)),
                "P~b": genome.decode_codes(rng.integers(0, 4, 41)),
                "long": genome.decode_codes(rng.integers(0, 4, 2000))}
    fasta = os.path.join(workdir, "payloads.fa")
    genome.write_fasta(fasta, [(name.replace("~", "_"), seq) for name, seq in payloads.items()], index=False)
    bed = os.path.join(workdir, "sites.bed")
    with open(bed, "w") as handle:
        handle.write("P_a\t10\t20\tsiteA\nlong\t900\t960\tsiteL\n")
    return dict(reference=reference, fasta=fasta, bed=bed, payloads=payloads,
                context=f"chr1:{CONTEXT[0] + 1}-{CONTEXT[1]}")


def _construct(reference: str, payload: str) -> str:
    """The spliced construct, written out independently of the code under test."""
    with genome.ReferenceGenome(reference) as ref:
        if len(payload) > CONSTRUCT:
            trim = (len(payload) - CONSTRUCT) // 2
            return payload[trim:trim + CONSTRUCT]
        pad = CONSTRUCT - len(payload)
        return (ref.fetch("chr1", CONTEXT[0] - pad // 2, CONTEXT[0]) + payload
                + ref.fetch("chr1", CONTEXT[1], CONTEXT[1] + pad - pad // 2))


def _read_bedgraph(path):
    with open(path) as handle:
        rows = [line for line in handle if not line.startswith("track ")]  # the UCSC header line
    return [(c, int(s), int(e), float(v)) for c, s, e, v in (line.split("\t") for line in rows)]


def test_attribute_ism_outputs_and_coordinates(tiny, locus, workdir, capsys):
    from components.interpret.attribution import ism_deltas, output_score_fn

    prefix = os.path.join(workdir, "ism", "run")
    argv = ["attribute", tiny["serving"], "--payloads", locus["fasta"], "--names", "P~a,P_b",
            "--annotation", locus["bed"], "--reference", locus["reference"], "--context", locus["context"],
            "--length", str(CONSTRUCT), "--method", "ism", "--batch", "64", "--motifs", "--min-seqlets", "1",
            "--seqlet-threshold", "0", "--output", prefix]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert "[2/2] P_b: 41/41 bp scored" in out and "ISM path: local recomputation" in out
    data = np.load(prefix + ".npz")
    # The same run through whole mutant windows (the SavedModel signature) gives the same deltas.
    assert _run(argv[:-1] + [prefix + "-windows", "--ism-path", "windows", "--no-figures"]) == 0
    assert "ISM path: whole mutant windows" in capsys.readouterr().out
    windows = np.load(prefix + "-windows.npz")
    np.testing.assert_allclose(windows["P_b/deltas"], data["P_b/deltas"], rtol=1e-4, atol=1e-6)
    assert list(data["payloads"]) == ["P_a", "P_b"] and str(data["method"]) == "ism"
    score = output_score_fn(tiny["predictor"].function, L, "activity")
    for name, sequence in (("P_a", locus["payloads"]["P~a"]), ("P_b", locus["payloads"]["P~b"])):
        size = len(sequence)
        scores, deltas, offset = data[f"{name}/scores"], data[f"{name}/deltas"], int(data[f"{name}/window_offset"])
        assert scores.shape == (size,) and deltas.shape == (size, 4) and np.isfinite(scores).all()
        np.testing.assert_array_equal(data[f"{name}/codes"], genome.encode_sequence(sequence))
        # The window is centred on the payload inside the spliced construct.
        left = (CONSTRUCT - size) // 2
        start = left + size // 2 - L // 2
        assert offset == start - left
        window = genome.one_hot(genome.encode_sequence(_construct(locus["reference"], sequence)[start:start + L]))
        expected = ism_deltas(score, window, positions=np.arange(size) - offset)
        np.testing.assert_allclose(deltas, expected, rtol=1e-4, atol=1e-6)
    # bedGraph: payload coordinates, sorted, runs merged, values = the npz scores.
    rows = _read_bedgraph(prefix + ".bedgraph")
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    for name in ("P_a", "P_b"):
        mine = [r for r in rows if r[0] == name]
        assert mine[0][1] == 0 and mine[-1][2] == len(data[f"{name}/scores"])
        assert all(a[2] == b[1] for a, b in zip(mine, mine[1:]))
        expanded = np.concatenate([[v] * (e - s) for _, s, e, v in mine])
        np.testing.assert_allclose(expanded, data[f"{name}/scores"], rtol=1e-5, atol=1e-9)
    assert os.path.getsize(prefix + ".P_a.png") > 10_000 and os.path.exists(prefix + ".P_b.png")
    # Motif files: every seqlet listed is a window of a payload; the MEME file parses back.
    from components.interpret.motifs import read_meme

    meme = read_meme(prefix + ".motifs.meme")
    with open(prefix + ".motifs.tsv") as handle:
        seqlets = [line.rstrip("\n").split("\t") for line in handle][1:]
    assert meme and {row[0] for row in seqlets} == set(meme)
    assert all(pwm.shape[1] == 4 and np.allclose(pwm.sum(1), 1, atol=1e-5) for pwm in meme.values())
    assert all(os.path.exists(f"{prefix}.motif.{name}.png") for name in meme)


def test_attribute_shifts_average_independent_shifted_windows(tiny, locus, workdir, capsys):
    """--shifts 3: per base, the mean over the windows shifted by -1, 0, +1 bp of ISM computed
    independently on each shifted window (the command through the exported signature, the
    expectation through the plain predictor)."""
    from components.interpret.attribution import ism_deltas, ism_scores, output_score_fn

    prefix = os.path.join(workdir, "shifts", "run")
    argv = ["attribute", tiny["serving"], "--payloads", locus["fasta"], "--names", "P~a",
            "--reference", locus["reference"], "--context", locus["context"], "--length", str(CONSTRUCT),
            "--shifts", "3", "--ism-path", "windows", "--batch", "64", "--no-figures", "--output", prefix]
    assert _run(argv) == 0
    assert "3 1-bp shifts" in capsys.readouterr().out
    data = np.load(prefix + ".npz")
    sequence = locus["payloads"]["P~a"]
    size = len(sequence)
    left = (CONSTRUCT - size) // 2
    centred = left + size // 2 - L // 2
    construct = _construct(locus["reference"], sequence)
    score = output_score_fn(tiny["predictor"].function, L, "activity")
    scores, deltas = [], []
    for start in (centred - 1, centred, centred + 1):
        window = genome.one_hot(genome.encode_sequence(construct[start:start + L]))
        positions = np.arange(size) + left - start
        deltas.append(ism_deltas(score, window, batch_size=64, positions=positions))
        scores.append(ism_scores(deltas[-1], window[positions]))
    assert np.abs(scores[0] - scores[2]).max() > 1e-6  # the shifts do differ
    np.testing.assert_allclose(data["P_a/deltas"], np.mean(deltas, axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(data["P_a/scores"], np.mean(scores, axis=0), rtol=1e-4, atol=1e-6)
    assert int(data["P_a/window_offset"]) == centred - left  # the centred window's offset


def test_attribute_saliency_long_payload_track_rc(tiny, locus, workdir):
    from components.interpret.attribution import gradient_x_input, output_score_fn

    prefix = os.path.join(workdir, "saliency", "run")
    argv = ["attribute", tiny["serving"], "--payloads", locus["fasta"], "--names", "long",
            "--reference", locus["reference"], "--context", locus["context"], "--length", str(CONSTRUCT),
            "--method", "saliency", "--head", "mouse", "--track", "10", "--rc", "--no-figures", "--output", prefix]
    assert _run(argv) == 0
    data = np.load(prefix + ".npz")
    scores, gradient, offset = data["long/scores"], data["long/gradient"], int(data["long/window_offset"])
    # 2000 bp payload centre-trimmed into 1664 bp; only the 1280 bp inside the centred window get scores.
    trim = (2000 - CONSTRUCT) // 2
    start = (CONSTRUCT - L) // 2
    assert offset == start + trim
    assert np.isnan(scores[:offset]).all() and np.isnan(scores[offset + L:]).all()
    assert np.isfinite(scores[offset:offset + L]).all()
    window = genome.one_hot(genome.encode_sequence(_construct(locus["reference"], locus["payloads"]["long"])[start:start + L]))
    score = output_score_fn(tiny["predictor"].function, L, "mouse", bins=(0, L // 128), column=0, reverse_complement=True)
    expected_gradient, expected_scores = gradient_x_input(score, window[None])
    np.testing.assert_allclose(gradient[offset:offset + L], expected_gradient[0], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(scores[offset:offset + L], expected_scores[0], rtol=1e-3, atol=1e-7)
    rows = _read_bedgraph(prefix + ".bedgraph")
    assert rows[0][1] == offset and rows[-1][2] == offset + L


def test_attribute_errors(tiny, locus, workdir, capsys):
    prefix = os.path.join(workdir, "bad", "run")
    base = ["attribute", tiny["serving"], "--payloads", locus["fasta"], "--reference", locus["reference"],
            "--context", locus["context"], "--output", prefix]
    cases = [
        (["--names", "nope"], "requested payload(s) not in the FASTA: nope"),
        (["--head", "mouse"], "--head needs --track"),
        (["--track", "3"], "--track needs --head"),
        (["--length", "1000"], "shorter than the 1280 bp model window"),
        (["--head", "mouse", "--track", "5000"], "out of range"),
        (["--context", "chr9:1-100"], "chromosome 'chr9' is not in"),
        (["--context", "chr2:100-200", "--length", "9000"], "flanks run off chromosome chr2"),
        (["--batch", "0"], "--batch must be >= 1"),
        (["--shifts", "0"], "--shifts must be >= 1"),
    ]
    for extra, message in cases:
        assert _run(base + extra) == 2, extra
        assert message in capsys.readouterr().err, extra
    bad = os.path.join(workdir, "bad.fa")
    with open(bad, "w") as handle:
        handle.write(">x\nACGTXACGT\n")
    assert _run(base[:3] + [bad] + base[4:]) == 2
    assert "bad.fa:1: payload 'x' has 'X' at position 5" in capsys.readouterr().err
    assert not os.path.exists(os.path.dirname(prefix)) or not os.listdir(os.path.dirname(prefix))


# ------------------------------------------------------------------------------------- predict-payload
@pytest.fixture(scope="module")
def segment_files(workdir, locus):
    """A second FASTA (relative ``:f`` path) and a segment table using every option."""
    rng = np.random.default_rng(11)
    folder = os.path.join(workdir, "segments")
    os.makedirs(folder, exist_ok=True)
    other = genome.decode_codes(rng.integers(0, 4, 600))
    genome.write_fasta(os.path.join(folder, "other.fa"), [("plasmid", other)])
    table = os.path.join(folder, "payloads.tsv")
    with open(table, "w") as handle:
        handle.write("name\tsegments\n# comment\n")
        handle.write("A\tchr1:101-300:nHS1,chr2:11-60,plasmid:1-100:fother.fa:nINS\n")
        handle.write("B\tchr1:101-300:nHS1:d,chr1:5001-5100\n")
        handle.write("C\tchr2:1-1500:nBIG\n")
    return dict(table=table, other=other, folder=folder)


def test_segment_language_composes_payloads(locus, segment_files):
    from components.segments import compose_payloads

    payloads = {p.name: p for p in compose_payloads(segment_files["table"], locus["reference"])}
    with genome.ReferenceGenome(locus["reference"]) as ref:
        chr1, chr2 = ref.fetch("chr1", 0, 8000).upper(), ref.fetch("chr2", 0, 3000).upper()
    a, b = payloads["A"], payloads["B"]
    assert a.sequence == chr1[100:300] + chr2[10:60] + segment_files["other"][:100]
    assert a.spans == ((0, 200), (200, 250), (250, 350)) and a.labelled() == [("HS1", 0, 200), ("INS", 250, 350)]
    assert b.sequence == "N" * 200 + chr1[5000:5100] and b.labelled() == [("HS1", 0, 200)]
    assert payloads["C"].sequence == chr2[:1500]


def _predict_manual(predictor, sequence, left, right, strides, rc):
    """Tracks of the stride windows averaged, built from the convention, not the module."""
    from trainer.predict.predictor import predict_codes

    size = W_S = L + strides - 1
    if len(sequence) <= size:
        pad = size - len(sequence)
        construct = left[len(left) - pad // 2:] + sequence + right[:pad - pad // 2]
        shift = pad // 2
    else:
        trim = (len(sequence) - size) // 2
        construct, shift = sequence[trim:trim + size], -trim
    codes = genome.encode_sequence(construct)
    windows = np.stack([codes[k:k + L] for k in range(strides)])
    out = predict_codes(predictor, windows, rc)
    return {k: v.mean(0) for k, v in out.items()}, strides // 2 - shift, W_S


def test_predict_payload_outputs(tiny, locus, segment_files, workdir, capsys):
    import json

    from components.segments import compose_payloads
    from trainer.predict.predictor import load_predictor

    out = os.path.join(workdir, "pp", "composed.npy")
    argv = ["predict-payload", tiny["serving"], segment_files["table"], "--reference", locus["reference"],
            "--context", locus["context"], "--head", "mouse", "--tracks", "10", "11", "--strides", "3", "--rc",
            "--output", out]
    assert _run(argv) == 0
    assert "3 payload(s) x 3 stride(s) x 2 strands" in capsys.readouterr().out
    array = np.load(out)
    assert array.shape == (3, L // 128, 2)
    sidecar = json.load(open(out + ".json"))
    assert sidecar["payloads"] == ["A", "B", "C"] and sidecar["tracks"] == ["mouse:10", "mouse:11"]
    predictor = load_predictor(tiny["serving"], {"activity": None, "mouse": [10, 11]})
    payloads = compose_payloads(segment_files["table"], locus["reference"])
    size = L + 2
    with genome.ReferenceGenome(locus["reference"]) as ref:
        left, right = ref.fetch("chr1", CONTEXT[0] - size, CONTEXT[0]), ref.fetch("chr1", CONTEXT[1], CONTEXT[1] + size)
    rows = [line.rstrip("\n").split("\t") for line in open(out[:-4] + ".report.tsv")]
    assert rows[0] == ["name", "label", "activity", "mouse:10", "mouse:11"]
    assert [r[:2] for r in rows[1:]] == [["A", "*"], ["A", "HS1"], ["A", "INS"], ["B", "*"], ["B", "HS1"],
                                         ["C", "*"], ["C", "BIG"]]
    for i, payload in enumerate(payloads):
        expected, offset, _ = _predict_manual(predictor, payload.sequence, left, right, 3, True)
        np.testing.assert_allclose(array[i], expected["mouse"], rtol=1e-4, atol=1e-6)
        assert sidecar["offsets"][i] == offset
        mine = [r for r in rows[1:] if r[0] == payload.name]
        assert float(mine[0][2]) == pytest.approx(float(expected["activity"]), rel=1e-4)
        for label, start, end in [("*", 0, len(payload.sequence))] + payload.labelled():
            row = next(r for r in mine if r[1] == label)
            first, last = max(0, (start - offset) // 128), min(L // 128, -(-(end - offset) // 128))
            for column in range(2):
                value = expected["mouse"][first:last, column].max() if last > first else 0.0
                assert float(row[3 + column]) == pytest.approx(value, rel=1e-4, abs=1e-6)
    # bedGraph per track, payload coordinates: chrom = payload, clipped to [0, payload length).
    graph = _read_bedgraph(out[:-4] + ".10.bedgraph")
    assert {r[0] for r in graph} == {"A", "B", "C"}
    for payload in payloads:
        mine = [r for r in graph if r[0] == payload.name]
        assert mine[0][1] == max(0, sidecar["offsets"][payloads.index(payload)]) and mine[-1][2] <= len(payload.sequence)
    assert os.path.exists(out[:-4] + ".11.bedgraph")
    # Without --context: N flanks, one stride, forward only.
    bare = os.path.join(workdir, "pp", "bare.npy")
    assert _run(["predict-payload", tiny["serving"], segment_files["table"], "--reference", locus["reference"],
                 "--tracks", "10", "--output", bare]) == 0
    expected, _, _ = _predict_manual(predictor, payloads[0].sequence, "N" * L, "N" * L, 1, False)
    np.testing.assert_allclose(np.load(bare)[0, :, 0], expected["mouse"][:, 0], rtol=1e-4, atol=1e-6)


def test_predict_payload_bad_inputs(tiny, locus, segment_files, workdir, capsys):
    folder = segment_files["folder"]
    garbage = os.path.join(folder, "garbage.fa")
    with open(garbage, "w") as handle:
        handle.write("this is not a fasta file\n")
    cases = [
        ("P\tchr1\n", "segment 1 'chr1': expected chrom:start-end"),
        ("P\tchr1:10-x\n", "coordinates '10-x' are not start-end"),
        ("P\tchr1:1,000-2,000\n", "segment 1 'chr1:1': coordinates '1' are not start-end"),
        ("P\tchr1:50-10\n", "need 1 <= start <= end"),
        ("P\tchr1:1-10:q\n", "unknown option 'q'"),
        ("P\tchr1:1-10,chr7:1-10\n", "segment 2 'chr7:1-10': segment chr7:1-10: chromosome 'chr7' is not in"),
        ("P\tchr2:2901-3100\n", "outside chromosome chr2 (length 3000)"),
        ("P\tchr1:1-10:fmissing.fa\n", "cannot read FASTA"),
        ("P\tchr1:1-10:fgarbage.fa\n", "cannot read FASTA"),
        ("P\tchr1:1-10\nP\tchr1:1-20\n", "payload 'P' repeats"),
        ("P chr1:1-10\n", "expected 'name<TAB>segment,segment,...'"),
        ("# nothing\n", "no payloads"),
    ]
    out = os.path.join(workdir, "pp_bad", "x.npy")
    for number, (text, message) in enumerate(cases):
        table = os.path.join(folder, f"bad{number}.tsv")
        with open(table, "w") as handle:
            handle.write(text)
        assert _run(["predict-payload", tiny["serving"], table, "--reference", locus["reference"],
                     "--output", out]) == 2, text
        err = capsys.readouterr().err
        assert message in err and f"bad{number}.tsv" in err, (text, err)
    table = segment_files["table"]
    for extra, message in ((["--strides", "0"], "--strides must be >= 1"),
                           (["--context", locus["context"], "--reference", ""], "--context needs --reference"),
                           (["--head", "zebrafish"], "unknown head 'zebrafish'"),
                           (["--tracks", "1", "1"], "lists a track twice")):
        argv = ["predict-payload", tiny["serving"], table, "--reference", locus["reference"], "--output", out] + extra
        assert _run(argv) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert _run(["predict-payload", tiny["serving"], table, "--output", out]) == 2  # reference segments, no FASTA
    assert "needs --reference (or :fFASTA)" in capsys.readouterr().err
    assert not os.path.exists(os.path.dirname(out)) or not os.listdir(os.path.dirname(out))


def test_demo_run_prints_a_working_attribute_command(tmp_path):
    from pipeline.cli import build_parser
    from pipeline.config import load_config
    from pipeline.report import attribute_command

    config = load_config("pipeline/configs/demo.yaml")
    (tmp_path / "predictions.tsv").write_text("name\tgroup\tactivity\tpredicted\nLCR~deletion_1\tg\t1\t1\n"
                                              "synthetic_2\tg\t1\t1\n")
    command = attribute_command(config, {"uri": str(tmp_path)})
    assert command.startswith("enformer-tfx attribute out/demo/serving --payloads out/demo/data/payloads.fa")
    args = build_parser().parse_args(command.split()[1:])
    assert args.names == "LCR~deletion_1,synthetic_2" and args.length == 5376 and args.motifs
    assert args.context == config.payloads.context and args.output == "out/demo/attribution/held_out"


# ------------------------------------------------------------------------- pipeline step
def test_choose_payloads_is_deterministic():
    from components.interpret.held_out import choose_payloads

    names = ["c", "a", "b", "a", "e", "d"]
    assert choose_payloads(names, 2) == ["a", "b"]  # first names in sorted order, repeats once
    assert choose_payloads(names, 9) == ["a", "b", "c", "d", "e"]
    picked = choose_payloads(names, 3, seed=4)
    assert picked == choose_payloads(list(reversed(names)), 3, seed=4) == sorted(picked)
    assert len(set(picked)) == 3 and set(picked) <= set(names)
    assert {tuple(choose_payloads(names, 3, seed=s)) for s in range(10)} != {tuple(picked)}


def _step_artifacts(tiny, root, blessed: bool, names):
    """Real TFX artifacts: the tiny export as a Trainer model, a blessing, Examples with an eval split."""
    import shutil

    from tfx.types import standard_artifacts

    from components import records
    from components.interpret.component import AttributionReport

    model = standard_artifacts.Model()
    model.uri = os.path.join(root, "model")
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.set_int_custom_property("span", 3)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = os.path.join(root, "blessing")
    shutil.copytree(tiny["serving"], os.path.join(model.uri, "Format-Serving"))
    report = AttributionReport()
    report.uri = os.path.join(root, "report")
    os.makedirs(blessing.uri)
    open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
    for split, split_names in (("train", ["long"]), ("eval", names)):
        os.makedirs(records.split_dir(examples.uri, split))
        with records.ShardWriter(os.path.join(records.split_dir(examples.uri, split), records.shard_name(0, 1)),
                                 compresslevel=1) as out:
            for name in split_names:
                out.write(records.payload_example(np.zeros(CONSTRUCT, np.uint8), name, "g", 1.0))
    return model, examples, blessing, report


def _run_step(tiny, locus, root, blessed, names, **options):
    """The Interpreter executor on real artifacts; returns the report artifact and its summary."""
    import json

    from components.interpret.executor import Executor

    model, examples, blessing, report = _step_artifacts(tiny, root, blessed, names)
    properties = dict(payload_fasta=locus["fasta"], annotation_bed=locus["bed"], reference_fasta=locus["reference"],
                      context=locus["context"], construct_length=CONSTRUCT, payloads=2, method="ism", seed=None,
                      reverse_complement=0, batch_size=64, motifs=0, figures=1)
    properties.update(options)
    Executor().Do({"model": [model], "model_blessing": [blessing], "examples": [examples]}, {"report": [report]},
                  properties)
    with open(os.path.join(report.uri, "summary.json")) as handle:
        return report, json.load(handle)


def test_interpret_step_explains_first_held_out_payloads(tiny, locus, workdir):
    from components.interpret.attribution import ism_deltas, output_score_fn

    root = os.path.join(workdir, "step")
    # Held out (eval split): P~b, P~a and long (repeated records, e.g. offsets); the first two by name: P~a, P~b.
    report, summary = _run_step(tiny, locus, root, True, ["P~b", "long", "P~a", "P~b"])
    assert summary["blessed"] is True and summary["span"] == 3 and report.get_int_custom_property("span") == 3
    assert summary["held_out"] == 3 and summary["split"] == "eval" and summary["method"] == "ism"
    assert [p["name"] for p in summary["payloads"]] == ["P_a", "P_b"]
    files = sorted(os.listdir(report.uri))
    assert files == sorted(summary["files"] + ["summary.json"])
    assert files == ["attribution.P_a.png", "attribution.P_b.png", "attribution.bedgraph", "attribution.npz",
                     "summary.json"]
    # The same numbers as the attribute command's: ISM of the payload window centred in the construct.
    data = np.load(os.path.join(report.uri, "attribution.npz"))
    score = output_score_fn(tiny["predictor"].function, L, "activity")
    for name, sequence in (("P_a", locus["payloads"]["P~a"]), ("P_b", locus["payloads"]["P~b"])):
        size = len(sequence)
        deltas, offset = data[f"{name}/deltas"], int(data[f"{name}/window_offset"])
        assert data[f"{name}/scores"].shape == (size,) and deltas.shape == (size, 4)
        start = (CONSTRUCT - size) // 2 + size // 2 - L // 2
        window = genome.one_hot(genome.encode_sequence(_construct(locus["reference"], sequence)[start:start + L]))
        np.testing.assert_allclose(deltas, ism_deltas(score, window, positions=np.arange(size) - offset),
                                   rtol=1e-4, atol=1e-6)
    rows = _read_bedgraph(os.path.join(report.uri, "attribution.bedgraph"))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows) and {r[0] for r in rows} == {"P_a", "P_b"}
    assert max(r[2] for r in rows if r[0] == "P_b") == len(locus["payloads"]["P~b"])


def test_interpret_step_not_blessed_and_seeded_saliency(tiny, locus, workdir):
    root = os.path.join(workdir, "step_rejected")
    report, summary = _run_step(tiny, locus, root, False, ["P~a", "P~b"])
    assert summary["blessed"] is False and "not bless" in summary["reason"]
    assert os.listdir(report.uri) == ["summary.json"]

    from components.interpret.held_out import choose_payloads

    root = os.path.join(workdir, "step_seeded")
    report, summary = _run_step(tiny, locus, root, True, ["P~a", "P~b", "long"], payloads=1, seed=2,
                                method="saliency", figures=0)
    chosen = choose_payloads(["P~a", "P~b", "long"], 1, seed=2)
    assert [p["name"] for p in summary["payloads"]] == [n.replace("~", "_") for n in chosen]
    assert summary["selection"] == "seeded choice (seed 2)"
    data = np.load(os.path.join(report.uri, "attribution.npz"))
    assert str(data["method"]) == "saliency" and f"{chosen[0].replace('~', '_')}/gradient" in data
    assert sorted(os.listdir(report.uri)) == ["attribution.bedgraph", "attribution.npz", "summary.json"]


def test_interpret_config_keys_are_the_component_parameters():
    """The config checks ``interpret:`` without importing TFX; its keys must match the component."""
    import inspect

    from components.interpret.component import AttributionReport, Interpreter
    from components.interpret.params import ARTIFACT_TYPE, COMPONENT_PARAMETERS

    parameters = [name for name in inspect.signature(Interpreter.__init__).parameters
                  if name not in ("self", "model", "model_blessing", "examples")]
    assert sorted(parameters) == sorted(COMPONENT_PARAMETERS)
    assert AttributionReport.TYPE_NAME == ARTIFACT_TYPE


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(interpret={"payloads": 0}), "interpret.payloads: must be >= 1, got 0"),
    (lambda c: c.update(interpret={"method": "deeplift"}), "interpret.method: expected one of 'ism' or 'saliency'"),
    (lambda c: c.update(interpret={"payload": 2}), "interpret.payload: unknown key; expected one of: payloads"),
    (lambda c: c.update(interpret={"seed": "x"}), "interpret.seed: expected an integer"),
    (lambda c: c.update(interpret={"batch_size": 0}), "interpret.batch_size: must be >= 1"),
    (lambda c: c.update(interpret=2), "interpret: expected a mapping of payloads, method"),
    (lambda c: c["payloads"].update(folds={"train": 3, "test": 1}) or c.update(interpret={}),
     "interpret: explains payloads of the 'eval' split; payloads.folds has only"),
    (lambda c: c["training"].update(mode="tracks") or c.update(interpret={}, tracks={
        "reference": "r.fa", "mappable_bed": "m.bed", "tracks": "t.tsv", "length": 1280}),
     "interpret: the attribution step explains payload activity; it needs training.mode: finetune"),
])
def test_interpret_config_errors_name_the_key(tmp_path, change, message):
    import re

    import yaml

    from components.errors import InputError
    from pipeline.config import load_config
    from tests.test_pipeline import pipeline_config

    config = pipeline_config(str(tmp_path), "/data", "chr3:1-100")
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(InputError, match=re.escape(message)):
        load_config(str(path))


def test_interpret_config_takes_the_inputs_from_payloads(tmp_path):
    import yaml

    from pipeline.config import load_config
    from tests.test_pipeline import pipeline_config

    config = pipeline_config(str(tmp_path), "/data", "chr3:1-100")
    config["payloads"]["annotation_bed"] = "/data/sites.bed"
    config["interpret"] = {"payloads": 3, "method": "saliency", "seed": 7}
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(str(path))
    arguments = loaded.interpret_arguments()
    assert arguments == {"payloads": 3, "method": "saliency", "seed": 7, "reverse_complement": False, "batch_size": 8,
                         "motifs": False, "figures": True, "payload_fasta": config["payloads"]["payload_fasta"],
                         "annotation_bed": "/data/sites.bed", "reference_fasta": "/data/reference.fa",
                         "context": "chr3:1-100", "construct_length": config["payloads"]["construct_length"]}
    del config["interpret"]
    path.write_text(yaml.safe_dump(config))
    assert load_config(str(path)).interpret is None and load_config(str(path)).interpret_arguments() == {}


def test_motif_auroc_ceiling_is_the_rule_itself():
    """The benchmark's motif measure is attainable: ISM of the demo's own activity rule separates
    bases inside planted motifs from the rest (oracle AUROC ~1); a score blind to motifs gets 0.5."""
    from types import SimpleNamespace

    from benchmarks.bench_attribution import _ceiling_and_variants, _distance_to_motif, _simulator_scores
    from components.interpret.report import Payload
    from components.genome import decode_codes
    from pipeline.demo_data import plant_motifs, random_codes

    rng = np.random.default_rng(3)
    codes = random_codes(rng, 400)
    plant_motifs(rng, codes, {"ACT1": 2, "ACT2": 1, "REP": 1})
    sequence = decode_codes(codes)
    oracle = _simulator_scores(sequence)
    payload = Payload("p", sequence)
    blind = SimpleNamespace(scores=rng.random(400), matrix=rng.random((400, 4)), codes=codes)
    summary = _ceiling_and_variants([blind], [payload], [oracle], ism=True)
    assert summary["oracle_auroc"] > 0.99
    assert abs(summary["aggregations"]["max_abs_delta"] - 0.5) < 0.1
    assert set(summary["by_distance"]) == {"1-10bp", "11-50bp", "51-infbp"}
    np.testing.assert_array_equal(_distance_to_motif(np.array([0, 1, 0, 0, 0, 1], bool)), [1, 0, 1, 2, 1, 0])
