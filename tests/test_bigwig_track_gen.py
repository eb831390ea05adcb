"""BigWigTrackGen: binning rule, sampling, splits, Beam pipeline, TFX executor, CLI, bad input.

Fixtures are tiny real files: a 3-chromosome FASTA (genome.write_fasta) and four bigWigs written
with pyBigWig, one per sum_stat. Signal values are multiples of 1/8 so sums, means and medians
are exact in float64 and the expected targets can be compared bit for bit.
"""
import glob
import gzip
import json
import os

import numpy as np
import pyBigWig
import pytest

from components import bigwig, records
from components.bigwig_track_gen import dataset, sampling
from components.bigwig_track_gen.params import TrackDatasetConfig
from components.direct_runner import direct_pipeline
from components.genome import ReferenceGenome, read_bed, write_fasta
from components.errors import InputError

CHROMS = {"chr1": 30_000, "chr2": 20_000, "chr3": 12_000}
LENGTH, WIDTH = 1280, 128
# index, identifier, clip, scale, sum_stat; track 3 overflows float16 unless clipped.
TRACKS = [
    (0, "cage_sum", 384.0, 1.0, "sum"),
    (1, "atac_mean", 2.0, 0.5, "mean"),
    (2, "chip_max", 384.0, 2.0, "max"),
    (3, "big_sum_sqrt", 1.0e6, 4096.0, "sum_sqrt"),
]
MAPPABLE = [("chr1", 200, 14_000), ("chr1", 13_000, 29_500), ("chr2", 0, 9_000), ("chr2", 10_000, 20_000),
            ("chr3", 100, 11_900), ("chr1", 29_600, 30_000)]  # overlapping pair merges; last is too short


