"""The family registry: every model family a run folder can hold, by the name its ``config.yaml`` says. Code
that works with runs of either family asks :func:`family` (or :func:`family_of_run`) for the behaviour, so a
third family is one more registration here and no branch elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.families.base import Family
from omnivec.families.omnivec import OmnivecFamily
from omnivec.families.unival.family import UnivalFamily
from omnivec.registry import Registry
from omnivec.runs import FAMILY_DESCRIPTIONS as DESCRIPTIONS
from omnivec.runs import read_config, read_family

FAMILIES: Registry[Family] = Registry("model family")
for _entry in (OmnivecFamily(), UnivalFamily()):
    FAMILIES.register(_entry.name)(_entry)
assert FAMILIES.names() == sorted(DESCRIPTIONS), "every family a run folder may declare is registered"


def family(name: str) -> Family:
    """The registration of the family ``name`` (``omnivec``, ``unival``)."""
    if name not in FAMILIES:
        raise OmnivecError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES.names())}")
    return FAMILIES.get(name)


def family_of_run(run_dir: str | Path) -> Family:
    """The family a run folder declares (older UnIVAL folders: ``kind: unival``)."""
    return family(read_family(run_dir))


def load_config(run_dir: str | Path) -> Any:
    """The run folder's config, as its family's config class (``RunConfig``, ``UnivalRunConfig``)."""
    f = family_of_run(run_dir)
    return read_config(run_dir, f.name, f.config_class)
