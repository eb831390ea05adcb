"""The BigWigTrackGen Beam pipeline, shared by the TFX executor and ``make-track-dataset``.

Sampling is central (the driver plans every window, see :mod:`.sampling`); reading is one
:class:`ReadShardFn` call per ``(split, shard)`` that opens the bigWigs and the FASTA once per
worker (``setup``), reads the shard's windows in genomic order in chunks (bounded memory) and
writes the shard file itself, in draw order, so the bytes depend only on the seed and never on
the number of workers or on bundle boundaries.

Output under ``output_dir`` (a TFX ``Examples`` artifact URI or the CLI's ``{prefix}``)::

    Split-train/data_tfrecord-00000-of-00020.gz   gzipped TFRecords of tf.train.Example
    Split-eval/data_tfrecord-00000-of-00020.gz
    windows.bed         chrom start end split shard record, one line per emitted window,
                        in record order (train shards, then eval shards)
    tracks.tsv          the track table (resolved paths); its row order is the target column order
    dataset_info.json   length, width, bins, n_tracks, track identifiers, counts per split

Records are the track records of :mod:`components.records` (the record contract), written with
its :class:`~components.records.ShardWriter`. The modules loaded by Beam workers (this one,
:mod:`components.bigwig`, :mod:`components.genome`, :mod:`components.records`) import neither
TensorFlow nor TFX, so workers start fast.
"""
import dataclasses
import json
import logging
import shutil
import tempfile
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from components import bigwig, records
from components.bigwig_track_gen import sampling
from components.bigwig_track_gen.params import TrackDatasetConfig
from components.errors import InputError
from components.genome import ReferenceGenome, format_list, read_bed

METRICS_NAMESPACE = "BigWigTrackGen"
BED_NAME = "windows.bed"
TRACKS_NAME = "tracks.tsv"
_READ_CHUNK = 256  # windows read together: bounds per-worker memory to ~chunk x bins x tracks
_GZIP_LEVEL = 1  # level 6 costs ~10x the CPU of level 1 for a ~7% smaller file on this data




# --- the per-shard reader/writer --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """All windows of one output file, in record (draw) order."""

    split: str
    shard: int
    windows: Tuple[sampling.Window, ...]


class ReadShardFn(beam.DoFn):
    """ShardTask -> writes ``Split-<split>/data_tfrecord-<shard>...gz``; yields a summary dict.

    The summary is ``{"split", "shard", "written", "skipped", "bed"}`` where ``bed`` holds the
    BED lines of the written windows in record order.
    """

    def __init__(self, reference: str, specs: Sequence[bigwig.TrackSpec], length: int, width: int,
                 cutoff: float, output_dir: str, shards: int):
        self._reference = reference
        self._specs = tuple(specs)
        self._length, self._width, self._cutoff = length, width, cutoff
        self._output_dir, self._shards = output_dir, shards
        self._written = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "windows_written")
        self._skipped = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "windows_below_cutoff")

    def setup(self) -> None:
        self._tracks = bigwig.TrackReader(self._specs, self._width)
        self._genome = ReferenceGenome(self._reference)

    def teardown(self) -> None:
        for handle in ("_tracks", "_genome"):
            if hasattr(self, handle):
                getattr(self, handle).close()

    def _records(self, windows: Sequence[sampling.Window]) -> Iterator[Tuple[sampling.Window, Optional[bytes]]]:
        """(window, framed record or None if below cutoff), in genomic order, chunk by chunk."""
        ordered = sorted(windows, key=lambda w: (w.chrom, w.start))
        for offset in range(0, len(ordered), _READ_CHUNK):
            chunk = ordered[offset : offset + _READ_CHUNK]
            for chrom in sorted({w.chrom for w in chunk}):
                group = [w for w in chunk if w.chrom == chrom]
                targets = self._tracks.read_windows(chrom, [w.start for w in group], self._length)
                for window, target in zip(group, targets):
                    if bigwig.max_track_std(target) < self._cutoff:
                        yield window, None
                        continue
                    codes = self._genome.fetch_codes(chrom, window.start, window.end)
                    example = records.track_example(codes, target, chrom, window.start, window.end)
                    yield window, records.tfrecord_frame(example)

    def process(self, task: ShardTask) -> Iterator[Dict]:
        # Records arrive in genomic order (reading locality) but are written in draw order
        # (random, as training expects): park them in a local temporary file, then copy.
        spans: List[Optional[Tuple[int, int]]] = [None] * len(task.windows)
        path = FileSystems.join(records.split_dir(self._output_dir, task.split),
                                records.shard_name(task.shard, self._shards))
        with tempfile.TemporaryFile() as parked:
            for window, record in self._records(task.windows):
                if record is None:
                    continue
                spans[window.index] = (parked.tell(), len(record))
                parked.write(record)
            with records.ShardWriter(path, _GZIP_LEVEL) as out:
                for span in spans:
                    if span is not None:
                        parked.seek(span[0])
                        out.write_framed(parked.read(span[1]))
        bed = [f"{w.chrom}\t{w.start}\t{w.end}\t{w.split}\t{w.shard}\t{w.index}\n"
               for w, span in zip(task.windows, spans) if span is not None]
        self._written.inc(len(bed))
        self._skipped.inc(len(task.windows) - len(bed))
        yield {"split": task.split, "shard": task.shard, "written": len(bed),
               "skipped": len(task.windows) - len(bed), "bed": "".join(bed)}


