"""The task catalogue: every named *task* a run can train on (``shapes``, ``mnist``, ``digit-scenes``, a user's
folder) -> where its data come from, its modality, its task kind and its fine-tuning group.

A catalogue task is not a task *kind* (:mod:`omnivec.tasks`: how a batch of classification, segmentation or
retrieval becomes a loss and a metric; each entry names one) nor a dataset (:mod:`omnivec.data.datasets`:
files with splits, which an entry may read). Entries live in :data:`omnivec.data.base.TASKS`, a
:class:`~omnivec.registry.Registry` like the encoders' and heads' (kept in ``base.py``, below the modules that
register into it, so none of them imports this one); they come from three places:

* the built-in generated tasks, registered below (no download);
* the real-data and derived tasks, :mod:`omnivec.data.real_tasks` (imported on first lookup, keeping import
  time low);
* bring-your-own folders, :func:`omnivec.data.byo.byo_entry`, built per run from ``RunConfig.byo``.

Adding a task is one entry.
"""

from __future__ import annotations

from collections.abc import Callable

from omnivec.config import RunConfig
from omnivec.data.base import TASKS, TaskEntry, TaskSplits, register_task
from omnivec.errors import OmnivecError


def _generated(generator: str) -> Callable[[RunConfig], TaskSplits]:
    def build(cfg: RunConfig) -> TaskSplits:
        from omnivec.data.real_tasks import audio_rate
        from omnivec.data.synthetic import make_splits

        kw = {}
        if generator == "tones":
            kw["sample_rate"] = audio_rate(cfg)
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
        from omnivec.data.byo import byo_entry

        return byo_entry(name, cfg.byo[name])
    if name not in TASKS:
        raise OmnivecError(f"unknown task {name!r}; expected one of: {', '.join(TASKS.names())}")
    return TASKS.get(name)


def task_names() -> list[str]:
    _load_plugins()
    return TASKS.names()


def _load_plugins() -> None:
    """Real-data tasks register themselves when their module is importable (keeps import time low)."""
    try:
        import omnivec.data.real_tasks  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "omnivec.data.real_tasks":
            raise
