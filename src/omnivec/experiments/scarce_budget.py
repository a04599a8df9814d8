"""The label-scarce protocol's budgets, suites and schedules (:mod:`omnivec.experiments.label_scarce` plans and
runs the parts): which tasks a suite holds and which dataset is held out, the named budgets, and the base
config and fine-tuning schedule every part starts from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from omnivec.config import RunConfig, TrainConfig, comma_list
from omnivec.data.task_catalog import GENERATED_SUITE, get_task
from omnivec.errors import OmnivecError

SCARCE_REAL_SUITE = ["mnist", "fsdd", "banking77", "moving-digits", "digit-points", "digit-scenes"]
"""Fine-tuned and scored: one classification task per modality (image, audio, text, video, points) and the dense
one (digit-scenes segmentation), so grouping has two groups. Their training splits are also the pretraining data."""
SCARCE_GENERATED_SUITE = list(GENERATED_SUITE)
HELD_OUT = {"real": "fashion-mnist", "generated": "shapes"}
"""Row (f)'s unseen dataset per suite; it is left out of pretraining and of the suite."""
ROWS = ("a", "b", "c", "d", "e", "f", "c0")
DEFAULT_ROWS = ("a", "b", "c", "d", "e", "f")
"""``c0`` (asked for by name) is (c) without the closing joint phase: the sequence ends on the dense group."""
CLOSE = 0.1
"""Share of (c)/(e)'s fine-tuning steps in the closing joint phase over all tasks (docs/recipe.md, "How a grouped
sequence ends")."""


@dataclass(frozen=True)
class ScarceBudget:
    """One named budget of the protocol; ``wall`` is what it took on this project's 2-core CPU."""

    name: str
    pretrain_steps: int
    """Masked pretraining steps; each step takes one sub-batch of every dataset (mixed)."""
    steps: int
    """Labelled sub-batches per task in every row."""
    batch_size: int
    train_limit: int
    """Training samples per dataset seen by pretraining (0: all); the label fractions are shares of these."""
    test_limit: int
    preset: str = "cpu"
    rounds: int = 2
    wall: str = ""


SCARCE_BUDGETS = {
    "tiny": ScarceBudget("tiny", 8, 8, 8, 64, 32, preset="tiny", rounds=1, wall="about a minute (tests)"),
    "small": ScarceBudget("small", 300, 100, 32, 2000, 500, wall="11 min per seed and fraction on 2 cores, 3 tasks"),
    "medium": ScarceBudget("medium", 2000, 300, 32, 6000, 1000, wall="1-2 h per seed and fraction, 2 cores, estimate"),
    "full": ScarceBudget("full", 20000, 1000, 64, 0, 0, wall="a GPU; tens of hours on 2 cores"),
}


def base_config(b: ScarceBudget, data_root: str, seed: int, tasks: list[str]) -> RunConfig:
    """The quickstart's model and data handling (or the tiny preset's), sized by the budget."""
    from omnivec.experiments.quickstart import quickstart_config

    if b.preset == "cpu":
        cfg = quickstart_config(seed, data_root, tasks)
    else:
        from omnivec.config import preset

        cfg = preset(b.preset)
        cfg.num_train, cfg.num_test, cfg.data_root, cfg.tasks = b.train_limit, b.test_limit, data_root, list(tasks)
    cfg.train_limit, cfg.test_limit = b.train_limit, b.test_limit
    if b.train_limit:
        cfg.num_train = b.train_limit
    if b.test_limit:
        cfg.num_test = b.test_limit
    cfg.train.seed, cfg.train.batch_size = seed, b.batch_size
    return cfg


def _schedule(train: TrainConfig, steps: int, fraction: float = 1.0) -> TrainConfig:
    t = TrainConfig(**asdict(train))
    t.max_steps = max(1, steps)
    t.warmup_steps = max(1, t.max_steps // 10)
    t.log_every = max(1, t.max_steps // 10)
    t.label_fraction = fraction
    return t


def closed_steps(steps: int, groups: int, close: float) -> int:
    """Optimizer steps of a grouped run whose every task gets ``steps`` sub-batches: each task trains in its
    group's phases, ``(1 - close) / groups`` of the run, and in the closing joint phase, ``close`` of it."""
    if groups < 2:
        return steps
    return max(groups, round(steps * groups / (1 + (groups - 1) * close)))


def resolve(suite: str, data_root: str, need_data: bool = True) -> tuple[str, list[str], str]:
    """(suite name, fine-tuned tasks, held-out dataset); ``auto`` is real when its datasets are staged.
    ``need_data=False`` (rendering from the ledger) names the real suite without its datasets."""
    real_ok = bool(data_root) and Path(data_root).is_dir() and (Path(data_root) / "mnist").exists()
    if suite == "auto":
        suite = "real" if real_ok else "generated"
    if suite == "real":
        if need_data and not real_ok:
            raise OmnivecError(f"the real suite needs the staged datasets under {data_root!r} (OMNIVEC_DATA)")
        return "real", list(SCARCE_REAL_SUITE), HELD_OUT["real"]
    if suite == "generated":
        return "generated", [t for t in SCARCE_GENERATED_SUITE if t != HELD_OUT["generated"]], HELD_OUT["generated"]
    from omnivec.data.task_catalog import task_names

    tasks = comma_list(suite)
    if unknown := [t for t in tasks if t not in task_names()]:
        raise OmnivecError(f"unknown task(s) {unknown} in --suite; expected auto, real, generated or task names")
    held = HELD_OUT["real" if get_task(tasks[0]).source == "real" else "generated"]
    return "custom", [t for t in tasks if t != held], held
