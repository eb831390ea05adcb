"""bigWig tracks: the track table, bigWig access and the binning rule (the one bigWig module).

Track table (``tracks.tsv``, Basenji ``targets.txt`` convention): TAB-separated, one header
line naming at least the seven columns ``index identifier file clip scale sum_stat
description`` (any order, extra columns ignored, ``#`` lines skipped). Rows keep their file
order, which is the track order of every ``[bins, n_tracks]`` target. Relative ``file`` paths
are resolved against the directory of the table.

Binning rule, per track and window of ``L`` bp (``L`` a multiple of ``width``):

1. read the per-bp values ``[L]`` (bases without data are NaN);
2. replace NaN by the median of the window's non-NaN values (0 when all are NaN);
3. aggregate each ``width`` bp bin with ``sum_stat``:
   ``sum``, ``mean``, ``max``, or ``sum_sqrt`` = ``-1 + sqrt(1 + sum)`` (current Basenji;
   applied sign-symmetrically, ``-(-1 + sqrt(1 + |sum|))``, when a bin sum is negative);
4. multiply by ``scale``, clip to ``[-clip, clip]``, clip to the float16 range (±65504),
   store as float16.

Arithmetic runs in float64 so the result does not depend on how windows are batched.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from components.genome import format_list, open_text
from components.errors import InputError

TRACK_COLUMNS: Tuple[str, ...] = ("index", "identifier", "file", "clip", "scale", "sum_stat", "description")
SUM_STATS: Tuple[str, ...] = ("sum", "mean", "max", "sum_sqrt")
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504

# Reading: windows closer than this are read with one bigWig call per track (a "run"), and a
# run never spans more than _MAX_RUN_BP, which bounds the float32 buffer to 4 bytes x _MAX_RUN_BP.
_MAX_RUN_BP = 4_000_000


@dataclasses.dataclass(frozen=True)
class TrackSpec:
    """One row of the track table; ``file`` is already resolved (absolute or remote)."""

    index: int
    identifier: str
    file: str
    clip: float
    scale: float
    sum_stat: str
    description: str

    def __post_init__(self) -> None:
        if self.sum_stat not in SUM_STATS:
            raise InputError(f"track {self.identifier!r}: unknown sum_stat {self.sum_stat!r} (use one of {', '.join(SUM_STATS)})")
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise InputError(f"track {self.identifier!r}: clip must be a positive number, got {self.clip}")
        if not np.isfinite(self.scale):
            raise InputError(f"track {self.identifier!r}: scale must be a finite number, got {self.scale}")


def _resolve(path: str, table_dir: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    if "://" in table_dir:  # os.path.normpath would fold the "//" of gs://bucket into one slash
        return f"{table_dir}/{path}"
    return os.path.normpath(os.path.join(table_dir, path))


def read_track_table(path: str) -> List[TrackSpec]:
    """Read and validate a track table; see the module docstring for the format.

    Does not open the bigWigs (the table copied into a dataset artifact must stay readable on
    machines without them); :class:`TrackReader` does. Raises :class:`InputError` naming
    ``path:line`` on missing columns, bad numbers, unknown ``sum_stat``, duplicate
    ``index``/``identifier`` or an empty table.
    """
    table_dir = os.path.dirname(os.path.abspath(path)) if "://" not in path else path.rsplit("/", 1)[0]
    header: Optional[List[str]] = None
    tabbed = True
    specs: List[TrackSpec] = []
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.rstrip("\n\r")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            where = f"{path}:{line_number}"
            if header is None:
                # TAB is the format; a whitespace-aligned table (as pasted from the original
                # README) is accepted as long as `description` is the last column.
                tabbed = "\t" in text
                header = [name.strip() for name in (text.split("\t") if tabbed else text.split())]
                missing = [name for name in TRACK_COLUMNS if name not in header]
                if missing:
                    raise InputError(
                        f"{where}: track table header lacks column(s) {', '.join(missing)}; "
                        f"need the seven columns {' '.join(TRACK_COLUMNS)} (got {' '.join(header)})"
                    )
                if not tabbed and header[-1] != "description":
                    raise InputError(f"{where}: track table must be TAB-separated")
                continue
            fields = text.split("\t") if tabbed else text.split(None, len(header) - 1)
            if len(fields) < len(header):
                raise InputError(f"{where}: expected {len(header)} columns, got {len(fields)}: {text!r}")
            row = {name: fields[i].strip() for i, name in enumerate(header)}
            try:
                index = int(row["index"])
                clip, scale = float(row["clip"]), float(row["scale"])
            except ValueError:
                raise InputError(
                    f"{where}: index must be an integer and clip/scale numbers, got "
                    f"index={row['index']!r} clip={row['clip']!r} scale={row['scale']!r}"
                ) from None
            if not row["identifier"] or not row["file"]:
                raise InputError(f"{where}: empty identifier or file")
            try:
                spec = TrackSpec(index, row["identifier"], _resolve(row["file"], table_dir), clip, scale,
                                 row["sum_stat"], row["description"])
            except InputError as error:
                raise InputError(f"{where}: {error}") from None
            specs.append(spec)
    if header is None or not specs:
        raise InputError(f"{path}: track table has no tracks (need a header and at least one row)")
    for attribute in ("index", "identifier"):
        values = [getattr(spec, attribute) for spec in specs]
        duplicated = sorted({str(v) for v in values if values.count(v) > 1})
        if duplicated:
            raise InputError(f"{path}: duplicate {attribute} value(s) {format_list(duplicated)}")
    return specs


def write_track_table(path: str, specs: Sequence[TrackSpec]) -> None:
    """Write ``specs`` as a TAB-separated track table (resolved file paths), local or ``gs://``."""
    lines = ["\t".join(TRACK_COLUMNS)]
    for spec in specs:
        lines.append("\t".join(str(v) for v in (spec.index, spec.identifier, spec.file, _num(spec.clip),
                                                 _num(spec.scale), spec.sum_stat, spec.description)))
    text = "\n".join(lines) + "\n"
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(path) as handle:
            handle.write(text.encode())
    else:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def median_ignoring_nan(values: np.ndarray) -> float:
    """Median of the non-NaN entries of ``[L]`` values (mean of the two middle ones), 0 if none.

    Equal to ``np.median(values[~isnan].astype(float64))``. bigWig signal is run-length
    (one value per bedGraph interval), so the median is taken over runs weighted by length,
    which is several times faster than partitioning every base; dense signal falls back to
    NumPy.
    """
    finite = values[~np.isnan(values)]
    n = finite.size
    if n == 0:
        return 0.0
    change = np.flatnonzero(finite[1:] != finite[:-1]) + 1
    if change.size * 8 > n:  # few repeats: run weighting would not pay off
        return float(np.median(finite.astype(np.float64)))
    run_starts = np.concatenate(([0], change))
    run_values = finite[run_starts]
    run_lengths = np.diff(np.append(run_starts, n))
    order = np.argsort(run_values, kind="stable")
    cumulative = np.cumsum(run_lengths[order])
    low = run_values[order[np.searchsorted(cumulative, (n - 1) // 2, side="right")]]
    high = run_values[order[np.searchsorted(cumulative, n // 2, side="right")]]
    return (float(low) + float(high)) / 2.0


def aggregate_bins(values: np.ndarray, width: int, sum_stat: str) -> np.ndarray:
    """``[L]`` NaN-free float64 values -> ``[L // width]`` float64 bin statistics."""
    bins = values.reshape(-1, width)
    if sum_stat == "sum":
        return bins.sum(axis=1)
    if sum_stat == "mean":
        return bins.sum(axis=1) / width
    if sum_stat == "max":
        return bins.max(axis=1)
    if sum_stat == "sum_sqrt":
        total = bins.sum(axis=1)
        return np.sign(total) * (np.sqrt(1.0 + np.abs(total)) - 1.0)
    raise InputError(f"unknown sum_stat {sum_stat!r} (use one of {', '.join(SUM_STATS)})")


def bin_signal(values: np.ndarray, width: int, spec: TrackSpec) -> np.ndarray:
    """Apply the binning rule (module docstring) to one track's window.

    Args:
      values: ``[L]`` per-bp signal (float32/float64, NaN = no data), ``L % width == 0``.
      width: bin size in bp.
      spec: the track's ``clip``, ``scale`` and ``sum_stat``.
    Returns:
      ``[L // width]`` float16.
    """
    values = np.asarray(values)
    if values.ndim != 1 or values.size % width:
        raise ValueError(f"bin_signal needs [L] values with L a multiple of {width}, got shape {values.shape}")
    signal = values.astype(np.float64)
    missing = np.isnan(signal)
    if missing.any():
        signal[missing] = median_ignoring_nan(values)
    binned = aggregate_bins(signal, width, spec.sum_stat) * spec.scale
    np.clip(binned, -spec.clip, spec.clip, out=binned)
    np.clip(binned, -FLOAT16_MAX, FLOAT16_MAX, out=binned)
    return binned.astype(np.float16)


def max_track_std(target: np.ndarray) -> float:
    """Max over tracks of the (population) std across bins of ``[bins, n_tracks]`` targets."""
    return float(target.astype(np.float64).std(axis=0).max())


def _open_bigwig(spec: TrackSpec):
    import pyBigWig

    what = f"track {spec.index} {spec.identifier!r}: bigWig {spec.file}"
    if "://" not in spec.file and not os.path.exists(spec.file):
        raise InputError(f"{what}: file not found")
    try:
        handle = pyBigWig.open(spec.file)
    except Exception as error:  # pyBigWig raises RuntimeError with a terse message
        raise InputError(f"{what}: cannot open ({error})") from None
    if handle is None or not handle.isBigWig():
        raise InputError(f"{what}: not a readable bigWig file")
    return handle


class TrackReader:
    """All tracks of a table, opened once; returns binned targets of windows.

    Use as a context manager or call :meth:`close`. Not thread-safe (pyBigWig handles).
    """

    def __init__(self, specs: Sequence[TrackSpec], width: int):
        if not specs:
            raise InputError("no tracks given")
        self.specs: Tuple[TrackSpec, ...] = tuple(specs)
        self.width = int(width)
        self._handles = []
        try:
            for spec in self.specs:
                self._handles.append(_open_bigwig(spec))
        except Exception:
            self.close()
            raise

    def __enter__(self) -> "TrackReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles = []

    @property
    def n_tracks(self) -> int:
        return len(self.specs)

    def check_region(self, chrom: str, start: int, end: int, what: str = "interval") -> None:
        """Raise :class:`InputError` unless ``[start, end)`` on ``chrom`` is inside every bigWig."""
        for spec, handle in zip(self.specs, self._handles):
            size = handle.chroms(chrom)
            if size is None:
                raise InputError(
                    f"{what} {chrom}:{start + 1}-{end}: chromosome {chrom!r} is not in the bigWig of track "
                    f"{spec.index} {spec.identifier!r} ({spec.file}; has {format_list(list(handle.chroms()))})"
                )
            if end > size:
                raise InputError(
                    f"{what} {chrom}:{start + 1}-{end}: beyond the end of {chrom} (length {size}) in the bigWig "
                    f"of track {spec.index} {spec.identifier!r} ({spec.file}); genome assemblies differ?"
                )

    def _values(self, track: int, chrom: str, start: int, end: int) -> np.ndarray:
        spec = self.specs[track]
        try:
            return self._handles[track].values(chrom, start, end, numpy=True)
        except RuntimeError as error:
            raise InputError(
                f"track {spec.index} {spec.identifier!r}: cannot read {chrom}:{start + 1}-{end} from {spec.file} ({error})"
            ) from None

    def read(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Binned targets of one window: ``[(end - start) // width, n_tracks]`` float16."""
        return self.read_windows(chrom, [start], end - start)[0]

    def read_windows(self, chrom: str, starts: Sequence[int], length: int) -> np.ndarray:
        """Binned targets of windows ``[start, start + length)`` on one chromosome.

        Nearby windows (gap < ``length``) are read with one ``values()`` call per track over
        their union, so overlapping windows are decoded once; results are identical to reading
        each window alone.

        Returns:
          ``[len(starts), length // width, n_tracks]`` float16, in the order of ``starts``.
        """
        if length % self.width:
            raise InputError(f"length {length} is not a multiple of width {self.width}")
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((starts.size, length // self.width, self.n_tracks), dtype=np.float16)
        for run in _runs(starts, length):
            run_start = int(starts[run[0]])
            run_end = int(starts[run].max()) + length
            for track, spec in enumerate(self.specs):
                values = self._values(track, chrom, run_start, run_end)
                for i in run:
                    offset = int(starts[i]) - run_start
                    out[i, :, track] = bin_signal(values[offset : offset + length], self.width, spec)
        return out


def _runs(starts: np.ndarray, length: int) -> Iterator[np.ndarray]:
    """Group window indexes into runs in genomic order.

    A window joins the current run when the gap to the run's end is shorter than a window
    (reading the gap costs less than a new call) and the run stays within _MAX_RUN_BP.
    """
    order = np.argsort(starts, kind="stable")
    current: List[int] = []
    run_start = run_end = 0
    for i in order:
        start = int(starts[i])
        if current and (start - run_end >= length or start + length - run_start > _MAX_RUN_BP):
            yield np.asarray(current)
            current = []
        if not current:
            run_start = run_end = start
        current.append(int(i))
        run_end = max(run_end, start + length)
    if current:
        yield np.asarray(current)
