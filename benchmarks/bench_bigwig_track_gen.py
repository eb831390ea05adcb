"""Benchmark: BigWigTrackGen (Beam, 1 and 2 workers) against a naive single-process loop.

Workload: 2,000 windows x 5 tracks at 25,600 bp / 128 bp bins (quick: 200 windows) sampled from
a synthetic 3-chromosome genome (30 Mb; quick: 8 Mb) with 5 synthetic bigWigs (runs of 1-60 bp,
~60% of bases covered, like bedGraph-derived coverage), generated in a temporary directory.

* naive: per window, one FASTA fetch, one ``values()`` call per track (Python list), NumPy
  binning of the same rule (``np.median`` for the NaN fill), record appended to a plain file.
* beam_1_worker: ``build_track_dataset`` on the in-process DirectRunner.
* beam_2_workers: the same on DirectRunner multi_processing with 2 workers; also its marginal
  rate (from a second run with a tenth of the windows), i.e. without the fixed start-up.
* core_no_beam: the DoFn's work (read, bin, encode, gzip) for all shards in one process.

Every variant runs in its own Python process (imports excluded from the timing, which covers
planning, pipeline start-up including worker processes, reading, encoding and gzip writing), so
peak RSS is per variant: ``peak_rss_mb`` of the main process, ``worker_peak_rss_mb`` of the
largest child process. Targets and sequences are checked to be identical to the naive loop,
record by record. Output: JSON (``run(quick)`` returns the dict).
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

LENGTH, WIDTH, N_TRACKS = 25_600, 128, 5


def make_inputs(root: str, genome_bp: int, seed: int = 0) -> None:
    """Synthetic FASTA, 5 bigWigs, tracks.tsv and mappable.bed under ``root``."""
    import pyBigWig

    from components.genome import write_fasta

    rng = np.random.default_rng(seed)
    sizes = {"chr1": genome_bp // 2, "chr2": genome_bp // 3, "chr3": genome_bp - genome_bp // 2 - genome_bp // 3}
    bases = np.frombuffer(b"ACGTN", dtype=np.uint8)
    write_fasta(os.path.join(root, "genome.fa"),
                [(c, bases[rng.choice(5, n, p=[0.295, 0.2, 0.2, 0.295, 0.01])].tobytes().decode()) for c, n in sizes.items()])
    lines = ["index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription"]
    for track, stat in enumerate(["sum", "mean", "sum_sqrt", "max", "sum"]):
        handle = pyBigWig.open(os.path.join(root, f"t{track}.bw"), "w")
        handle.addHeader(list(sizes.items()), maxZooms=0)
        for chrom, size in sizes.items():
            lengths = rng.integers(1, 60, size=size // 25)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            keep = (starts + lengths <= size) & (rng.random(starts.size) < 0.6)
            handle.addEntries([chrom] * int(keep.sum()), starts[keep].tolist(), ends=(starts + lengths)[keep].tolist(),
                              values=rng.gamma(0.5, 4.0, size=int(keep.sum())).tolist())
        handle.close()
        lines.append(f"{track}\ttrack{track}\tt{track}.bw\t384\t1\t{stat}\tsynthetic {stat}")
    with open(os.path.join(root, "tracks.tsv"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(root, "mappable.bed"), "w") as handle:
        handle.writelines(f"{c}\t1000\t{n - 1000}\n" for c, n in sizes.items())


def config(root: str, windows: int):
    from components.bigwig_track_gen.params import TrackDatasetConfig

    size = windows // 8
    return TrackDatasetConfig(reference=os.path.join(root, "genome.fa"), mappable_bed=os.path.join(root, "mappable.bed"),
                              tracks=os.path.join(root, "tracks.tsv"), length=LENGTH, width=WIDTH,
                              size=size, batches=8, seed=1)


def naive_bins(values: np.ndarray, spec) -> np.ndarray:
    """The binning rule written the obvious way (NumPy, one window, one track)."""
    values = values.astype(np.float64)
    missing = np.isnan(values)
    values[missing] = np.median(values[~missing]) if (~missing).any() else 0.0
    bins = values.reshape(-1, WIDTH).sum(axis=1)
    if spec.sum_stat == "mean":
        bins = bins / WIDTH
    elif spec.sum_stat == "max":
        bins = values.reshape(-1, WIDTH).max(axis=1)
    elif spec.sum_stat == "sum_sqrt":
        bins = np.sign(bins) * (np.sqrt(1.0 + np.abs(bins)) - 1.0)
    return np.clip(np.clip(bins * spec.scale, -spec.clip, spec.clip), -65504, 65504).astype(np.float16)


def run_naive(root: str, windows: int, out: str) -> None:
    import pyBigWig

    from components import records
    from components.bigwig_track_gen import dataset
    from components.genome import ReferenceGenome

    specs, planned = dataset.plan_dataset(config(root, windows))
    handles = [pyBigWig.open(spec.file) for spec in specs]
    with ReferenceGenome(os.path.join(root, "genome.fa")) as genome, open(out, "wb") as sink:
        for w in planned:
            codes = genome.fetch_codes(w.chrom, w.start, w.end)
            target = np.stack([naive_bins(np.array(h.values(w.chrom, w.start, w.end), dtype=np.float32), spec)
                               for h, spec in zip(handles, specs)], axis=1)
            sink.write(records.tfrecord_frame(records.track_example(codes, target, w.chrom, w.start, w.end)))


def run_beam(root: str, windows: int, out: str, workers: int) -> None:
    from components.bigwig_track_gen import dataset
    from components.direct_runner import direct_pipeline

    dataset.build_track_dataset(config(root, windows), out, lambda: direct_pipeline(workers))


def run_core(root: str, windows: int, out: str) -> None:
    """The DoFn's work without Beam: every shard through ReadShardFn.process in this process."""
    from components.bigwig_track_gen import dataset

    cfg = config(root, windows)
    specs, planned = dataset.plan_dataset(cfg)
    tasks: Dict = {}
    for w in planned:
        tasks.setdefault((w.split, w.shard), []).append(w)
    fn = dataset.ReadShardFn(cfg.reference, specs, LENGTH, WIDTH, 0.0, out, cfg.batches)
    fn.setup()
    for (split, shard), ws in sorted(tasks.items()):
        list(fn.process(dataset.ShardTask(split, shard, tuple(ws))))
    fn.teardown()


