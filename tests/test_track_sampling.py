"""make-track-dataset sampling modes: hotspot grouping, mappable coverage, blocks, splits, Beam build."""
from __future__ import annotations

import glob
import itertools

import numpy as np
import pytest

from components.bigwig_track_gen import dataset, sampling
from components.direct_runner import direct_pipeline
from components.errors import InputError
from tests.test_bigwig_track_gen import CHROMS, LENGTH, inputs, make_config, read_bed_rows  # noqa: F401


def _regions(rows):
    return sampling.merge_intervals(read_bed_rows(rows))


def test_group_hotspots_by_hand():
    hotspots = _regions([("chr1", 1000, 1100), ("chr1", 1500, 1600), ("chr1", 1950, 2000),  # span 1000..2000
                         ("chr1", 2100, 2200),  # 2200 - 1000 > 1000: opens the next group
                         ("chr1", 5000, 7500),  # longer than the window: a window on its centre
                         ("chr2", 100, 150), ("chr2", 900, 1080)])  # another chromosome: its own groups
    groups = sampling.group_hotspots(hotspots, 1000)
    assert [(g.chrom, g.start, g.end, g.first, g.last) for g in groups] == [
        ("chr1", 1000, 2000, 0, 2),
        ("chr1", 1650, 2650, 3, 3),
        ("chr1", 5750, 6750, 4, 4),
        ("chr2", 90, 1090, 5, 6),
    ]


def _minimum_cover(hotspots, length):
    """Fewest windows of ``length`` covering every (short) hotspot, by dynamic programming over
    which hotspots a window can hold: best[i] = fewest windows for hotspots[:i]."""
    best = [0] + [len(hotspots) + 1] * len(hotspots)
    for end in range(1, len(hotspots) + 1):
        for start in range(end):
            group = hotspots[start:end]
            if len({h.chrom for h in group}) == 1 and group[-1].end - group[0].start <= length:
                best[end] = min(best[end], best[start] + 1)
    return best[-1]


def test_group_hotspots_covers_everything_with_the_fewest_windows():
    rng = np.random.default_rng(2)
    for trial in range(30):
        starts = np.sort(rng.choice(20_000, size=int(rng.integers(1, 25)), replace=False))
        hotspots = _regions([("chr1", int(s), int(s) + int(rng.integers(10, 300))) for s in starts]
                            + [("chr2", int(s), int(s) + 50) for s in starts[: trial % 4]])
        groups = sampling.group_hotspots(hotspots, 1000)
        assert [i for g in groups for i in range(g.first, g.last + 1)] == list(range(len(hotspots)))
        for group in groups:
            members = hotspots[group.first:group.last + 1]
            assert group.end - group.start == 1000
            assert all(h.chrom == group.chrom and group.start <= h.start and h.end <= group.end for h in members)
        assert len(groups) == _minimum_cover(hotspots, 1000)


def test_mappable_coverage():
    intervals = _regions([("chr1", 100, 200), ("chr1", 300, 400), ("chr1", 350, 500), ("chr2", 0, 50)])
    windows = [("chr1", 0, 100), ("chr1", 150, 350), ("chr1", 100, 500), ("chr1", 320, 330), ("chr2", 25, 125),
               ("chr9", 0, 10)]
    coverage = sampling.mappable_coverage(intervals, windows)
    np.testing.assert_allclose(coverage, [0.0, 100 / 200, 300 / 400, 1.0, 25 / 100, 0.0])
    # the same numbers base by base
    for (chrom, start, end), fraction in zip(windows, coverage):
        bases = sum(1 for x in range(start, end)
                    if any(r.chrom == chrom and r.start <= x < r.end for r in intervals))
        assert fraction == pytest.approx(bases / (end - start))


