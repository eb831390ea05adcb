"""Prediction tools: ``predict``, ``predict-regions``, ``to-bedgraph`` on a tiny model and genome."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from components import genome

from tests.conftest import TINY_WINDOW as L  # window bp (10 bins): short for speed
CONSTRUCT = L + 384
N_PAYLOADS = 4


def _run(argv):
    from pipeline.cli import main

    return main(argv)


def _read_tsv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("prediction")


@pytest.fixture(scope="module")
def models(workdir, tiny_payload_model):
    """Tiny models: the shared payload artifact (Format-Serving + weights), a track export, checkpoints."""
    import tensorflow as tf

    from trainer.checkpoints import original_checkpoint
    from trainer.export import export_saved_model
    from trainer.heads import TrackModel

    enformer = tiny_payload_model["enformer"]
    tf.random.set_seed(3)
    track = TrackModel(enformer, 3)
    track_export = export_saved_model(track, os.path.join(workdir, "track_export"), L)
    track_ckpt = os.path.join(workdir, "track_head")
    original_checkpoint(track).save(os.path.join(track_ckpt, "ckpt"))
    trunk_ckpt = os.path.join(workdir, "enformer")
    tf.train.Checkpoint(module=enformer).save(os.path.join(trunk_ckpt, "ckpt"))
    return dict(tiny_payload_model, track=track, track_export=track_export, track_ckpt=track_ckpt, trunk_ckpt=trunk_ckpt)


@pytest.fixture(scope="module")
def reference(workdir):
    rng = np.random.default_rng(0)
    contigs = {"chr1": 12_000, "chr2": 4_000}
    path = os.path.join(workdir, "genome.fa")
    genome.write_fasta(path, [(name, genome.decode_codes(rng.integers(0, 4, size))) for name, size in contigs.items()])
    return path


@pytest.fixture(scope="module")
def table(workdir):
    """A make-dataset table (same columns and formats) with annotated sites."""
    rng = np.random.default_rng(1)
    path = os.path.join(workdir, "dataset.tsv")
    with open(path, "w") as out:
        out.write("index\tname\tgroup\tfold\tactivity\tannotation\tsequence\n")
        for i in range(N_PAYLOADS):
            seq = genome.decode_codes(rng.integers(0, 4, CONSTRUCT))
            seq = seq[:100].lower() + seq[100:-100] + seq[-100:].lower()
            annotation = f"HS1:{300 + 10 * i}-{500 + 10 * i};HS2:900-1000"
            out.write(f"{i}\tP{i}\tg{i % 2}\t{'train' if i % 2 else 'eval'}\t{0.5 + i:.3f}\t{annotation}\t{seq}\n")
    return path


def _mouse(enformer, codes_batch):
    return enformer(genome.one_hot(np.asarray(codes_batch)), is_training=False)["mouse"].numpy()


# ------------------------------------------------------------------------------------- predictor
def test_predictor_fixed_signature_and_rc(models):
    from trainer.predict.predictor import load_predictor, predict_codes

    predictor = load_predictor(models["serving"], {"activity": None, "mouse": [10]})
    assert predictor.input_length == L and set(predictor.outputs) == {"activity", "mouse"}
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 5, (3, L)).astype(np.uint8)
    for n in (3, 1, 2):  # several batch sizes, one trace
        out = predictor(genome.one_hot(codes[:n]))
        assert out["activity"].shape == (n,) and out["mouse"].shape == (n, L // 128, 1)
    assert predictor.trace_count() == 1
    # Same numbers as the model itself (species heads come from the weights checkpoint).
    direct = models["payload"](genome.one_hot(codes), is_training=False).numpy()[:, 0]
    np.testing.assert_allclose(predictor(genome.one_hot(codes))["activity"], direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["mouse"][:, :, 0], _mouse(models["enformer"], codes[:2])[:, :, 10], rtol=1e-5, atol=1e-6)
    # --rc = mean of the forward pass and the bin-flipped reverse-complement pass.
    rc_codes = np.stack([genome.reverse_complement_codes(c) for c in codes])
    forward, backward = predictor(genome.one_hot(codes)), predictor(genome.one_hot(rc_codes))
    both = predict_codes(predictor, codes, reverse_complement=True)
    np.testing.assert_allclose(both["activity"], (forward["activity"] + backward["activity"]) / 2, rtol=1e-5)
    np.testing.assert_allclose(both["mouse"], (forward["mouse"] + backward["mouse"][:, ::-1]) / 2, rtol=1e-5)


def test_every_model_source_resolves_and_loads(models, workdir):
    """Exports (dir, Trainer artifact, Pusher versions), checkpoints of each kind, Trainer checkpoints."""
    import shutil

    import sonnet as snt
    import tensorflow as tf

    from components.errors import InputError
    from trainer import checkpoints
    from trainer.checkpoints import ModelSource, SourceKind, resolve_model
    from trainer.heads import HeadOnly
    from trainer.predict.predictor import load_predictor

    pushed = os.path.join(workdir, "pushed")
    for version in ("9", "10"):
        shutil.copytree(models["serving"], os.path.join(pushed, version))
    for given, location in ((models["serving"], models["serving"]), (models["artifact"], models["serving"]),
                            (pushed, os.path.join(pushed, "10"))):
        source = resolve_model(given)
        assert (source.kind, source.location) == (SourceKind.EXPORT, location)
        assert checkpoints.checkpoint_kind(source.weights) is SourceKind.PAYLOAD
    assert resolve_model(models["trunk_ckpt"]).kind is SourceKind.ENFORMER
    assert resolve_model(models["track_ckpt"]).kind is SourceKind.TRACK_HEAD
    assert resolve_model("original", original=models["trunk_ckpt"]) == resolve_model(models["trunk_ckpt"])
    assert resolve_model("random:small") == ModelSource(SourceKind.RANDOM, "small", "random:small")
    assert resolve_model("tensorhub:/models/hub").location == "/models/hub"

    # Trainer checkpoints (module being fit + optimiser + epoch) under <work_dir>/checkpoints.
    epoch = tf.Variable(1, dtype=tf.int64)
    runs = {}
    for name, fitted in (("payload_run", models["payload"]), ("track_run", HeadOnly(models["track"]))):
        runs[name] = os.path.join(workdir, name)
        checkpoints.training_checkpoint(fitted, snt.optimizers.Adam(), epoch).save(
            os.path.join(runs[name], checkpoints.TRAINING_CHECKPOINT_DIR, "ckpt"))
    assert resolve_model(runs["payload_run"]).kind is SourceKind.TRAINING_PAYLOAD
    assert resolve_model(runs["track_run"]).kind is SourceKind.TRAINING_TRACK_HEAD
    codes = np.random.default_rng(9).integers(0, 5, (2, L)).astype(np.uint8)
    x = genome.one_hot(codes)
    from_training = load_predictor(runs["payload_run"], {"activity": None, "mouse": [3]}, baseline=models["trunk_ckpt"],
                                   key_size=16)  # kernel shapes fix key_size * num_heads only
    out = from_training(x)
    np.testing.assert_allclose(out["activity"], models["payload"](x, is_training=False).numpy()[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["mouse"][:, :, 0], _mouse(models["enformer"], codes)[:, :, 3], rtol=1e-5, atol=1e-6)
    head = load_predictor(models["trunk_ckpt"], {"tracks": None}, L, track_head=runs["track_run"])
    np.testing.assert_allclose(head(x)["tracks"], models["track"](x).numpy(), rtol=1e-5, atol=1e-6)

    # Clear errors; a trunk of another size is refused, never partially restored.
    with pytest.raises(checkpoints.ModelSourceError, match="different shape"):
        load_predictor(runs["payload_run"], {"activity": None}, baseline="random:small", key_size=16)
    with pytest.raises(InputError, match="is a track head only"):
        load_predictor(models["track_ckpt"], {"mouse": None})
    with pytest.raises(InputError, match="path not found"):
        load_predictor(os.path.join(workdir, "nowhere"), {"mouse": None})
    empty = os.path.join(workdir, "empty")
    os.makedirs(empty, exist_ok=True)
    with pytest.raises(InputError, match="without a checkpoint"):
        load_predictor(empty, {"mouse": None})
    other = os.path.join(workdir, "other")
    tf.train.Checkpoint(weights=tf.Variable([1.0])).save(os.path.join(other, "ckpt"))
    with pytest.raises(InputError, match="holds neither an Enformer"):
        load_predictor(other, {"mouse": None})


# ------------------------------------------------------------------------------------- predict
def test_predict_table(models, table, workdir, capsys):
    out = os.path.join(workdir, "pred.tsv")
    argv = ["predict", models["artifact"], table, "--sample", "3", "--stride", "16", "--batch", "2",
            "--seed", "7", "--output", out]
    assert _run(argv) == 0
    rows = _read_tsv(out)
    assert list(rows[0]) == ["index", "name", "group", "fold", "offset", "activity", "predicted", "peaksum", "peak"]
    assert len(rows) == 3 * N_PAYLOADS
    offsets = [int(r["offset"]) for r in rows]
    assert all(0 <= o <= CONSTRUCT - L and o % 16 == 0 for o in offsets)
    for r in rows:
        assert np.isfinite(float(r["predicted"])) and float(r["predicted"]) > 0
        peaks = dict(item.split("=") for item in r["peak"].split(";"))
        assert set(peaks) == {"HS1", "HS2"}
        assert float(r["peaksum"]) == pytest.approx(sum(float(v) for v in peaks.values()), rel=1e-4)
    summary = _read_tsv(out[:-4] + ".summary.tsv")
    assert [s["name"] for s in summary] == [f"P{i}" for i in range(N_PAYLOADS)]
    mean_p0 = np.mean([float(r["predicted"]) for r in rows if r["name"] == "P0"])
    assert float(summary[0]["predicted"]) == pytest.approx(mean_p0, rel=1e-4)
    assert {c["measure"] for c in _read_tsv(out[:-4] + ".correlation.tsv")} == {"predicted", "peaksum"}
    assert "pearson r=" in capsys.readouterr().out
    # Deterministic with a seed; another seed draws other offsets.
    again = os.path.join(workdir, "pred_again.tsv")
    assert _run(argv[:-1] + [again]) == 0
    assert open(again).read() == open(out).read()
    other = os.path.join(workdir, "pred_other.tsv")
    assert _run(argv[:-4] + ["--seed", "8", "--output", other]) == 0
    assert [r["offset"] for r in _read_tsv(other)] != [r["offset"] for r in rows]


def test_predict_rc_is_mean_of_strands(models, table, workdir):
    from trainer.predict.payloads import read_dataset_table
    from trainer.predict.predictor import load_predictor

    out = os.path.join(workdir, "pred_rc.tsv")
    assert _run(["predict", models["serving"], table, "--sample", "2", "--seed", "3", "--rc", "--output", out]) == 0
    rows = _read_tsv(out)
    predictor = load_predictor(models["serving"], {"activity": None, "mouse": [10]})
    constructs = {row.name: row.codes for row in read_dataset_table(table)}
    for r in rows[:4]:
        window = constructs[r["name"]][int(r["offset"]):int(r["offset"]) + L][None]
        fwd = predictor(genome.one_hot(window))
        rev = predictor(genome.one_hot(genome.reverse_complement_codes(window[0])[None]))
        assert float(r["predicted"]) == pytest.approx((fwd["activity"][0] + rev["activity"][0]) / 2, rel=1e-4)
        track = (fwd["mouse"][0, :, 0] + rev["mouse"][0, ::-1, 0]) / 2
        hs2 = slice((900 - int(r["offset"])) // 128, -((int(r["offset"]) - 1000) // 128))
        peaks = dict(item.split("=") for item in r["peak"].split(";"))
        expected = track[max(0, hs2.start):max(0, hs2.stop)].max() if hs2.stop > max(0, hs2.start) else 0.0
        assert float(peaks["HS2"]) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_predict_errors(models, table, workdir, capsys):
    out = os.path.join(workdir, "bad.tsv")
    assert _run(["predict", models["serving"], table, "--head", "zebrafish", "--output", out]) == 2
    assert "unknown head 'zebrafish'" in capsys.readouterr().err
    assert _run(["predict", models["serving"], table, "--length", "2560", "--output", out]) == 2
    assert "1280 bp" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- regions
@pytest.fixture(scope="module")
def regions_bed(workdir):
    path = os.path.join(workdir, "regions.bed")
    with open(path, "w") as out:
        out.write("chr1\t1000\t2000\tshort\n")       # 1 window [860, 2140), bins 1..8 -> row [988, 2012)
        out.write("chr1\t5000\t7000\tlong\n")        # 2 windows [4720, 7280), bins 2..17 -> row [4976, 7024)
        out.write("chrX\t100\t900\tnowhere\n")       # unknown chromosome -> NaN
        out.write("chr2\t3500\t3900\tedge\n")        # window [3060, 4340) runs off chr2 (4,000 bp): N-padded
        out.write("chr2\t1200\t2400\tsecond\n")      # 1 window [1160, 2440), bins 0..9 -> row [1160, 2440)
    return path


def _padded(ref, chrom, start, end):
    size = ref.chrom_sizes[chrom]
    codes = np.full(end - start, genome.N_CODE, dtype=np.uint8)
    codes[max(start, 0) - start:min(end, size) - start] = ref.fetch_codes(chrom, max(start, 0), min(end, size))
    return codes


def test_predict_regions_matches_direct_calls(models, reference, regions_bed, workdir, capsys):
    import pyBigWig

    out = os.path.join(workdir, "regions.npy")
    prefix = os.path.join(workdir, "regions_tracks")
    argv = ["predict-regions", models["trunk_ckpt"], regions_bed, "--head", "mouse", "--reference", reference,
            "--length", str(L), "--strides", "3", "--tracks", "0", "5", "--prefix", prefix, "--output", out]
    assert _run(argv) == 0
    err = capsys.readouterr().err
    assert "nowhere" in err and "edge" not in err
    array = np.load(out)
    assert array.shape == (5, 16, 2)  # the widest row: 16 bins of "long"
    assert np.isnan(array[2]).all()
    with genome.ReferenceGenome(reference) as ref:
        # (row, chrom, first window start, windows, first bin, bins)
        for row, chrom, w, n, first, bins in ((0, "chr1", 860, 1, 1, 8), (1, "chr1", 4720, 2, 2, 16),
                                              (3, "chr2", 3060, 1, 3, 4), (4, "chr2", 1160, 1, 0, 10)):
            expected = []
            for k in range(n):
                windows = [_padded(ref, chrom, w + k * L + s, w + k * L + s + L) for s in (-1, 0, 1)]
                expected.append(_mouse(models["enformer"], windows)[:, :, [0, 5]].mean(axis=0))
            np.testing.assert_allclose(array[row, :bins], np.concatenate(expected)[first:first + bins],
                                       rtol=1e-4, atol=1e-6)
            assert np.isnan(array[row, bins:]).all()
    # bedGraph + bigWig (named by head and track): the array values on the right coordinates.
    bw = pyBigWig.open(prefix + ".mouse-5.bw")
    assert bw.chroms() == {"chr1": 12_000, "chr2": 4_000}
    values = np.array(bw.values("chr1", 1116, 1884)).reshape(-1, 128)  # bins 1..6 of "short", inside the region
    np.testing.assert_allclose(values, np.repeat(array[0, 1:7, 1:2], 128, axis=1), rtol=1e-5)
    bw.close()
    with open(prefix + ".mouse-0.bedgraph") as handle:
        assert handle.readline().startswith('track type=bedGraph name="regions_tracks.mouse-0"')
        lines = [line.split("\t") for line in handle]
    keys = [(c, int(s)) for c, s, _, _ in lines]
    assert keys == sorted(keys) and all(int(a[2]) <= int(b[1]) for a, b in zip(lines, lines[1:]) if a[0] == b[0])
    first = [l for l in lines if l[0] == "chr1" and int(l[1]) == 1000][0]  # bin [988, 1116) cut at the region
    assert int(first[2]) == 1116 and float(first[3]) == pytest.approx(float(array[0, 0, 0]), rel=1e-5)
    assert {l[0] for l in lines} == {"chr1", "chr2"}
    assert max(int(l[2]) for l in lines if l[0] == "chr2") == 3900  # "edge" ends at its region, inside chr2


def test_stride_averaging_exact(models, reference, workdir):
    from components.genome import read_bed
    from trainer.predict.predictor import load_predictor
    from trainer.predict.regions import predict_regions

    bed = os.path.join(workdir, "one.bed")
    with open(bed, "w") as out:
        out.write("chr1\t3000\t4280\tr\n")
    records = list(read_bed(bed))
    predictor = load_predictor(models["trunk_ckpt"], {"mouse": [1, 2]}, L)
    with genome.ReferenceGenome(reference) as ref:
        predict_regions(predictor, ref, records, os.path.join(workdir, "s4.npy"), "mouse", strides=4, batch=3)
        singles = []
        for shift in (-2, -1, 0, 1):
            shifted = [genome.BedRecord("chr1", 3000 + shift, 4280 + shift, "r", 1)]
            path = os.path.join(workdir, f"s1_{shift}.npy")
            predict_regions(predictor, ref, shifted, path, "mouse", strides=1)
            singles.append(np.load(path)[0])
    np.testing.assert_allclose(np.load(os.path.join(workdir, "s4.npy"))[0], np.mean(singles, axis=0), rtol=1e-6)


def test_track_head_sources_agree(models, reference, regions_bed, workdir):
    out_ckpt, out_export = os.path.join(workdir, "t_ckpt.npy"), os.path.join(workdir, "t_export.npy")
    common = [regions_bed, "--reference", reference, "--length", str(L), "--strides", "1", "--rc"]
    assert _run(["predict-regions", models["trunk_ckpt"], *common, "--head", models["track_ckpt"], "--output", out_ckpt]) == 0
    assert _run(["predict-regions", "original", *common, "--head", models["track_export"], "--output", out_export]) == 0
    a, b = np.load(out_ckpt), np.load(out_export)
    assert a.shape == (5, 16, 3)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert os.path.exists(out_ckpt[:-4] + ".tracks-2.bw") and os.path.exists(out_ckpt[:-4] + ".tracks-2.bedgraph")
    # finetune: one activity per window.
    out = os.path.join(workdir, "finetune.npy")
    assert _run(["predict-regions", models["serving"], regions_bed, "--head", "finetune", "--reference", reference,
                 "--strides", "2", "--output", out]) == 0
    assert np.load(out).shape == (5, 2, 1)
    assert os.path.exists(out[:-4] + ".activity.bedgraph")


def test_predict_regions_errors(models, reference, regions_bed, workdir, capsys):
    out = os.path.join(workdir, "err.npy")
    base = ["predict-regions", models["trunk_ckpt"], "--reference", reference, "--length", str(L), "--output", out]
    assert _run(base[:2] + [regions_bed, "--head", "zebrafish"] + base[2:]) == 2
    assert "unknown head 'zebrafish'" in capsys.readouterr().err
    bad = os.path.join(workdir, "unknown_chrom.bed")
    with open(bad, "w") as handle:
        handle.write("chrUn\t10\t500\tlost\n")
    assert _run(base[:2] + [bad, "--head", "mouse"] + base[2:]) == 2
    err = capsys.readouterr().err
    assert "none of the 1 regions" in err and "chrUn" in err and not os.path.exists(out)
    assert _run(base[:2] + [regions_bed, "--head", "mouse", "--tracks", "5000"] + base[2:]) == 2
    assert "out of range" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- to-bedgraph
def test_to_bedgraph_averages_overlaps(workdir, capsys):
    import pyBigWig

    bed = os.path.join(workdir, "overlap.bed")
    with open(bed, "w") as out:
        out.write("chr2\t64\t320\tb\n")
        out.write("chr1\t0\t256\ta\n")
        out.write("chr1\t64\t320\tb\n")
    array = np.array([[[9.0], [9.0]], [[1.0], [3.0]], [[5.0], [7.0]]], dtype=np.float32)
    path = os.path.join(workdir, "overlap.npy")
    np.save(path, array)
    sizes = os.path.join(workdir, "sizes.txt")
    with open(sizes, "w") as out:
        out.write("chr1\t1000\nchr2\t300\n")
    prefix = os.path.join(workdir, "ov")
    assert _run(["to-bedgraph", bed, path, "--tracks", "0", "--prefix", prefix, "--bigwig", "--chrom-sizes", sizes]) == 0
    lines = [line.split() for line in open(prefix + ".0.bedgraph")][1:]  # after the track line
    assert [(c, int(s), int(e), float(v)) for c, s, e, v in lines] == [
        ("chr1", 0, 64, 1.0), ("chr1", 64, 128, 3.0), ("chr1", 128, 192, 4.0), ("chr1", 192, 256, 5.0),
        ("chr1", 256, 320, 7.0), ("chr2", 64, 192, 9.0), ("chr2", 192, 300, 9.0)]  # clipped at chr2's end
    bw = pyBigWig.open(prefix + ".0.bw")
    assert bw.intervals("chr1") == ((0, 64, 1.0), (64, 128, 3.0), (128, 192, 4.0), (192, 256, 5.0), (256, 320, 7.0))
    bw.close()
    # An array that does not match the BED.
    np.save(path, array[:2])
    assert _run(["to-bedgraph", bed, path, "--prefix", prefix]) == 2
    assert "2 rows but" in capsys.readouterr().err


def test_predict_on_make_dataset_table(models, demo_data, demo_manifest, workdir):
    """The table written by ``make-dataset`` (annotation/flank formats) feeds ``predict`` unchanged."""
    table = os.path.join(workdir, "demo.tsv")
    assert _run(["make-dataset", os.path.join(demo_data, "activity.tsv"), os.path.join(demo_data, "payloads.fa"),
                 "--annotation", os.path.join(demo_data, "annotation.bed"),
                 "--reference", os.path.join(demo_data, "reference.fa"), "--context", demo_manifest["context"],
                 "--length", str(L + 128), "--window", str(L), "--folds", "train=1", "--output", table]) == 0
    dataset = _read_tsv(table)
    out = os.path.join(workdir, "demo_pred.tsv")
    assert _run(["predict", models["artifact"], table, "--sample", "1", "--batch", "8", "--output", out]) == 0
    rows = _read_tsv(out)
    assert [r["name"] for r in rows] == [d["name"] for d in dataset]
    for r, d in zip(rows, dataset):
        sites = [item.rpartition(":")[0] for item in d["annotation"].split(";") if item]
        assert [item.rpartition("=")[0] for item in r["peak"].split(";") if item] == sites
        assert 0 <= int(r["offset"]) <= 128 and np.isfinite(float(r["predicted"]))