def _write_index(summaries: List[Dict], output_dir: str, info: Dict) -> None:
    """Write ``windows.bed`` (record order) and ``dataset_info.json`` with the counts."""
    summaries = sorted(summaries, key=lambda s: (sampling.SPLITS.index(s["split"]), s["shard"]))
    with FileSystems.create(FileSystems.join(output_dir, BED_NAME)) as handle:
        handle.write(b"#chrom\tstart\tend\tsplit\tshard\trecord\n")
        for summary in summaries:
            handle.write(summary["bed"].encode())
    counts = {split: {"written": sum(s["written"] for s in summaries if s["split"] == split),
                      "below_cutoff": sum(s["skipped"] for s in summaries if s["split"] == split)}
              for split in sampling.SPLITS}
    with FileSystems.create(FileSystems.join(output_dir, records.DATASET_INFO)) as handle:
        handle.write(json.dumps({**info, "counts": counts}, indent=2).encode())


class WriteTrackShards(beam.PTransform):
    """Planned windows -> shard files, ``windows.bed`` and ``dataset_info.json`` under ``output_dir``."""

    def __init__(self, windows: Sequence[sampling.Window], config: TrackDatasetConfig,
                 specs: Sequence[bigwig.TrackSpec], output_dir: str):
        super().__init__()
        self._windows, self._config, self._specs, self._output_dir = windows, config, tuple(specs), output_dir

    def expand(self, pbegin):
        config = self._config
        tasks: Dict[Tuple[str, int], List[sampling.Window]] = {}
        for window in self._windows:
            tasks.setdefault((window.split, window.shard), []).append(window)
        shard_tasks = [ShardTask(split, shard, tuple(ws)) for (split, shard), ws in sorted(tasks.items())]
        info = {
            "length": config.length, "width": config.width, "bins": config.length // config.width,
            "n_tracks": len(self._specs), "tracks": [s.identifier for s in self._specs],
            "target_dtype": "float16", "target_shape": [config.length // config.width, len(self._specs)],
            "seed": config.seed, "size": config.size, "batches": config.batches, "step": config.step,
            "cutoff": config.cutoff, "eval_chroms": list(config.eval_chroms),
            "eval_fraction": None if config.eval_chroms else (0.1 if config.eval_fraction is None else config.eval_fraction),
            "split_block": None if config.eval_chroms else (config.split_block or 10 * config.length),
            "sampling": config.sampling, "hotspots": config.hotspots,
            "min_mappable": config.min_mappable if config.sampling == "hotspots" else None,
        }
        return (
            pbegin
            | "Tasks" >> beam.Create(shard_tasks)
            | "Distribute" >> beam.Reshuffle()
            | "ReadAndWrite" >> beam.ParDo(ReadShardFn(config.reference, self._specs, config.length, config.width,
                                                       config.cutoff, self._output_dir, config.batches))
            | "Gather" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.Map(_write_index, self._output_dir, info)
        )


# --- driver ------------------------------------------------------------------------------------


def plan_dataset(config: TrackDatasetConfig) -> Tuple[List[bigwig.TrackSpec], List[sampling.Window]]:
    """Validate every input and sample the windows; raises :class:`InputError`, writes nothing."""
    specs = bigwig.read_track_table(config.tracks)
    intervals = sampling.merge_intervals(read_bed(config.mappable_bed))
    if not intervals:
        raise InputError(f"{config.mappable_bed}: no intervals")
    extents: Dict[str, Tuple[int, int]] = {}
    for region in intervals:  # per chromosome, the interval reaching furthest
        if region.chrom not in extents or region.end > extents[region.chrom][1]:
            extents[region.chrom] = (region.start, region.end)
    what = f"mappable interval ({config.mappable_bed})"
    with ReferenceGenome(config.reference) as genome:
        for chrom, (start, end) in extents.items():
            genome.check_interval(chrom, start, end, what=what)
        chrom_sizes = genome.chrom_sizes
        hotspots = sampling.merge_intervals(read_bed(config.hotspots)) if config.hotspots else []
        for region in hotspots:
            if region.chrom not in chrom_sizes:
                raise InputError(f"{config.hotspots}: hotspot {region}: chromosome {region.chrom!r} is not in "
                                 f"{config.reference}")
    with bigwig.TrackReader(specs, config.width) as reader:
        for chrom, (start, end) in extents.items():
            reader.check_region(chrom, start, end, what=what)
        windows = sampling.plan_windows(
            intervals, length=config.length, step=config.step, size=config.size, batches=config.batches,
            seed=config.seed, eval_chroms=config.eval_chroms, eval_fraction=config.eval_fraction,
            split_block=config.split_block, sampling=config.sampling, hotspots=hotspots, chrom_sizes=chrom_sizes,
            min_mappable=config.min_mappable)
        for window in windows:  # hotspot windows may reach beyond the mappable intervals
            if window.chrom not in extents or window.end > extents[window.chrom][1]:
                reader.check_region(window.chrom, window.start, window.end, what=f"hotspot window ({config.hotspots})")
    return specs, windows


def _existing_outputs(output_dir: str) -> List[str]:
    patterns = [FileSystems.join(records.split_dir(output_dir, "*"), "*")] + [
        FileSystems.join(output_dir, name) for name in (BED_NAME, TRACKS_NAME, records.DATASET_INFO)]
    found = []
    for result in FileSystems.match(patterns):
        found.extend(m.path for m in result.metadata_list)
    return found


def remove_outputs(output_dir: str, extra: Iterable[str] = ()) -> None:
    """Delete everything a build writes (shard files, Split dirs, index files) and ``extra``."""
    paths = _existing_outputs(output_dir) + [p for p in extra if FileSystems.exists(p)]
    if paths:
        FileSystems.delete(paths)
    if "://" not in output_dir:
        for split in sampling.SPLITS:
            shutil.rmtree(records.split_dir(output_dir, split), ignore_errors=True)


def build_track_dataset(config: TrackDatasetConfig, output_dir: str, make_pipeline: Callable[[], beam.Pipeline],
                        bed_copy: Optional[str] = None) -> Dict:
    """Validate, sample, run the Beam pipeline and check the result; returns ``dataset_info``.

    On any error nothing is left behind: files already written under ``output_dir`` (and
    ``bed_copy``) are removed before the exception propagates. Raises :class:`InputError` for
    bad input, including every window (or every window of a split) falling below the cutoff.
    """
    specs, windows = plan_dataset(config)
    existing = _existing_outputs(output_dir)
    if existing:
        raise InputError(f"{output_dir} already holds a dataset ({format_list(existing, 3)}); use a new output location")
    logging.info("BigWigTrackGen: %d windows planned (%s) from %d tracks", len(windows),
                 ", ".join(f"{s}={sum(w.split == s for w in windows)}" for s in sampling.SPLITS), len(specs))
    try:
        pipeline = make_pipeline()
        with pipeline:
            _ = pipeline | "BigWigTrackGen" >> WriteTrackShards(windows, config, specs, output_dir)
        with FileSystems.open(FileSystems.join(output_dir, records.DATASET_INFO)) as handle:
            info = json.loads(handle.read().decode())
        counts = info["counts"]
        total_skipped = sum(c["below_cutoff"] for c in counts.values())
        logging.info("BigWigTrackGen: written %s; skipped below cutoff %.3g: %d",
                     ", ".join(f"{s}={c['written']}" for s, c in counts.items()), config.cutoff, total_skipped)
        if all(c["written"] == 0 for c in counts.values()):
            raise InputError(f"all {len(windows)} sampled windows are below the cutoff {config.cutoff} "
                             "(max-over-tracks std across bins); lower --cutoff or check the bigWigs")
        for split, c in counts.items():
            if c["written"] == 0:
                raise InputError(f"all {c['below_cutoff']} sampled {split} windows are below the cutoff {config.cutoff}; "
                                 "lower --cutoff or sample more windows")
        bigwig.write_track_table(FileSystems.join(output_dir, TRACKS_NAME), specs)
        if bed_copy:
            FileSystems.copy([FileSystems.join(output_dir, BED_NAME)], [bed_copy])
        return info
    except BaseException:
        remove_outputs(output_dir, [bed_copy] if bed_copy else [])
        raise