def test_hotspot_windows_filter_split_and_are_deterministic():
    mappable = _regions([("chr1", 0, 40_000), ("chr1", 50_000, 90_000), ("chr2", 0, 30_000)])
    rng = np.random.default_rng(5)
    hotspots = _regions([("chr1", int(s), int(s) + 150) for s in rng.choice(100_000, 120, replace=False)]
                        + [("chr2", int(s), int(s) + 150) for s in rng.choice(29_000, 30, replace=False)])
    sizes = {"chr1": 100_000, "chr2": 30_000}
    kwargs = dict(length=1000, step=1, size=10, batches=3, seed=4, sampling="hotspots", hotspots=hotspots,
                  chrom_sizes=sizes, eval_chroms=("chr2",))
    windows = sampling.plan_windows(mappable, **kwargs)
    assert windows == sampling.plan_windows(mappable, **kwargs)
    assert windows != sampling.plan_windows(mappable, **{**kwargs, "seed": 5})
    groups = {(g.chrom, g.start) for g in sampling.group_hotspots(hotspots, 1000)}
    for window in windows:
        assert (window.chrom, window.start) in groups
        assert sampling.mappable_coverage(mappable, [(window.chrom, window.start, window.end)])[0] == 1.0
        assert (window.split == "eval") == (window.chrom == "chr2")
    assert len({(w.chrom, w.start) for w in windows}) == 30
    # shards and record indexes as in uniform sampling: draw i -> shard i // size
    assert [w.shard for w in windows] == [i // 10 for i in range(30)]
    # lower coverage admits windows overlapping the gap at 40-50 kb
    loose, dropped = sampling.hotspot_candidates(hotspots, mappable, sizes, length=1000, min_mappable=0.5, seed=4,
                                                 eval_chroms=("chr2",))
    strict, _ = sampling.hotspot_candidates(hotspots, mappable, sizes, length=1000, min_mappable=1.0, seed=4,
                                            eval_chroms=("chr2",))
    assert len(loose) > len(strict)
    assert any(g.start < 40_000 < g.end or g.start < 50_000 < g.end for g, _ in loose)
    with pytest.raises(InputError, match=r"only \d+ hotspot windows of 1000 bp \(dropped: \d+ off the chromosome"):
        sampling.plan_windows(mappable, **{**kwargs, "size": 1000})


def test_hotspot_windows_never_straddle_fraction_splits():
    mappable = _regions([("chr1", 0, 400_000)])
    hotspots = _regions([("chr1", s, s + 100) for s in range(500, 399_000, 700)])
    sizes = {"chr1": 400_000}
    kept, dropped = sampling.hotspot_candidates(hotspots, mappable, sizes, length=1000, min_mappable=1.0, seed=3,
                                                eval_fraction=0.3, split_block=5_000)
    assert dropped["across_splits"] > 0 and {split for _, split in kept} == {"train", "eval"}
    for group, split in kept:
        blocks = range(group.start // 5_000, (group.end - 1) // 5_000 + 1)
        labels = {"eval" if sampling._block_is_eval(3, "chr1", k, 0.3) else "train" for k in blocks}
        assert labels == {split}


def test_blocks_are_non_overlapping_tiles():
    mappable = _regions([("chr1", 300, 10_000), ("chr2", 0, 4_500)])
    windows = sampling.plan_windows(mappable, length=1000, step=1, size=5, batches=2, seed=1, sampling="blocks",
                                    eval_chroms=("chr2",))
    assert len(windows) == 10  # all 9 + 4 tiles minus three
    for window in windows:
        base = 300 if window.chrom == "chr1" else 0
        assert (window.start - base) % 1000 == 0 and window.end <= (10_000 if window.chrom == "chr1" else 4_500)
    for a, b in itertools.combinations(windows, 2):
        assert a.chrom != b.chrom or a.end <= b.start or b.end <= a.start
    with pytest.raises(InputError, match="only 13 distinct windows"):
        sampling.plan_windows(mappable, length=1000, step=1, size=7, batches=2, seed=1, sampling="blocks",
                              eval_chroms=("chr2",))


def test_hotspot_dataset_on_beam(inputs, tmp_path):  # noqa: F811 (the imported fixture)
    hotspots = tmp_path / "hotspots.bed"
    rng = np.random.default_rng(8)
    rows = [(chrom, int(s), int(s) + 120) for chrom, size in CHROMS.items()
            for s in rng.choice(size - 200, 12, replace=False)]
    hotspots.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows))
    config = make_config(inputs, sampling="hotspots", hotspots=str(hotspots), min_mappable=0.9, size=5, batches=2)
    _, planned = dataset.plan_dataset(config)
    out = tmp_path / "ds"
    info = dataset.build_track_dataset(config, str(out), direct_pipeline)
    assert info["sampling"] == "hotspots" and info["min_mappable"] == 0.9
    written = [line.split("\t") for line in open(out / "windows.bed") if not line.startswith("#")]
    assert sorted((c, int(s), int(e)) for c, s, e, *_ in written) == sorted((w.chrom, w.start, w.end) for w in planned)
    assert glob.glob(str(out / "Split-eval" / "data_tfrecord-*.gz"))
    groups = {(g.chrom, g.start) for g in sampling.group_hotspots(sampling.merge_intervals(
        read_bed_rows(rows)), LENGTH)}
    assert all((w.chrom, w.start) in groups for w in planned)
    with pytest.raises(Exception, match="hotspots"):
        make_config(inputs, sampling="hotspots")  # no hotspot BED
    bad = tmp_path / "bad.bed"
    bad.write_text("chr7\t10\t20\n")
    with pytest.raises(InputError, match="chromosome 'chr7' is not in"):
        dataset.plan_dataset(make_config(inputs, sampling="hotspots", hotspots=str(bad)))
