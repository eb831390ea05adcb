"""The distance assay: dinucleotide backgrounds, window geometry, batching, the command."""
from __future__ import annotations

import csv
import os
import re

import numpy as np
import pytest

from components import dinucleotides, distance_assay as da, genome
from components.errors import InputError

CHROM1 = 6_000
CHROM2 = 1_500


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A random two-chromosome reference and a sites file with a plus- and a minus-strand pair."""
    root = tmp_path_factory.mktemp("distance")
    rng = np.random.default_rng(4)
    sequences = {"chr1": genome.decode_codes(rng.integers(0, 4, CHROM1)),
                 "chr2": genome.decode_codes(rng.integers(0, 4, CHROM2))}
    fasta = str(root / "ref.fa")
    genome.write_fasta(fasta, sequences.items())
    sites = str(root / "sites.bedpe")
    with open(sites, "w") as handle:
        handle.write("# fixed site, mobile element\n"
                     "chr1\t2000\t2090\tchr1\t4000\t4061\tplus\t0\t+\t+\n"
                     "chr1\t3000\t3075\tchr2\t100\t140\tminus\t0\t-\t-\n")
    return {"root": root, "fasta": fasta, "sites": sites, "sequences": sequences}


def _codes(world, chrom, start, end, strand="+"):
    codes = genome.encode_sequence(world["sequences"][chrom][start:end])
    return genome.reverse_complement_codes(codes) if strand == "-" else codes


# ------------------------------------------------------------------ backgrounds
def test_shuffle_keeps_dinucleotides_and_ends_and_is_seeded():
    codes = np.random.default_rng(0).integers(0, 5, 3_000).astype(np.uint8)
    shuffled = [dinucleotides.dinucleotide_shuffle(codes, np.random.default_rng(seed)) for seed in (1, 1, 2)]
    for result in shuffled:
        assert result.dtype == np.uint8 and result.shape == codes.shape
        assert (dinucleotides.dinucleotide_counts(result) == dinucleotides.dinucleotide_counts(codes)).all()
        assert result[0] == codes[0] and result[-1] == codes[-1]
    assert (shuffled[0] == shuffled[1]).all()
    assert (shuffled[0] != shuffled[2]).any() and (shuffled[0] != codes).any()


def test_shuffle_of_skewed_and_tiny_sequences():
    # A sequence whose last base occurs only at the end and a two-symbol alphabet: still an Eulerian walk.
    codes = np.array([0, 0, 1, 0, 1, 1, 0, 0, 2], dtype=np.uint8)
    for seed in range(20):
        result = dinucleotides.dinucleotide_shuffle(codes, np.random.default_rng(seed))
        assert (dinucleotides.dinucleotide_counts(result) == dinucleotides.dinucleotide_counts(codes)).all()
    assert (dinucleotides.dinucleotide_shuffle(codes[:2], np.random.default_rng(0)) == codes[:2]).all()


def test_markov_background_follows_the_frequencies(tmp_path):
    table = tmp_path / "freq.tsv"
    weights = {pair: 0.0 for pair in dinucleotides.DINUCLEOTIDES}
    weights.update(AC=3.0, CA=3.0, CG=1.0, GC=1.0, AA=2.0)
    table.write_text("dinucleotide\tfrequency\n" + "".join(f"{p}\t{w}\n" for p, w in weights.items()))
    frequencies = dinucleotides.read_dinucleotide_frequencies(str(table))
    assert frequencies.sum() == pytest.approx(1.0)
    codes = dinucleotides.markov_sequence(frequencies, 20_000, np.random.default_rng(0))
    assert set(np.unique(codes)) <= {0, 1, 2}  # T never starts or follows anything
    counts = dinucleotides.dinucleotide_counts(codes)[:4, :4]
    observed_ac = counts[0, 1] / counts[0].sum()  # P(C | A) = 3 / (3 + 2)
    assert observed_ac == pytest.approx(0.6, abs=0.02)
    assert counts[1, 1] == 0 and counts[2, 2] == 0  # CC and GG have weight 0
    again = dinucleotides.markov_sequence(frequencies, 20_000, np.random.default_rng(0))
    assert (again == codes).all()


@pytest.mark.parametrize("text, phrase", [
    ("AA\t1\nAC\tx\n", ":2: frequency 'x' is not a number"),
    ("AA\t1\nAX\t1\n", ":2: 'AX' is not a dinucleotide"),
    ("AA\t1\nAA\t2\n", ":2: dinucleotide AA given twice"),
    ("AA\t-1\n", ":1: frequency of AA must be finite and >= 0"),
    ("AA\t1\n", "missing dinucleotide frequencies for AC"),
])
def test_frequency_table_errors(tmp_path, text, phrase):
    path = tmp_path / "freq.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(phrase)):
        dinucleotides.read_dinucleotide_frequencies(str(path))


# ------------------------------------------------------------------ sites
@pytest.mark.parametrize("line, phrase", [
    ("chr1\t10\t20\tchr1\t30\n", ":2: expected BEDPE"),
    ("chr1\t10\tx\tchr1\t30\t40\n", ":2: fixed site start/end must be integers"),
    ("chr1\t10\t20\tchr1\t40\t30\n", ":2: mobile element needs 0 <= start < end"),
    ("chr1\t10\t20\tchr1\t30\t40\tn\t0\t+\t?\n", ":2: mobile element strand must be"),
])
def test_malformed_site_lines_name_the_line(tmp_path, line, phrase):
    path = tmp_path / "sites.bedpe"
    path.write_text("chr1\t10\t20\tchr1\t30\t40\tok\n" + line)
    with pytest.raises(InputError, match=f"sites.bedpe{phrase}"):
        da.read_site_pairs(str(path))


def test_sites_off_the_chromosome_name_the_line(world, tmp_path):
    cases = [("chr1\t10\t20\tchr2\t1490\t1510\n", "mobile element chr2:1491-1510(+) is off chromosome chr2"),
             ("chr9\t10\t20\tchr1\t30\t40\n", "chromosome 'chr9' is not in"),
             ("chr1\t10\t20\tchr1\t30\t40\n", "background window around the fixed site")]
    with genome.ReferenceGenome(world["fasta"]) as reference:
        for line, phrase in cases:
            path = tmp_path / "off.bedpe"
            path.write_text("# header\n" + line)
            pairs = da.read_site_pairs(str(path))
            with pytest.raises(InputError, match=r"off\.bedpe:2: .*" + re.escape(phrase)):
                da.check_pairs(pairs, reference, str(path), 512, shuffle_reference=True)
        # With frequency backgrounds only the elements must lie on the chromosome.
        da.check_pairs(da.read_site_pairs(str(path)), reference, str(path), 512, shuffle_reference=False)


# ------------------------------------------------------------------ geometry
@pytest.mark.parametrize("use_frequencies", [False, True])
def test_geometry_fixed_site_restored_and_mobile_at_the_stated_distance(world, use_frequencies):
    length, step, shuffles = 1024, 64, 3
    pairs = da.read_site_pairs(world["sites"])
    frequencies = np.full((4, 4), 1 / 16) if use_frequencies else None
    grid = da.distance_grid(length, step)
    assert grid[0] == -512 and grid[-1] == 512 and (np.diff(grid) == step).all()
    with genome.ReferenceGenome(world["fasta"]) as reference:
        for pair in pairs:
            inputs = da.pair_inputs(pair, reference, grid, length, shuffles, 7, frequencies)
            geometry = inputs.layout
            fixed = _codes(world, pair.fixed.chrom, pair.fixed.start, pair.fixed.end, pair.fixed.strand)
            mobile = _codes(world, pair.mobile.chrom, pair.mobile.start, pair.mobile.end, pair.mobile.strand)
            assert geometry.fixed_start == (length - pair.fixed.length) // 2
            if not use_frequencies:  # each background is a dinucleotide shuffle of the window around the fixed site
                start, end = da.background_interval(pair.fixed, length)
                window = _codes(world, pair.fixed.chrom, start, end, pair.fixed.strand)
                assert (window[geometry.fixed_start:geometry.fixed_end] == fixed).all()
                for background in inputs.backgrounds:
                    assert (dinucleotides.dinucleotide_counts(background)
                            == dinucleotides.dinucleotide_counts(window)).all()
            assert not (inputs.backgrounds[0] == inputs.backgrounds[1]).all()
            keys = list(da.window_keys(inputs, 0, 2))
            used = np.flatnonzero(geometry.valid)
            assert len(keys) == shuffles * (1 + 2 * used.size)
            assert 0 < used.size < grid.size
            for _, k, o, p in keys:
                built = da.build_window(inputs, k, o, p, da.ORIENTATIONS)
                assert (built[geometry.fixed_start:geometry.fixed_end] == fixed).all()  # restored every time
                changed = np.ones(length, dtype=bool)
                changed[geometry.fixed_start:geometry.fixed_end] = False
                if o >= 0:
                    start = int(geometry.mobile_starts[p])
                    placed = built[start:start + mobile.size]
                    expected = mobile if da.ORIENTATIONS[o] == "forward" else genome.reverse_complement_codes(mobile)
                    assert (placed == expected).all()
                    # centre-to-centre distance as stated, element inside the window, not touching the fixed site
                    centre = start + mobile.size // 2 - (geometry.fixed_start + fixed.size // 2)
                    assert centre == grid[p]
                    assert start >= 0 and start + mobile.size <= length
                    assert start + mobile.size <= geometry.fixed_start or start >= geometry.fixed_end
                    changed[start:start + mobile.size] = False
                assert (built[changed] == inputs.backgrounds[k][changed]).all()  # the rest is background
            # every grid distance that fits is used
            for p in range(grid.size):
                start = geometry.fixed_start + fixed.size // 2 + grid[p] - mobile.size // 2
                fits = (start >= 0 and start + mobile.size <= length
                        and (start + mobile.size <= geometry.fixed_start or start >= geometry.fixed_end))
                assert geometry.valid[p] == fits


def _gc_per_bin(codes: np.ndarray, bin_size: int = 128) -> np.ndarray:
    """A model-free score: G+C count per 128 bp bin, ``[B, L] -> [B, L / 128]``."""
    gc = ((codes == 1) | (codes == 2)).astype(np.float64)
    return gc.reshape(codes.shape[0], -1, bin_size).sum(axis=-1)


def test_run_assay_signals_batching_and_determinism(world):
    length = 1024
    pairs = da.read_site_pairs(world["sites"])
    with genome.ReferenceGenome(world["fasta"]) as reference:
        kwargs = dict(length=length, step=64, shuffles=3, seed=5, orientations=da.ORIENTATIONS)
        calls = []

        def score(codes):
            calls.append(codes.shape[0])
            return _gc_per_bin(codes)

        result = da.run_assay(pairs, reference, score, batch=50, **kwargs)
        one_by_one = da.run_assay(pairs, reference, _gc_per_bin, batch=1, **kwargs)
        other_seed = da.run_assay(pairs, reference, _gc_per_bin, batch=50, **{**kwargs, "seed": 6})
        # direct recomputation of a few windows
        grid = da.distance_grid(length, 64)
        inputs = da.pair_inputs(pairs[1], reference, grid, length, 3, 5, None)
    assert max(calls) == 50 and sum(calls) == result.windows and len(calls) == -(-result.windows // 50)
    for name in ("fixed", "mobile", "fixed_alone"):
        np.testing.assert_array_equal(getattr(result, name), getattr(one_by_one, name))
    assert not np.array_equal(np.nan_to_num(result.fixed), np.nan_to_num(other_seed.fixed))
    geometry = inputs.layout
    for p in np.flatnonzero(geometry.valid)[::5]:
        window = da.build_window(inputs, 2, 1, p, da.ORIENTATIONS)
        bins = _gc_per_bin(window[None])[0]
        start = int(geometry.mobile_starts[p])
        assert result.mobile[1, 1, p, 2] == bins[start // 128:-(-(start + geometry.mobile_length) // 128)].max()
        assert result.fixed[1, 1, p, 2] == bins[geometry.fixed_start // 128:-(-geometry.fixed_end // 128)].max()
    alone = _gc_per_bin(da.build_window(inputs, 0, -1, -1, da.ORIENTATIONS)[None])[0]
    assert result.fixed_alone[1, 0] == alone[geometry.fixed_start // 128:-(-geometry.fixed_end // 128)].max()
    assert np.isnan(result.fixed[:, :, ~(result.mobile_starts[0] >= 0)][0]).all()
    lines = da.report_lines(result)
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert tuple(rows[0]) == da.REPORT_COLUMNS
    assert len(rows) == 2 * sum(int((starts >= 0).sum()) for starts in result.mobile_starts)
    first = next(r for r in rows if r["name"] == "minus" and r["orientation"] == "reverse")
    p = int(np.flatnonzero(grid == int(first["distance"]))[0])
    assert float(first["mobile_signal"]) == pytest.approx(float(result.mobile[1, 1, p].mean()), rel=1e-5)


def test_many_pairs_keep_their_index(world, tmp_path):
    """More than 255 pairs: indices are int64 in the arrays (the original's uint8 wrapped around)."""
    path = tmp_path / "many.bedpe"
    path.write_text("".join(f"chr1\t{400 + 10 * i}\t{420 + 10 * i}\tchr1\t{3500 + i}\t{3516 + i}\tp{i}\n"
                            for i in range(300)))
    pairs = da.read_site_pairs(str(path))
    with genome.ReferenceGenome(world["fasta"]) as reference:
        da.check_pairs(pairs, reference, str(path), 256, shuffle_reference=True)
        result = da.run_assay(pairs, reference, _gc_per_bin, length=256, step=64, shuffles=1, seed=0, batch=64)
    da.save_arrays(str(tmp_path / "many.npz"), result, length=256)
    saved = np.load(tmp_path / "many.npz")
    assert saved["index"].dtype == np.int64 and saved["index"][-1] == 299
    assert saved["names"][299] == "p299" and saved["fixed"].shape[0] == 300
    assert np.isfinite(saved["fixed_alone"]).all()


# ------------------------------------------------------------------ the command
def _run(argv):
    from pipeline.cli import main

    return main(argv)


@pytest.mark.slow
def test_distance_assay_command(world, capsys):
    import tensorflow as tf

    prefix = str(world["root"] / "out" / "assay")
    argv = ["distance-assay", "random:tiny", world["sites"], "--reference", world["fasta"], "--length", "1024",
            "--step-size", "128", "--shuffles", "2", "--track", "3", "--orientation", "both", "--batch", "16",
            "--seed", "3", "--output", prefix]
    tf.random.set_seed(0)
    assert _run(argv) == 0
    assert "2 site pair(s) x 2 orientation(s) x 2 background(s)" in capsys.readouterr().out
    with open(prefix + ".tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    saved = np.load(prefix + ".npz")
    assert os.path.getsize(prefix + ".png") > 0
    assert saved["fixed"].shape == (2, 2, saved["distance"].size, 2)
    used = int((saved["mobile_start"] >= 0).sum())
    assert len(rows) == 2 * used and {r["orientation"] for r in rows} == {"forward", "reverse"}
    assert np.isfinite([float(r["fixed_signal"]) for r in rows]).all()
    assert int(saved["length"]) == 1024 and str(saved["background"]).startswith("dinucleotide shuffle")


def test_distance_assay_command_errors(world, tmp_path, capsys):
    bad = tmp_path / "bad.bedpe"
    bad.write_text("chr1\t10\t20\tchr1\t30\t40\nchr1\t10\t20\tchr1\t30\n")
    prefix = str(tmp_path / "out" / "assay")
    common = ["--reference", world["fasta"], "--length", "512", "--track", "0", "--output", prefix]
    assert _run(["distance-assay", "random:tiny", str(bad)] + common) == 2
    assert "bad.bedpe:2: expected BEDPE" in capsys.readouterr().err
    off = tmp_path / "off.bedpe"
    off.write_text("chr2\t1400\t1450\tchr2\t1460\t1600\n")
    assert _run(["distance-assay", "random:tiny", str(off)] + common) == 2
    assert "off.bedpe:1: mobile element chr2:1461-1600(+) is off chromosome chr2" in capsys.readouterr().err
    assert _run(["distance-assay", "random:tiny", world["sites"], "--head", "finetune"] + common) == 2
    assert "--head finetune" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")
