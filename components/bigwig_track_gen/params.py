"""Parameters of one track dataset build: the ``make-track-dataset`` flags, the ``tracks:``
section of the pipeline config and the :class:`BigWigTrackGen` arguments (one definition).

Only pydantic is imported (no Beam/TFX), so configs are validated before the heavy imports.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import AliasChoices, Field, model_validator

from components.config_validation import CommaList, KeyedValueError, settings_dataclass
from components.records import DEFAULT_WINDOW_LENGTH


@settings_dataclass
class TrackDatasetConfig:
    """Window sampling and binning: ``length``/``width``/``step``/``split_block`` in bp, ``size``
    windows per shard, ``batches`` shards, held-out ``eval_chroms`` (a list or ``chr19,chrX``)
    or an ``eval_fraction`` of the genome (default 0.1 when neither is given); ``sampling``
    ``uniform``, ``blocks`` (non-overlapping tiles) or ``hotspots`` (windows grouping the
    intervals of the ``hotspots`` BED, at least ``min_mappable`` mappable). ``mappable_bed``
    may also be given as ``mappable``."""

    reference: str
    # ``mappable`` (the original script's argument name) is accepted too; giving both is an error.
    mappable_bed: str = Field(validation_alias=AliasChoices("mappable_bed", "mappable"))
    tracks: str = Field()  # required; Field() because a required field cannot follow the one above
    length: int = Field(default=DEFAULT_WINDOW_LENGTH, ge=1)
    width: int = Field(default=128, ge=1)
    cutoff: float = Field(default=0.0, ge=0.0)
    size: int = Field(default=25_000, ge=1)
    batches: int = Field(default=1, ge=1)
    seed: int = 0
    step: int = Field(default=1, ge=1)
    eval_chroms: CommaList = ()  # type: ignore[assignment]
    eval_fraction: Optional[float] = Field(default=None, gt=0.0, lt=1.0)
    split_block: Optional[int] = Field(default=None, ge=1)
    sampling: Literal["uniform", "hotspots", "blocks"] = "uniform"
    hotspots: Optional[str] = None
    min_mappable: float = Field(default=1.0, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> "TrackDatasetConfig":
        self.eval_chroms = tuple(self.eval_chroms)
        if self.length < self.width or self.length % self.width:
            raise KeyedValueError("length", f"must be a positive multiple of width ({self.width} bp), got {self.length}")
        if not math.isfinite(self.cutoff):
            raise KeyedValueError("cutoff", f"must be a finite number, got {self.cutoff}")
        if self.eval_chroms and self.eval_fraction is not None:
            raise KeyedValueError("eval_fraction", "give eval_chroms or eval_fraction, not both")
        if (self.sampling == "hotspots") != (self.hotspots is not None):
            raise KeyedValueError("hotspots", "a hotspot BED is needed with sampling: hotspots, and only then")
        return self
