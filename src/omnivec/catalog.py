"""The task catalogue: a task name -> where its data comes from, its modality, head kind and group.

Built-in generated tasks need no download; real datasets and derived tasks register here too (``data/``), and
a bring-your-own path becomes a task through :func:`omnivec.data.folder` specs. Adding a task touches one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omnivec.config import RunConfig
from omnivec.data.base import TaskSplits
from omnivec.errors import OmnivecError


@dataclass(frozen=True)
class TaskEntry:
    name: str
    kind: str
    modality: str
    build: Callable[[RunConfig], TaskSplits]
    group: str = "simple"
    source: str = "generated"
    pair_modality: str = ""
    description: str = ""


CATALOG: dict[str, TaskEntry] = {}


def register_task(entry: TaskEntry) -> TaskEntry:
    if entry.name in CATALOG:
        raise ValueError(f"task {entry.name!r} is registered twice")
    CATALOG[entry.name] = entry
    return entry


def _generated(generator: str) -> Callable[[RunConfig], TaskSplits]:
    def build(cfg: RunConfig) -> TaskSplits:
        from omnivec.data.synthetic import make_splits

        kw = {}
        if generator == "tones":
            kw["sample_rate"] = int(cfg.model.encoders.get("audio", {}).get("sample_rate", 8000))
        return make_splits(generator, cfg.num_train, cfg.num_test, cfg.train.seed, **kw)

    return build


for _name, _gen, _kind, _mod, _group in [
    ("shapes", "shapes", "classification", "image", "simple"),
    ("scenes", "shape_scenes", "segmentation", "image", "dense"),
    ("motion", "motion", "classification", "video", "simple"),
    ("tones", "tones", "classification", "audio", "simple"),
    ("topics", "topics", "classification", "text", "simple"),
    ("solids", "solids", "classification", "points", "simple"),
]:
    register_task(
        TaskEntry(_name, _kind, _mod, _generated(_gen), _group, "generated", description=f"generated: {_gen}")
    )

GENERATED_SUITE = ["shapes", "scenes", "motion", "tones", "topics", "solids"]


def get_task(name: str, cfg: RunConfig | None = None) -> TaskEntry:
    _load_plugins()
    if cfg is not None and name in cfg.byo:
        from omnivec.data.tasks import byo_entry

        return byo_entry(name, cfg.byo[name])
    if name not in CATALOG:
        raise OmnivecError(f"unknown task {name!r}; expected one of: {', '.join(sorted(CATALOG))}")
    return CATALOG[name]


def task_names() -> list[str]:
    _load_plugins()
    return sorted(CATALOG)


def _load_plugins() -> None:
    """Real-data tasks register themselves when their module is importable (keeps import time low)."""
    try:
        import omnivec.data.tasks  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "omnivec.data.tasks":
            raise
