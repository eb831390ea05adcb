"""Figures: sequence logos from matplotlib letter glyphs, the per-payload attribution figure.

``logomaker`` is not in the locked environment, so logos are drawn here: each letter is a
``TextPath`` glyph scaled to its column width and height (positive heights stacked upwards,
largest on top; negative ones downwards), coloured A green, C blue, G orange, T red.
"""
from __future__ import annotations

import os
from typing import Sequence, Tuple

import numpy as np

ALPHABET = "ACGT"
COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}


def _glyph(letter: str):
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), letter, size=1, prop=FontProperties(family="DejaVu Sans", weight="bold"))
    extent = path.get_extents()
    return path, extent


def draw_logo(ax, heights: np.ndarray, x0: float = 0.0) -> None:
    """Draw a logo of ``heights`` ``[W, 4]`` (A,C,G,T; signed) on ``ax`` with column ``i`` at ``x0 + i``."""
    from matplotlib.patches import PathPatch
    from matplotlib.transforms import Affine2D

    heights = np.nan_to_num(np.asarray(heights, dtype=np.float64))
    glyphs = {letter: _glyph(letter) for letter in ALPHABET}
    for column, row in enumerate(heights):
        for sign in (1, -1):
            base = 0.0
            order = [b for b in np.argsort(np.abs(row)) if sign * row[b] > 0]  # smallest nearest the axis
            for b in order:
                height = abs(row[b])
                path, extent = glyphs[ALPHABET[b]]
                transform = (Affine2D().translate(-extent.x0, -extent.y0)
                             .scale(0.9 / extent.width, height / extent.height)
                             .translate(x0 + column - 0.45, base if sign > 0 else base - height))
                ax.add_patch(PathPatch(transform.transform_path(path), facecolor=COLOURS[ALPHABET[b]], edgecolor="none"))
                base += height if sign > 0 else -height
    low = min(0.0, float(np.minimum(heights, 0).sum(axis=1).min(initial=0.0)))
    high = max(0.0, float(np.maximum(heights, 0).sum(axis=1).max(initial=0.0)))
    span = (high - low) or 1.0
    ax.set_xlim(x0 - 0.6, x0 + heights.shape[0] - 0.4)
    ax.set_ylim(low - 0.05 * span, high + 0.05 * span)


def top_windows(scores: np.ndarray, width: int, count: int) -> list:
    """Starts of up to ``count`` non-overlapping ``width``-bp windows with the largest ``sum |score|``."""
    from components.interpret.motifs import window_sums

    sums = window_sums(np.abs(scores), width)
    chosen: list = []
    for start in np.argsort(-sums, kind="stable"):
        if len(chosen) == count or sums[start] <= 0:
            break
        if all(abs(int(start) - other) >= width for other in chosen):
            chosen.append(int(start))
    return chosen


def payload_figure(path: str, name: str, scores: np.ndarray, one_hot: np.ndarray, scored: Tuple[int, int],
                   sites: Sequence[Tuple[str, int, int]] = (), title: str = "", logo_width: int = 20,
                   logos: int = 3) -> None:
    """PNG: the score track over the payload with annotated sites shaded, and logos of the top windows.

    Args:
      scores: ``[P]`` per-base score in payload coordinates (NaN = not scored).
      one_hot: ``[P, 4]`` payload sequence.
      scored: payload bases ``[first, last)`` inside the model window.
      sites: ``(name, start, end)`` annotated sites in payload coordinates.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = top_windows(scores, logo_width, logos)
    figure = plt.figure(figsize=(12, 5.5))
    grid = figure.add_gridspec(2, max(1, len(windows)), height_ratios=[1.3, 1.0], hspace=0.45)
    track = figure.add_subplot(grid[0, :])
    positions = np.arange(scores.size)
    track.plot(positions, scores, lw=0.6, color="#333333")
    track.axhline(0, color="#999999", lw=0.5)
    for site_name, start, end in sites:
        track.axvspan(start, end, color="#f4a261", alpha=0.3, lw=0)
        track.text((start + end) / 2, 1.0, site_name, transform=track.get_xaxis_transform(), ha="center",
                   va="bottom", fontsize=6, rotation=90, clip_on=True)
    for start in windows:
        track.axvspan(start, start + logo_width, color="#2a9d8f", alpha=0.25, lw=0)
    if scored != (0, scores.size):
        track.axvspan(scored[0], scored[1], color="#e9ecef", alpha=0.4, lw=0, zorder=-1)
    track.set_xlim(0, max(1, scores.size))
    track.set_xlabel(f"{name} position (bp)")
    track.set_ylabel("attribution")
    track.set_title(title or name, fontsize=10)
    for column, start in enumerate(windows):
        ax = figure.add_subplot(grid[1, column])
        draw_logo(ax, one_hot[start:start + logo_width] * np.nan_to_num(scores[start:start + logo_width])[:, None],
                  x0=start)
        ax.set_title(f"{start}-{start + logo_width}", fontsize=8)
        ax.tick_params(labelsize=6)
    _save(figure, path)


def motif_figure(path: str, name: str, pwm: np.ndarray, sites: int) -> None:
    """PNG: information-content logo of a ``[W, 4]`` frequency matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from components.interpret.motifs import information_content

    figure, ax = plt.subplots(figsize=(max(3.0, 0.45 * pwm.shape[0]), 2.2))
    draw_logo(ax, pwm * information_content(pwm)[:, None])
    ax.set_ylim(0, 2.05)
    ax.set_ylabel("bits")
    ax.set_title(f"{name} ({sites} seqlets)", fontsize=9)
    _save(figure, path)


def _save(figure, path: str) -> None:
    import matplotlib.pyplot as plt

    temporary = f"{path}.tmp.png"
    figure.savefig(temporary, dpi=110, bbox_inches="tight")
    plt.close(figure)
    os.replace(temporary, path)


def safe_file_name(name: str) -> str:
    """A payload name usable inside a file name (path separators and spaces replaced)."""
    return "".join(c if c.isalnum() or c in "._-~+" else "_" for c in name)

