"""The model card: what a pushed model was trained on, how it scored, how to load it.

``model_card.json`` (machine-readable) and ``model_card.md`` (the same facts for people) sit in
the pushed version's directory, beside ``saved_model.pb``. Built from the ``ModelBlessing``
artifact's custom properties (metrics and provenance recorded by the Evaluator) and the model's
own metadata (``assets.extra/enformer_tfx.json``: mode, baseline, model and training settings).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping

from components.json_values import json_safe

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
METRICS = ("pearson_r", "spearman_rho", "mse", "n")
PROVENANCE = ("spans", "data_fingerprints", "examples_uri", "model_uri", "warm_start", "baseline_model_uri")


def exact_metrics(properties: Mapping[str, Any]) -> Dict[str, Any]:
    """Metric values from an evaluation/blessing artifact's custom properties: the exact JSON
    ``metrics`` property when there is one (float properties keep only 6 significant digits in
    ML Metadata's SQLite store), else the float properties."""
    if isinstance(properties.get("metrics"), str):
        return json.loads(properties["metrics"])
    return {key: value for key, value in properties.items() if isinstance(value, float)}


def build_card(blessing: Mapping[str, Any], model_metadata: Mapping[str, Any], date: str) -> Dict[str, Any]:
    """The card as a dict.

    Args:
      blessing: the ModelBlessing's custom properties as plain values (``blessed``, the metrics
        (see :func:`exact_metrics`), ``baseline_*`` metrics and :data:`PROVENANCE` strings; JSON
        lists stay JSON strings).
      model_metadata: the SavedModel's ``enformer_tfx.json``.
      date: ISO 8601 UTC time of the push.
    """
    values = exact_metrics(blessing)
    metrics = {key: json_safe(value) for key, value in values.items() if not key.startswith("baseline_")}
    baseline = {key[len("baseline_"):]: json_safe(value) for key, value in values.items() if key.startswith("baseline_")}
    return {
        "date": date,
        "mode": model_metadata.get("mode", ""),
        "data": {"spans": json.loads(blessing.get("spans", "[]")),
                 "fingerprints": json.loads(blessing.get("data_fingerprints", "[]")),
                 "examples": json.loads(blessing.get("examples_uri", "[]"))},
        "metrics": metrics,
        "baseline_metrics": baseline,
        "blessed": bool(blessing.get("blessed", 0)),
        "model": blessing.get("model_uri", ""),
        "parent_model": blessing.get("warm_start", "") or None,
        "compared_with": blessing.get("baseline_model_uri", "") or None,
        "starting_weights": model_metadata.get("baseline", ""),
        "config": {"model": model_metadata.get("model_config", {}), "training": model_metadata.get("training", {})},
        "how_to_load": {
            "python": "tf.saved_model.load(DIRECTORY_OF_THIS_CARD).signatures['serving_default']"
                      "(examples=<serialized tf.Example>)",
            "signatures": ["serving_default", "predict_one_hot"],
            "cli": "enformer-tfx predict DIRECTORY_OF_THIS_CARD ...",
        },
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """``model_card.md``: the card's facts as a short Markdown page."""
    def shown(value: Any) -> str:
        return "n/a" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))

    names = sorted(set(card["metrics"]) | set(card["baseline_metrics"]))
    rows = "\n".join(f"| {name} | {shown(card['metrics'].get(name))} | {shown(card['baseline_metrics'].get(name))} |"
                     for name in names)
    data = card["data"]
    return f"""# Model card

- **Pushed:** {card['date']} (UTC); mode `{card['mode']}`; blessed: {card['blessed']}
- **Data:** span(s) {', '.join(map(str, data['spans'])) or 'n/a'}; fingerprint(s): {'; '.join(data['fingerprints']) or 'n/a'}
- **Model artifact:** `{card['model']}`
- **Parent model (warm start):** {f"`{card['parent_model']}`" if card['parent_model'] else 'none (trained from the starting weights)'}
- **Starting weights:** `{card['starting_weights']}`
- **Compared with (baseline model):** {f"`{card['compared_with']}`" if card['compared_with'] else 'none (first blessed model)'}

## Held-out metrics

| metric | this model | baseline model |
| --- | --- | --- |
{rows}

## Configuration

```json
{json.dumps(card['config'], indent=2, sort_keys=True)}
```

## How to load it

```python
import tensorflow as tf
model = tf.saved_model.load("DIRECTORY_OF_THIS_CARD")
predict = model.signatures["serving_default"]   # serialized tf.Example -> predictions
```

or from the command line: `enformer-tfx predict DIRECTORY_OF_THIS_CARD ...` (see the README).
"""


def write_card(directory: str, card: Mapping[str, Any]) -> None:
    """Write both card files into ``directory`` (each under a temporary name, then renamed)."""
    import tensorflow as tf  # gfile: local or cloud destinations; imported here to keep history quick
    for name, text in ((CARD_JSON, json.dumps(card, indent=2, sort_keys=True) + "\n"),
                       (CARD_MARKDOWN, card_markdown(card))):
        target = os.path.join(directory, name)
        with tf.io.gfile.GFile(target + ".partial", "w") as handle:
            handle.write(text)
        tf.io.gfile.rename(target + ".partial", target, overwrite=True)
