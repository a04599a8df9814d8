"""Run folders: a model with its resolved config and tokenizer, loaded back from the folder alone.

Every run folder says what it is in ``config.yaml: family``:

- ``omnivec``: encoders -> trunk -> vectorizer -> task heads (:class:`omnivec.nn.model.OmniModel`, ``RunConfig``);
- ``unival``: the encoder-decoder answering in text (:class:`omnivec.families.unival.model.UnivalModel`,
  ``UnivalRunConfig``; older folders say ``kind: unival``).

This module reads and writes the folders of any family; which config class, model and loader a family has is
its registration's (:mod:`omnivec.families.registry`), and :func:`omnivec.api.load.load` asks it. Commands that
need one family call :func:`require_family`, which refuses the other with one line naming both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from omnivec.config import RunConfig, TaskConfig, from_dict, read_yaml, save_yaml
from omnivec.errors import OmnivecError
from omnivec.nn.model import OmniModel
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.training import checkpoint as ckpt
from omnivec.training.state_check import check_weights

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)

FAMILY_DESCRIPTIONS = {
    "omnivec": "an OmniVec run (encoders + trunk + task heads)",
    "unival": "a UnIVAL run (an encoder-decoder answering in text)",
}
"""Every family a run folder may declare (``config.yaml: family``), in a phrase for messages; the families'
behaviour is their registration's (:data:`omnivec.families.registry.FAMILIES`)."""


def read_family(run_dir: str | Path) -> str:
    """The family a run folder declares, or an error saying why the folder is not a run folder."""
    return _family(Path(run_dir), _read(Path(run_dir)))


def _read(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise OmnivecError(f"run folder {run_dir} does not exist")
    if not (run_dir / ckpt.CONFIG).is_file():
        raise OmnivecError(f"{run_dir} is not a run folder: it has no {ckpt.CONFIG}")
    return read_yaml(run_dir / ckpt.CONFIG)


def _family(run_dir: Path, data: dict[str, Any]) -> str:
    family = data.get("family", data.get("kind", "omnivec"))
    if family not in FAMILY_DESCRIPTIONS:
        raise OmnivecError(
            f"{run_dir / ckpt.CONFIG}: family {family!r} is unknown; expected {', '.join(FAMILY_DESCRIPTIONS)}"
        )
    return str(family)


def require_family(run_dir: str | Path, family: str, command: str) -> None:
    """Refuse, in one line, a run folder of the other family: ``command`` needs ``family``."""
    got = read_family(run_dir)
    if got != family:
        raise OmnivecError(f"{run_dir} is {FAMILY_DESCRIPTIONS[got]}; {command} needs {FAMILY_DESCRIPTIONS[family]}")


def read_config(run_dir: str | Path, family: str, cls: type[T]) -> T:
    """The run folder's config as ``cls``, the config class of ``family``; a folder of another family is refused
    in one line. Older folders that say ``kind: unival`` read as ``family: unival``. (Which class a folder's
    family reads as is the family registry's: :func:`omnivec.families.registry.load_config`.)"""
    run_dir = Path(run_dir)
    data = _read(run_dir)
    got = _family(run_dir, data)
    if got != family:
        raise OmnivecError(f"{run_dir} is {FAMILY_DESCRIPTIONS[got]}, not {FAMILY_DESCRIPTIONS[family]}")
    data.pop("kind", None)
    data["family"] = got
    return from_dict(cls, data, where=str(run_dir / ckpt.CONFIG))


def require_model_family(model: Any, family: str, source: str | Path, hint: str = "") -> None:
    """Refuse, in one line, a model (a Hugging Face folder converted in memory) of the other family."""
    if model.family != family:
        raise OmnivecError(
            f"{source} converts to {FAMILY_DESCRIPTIONS[model.family]}, not {FAMILY_DESCRIPTIONS[family]}{hint}"
        )


def save_folder(model: Any, run_cfg: Any, run_dir: str | Path, fmt: str, tied: Mapping[str, str] = {}) -> None:
    """Write a run folder of any family: the resolved config (with the model's own config), the tokenizer when
    the model has one, and the weights; ``tied`` (copy -> source) tensors are stored once, under the source."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_cfg.model = model.cfg
    save_yaml(run_cfg, run_dir / ckpt.CONFIG)
    if model.tokenizer is not None:
        model.tokenizer.save(run_dir / ckpt.TOKENIZER)
    state = {k: v for k, v in model.state_dict().items() if k not in tied}
    ckpt.save_weights(state, run_dir / ckpt.WEIGHTS, metadata={"format": fmt})


def load_weights_into(model: M, run_dir: str | Path, weights: str, against: str, tied: Mapping[str, str] = {}) -> M:
    """Load a run folder's weights (or its EMA weights) into ``model``, in eval mode: every tensor finite, ``tied``
    (copy -> source) tensors restored from their source, then keys, shapes and dtypes exactly the model's."""
    path = Path(run_dir) / weights
    state = ckpt.load_weights(path)
    ckpt.check_finite_weights(state, path)
    for copy, source in tied.items():
        if source not in state:
            raise OmnivecError(f"{path}: missing the tied tensor {source!r} (stored once for {copy!r})")
        state[copy] = state[source]
    check_weights(state, model.state_dict(), path, against)
    model.load_state_dict(state)
    model.eval()
    return model


def save_run(model: OmniModel, run_cfg: RunConfig, run_dir: str | Path) -> None:
    save_folder(model, run_cfg, run_dir, "omnivec")


def load_run(run_dir: str | Path, weights: str = ckpt.WEIGHTS) -> tuple[OmniModel, RunConfig]:
    """Rebuild an OmniVec model from ``config.yaml`` and ``tokenizer.json`` and load its safetensors weights (or
    the EMA weights with ``weights=ckpt.EMA_WEIGHTS``). Keys, shapes and dtypes must match exactly."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir, "omnivec", RunConfig)
    tok_path = run_dir / ckpt.TOKENIZER
    tokenizer = TextTokenizer.load(tok_path) if tok_path.is_file() else None
    model = load_weights_into(OmniModel(cfg.model, tokenizer), run_dir, weights, ckpt.CONFIG)
    return model, cfg


def check_classes(run_dir: str | Path, task: TaskConfig, classes: Sequence[str], data: str) -> None:
    """Refuse, in one line, data whose classes are not the ones ``task`` was trained on, names and order: class
    number i would mean another class (a class folder added to a bring-your-own dataset shifted every index:
    evaluate reported accuracy 0.000, a resumed run died of an IndexError in its loss)."""
    stored, now = list(task.class_names), list(classes)
    if task.num_classes == 0 or not stored or stored == now:
        return
    new, gone = [c for c in now if c not in stored], [c for c in stored if c not in now]
    said = [f"{what} {_few(names)}" for what, names in (("new", new), ("gone", gone)) if names]
    change = ", ".join(said) or "the same names in another order"
    raise OmnivecError(
        f"{run_dir} was trained on {len(stored)} classes for task {task.name!r} {_few(stored)}, but {data} has "
        f"{len(now)} {_few(now)} ({change}): use data with the run's classes, or train a new run"
    )


def data_of(cfg: RunConfig, task: str) -> str:
    """Where a task's data comes from, for messages: a bring-your-own folder, or the catalogue task."""
    spec = cfg.byo.get(task)
    return f"its data {spec['train']}" if spec else f"the {task} data"


def _few(names: Sequence[str], n: int = 8) -> str:
    return "[" + ", ".join(names[:n]) + (f", ... {len(names) - n} more" if len(names) > n else "") + "]"
