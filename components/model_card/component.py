"""``CardPusher``: the TFX Pusher (same inputs, outputs, destinations) adding a model card."""
from __future__ import annotations

from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.model_card import executor


class CardPusher(Pusher):
    """TFX ``Pusher`` whose pushed version also holds ``model_card.json`` and ``model_card.md``."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
