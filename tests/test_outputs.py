"""Trustworthy prediction outputs and the way from a pipeline run to ``predict``.

Per-region tiling of ``predict-regions`` (regions near chromosome ends kept, N-padded),
``to-bedgraph`` clipping and refusal, files named by track identifier with UCSC ``track``
lines, the examples artifact's ``dataset.tsv`` as ``predict`` input, the demo BED's site
labels, and the warning for species heads of a random baseline. Tiny model and genome; expected
coordinates are worked out by hand in the comments.
"""
from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest

from components import genome

L = 1280  # window bp (10 bins of 128)
CONSTRUCT = L + 256
TRACK_IDS = ["CNhs14104", "CNhs14109", "GSM3852792"]


def _run(argv):
    from pipeline.cli import main

    return main(argv)


def _bedgraph(path):
    """``(track line, [(chrom, start, end, value)])`` of a bedGraph."""
    with open(path) as handle:
        header = handle.readline()
        rows = [line.split("\t") for line in handle]
    return header, [(c, int(s), int(e), float(v)) for c, s, e, v in rows]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny genome (chrA 6,000 bp, chrB 3,000 bp), a track model exported with identifiers, a payload
    model exported from a random baseline (with weights), an Enformer checkpoint, a dataset table."""
    import tensorflow as tf

    from trainer.checkpoints import original_checkpoint, save_weights
    from trainer.enformer import build_enformer
    from trainer.export import export_saved_model
    from trainer.heads import PayloadModel, TrackModel

    root = tmp_path_factory.mktemp("outputs")
    rng = np.random.default_rng(4)
    reference = os.path.join(root, "genome.fa")
    genome.write_fasta(reference, [(name, genome.decode_codes(rng.integers(0, 4, size)))
                                   for name, size in (("chrA", 6_000), ("chrB", 3_000))])
    tf.random.set_seed(5)
    enformer = build_enformer("tiny")
    track = TrackModel(enformer, len(TRACK_IDS))
    track_export = export_saved_model(track, os.path.join(root, "track_export"), L,
                                      {"mode": "tracks", "tracks": TRACK_IDS, "baseline": "random"})
    payload = PayloadModel(enformer, 16, 16, 1, pooling="flatten", input_length=L)
    payload_export = os.path.join(root, "payload_export")
    export_saved_model(payload, payload_export, L, {"mode": "finetune", "baseline": "random"})
    save_weights(payload, payload_export)
    trunk = os.path.join(root, "enformer")
    tf.train.Checkpoint(module=enformer).save(os.path.join(trunk, "ckpt"))
    track_ckpt = os.path.join(root, "track_head")
    original_checkpoint(track).save(os.path.join(track_ckpt, "ckpt"))
    table = os.path.join(root, "dataset.tsv")
    with open(table, "w") as out:
        out.write("index\tname\tgroup\tfold\tactivity\tannotation\tsequence\n")
        for i in range(3):
            sequence = genome.decode_codes(rng.integers(0, 4, CONSTRUCT))
            out.write(f"{i}\tP{i}\tg\teval\t{0.5 + i:.3f}\tDHS1:300-400;DHS2:700-800\t{sequence}\n")
    return dict(root=str(root), reference=reference, enformer=enformer, track=track, track_export=track_export,
                payload_export=payload_export, trunk=trunk, track_ckpt=track_ckpt, table=table)


# ------------------------------------------------------------------------------ tiling by hand
def test_tile_region_by_hand():
    from components.signal_output import RegionTiles, tile_region

    # 1 kb: one 1,280 bp window centred (pad 280 -> starts 140 bp before), bins 1..8 overlap it.
    assert tile_region(2000, 3000, L, 128) == RegionTiles(1860, 1, 1, 8, 1988)
    # 4.5 kb: ceil(4500 / 1280) = 4 windows = 5,120 bp, pad 620 -> first window at 1400 - 310 = 1090;
    # bins 2 (1346..1474) to 37 (5826..5954) overlap [1400, 5900): 36 bins from 1346.
    assert tile_region(1400, 5900, L, 128) == RegionTiles(1090, 4, 2, 36, 1346)
    # Activity (one value per window): the row is the windows themselves.
    assert tile_region(1400, 5900, L, L) == RegionTiles(1090, 4, 0, 4, 1090)
    # --fragments 2: the original layout, 2 windows centred and every bin kept.
    assert tile_region(2000, 3000, L, 128, fragments=2) == RegionTiles(1220, 2, 0, 20, 1220)


def _direct_tracks(tiny, chrom, window_start, windows):
    """Track-model bins of ``windows`` consecutive windows from ``window_start`` (N past the ends), concatenated."""
    with genome.ReferenceGenome(tiny["reference"]) as reference:
        size = reference.chrom_sizes[chrom]
        codes = []
        for k in range(windows):
            start = window_start + k * L
            window = np.full(L, genome.N_CODE, dtype=np.uint8)
            low, high = max(start, 0), min(start + L, size)
            window[low - start:high - start] = reference.fetch_codes(chrom, low, high)
            codes.append(window)
    out = tiny["track"](genome.one_hot(np.stack(codes)), is_training=False).numpy()  # [windows, 10, 3]
    return out.reshape(-1, out.shape[-1])


def test_predict_regions_predicts_each_region_at_its_own_span(tiny, capsys):
    """A 1 kb region at the end of chrB and a 4.5 kb region 100 bp from the end of chrA: both kept,
    each at its own span, files named by track identifier."""
    workdir = os.path.join(tiny["root"], "spans")
    os.makedirs(workdir)
    bed = os.path.join(workdir, "targets.bed")
    with open(bed, "w") as out:
        out.write("chrB\t2000\t3000\tone_kb\n")      # window [1860, 3140): 140 bp past chrB's end -> N
        out.write("chrA\t1400\t5900\tfour_half_kb\n")  # windows [1090, 6210): 210 bp past chrA's end -> N
    output = os.path.join(workdir, "targets.npy")
    assert _run(["predict-regions", "original", bed, "--head", tiny["track_export"], "--reference", tiny["reference"],
                 "--strides", "1", "--output", output]) == 0
    captured = capsys.readouterr()
    assert "2/2 regions predicted (5 window(s) of 1280 bp" in captured.out
    array = np.load(output)
    assert array.shape == (2, 36, 3)
    assert np.isfinite(array[0, :8]).all() and np.isnan(array[0, 8:]).all()  # 8 bins, NaN padding
    assert np.isfinite(array[1]).all()
    np.testing.assert_allclose(array[0, :8], _direct_tracks(tiny, "chrB", 1860, 1)[1:9], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(array[1], _direct_tracks(tiny, "chrA", 1090, 4)[2:38], rtol=1e-4, atol=1e-6)

    # One bedGraph + bigWig per track identifier, each with a UCSC track line.
    prefix = os.path.join(workdir, "targets")
    assert sorted(os.listdir(workdir)) == sorted(
        ["targets.bed", "targets.npy", "targets.npy.json"] + [f"targets.{t}.{ext}" for t in TRACK_IDS
                                                               for ext in ("bedgraph", "bw")])
    header, rows = _bedgraph(f"{prefix}.CNhs14109.bedgraph")
    assert header.startswith('track type=bedGraph name="targets.CNhs14109" description="CNhs14109 predicted by ')
    # chrA row: bins from 1346 cut at the region [1400, 5900); chrB row: bins from 1988 cut at [2000, 3000).
    chr_a = [r for r in rows if r[0] == "chrA"]
    chr_b = [r for r in rows if r[0] == "chrB"]
    assert [r[0] for r in rows] == ["chrA"] * 36 + ["chrB"] * 8  # byte order, sorted by start
    assert (chr_a[0][1:3], chr_a[1][1:3], chr_a[-1][1:3]) == ((1400, 1474), (1474, 1602), (5826, 5900))
    assert (chr_b[0][1:3], chr_b[-1][1:3]) == ((2000, 2116), (2884, 3000))
    assert all(a[2] == b[1] for a, b in zip(chr_a, chr_a[1:]))  # contiguous, non-overlapping
    assert chr_b[0][3] == pytest.approx(float(array[0, 0, 1]), rel=1e-5)
    import pyBigWig

    bw = pyBigWig.open(f"{prefix}.GSM3852792.bw")
    assert bw.chroms() == {"chrA": 6_000, "chrB": 3_000}
    assert bw.intervals("chrB")[-1][:2] == (2884, 3000)
    bw.close()

    # to-bedgraph reads the tiling from the sidecar: same intervals, no chromosome sizes needed
    # (every interval lies inside its BED region).
    again = os.path.join(workdir, "again")
    assert _run(["to-bedgraph", bed, output, "--tracks", "1", "--prefix", again]) == 0
    assert _bedgraph(f"{again}.CNhs14109.bedgraph")[1] == rows
    header, _ = _bedgraph(f"{again}.CNhs14109.bedgraph")
    assert header.startswith('track type=bedGraph name="again.CNhs14109"')


def test_track_table_names_a_head_checkpoint(tiny, capsys):
    """An original-format head checkpoint records no identifiers: --track-table supplies them."""
    workdir = os.path.join(tiny["root"], "named")
    os.makedirs(workdir)
    bed = os.path.join(workdir, "r.bed")
    with open(bed, "w") as out:
        out.write("chrA\t2000\t2300\tr\n")
    table = os.path.join(workdir, "tracks.tsv")
    rows = [f"{i}\tCAGE-{i}\tdata/{i}.bw\t384\t1\tsum\tmESC CAGE {i}\n" for i in range(3)]
    with open(table, "w") as out:
        out.write("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n" + "".join(rows))
    argv = ["predict-regions", tiny["trunk"], bed, "--head", tiny["track_ckpt"], "--reference", tiny["reference"],
            "--length", str(L), "--strides", "1", "--output", os.path.join(workdir, "r.npy")]
    assert _run(argv + ["--track-table", table]) == 0
    header, _ = _bedgraph(os.path.join(workdir, "r.CAGE-2.bedgraph"))
    assert header.startswith('track type=bedGraph name="r.CAGE-2" description="mESC CAGE 2 predicted by ')
    assert os.path.exists(os.path.join(workdir, "r.CAGE-0.bw"))
    with open(table, "w") as out:  # a table for another head
        out.write("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n" + "".join(rows[:2]))
    assert _run(argv[:-1] + [os.path.join(workdir, "other.npy"), "--track-table", table]) == 2
    assert "the head predicts 3 tracks" in capsys.readouterr().err


def test_to_bedgraph_refuses_without_sizes_and_clips_with_them(tiny, capsys):
    """Centred layout (an array without sidecar): 4 bins of 128 bp = 512 bp centred on each region."""
    workdir = os.path.join(tiny["root"], "clip")
    os.makedirs(workdir)
    bed = os.path.join(workdir, "regions.bed")
    with open(bed, "w") as out:
        out.write("chr1\t0\t200\tleft_edge\n")    # pad 312: row [-156, 356)
        out.write("chr1\t300\t400\tright_edge\n")  # pad 412: row [94, 606); chr1 is 400 bp
    path = os.path.join(workdir, "array.npy")
    np.save(path, np.array([[1, 2, 3, 4], [10, 20, 30, 40]], dtype=np.float32))
    prefix = os.path.join(workdir, "out")
    assert _run(["to-bedgraph", bed, path, "--prefix", prefix]) == 2
    err = capsys.readouterr().err
    assert "regions.bed:1" in err and "chr1:-156" in err and "--chrom-sizes" in err
    assert sorted(os.listdir(workdir)) == ["array.npy", "regions.bed"]  # nothing written
    sizes = os.path.join(workdir, "chrom.sizes")
    with open(sizes, "w") as out:
        out.write("chr1\t400\n")
    assert _run(["to-bedgraph", bed, path, "--prefix", prefix, "--chrom-sizes", sizes]) == 0
    header, rows = _bedgraph(prefix + ".0.bedgraph")
    assert header == 'track type=bedGraph name="out.0" description="track 0"\n'
    # Row 0 bins [-156,-28) [-28,100) [100,228) [228,356) = 1 2 3 4, clipped at 0 (the first vanishes);
    # row 1 bins [94,222) [222,350) [350,478) [478,606) = 10 20 30 40, clipped at 400. Overlaps averaged.
    assert rows == [("chr1", 0, 94, 2.0), ("chr1", 94, 100, 6.0), ("chr1", 100, 222, 6.5),
                    ("chr1", 222, 228, 11.5), ("chr1", 228, 350, 12.0), ("chr1", 350, 356, 17.0),
                    ("chr1", 356, 400, 30.0)]
    # Regions whose rows all start at >= 0 need no sizes.
    inside = os.path.join(workdir, "inside.bed")
    with open(inside, "w") as out:
        out.write("chr1\t1000\t1200\ta\nchr1\t2000\t2100\tb\n")
    assert _run(["to-bedgraph", inside, path, "--prefix", os.path.join(workdir, "inside")]) == 0
    _, rows = _bedgraph(os.path.join(workdir, "inside.0.bedgraph"))
    assert rows[0] == ("chr1", 844, 972, 1.0) and rows[-1] == ("chr1", 2178, 2306, 40.0)
    # Sizes that lack a chromosome of the BED: one clear error.
    with open(sizes, "w") as out:
        out.write("chr2\t400\n")
    assert _run(["to-bedgraph", bed, path, "--prefix", prefix, "--chrom-sizes", sizes]) == 2
    assert "chr1 missing from the chromosome sizes" in capsys.readouterr().err


def test_track_labels_and_lines():
    from components.signal_output import labelled_columns, safe_label, track_line

    assert safe_label("mESC CAGE/rep 1") == "mESC_CAGE_rep_1"
    assert track_line("t.a", 'say "hi"') == "track type=bedGraph name=\"t.a\" description=\"say 'hi'\"\n"
    info = {"labels": ["a b", "a/b", "c"], "descriptions": ["A", "B", "C"]}
    assert labelled_columns({0: 0, 1: 1, 2: 2}, info) == ({"a_b": 0, "a_b-1": 1, "c": 2},
                                                         {"a_b": "A", "a_b-1": "B", "c": "C"})
    assert labelled_columns({5: 1}, {}) == ({5: 1}, {5: "track 5"})  # no sidecar: the track index


# ------------------------------------------------------------------------------ predict
def test_predict_accepts_examples_directory_and_warns_for_random_heads(tiny, capsys):
    artifact = os.path.join(tiny["root"], "Examples", "7")
    os.makedirs(artifact)
    shutil.copy(tiny["table"], os.path.join(artifact, "dataset.tsv"))
    from_dir, from_table = (os.path.join(tiny["root"], name) for name in ("from_dir.tsv", "from_table.tsv"))
    common = ["--sample", "2", "--seed", "3", "--head", "mouse", "--track", "4"]
    assert _run(["predict", tiny["payload_export"], artifact, *common, "--output", from_dir]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'mouse' head" in warnings[0] and "random baseline" in warnings[0]
    assert _run(["predict", tiny["payload_export"], tiny["table"], *common, "--output", from_table]) == 0
    capsys.readouterr()
    assert open(from_dir).read() == open(from_table).read()
    with open(from_dir) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert {tuple(item.split("=")[0] for item in row["peak"].split(";")) for row in rows} == {("DHS1", "DHS2")}
    # An Enformer checkpoint's species heads are trained weights: no warning.
    bed = os.path.join(tiny["root"], "one.bed")
    with open(bed, "w") as out:
        out.write("chrA\t100\t400\tr\n")
    assert _run(["predict-regions", tiny["trunk"], bed, "--head", "mouse", "--tracks", "4", "--reference",
                 tiny["reference"], "--length", str(L), "--strides", "1",
                 "--output", os.path.join(tiny["root"], "one.npy")]) == 0
    assert "random baseline" not in capsys.readouterr().err
    assert os.path.exists(os.path.join(tiny["root"], "one.mouse-4.bedgraph"))
    # A directory without the table: one clear error.
    empty = os.path.join(tiny["root"], "Examples", "8")
    os.makedirs(empty)
    assert _run(["predict", tiny["payload_export"], empty, "--output", os.path.join(tiny["root"], "x.tsv")]) == 2
    assert "without dataset.tsv" in capsys.readouterr().err


def test_prediction_commands_for_the_pushed_model():
    from pipeline.config import load_config
    from pipeline.report import prediction_commands

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_config(os.path.join(here, "pipeline", "configs", "demo.yaml"))
    predict, regions = prediction_commands(config, "out/demo/pipeline/PayloadExampleGen/examples/1")
    # The demo's trunk has one 3-track human head, not the published mouse head predict defaults to.
    assert predict == ("enformer-tfx predict out/demo/serving out/demo/pipeline/PayloadExampleGen/examples/1 "
                       "--sample 4 --head human --track 0 --output out/demo/predictions/payloads.tsv")
    random_start = load_config(os.path.join(here, "pipeline", "configs", "demo_random.yaml"))
    assert "--head" not in prediction_commands(random_start, "examples/1")[0]  # published head set
    assert regions == ("enformer-tfx predict-regions out/demo/serving chr3:480037-519965 --head finetune "
                       "--reference out/demo/data/reference.fa --output out/demo/predictions/context.npy")
    assert prediction_commands(config, None) == [regions]


# ------------------------------------------------------------------------------ demo BED labels
def test_demo_annotation_bed_names_sites(demo_data):
    import collections
    import re

    labels = collections.defaultdict(list)
    for record in genome.read_bed(os.path.join(demo_data, "annotation.bed"), require_name=True):
        assert re.fullmatch(r"(DHS[1-8]|ACT1)(\.\d+)?", record.name), record.name
        labels[record.chrom].append(record.name)
    assert all(len(names) == len(set(names)) for names in labels.values()), "labels unique within a payload"
    assert sum(name.startswith("DHS") for names in labels.values() for name in names) > 0


def test_site_labels_by_hand(tmp_path):
    from pipeline.demo_data import MotifSite, write_annotation_bed

    sequence = "A" * 1000
    sites = [MotifSite("ACT1", 120, 1), MotifSite("ACT1", 200, -1), MotifSite("ACT2", 210, 1),
             MotifSite("ACT1", 600, 1)]
    spans = {"LCR~1": [(100, 260, 0), (400, 560, 3)]}  # element 0 then element 3; 600 is a spacer
    path = tmp_path / "sites.bed"
    write_annotation_bed(str(path), [("LCR~1", "g", sequence, sites)], spans)
    assert [line.split("\t")[:4] for line in path.read_text().splitlines()] == [
        ["LCR_1", "80", "169", "DHS1"], ["LCR_1", "160", "249", "DHS1.2"], ["LCR_1", "560", "649", "ACT1"]]