def _variant(name: str, root: str, windows: int, out: str) -> None:
    """Entry point of one measurement process: prints JSON with seconds and peak RSS."""
    import apache_beam  # noqa: F401  (imports are not part of the measured time)
    import pyBigWig  # noqa: F401

    start = time.perf_counter()
    if name == "naive":
        run_naive(root, windows, out)
    elif name == "core":
        run_core(root, windows, out)
    else:
        run_beam(root, windows, out, workers=int(name.split("_")[1]))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def _measure(name: str, root: str, windows: int, out: str) -> Dict:
    code = f"from benchmarks.bench_bigwig_track_gen import _variant; _variant({name!r}, {root!r}, {windows}, {out!r})"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["windows_per_s"] = windows / result["seconds"]
    return result


def _beam_records(out: str) -> Dict:
    """{(chrom, start): serialized example} from the shard files, matched through windows.bed."""
    from components import records as contract
    from components.bigwig_track_gen import sampling

    records = {}
    rows = [line.split("\t") for line in open(os.path.join(out, "windows.bed")) if not line.startswith("#")]
    for split in sampling.SPLITS:
        for shard in sorted({int(r[4]) for r in rows if r[3] == split}):
            keys = [(r[0], int(r[1])) for r in rows if r[3] == split and int(r[4]) == shard]
            path = os.path.join(contract.split_dir(out, split), contract.shard_name(shard, 8))
            records.update(zip(keys, contract.iter_records(path)))
    return records


def _naive_records(path: str, keys) -> Dict:
    from components import records as contract

    with open(path, "rb") as handle:
        return dict(zip(keys, contract.iter_frames(handle, path)))


def run(quick: bool = False) -> Dict:
    windows = 200 if quick else 2_000
    genome_bp = 8_000_000 if quick else 30_000_000
    with tempfile.TemporaryDirectory(prefix="bench_bigwig_") as root:
        make_inputs(root, genome_bp)
        from components.bigwig_track_gen import dataset

        _, planned = dataset.plan_dataset(config(root, windows))
        results = {"windows": windows, "tracks": N_TRACKS, "length": LENGTH, "width": WIDTH, "genome_bp": genome_bp,
                   "cpus": os.cpu_count()}
        results["naive"] = _measure("naive", root, windows, os.path.join(root, "naive.bin"))
        naive = _naive_records(os.path.join(root, "naive.bin"), [(w.chrom, w.start) for w in planned])
        results["core_no_beam"] = _measure("core", root, windows, os.path.join(root, "core"))
        results["core_no_beam"]["speedup_vs_naive"] = results["core_no_beam"]["windows_per_s"] / results["naive"]["windows_per_s"]
        for name in ("beam_1", "beam_2"):
            out = os.path.join(root, name)
            results[f"{name}_worker{'s' if name != 'beam_1' else ''}"] = measured = _measure(name, root, windows, out)
            beam_records = _beam_records(out)
            measured["identical_to_naive"] = beam_records == naive
            measured["speedup_vs_naive"] = measured["windows_per_s"] / results["naive"]["windows_per_s"]
        # Beam start-up (DirectRunner multi_processing starts and imports worker processes) is a
        # fixed cost; the marginal rate is measured with a run of a tenth of the windows.
        small = _measure("beam_2", root, windows // 10, os.path.join(root, "beam_2_small"))
        marginal = (windows - windows // 10) / (results["beam_2_workers"]["seconds"] - small["seconds"])
        results["beam_2_workers"]["fixed_startup_s_estimate"] = small["seconds"] - (windows // 10) / marginal
        results["beam_2_workers"]["marginal_windows_per_s"] = marginal
        results["beam_2_workers"]["marginal_speedup_vs_naive"] = marginal / results["naive"]["windows_per_s"]
        return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
