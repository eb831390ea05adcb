"""``enformer-tfx correlate`` against a direct NumPy/SciPy computation on real bigWig files."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from scipy import stats

WIDTH = 128
BINS = 24
SPAN = WIDTH * BINS


def _run(argv):
    from pipeline.cli import main

    return main(argv)


def _read_tsv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _direct_binned(table: str, chrom: str, start: int, span: int) -> np.ndarray:
    """``[bins, tracks]`` straight from pyBigWig: NaN -> median, per-bin sum_stat, x scale, clip, float16."""
    import pyBigWig

    rows = _read_tsv(table)
    out = []
    for row in rows:
        path = os.path.join(os.path.dirname(table), row["file"])
        handle = pyBigWig.open(path)
        values = np.array(handle.values(chrom, start, start + span), dtype=np.float64)
        handle.close()
        finite = values[~np.isnan(values)]
        values[np.isnan(values)] = np.median(finite) if finite.size else 0.0
        bins = values.reshape(-1, WIDTH)
        stat = {"sum": bins.sum(1), "mean": bins.mean(1), "max": bins.max(1),
                "sum_sqrt": np.sign(bins.sum(1)) * (np.sqrt(1 + np.abs(bins.sum(1))) - 1)}[row["sum_stat"]]
        clip = float(row["clip"])
        out.append(np.clip(stat * float(row["scale"]), -clip, clip).astype(np.float16))
    return np.stack(out, axis=-1).astype(np.float64)


@pytest.fixture(scope="module")
def setup(demo_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("correlate")
    sizes = {}
    with open(os.path.join(demo_data, "reference.fa.fai")) as handle:
        for line in handle:
            name, size = line.split("\t")[:2]
            sizes[name] = int(size)
    chrom = max(sizes, key=sizes.get)
    regions = [(chrom, 5_000 + 9_000 * i, 5_000 + 9_000 * i + 500 + 300 * i) for i in range(8)]
    bed = root / "regions.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\tr{i}\n" for i, (c, s, e) in enumerate(regions)))
    table = os.path.join(demo_data, "tracks.tsv")
    n_tracks = len(_read_tsv(table))
    starts = [s - (SPAN - (e - s)) // 2 for (_, s, e) in regions]
    measured = np.stack([_direct_binned(table, chrom, start, SPAN) for start in starts])
    rng = np.random.default_rng(0)
    predicted = (measured[:, :, [1, 0]] + rng.normal(0, measured.std() + 1e-3, measured[:, :, :2].shape)).astype(
        np.float32)  # columns = tracks 1 and 0, so the column order matters
    predicted[3] = np.nan  # a region predict-regions could not predict
    array = str(root / "pred.npy")
    np.save(array, predicted)
    with open(array + ".json", "w") as handle:
        json.dump({"head": "tracks", "tracks": [1, 0], "step": WIDTH}, handle)
    two = root / "two.tsv"  # the measured table restricted to tracks 0 and 1, in that order
    lines = open(table).read().splitlines()
    two.write_text("\n".join([lines[0], lines[1], lines[2]]) + "\n")
    (root / "tracks").symlink_to(os.path.join(demo_data, "tracks"))
    return {"root": root, "bed": str(bed), "array": array, "table": table, "two": str(two), "measured": measured,
            "predicted": predicted, "starts": starts, "chrom": chrom, "n_tracks": n_tracks}


@pytest.mark.slow
def test_correlate_matches_numpy_and_scipy(setup, capsys):
    prefix = str(setup["root"] / "out" / "c")
    # --columns 0 1: array column of track 0 first, so they line up with the table's rows 0, 1
    assert _run(["correlate", setup["bed"], setup["array"], "--measured", setup["two"], "--columns", "0", "1",
                 "--output", prefix]) == 0
    assert "1 region(s) without predictions" in capsys.readouterr().out
    measured, predicted = setup["measured"][:, :, :2], setup["predicted"][:, :, [1, 0]].astype(np.float64)
    regions = _read_tsv(prefix + ".regions.tsv")
    assert len(regions) == 7 * 2 and "3" not in {r["region"] for r in regions}
    for row in regions:
        i, t = int(row["region"]), int(row["track"])
        assert int(row["start"]) == setup["starts"][i] and int(row["end"]) == setup["starts"][i] + SPAN
        expected_r = stats.pearsonr(predicted[i, :, t], measured[i, :, t])[0]
        expected_rho = stats.spearmanr(predicted[i, :, t], measured[i, :, t])[0]
        assert float(row["pearson_r"]) == pytest.approx(expected_r, rel=1e-5, abs=1e-6)
        assert float(row["spearman_rho"]) == pytest.approx(expected_rho, rel=1e-5, abs=1e-6)
        assert float(row["measured_mean"]) == pytest.approx(measured[i, :, t].mean(), rel=1e-5)
    tracks = _read_tsv(prefix + ".tracks.tsv")
    keep = [i for i in range(8) if i != 3]
    for t, row in enumerate(tracks):
        x, y = predicted[keep, :, t].ravel(), measured[keep, :, t].ravel()
        assert row["predicted"] == f"tracks:{t}" and row["measured"] == f"DEMO0{t}"
        assert float(row["pearson_r"]) == pytest.approx(stats.pearsonr(x, y)[0], rel=1e-5)
        assert float(row["spearman_rho"]) == pytest.approx(stats.spearmanr(x, y)[0], rel=1e-5)
        assert int(row["bins"]) == 7 * BINS
    summary = json.load(open(prefix + ".summary.json"))
    assert summary["skipped_regions"] == 1 and summary["compared_regions"] == 7
    assert summary["mean_pearson_r"] == pytest.approx(np.mean([float(r["pearson_r"]) for r in tracks]), rel=1e-6)
    assert os.path.getsize(prefix + ".png") > 0


def test_correlate_two_arrays_and_predicted_bigwigs(setup):
    root = setup["root"]
    other = str(root / "other.npy")
    second = setup["predicted"] * 2 + 1  # affine: Pearson and Spearman both 1 wherever defined
    second[:, :, 1] = np.flip(second[:, :, 1], axis=1)
    np.save(other, second)
    prefix = str(root / "arrays" / "c")
    assert _run(["correlate", setup["bed"], setup["array"], "--against", other, "--output", prefix,
                 "--no-plot"]) == 0
    tracks = _read_tsv(prefix + ".tracks.tsv")
    assert float(tracks[0]["pearson_r"]) == pytest.approx(1.0, abs=1e-6)
    keep = [i for i in range(8) if i != 3]
    x = setup["predicted"][keep, :, 1].astype(np.float64).ravel()
    y = second[keep, :, 1].astype(np.float64).ravel()
    assert float(tracks[1]["pearson_r"]) == pytest.approx(stats.pearsonr(x, y)[0], rel=1e-5)
    assert not os.path.exists(prefix + ".png")

    # Predicted bigWigs: the measured tracks themselves, in reverse order -> r(track 1, track 0) and r = 1 pairs.
    reverse = root / "reverse.tsv"
    lines = open(setup["two"]).read().splitlines()
    reverse.write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    prefix = str(root / "bigwigs" / "c")
    assert _run(["correlate", setup["bed"], "--predicted-tracks", str(reverse), "--measured", setup["two"],
                 "--span", str(SPAN), "--output", prefix, "--no-plot"]) == 0
    tracks = _read_tsv(prefix + ".tracks.tsv")
    measured = setup["measured"]
    expected = stats.pearsonr(measured[:, :, 1].ravel(), measured[:, :, 0].ravel())[0]
    assert float(tracks[0]["pearson_r"]) == pytest.approx(expected, rel=1e-5)
    assert int(tracks[0]["regions"]) == 8


def test_correlate_errors(setup, capsys):
    root = setup["root"]
    prefix = str(root / "bad" / "c")
    assert _run(["correlate", setup["bed"], setup["array"], "--measured", setup["table"], "--output", prefix]) == 2
    assert "prediction columns; pass --columns" in capsys.readouterr().err
    short = root / "short.bed"
    short.write_text("".join(open(setup["bed"]).readlines()[:3]))
    assert _run(["correlate", str(short), setup["array"], "--measured", setup["two"], "--output", prefix]) == 2
    assert "8 rows but the BED has 3 regions" in capsys.readouterr().err
    off = root / "off.bed"
    off.write_text(open(setup["bed"]).read() + f"{setup['chrom']}\t10\t20\tedge\n")
    np.save(root / "nine.npy", np.ones((9, BINS, 2), dtype=np.float32))
    assert _run(["correlate", str(off), str(root / "nine.npy"), "--measured", setup["two"], "--output", prefix]) == 2
    assert "off.bed:9: window of region edge" in capsys.readouterr().err
    assert not os.path.exists(root / "bad")