def write_bigwig(path, chroms, rng, negative=False, empty=()):
    """Runs of 1-40 bp with values k/8 (some negative if asked), ~30% of bases without data."""
    handle = pyBigWig.open(path, "w")
    handle.addHeader(list(chroms.items()), maxZooms=0)
    for chrom, size in chroms.items():
        lengths = rng.integers(1, 40, size=size // 5)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        ends = starts + lengths
        keep = (ends <= size) & (rng.random(starts.size) < 0.7)
        for lo, hi in empty:  # a stretch without any data (all NaN)
            keep &= (ends <= lo) | (starts >= hi)
        values = rng.integers(-40 if negative else 0, 400, size=starts.size) / 8.0
        handle.addEntries([chrom] * int(keep.sum()), starts[keep].tolist(), ends=ends[keep].tolist(),
                          values=values[keep].tolist())
    handle.close()


def write_tracks_tsv(path, rows, files):
    with open(path, "w") as handle:
        handle.write("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n")
        for (index, name, clip, scale, stat), file in zip(rows, files):
            handle.write(f"{index}\t{name}\t{file}\t{clip}\t{scale}\t{stat}\tdescription of {name}\n")


def write_bed(path, rows):
    with open(path, "w") as handle:
        handle.writelines(f"{c}\t{s}\t{e}\n" for c, s, e in rows)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bigwig_inputs")
    rng = np.random.default_rng(11)
    write_fasta(str(root / "genome.fa"), [(c, "".join(rng.choice(list("ACGTNacgt"), n))) for c, n in CHROMS.items()])
    files = []
    for index, *_ in TRACKS:
        files.append(f"track{index}.bw")  # relative: resolved against the table's directory
        write_bigwig(str(root / files[-1]), CHROMS, rng, negative=index == 1, empty=[(2_000, 6_000)] if index else [])
    write_tracks_tsv(root / "tracks.tsv", TRACKS, files)
    write_bed(root / "mappable.bed", MAPPABLE)
    return root


def make_config(root, **overrides):
    values = dict(reference=str(root / "genome.fa"), mappable_bed=str(root / "mappable.bed"),
                  tracks=str(root / "tracks.tsv"), length=LENGTH, width=WIDTH, size=12, batches=3, seed=5,
                  eval_chroms=("chr3",))
    values.update(overrides)
    return TrackDatasetConfig(**values)


def expected_bins(values, width, clip, scale, stat):
    """The binning rule written out directly, bin by bin, in float64."""
    v = np.asarray(values, dtype=np.float64).copy()
    missing = np.isnan(v)
    v[missing] = np.median(v[~missing]) if (~missing).any() else 0.0
    out = []
    for b in range(v.size // width):
        x = v[b * width : (b + 1) * width]
        if stat == "sum":
            r = x.sum()
        elif stat == "mean":
            r = x.mean()
        elif stat == "max":
            r = x.max()
        else:
            s = x.sum()
            r = np.sign(s) * (np.sqrt(1.0 + abs(s)) - 1.0)
        r = min(max(r * scale, -clip), clip)
        out.append(min(max(r, -65504.0), 65504.0))
    return np.array(out).astype(np.float16)


def expected_target(root, chrom, start, end):
    columns = []
    for (index, _, clip, scale, stat) in TRACKS:
        with pyBigWig.open(str(root / f"track{index}.bw")) as handle:
            columns.append(expected_bins(handle.values(chrom, start, end, numpy=True), WIDTH, clip, scale, stat))
    return np.stack(columns, axis=1)


def read_records(path_glob):
    """All records of the matching shard files, parsed with TensorFlow via the record contract."""
    import tensorflow as tf

    spec = records.track_feature_spec()
    parsed = []
    for path in sorted(glob.glob(path_glob)):
        for raw in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            ex = tf.io.parse_single_example(raw, spec)
            parsed.append({
                "chrom": ex["chrom"].numpy().decode(), "start": int(ex["start"]), "end": int(ex["end"]),
                "sequence": np.frombuffer(ex["sequence"].numpy(), np.uint8),
                "target": records.decode_target(ex["target"], len(TRACKS)).numpy(),
            })
    return parsed


def assert_nothing_published(out):
    leftovers = sorted(os.listdir(out)) if os.path.exists(out) else []
    assert leftovers == [], f"outputs left behind: {leftovers}"


# --- binning rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stat", bigwig.SUM_STATS)
def test_bin_signal_matches_direct_rule(stat):
    rng = np.random.default_rng(1)
    values = (rng.integers(-20, 3000, size=20 * WIDTH) / 8.0).astype(np.float32)
    values[rng.random(values.size) < 0.3] = np.nan
    values[5 * WIDTH : 7 * WIDTH] = np.nan  # whole bins of NaN take the median
    for clip, scale in ((384.0, 1.0), (50.0, 0.25), (1.0e6, 4096.0)):  # last one overflows float16
        spec = bigwig.TrackSpec(0, "t", "t.bw", clip, scale, stat, "")
        got = bigwig.bin_signal(values, WIDTH, spec)
        assert got.dtype == np.float16 and got.shape == (20,)
        np.testing.assert_array_equal(got, expected_bins(values, WIDTH, clip, scale, stat))
        assert np.isfinite(got).all()


def test_bin_signal_edge_cases():
    spec = bigwig.TrackSpec(0, "t", "t.bw", 5.0, 2.0, "sum", "")
    np.testing.assert_array_equal(bigwig.bin_signal(np.full(256, np.nan, np.float32), WIDTH, spec), [0, 0])
    # scale before clip: 128 x 1 x 2 = 256 -> clipped to 5
    np.testing.assert_array_equal(bigwig.bin_signal(np.ones(256, np.float32), WIDTH, spec), [5, 5])
    huge = bigwig.TrackSpec(0, "t", "t.bw", 1e9, 1e6, "max", "")
    got = bigwig.bin_signal(np.array([1.0, -1.0] * 128, np.float32), WIDTH, huge)
    np.testing.assert_array_equal(got, [65504, 65504])  # float16 range, never inf


@pytest.mark.parametrize("stat,expected", [
    # Hand-computed from bins of 4 bp with sums 8, -8, 0, 3, -24 and maxima 5, -1, 1, 3, -6:
    # sum_sqrt = sign(s) (sqrt(1 + |s|) - 1) gives 2, -2, 0, 1, -4.
    ("sum", [8, -8, 0, 3, -24]),
    ("mean", [2, -2, 0, 0.75, -6]),
    ("max", [5, -1, 1, 3, -6]),
    ("sum_sqrt", [2, -2, 0, 1, -4]),
])
def test_bin_statistics_by_hand_including_negative_bins(stat, expected):
    values = np.array([5, 1, 1, 1, -1, -2, -3, -2, 1, -1, 1, -1, 0, 3, 0, 0, -6, -6, -6, -6], np.float32)
    spec = bigwig.TrackSpec(0, "t", "t.bw", 100.0, 1.0, stat, "")
    np.testing.assert_array_equal(bigwig.bin_signal(values, 4, spec), np.array(expected, np.float16))


def test_median_ignoring_nan_equals_numpy():
    rng = np.random.default_rng(2)
    for dense in (False, True):
        for _ in range(20):
            runs = rng.integers(1, 60, size=400)
            values = np.repeat(rng.gamma(1.0, 3.0, size=400), runs)[:5000].astype(np.float32)
            if dense:
                values = rng.normal(size=5000).astype(np.float32)
            values[rng.random(values.size) < rng.random()] = np.nan
            finite = values[~np.isnan(values)]
            assert bigwig.median_ignoring_nan(values) == np.median(finite.astype(np.float64))


def test_track_reader_batches_equal_single_windows(inputs):
    specs = bigwig.read_track_table(str(inputs / "tracks.tsv"))
    starts = [100, 700, 1_500, 5_000, 5_100, 20_000]  # overlapping, adjacent and distant windows
    with bigwig.TrackReader(specs, WIDTH) as reader:
        batch = reader.read_windows("chr1", starts, LENGTH)
        assert batch.shape == (6, LENGTH // WIDTH, 4) and batch.dtype == np.float16
        for start, target in zip(starts, batch):
            np.testing.assert_array_equal(target, reader.read("chr1", start, start + LENGTH))
            np.testing.assert_array_equal(target, expected_target(inputs, "chr1", start, start + LENGTH))


def test_read_track_table(inputs, tmp_path):
    specs = bigwig.read_track_table(str(inputs / "tracks.tsv"))
    assert [s.identifier for s in specs] == [t[1] for t in TRACKS]
    assert specs[0].file == str(inputs / "track0.bw") and specs[1].sum_stat == "mean" and specs[1].clip == 2.0
    # Whitespace-aligned table as pasted from the original README, description with spaces.
    (tmp_path / "t.tsv").write_text("index identifier file clip scale sum_stat description\n"
                                    "0   CNhs14104  /data/a.bw  384 1   sum mESC CAGE 0\n")
    (spec,) = bigwig.read_track_table(str(tmp_path / "t.tsv"))
    assert spec.file == "/data/a.bw" and spec.description == "mESC CAGE 0"


# --- sampling -------------------------------------------------------------------------------------


def test_sampling_without_replacement_inside_intervals():
    intervals = sampling.merge_intervals(read_bed_rows(MAPPABLE))
    assert [(r.chrom, r.start, r.end) for r in intervals][:2] == [("chr1", 200, 29_500), ("chr1", 29_600, 30_000)]
    pieces = sampling.assign_splits(intervals, LENGTH, eval_chroms=("chr3",))
    total = sum(sampling.count_starts(r.length, LENGTH, 7) for r, _ in pieces)
    drawn = sampling.sample_windows(pieces, length=LENGTH, step=7, count=total, seed=3)  # every candidate
    assert len(set((c, s) for c, s, _ in drawn)) == total
    for chrom, start, split in drawn:
        assert any(r.chrom == chrom and r.start <= start and start + LENGTH <= r.end and (start - r.start) % 7 == 0
                   for r in intervals)
        assert (split == "eval") == (chrom == "chr3")
    again = sampling.sample_windows(pieces, length=LENGTH, step=7, count=50, seed=3)
    assert again == sampling.sample_windows(pieces, length=LENGTH, step=7, count=50, seed=3)
    assert again != sampling.sample_windows(pieces, length=LENGTH, step=7, count=50, seed=4)


def test_fraction_split_blocks_never_share_bases():
    intervals = sampling.merge_intervals(read_bed_rows([("chr1", 0, 1_000_000), ("chr2", 5, 400_000)]))
    pieces = sampling.assign_splits(intervals, 1000, eval_fraction=0.25, split_block=10_000, seed=9)
    eval_bp = sum(r.length for r, s in pieces if s == "eval")
    assert 0.15 < eval_bp / 1_399_995 < 0.35
    windows = sampling.plan_windows(intervals, length=1000, step=1, size=500, batches=4, seed=9,
                                    eval_fraction=0.25, split_block=10_000)
    for w in windows:  # each window lies inside one piece, and pieces of different splits are disjoint
        assert any(r.chrom == w.chrom and r.start <= w.start and w.end <= r.end and s == w.split for r, s in pieces)


def read_bed_rows(rows):
    from components.genome import BedRecord

    return [BedRecord(c, s, e, "", i + 1) for i, (c, s, e) in enumerate(rows)]


# --- the Beam pipeline ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "ds"
    info = dataset.build_track_dataset(make_config(inputs), str(out), direct_pipeline, bed_copy=f"{out}.bed")
    return out, info


def test_dataset_records_match_direct_computation(inputs, built):
    out, info = built
    assert info["n_tracks"] == 4 and info["bins"] == LENGTH // WIDTH
    assert info["counts"]["train"]["written"] + info["counts"]["eval"]["written"] == 36
    train, evals = read_records(f"{out}/Split-train/*.gz"), read_records(f"{out}/Split-eval/*.gz")
    assert len(train) == info["counts"]["train"]["written"] and len(evals) == info["counts"]["eval"]["written"]
    intervals = [(c, s, e) for c, s, e in [(r.chrom, r.start, r.end) for r in
                                            sampling.merge_intervals(read_bed(str(inputs / "mappable.bed")))]]
    with ReferenceGenome(str(inputs / "genome.fa")) as genome:
        for record in train + evals:
            chrom, start, end = record["chrom"], record["start"], record["end"]
            assert end - start == LENGTH
            assert any(c == chrom and s <= start and end <= e for c, s, e in intervals)
            np.testing.assert_array_equal(record["sequence"], genome.fetch_codes(chrom, start, end))
            np.testing.assert_array_equal(record["target"], expected_target(inputs, chrom, start, end))
    keys = [(r["chrom"], r["start"]) for r in train + evals]
    assert len(set(keys)) == len(keys)  # without replacement
    assert {r["chrom"] for r in evals} == {"chr3"} and "chr3" not in {r["chrom"] for r in train}


def test_dataset_side_files(inputs, built):
    out, info = built
    assert sorted(os.listdir(out)) == ["Split-eval", "Split-train", "dataset_info.json", "tracks.tsv", "windows.bed"]
    assert sorted(os.listdir(out / "Split-train")) == [f"data_tfrecord-0000{i}-of-00003.gz" for i in range(3)]
    copied = bigwig.read_track_table(str(out / "tracks.tsv"))
    assert [s.identifier for s in copied] == info["tracks"] == [t[1] for t in TRACKS]
    assert copied[2].file == str(inputs / "track2.bw")
    lines = [line.split("\t") for line in open(f"{out}.bed").read().splitlines() if not line.startswith("#")]
    assert open(f"{out}.bed").read() == open(out / "windows.bed").read()
    train = read_records(f"{out}/Split-train/*.gz")
    bed_train = [(c, int(s), int(e)) for c, s, e, split, *_ in lines if split == "train"]
    assert bed_train == [(r["chrom"], r["start"], r["end"]) for r in train]  # record order


@pytest.mark.slow
def test_schema_parses_and_matches_records(built):
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = os.path.join(os.path.dirname(__file__), "..", "schemas", "track_schema.pbtxt")
    schema = text_format.Parse(open(path).read(), schema_pb2.Schema())
    assert sorted(f.name for f in schema.feature) == ["chrom", "end", "sequence", "start", "target"]
    out, _ = built
    stats = tfdv.generate_statistics_from_tfrecord(f"{out}/Split-*/*.gz")
    anomalies = tfdv.validate_statistics(stats, schema)
    assert not anomalies.anomaly_info, anomalies


def test_fraction_mode_and_cutoff(inputs, built, tmp_path):
    out, info = built
    stds = sorted(bigwig.max_track_std(r["target"]) for r in read_records(f"{out}/Split-*/*.gz"))
    cutoff = float(stds[len(stds) // 2])
    config = make_config(inputs, eval_chroms=(), eval_fraction=0.3, split_block=4 * LENGTH, cutoff=cutoff)
    info2 = dataset.build_track_dataset(config, str(tmp_path / "f"), direct_pipeline)
    records = {s: read_records(f"{tmp_path}/f/Split-{s}/*.gz") for s in ("train", "eval")}
    assert records["train"] and records["eval"]
    skipped = sum(c["below_cutoff"] for c in info2["counts"].values())
    assert skipped > 0 and skipped + len(records["train"]) + len(records["eval"]) == 36
    assert all(bigwig.max_track_std(r["target"]) >= cutoff for rs in records.values() for r in rs)
    for a in records["train"]:  # never the same bases in train and eval
        for b in records["eval"]:
            assert a["chrom"] != b["chrom"] or a["end"] <= b["start"] or b["end"] <= a["start"]


@pytest.mark.slow
def test_same_bytes_with_one_and_two_workers(inputs, built, tmp_path):
    out, _ = built
    dataset.build_track_dataset(make_config(inputs), str(tmp_path / "w2"), lambda: direct_pipeline(2))
    names = sorted(os.path.relpath(p, out) for p in glob.glob(f"{out}/**/*", recursive=True) if os.path.isfile(p))
    assert names == sorted(os.path.relpath(p, tmp_path / "w2")
                           for p in glob.glob(f"{tmp_path}/w2/**/*", recursive=True) if os.path.isfile(p))
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name
    with gzip.open(out / "Split-train" / "data_tfrecord-00000-of-00003.gz") as handle:
        assert handle.read(8)  # a real gzip stream with records


def test_executor_do_on_temp_uri(inputs, tmp_path):
    from tfx.types import artifact_utils, standard_artifacts

    from components.bigwig_track_gen import component, executor

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    props = {"reference": str(inputs / "genome.fa"), "mappable_bed": str(inputs / "mappable.bed"),
             "tracks": str(inputs / "tracks.tsv"), "length": LENGTH, "width": WIDTH, "cutoff": 0.0, "size": 10,
             "batches": 2, "seed": 1, "step": 1, "eval_chroms": "chr3", "eval_fraction": None, "split_block": None}
    executor.Executor().Do({}, {"examples": [examples]}, props)
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples.get_int_custom_property("n_tracks") == 4
    assert examples.get_string_custom_property("tracks") == ",".join(t[1] for t in TRACKS)
    records = read_records(f"{examples.uri}/Split-eval/data_tfrecord-*.gz")
    assert records and {r["chrom"] for r in records} == {"chr3"}
    n_train = len(read_records(f"{examples.uri}/Split-train/data_tfrecord-*.gz"))
    assert examples.get_int_custom_property("train_windows") == n_train == 20 - len(records)
    # The component wires the same parameters.
    node = component.BigWigTrackGen(str(inputs / "genome.fa"), str(inputs / "mappable.bed"), str(inputs / "tracks.tsv"),
                                    length=LENGTH, size=10, eval_chroms=["chr3", "chrX"])
    assert node.exec_properties["eval_chroms"] == "chr3,chrX"
    assert (node.exec_properties["width"], node.exec_properties["sampling"]) == (128, "uniform")  # config defaults
    with pytest.raises(ValueError, match="must be a positive multiple of width"):  # refused when built
        component.BigWigTrackGen(str(inputs / "genome.fa"), str(inputs / "mappable.bed"), str(inputs / "tracks.tsv"),
                                 length=LENGTH + 1)
    assert node.outputs["examples"].type_name == "Examples"
    # Failure inside Do leaves nothing in the artifact directory.
    failing = standard_artifacts.Examples()
    failing.uri = str(tmp_path / "failing")
    os.makedirs(failing.uri)
    with pytest.raises(InputError, match="below the cutoff"):
        executor.Executor().Do({}, {"examples": [failing]}, {**props, "cutoff": 1e9})
    assert_nothing_published(failing.uri)


def test_cli_make_track_dataset(inputs, tmp_path, capsys):
    from pipeline import cli

    prefix = tmp_path / "cli" / "dataset"
    argv = ["make-track-dataset", "--reference", str(inputs / "genome.fa"), "--length", str(LENGTH), "--width",
            str(WIDTH), "--cutoff", "0.00001", "--size", "8", "--batches", "2", "--seed", "55", "--prefix", str(prefix),
            "--eval-fraction", "0.3", "--split-block", "5120", str(inputs / "mappable.bed"), str(inputs / "tracks.tsv")]
    assert cli.main(argv) == 0
    assert "Split-train" in capsys.readouterr().out
    assert os.path.exists(f"{prefix}.bed") and glob.glob(f"{prefix}/Split-eval/data_tfrecord-*.gz")
    assert json.load(open(prefix / "dataset_info.json"))["n_tracks"] == 4
    assert cli.main(argv) == 2  # the prefix already holds a dataset
    assert "already holds a dataset" in capsys.readouterr().err
    bad = list(argv)
    bad[bad.index("--length") + 1] = "1000"
    assert cli.main(bad) == 2
    assert "multiple of width" in capsys.readouterr().err


# --- bad input: one clear error, nothing written ------------------------------------------------


def bad_tracks(root, tmp, header=None, stat="sum"):
    path = tmp / f"bad_tracks_{stat}_{header is None}.tsv"
    rows = [(0, "a", 384, 1, stat)]
    write_tracks_tsv(path, rows, [str(root / "track0.bw")])
    if header is not None:
        text = path.read_text().splitlines()
        path.write_text("\n".join([header] + text[1:]) + "\n")
    return str(path)


def test_bad_inputs_raise_and_write_nothing(inputs, tmp_path):
    out = str(tmp_path / "out")
    garbage = tmp_path / "garbage.bw"
    garbage.write_bytes(b"not a bigwig at all")
    no_chr3 = tmp_path / "no_chr3.bw"
    write_bigwig(str(no_chr3), {"chr1": 30_000, "chr2": 20_000}, np.random.default_rng(0))
    short_bed, chr_z_bed = tmp_path / "short.bed", tmp_path / "chrz.bed"
    write_bed(short_bed, [("chr1", 0, 1000), ("chr2", 50, 1279)])
    write_bed(chr_z_bed, [("chr1", 0, 5000), ("chrZ", 0, 5000)])
    one_track = tmp_path / "one.tsv"
    exists = sum(sampling.count_starts(r.length, LENGTH, 1)
                 for r in sampling.merge_intervals(read_bed(str(inputs / "mappable.bed"))))
    cases = [
        (dict(tracks=bad_tracks(inputs, tmp_path, header="index\tidentifier\tfile\tclip\tsum_stat\tdescription")),
         "lacks column.*scale"),
        (dict(tracks=bad_tracks(inputs, tmp_path, stat="median")), "unknown sum_stat 'median'"),
        (dict(length=1000), "multiple of width"),
        (dict(mappable_bed=str(short_bed)), "no mappable interval is at least 1280 bp long"),
        (dict(mappable_bed=str(chr_z_bed)), "chromosome 'chrZ' is not in .*genome.fa"),
        (dict(size=exists, batches=2), f"only {exists} distinct windows"),
        (dict(eval_chroms=("chrY",)), "eval chromosome.*chrY"),
    ]
    write_tracks_tsv(one_track, [(0, "broken", 384, 1, "sum")], [str(garbage)])
    cases.append((dict(tracks=str(one_track)), "track 0 'broken'.*garbage.bw"))
    two_tracks = tmp_path / "two.tsv"
    write_tracks_tsv(two_tracks, TRACKS[:2], [str(inputs / "track0.bw"), str(no_chr3)])
    cases.append((dict(tracks=str(two_tracks)), "'chr3' is not in the bigWig of track 1 'atac_mean'"))
    for overrides, message in cases:
        with pytest.raises(InputError, match=message):
            dataset.build_track_dataset(make_config(inputs, **overrides), out, direct_pipeline)
        assert_nothing_published(out)
    # Fails after the pipeline ran: every window below the cutoff.
    with pytest.raises(InputError, match="all 36 sampled windows are below the cutoff"):
        dataset.build_track_dataset(make_config(inputs, cutoff=1e9), out, direct_pipeline,
                                    bed_copy=str(tmp_path / "out.bed"))
    assert_nothing_published(out)
    assert not os.path.exists(tmp_path / "out.bed")


def test_trainer_inputs_read_generator_output(built):
    """Round trip: BigWigTrackGen's shards through ``trainer.inputs`` (the trainer's reader)."""
    from trainer import inputs

    out, info = built
    expected = read_records(str(records.shard_pattern(str(out), "train")))
    decoded = list(inputs.track_records(records.shard_pattern(str(out), "train"), info["n_tracks"]))
    assert len(decoded) == len(expected) == info["counts"]["train"]["written"]
    for (codes, target), record in zip(decoded, expected):
        assert codes.dtype.name == "uint8" and codes.shape == (LENGTH,)
        assert target.dtype.name == "float32" and target.shape == (LENGTH // WIDTH, len(TRACKS))
        np.testing.assert_array_equal(codes.numpy(), record["sequence"])
        np.testing.assert_array_equal(target.numpy(), record["target"])
