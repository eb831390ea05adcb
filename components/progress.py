"""Progress bars with ETA for long work (training steps, data generation), on stderr.

One place decides how bars look so every long job reports alike: a terminal gets a bar redrawn
twice a second; a pipe or log file (``make demo | tee``) gets a redraw at most every
:data:`PIPE_INTERVAL` seconds, so a captured log stays short. ``TQDM_DISABLE=1`` turns every
bar off (tqdm reads ``TQDM_*`` environment variables).
"""
from __future__ import annotations

import sys
import threading
from typing import Dict, Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

PIPE_INTERVAL = 30.0
T = TypeVar("T")

_shared: Dict[str, tqdm] = {}
_shared_lock = threading.Lock()


def progress_bar(total: Optional[int], desc: str, unit: str = "it", initial: int = 0) -> tqdm:
    """A tqdm bar on stderr; call ``update(n)`` and ``close()`` (or use it as a context manager)."""
    interactive = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr, leave=True,
                dynamic_ncols=interactive, ncols=None if interactive else 100,
                mininterval=0.5 if interactive else PIPE_INTERVAL, maxinterval=PIPE_INTERVAL)


def shared_progress(items: Iterable[T], total: int, desc: str, unit: str = "it") -> Iterator[T]:
    """Iterate ``items`` advancing one bar per process and ``desc``, for work split into many
    calls (Beam bundles, shards) that together make ``total`` items; the bar closes at ``total``."""
    for item in items:
        yield item
        with _shared_lock:
            bar = _shared.get(desc)
            if bar is None:
                bar = _shared[desc] = progress_bar(total, desc, unit)
            bar.update(1)
            if bar.n >= total:
                bar.close()
                del _shared[desc]
