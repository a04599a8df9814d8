"""YAML as omnivec reads it: ``yaml.safe_load`` (no Python tags) without anchors and aliases, and a size cap.

A 1 KiB "billion laughs" file of nine nested aliases expands to 10^9 nodes: ``train --resume`` on a run whose
``config.yaml`` held one hung. No omnivec config needs aliases, so they are refused while composing, before
any expansion; configs over :data:`MAX_YAML_BYTES` are refused before parsing.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_YAML_BYTES = 1 << 20
"""Largest config file read (1 MiB; a complete config is a few KiB)."""


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses an alias where it would be expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in omnivec configs", event.start_mark
            )
        return super().compose_node(parent, index)


def safe_yaml(text: str) -> Any:
    """Parse YAML as :func:`yaml.safe_load` does, refusing aliases (see :class:`_NoAliasLoader`)."""
    loader = _NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
