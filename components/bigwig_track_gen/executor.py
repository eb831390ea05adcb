"""BigWigTrackGen executor: runs :func:`.dataset.build_track_dataset` on the output artifact."""
from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

from components.bigwig_track_gen import dataset, sampling
from components.bigwig_track_gen.params import TrackDatasetConfig

EXAMPLES_KEY = "examples"


def config_from_exec_properties(exec_properties: Dict[str, Any]) -> TrackDatasetConfig:
    """Exec properties (see ``component.BigWigTrackGenSpec``) -> dataset config; unset = default."""
    fields = {name: exec_properties[name] for name in (
        "reference", "mappable_bed", "tracks", "length", "width", "cutoff", "size", "batches", "seed", "step",
        "eval_fraction", "split_block", "sampling", "hotspots", "min_mappable") if exec_properties.get(name) is not None}
    eval_chroms = exec_properties.get("eval_chroms") or ""
    fields["eval_chroms"] = tuple(c.strip() for c in eval_chroms.split(",") if c.strip())
    return TrackDatasetConfig(**fields)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes ``Split-train``/``Split-eval`` track examples plus ``tracks.tsv``, ``windows.bed``
    and ``dataset_info.json`` into the ``examples`` artifact; nothing is left on failure."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        config = config_from_exec_properties(exec_properties)
        info = dataset.build_track_dataset(config, examples.uri, self._make_beam_pipeline)
        examples.split_names = artifact_utils.encode_split_names(list(sampling.SPLITS))
        # The trainer reads these instead of opening tracks.tsv/dataset_info.json.
        examples.set_int_custom_property("n_tracks", info["n_tracks"])
        examples.set_int_custom_property("length", info["length"])
        examples.set_int_custom_property("width", info["width"])
        examples.set_string_custom_property("tracks", ",".join(info["tracks"]))
        for split, counts in info["counts"].items():
            examples.set_int_custom_property(f"{split}_windows", counts["written"])
            examples.set_int_custom_property(f"{split}_below_cutoff", counts["below_cutoff"])
