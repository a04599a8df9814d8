"""What a model family is: one registration that owns its config class and how its run folders are built,
loaded, saved, evaluated, predicted with, described, served and exported. Callers ask the family
(:func:`omnivec.families.registry.family`), never the model's class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from omnivec.runs import FAMILY_DESCRIPTIONS

if TYPE_CHECKING:
    from omnivec.config import ModelConfig
    from omnivec.nn.model import OmniModel


@dataclass(frozen=True)
class TaskRow:
    name: str
    family: str
    """omnivec or unival: the family of model that trains on the task."""
    kind: str
    """The task kind: an OmniVec one (:data:`omnivec.tasks.TASK_KINDS`) or a seq2seq one
    (:data:`omnivec.tasks.SEQ2SEQ_KINDS`)."""
    modality: str
    description: str
    source: str
    """Where the data come from: generated, real, derived (from a real dataset) or tsv (UnIVAL's files)."""
    group: str = ""
    """OmniVec: the catalogue's group (simple, dense, ...); empty for seq2seq tasks."""


class Family:
    """Subclasses implement one family. Stateless: the registry holds one instance of each."""

    name: str = ""
    """What ``config.yaml: family`` says (:data:`omnivec.runs.FAMILY_DESCRIPTIONS`)."""
    config_class: type = object
    """The dataclass a run folder's ``config.yaml`` reads as."""
    generates: bool = False
    """Whether the model answers in text (a decoder: ``generate``) rather than through task heads."""
    tied: ClassVar[dict[str, str]] = {}
    """Weights stored once in a run folder: copy -> source (the state dict has both)."""

    # How a training command's flags become this family's run config (:func:`omnivec.cli.common.build_run_config`;
    # everything else there is one policy for both families):
    default_preset: str = "cpu"
    """The preset without --preset (or a config file's ``preset:``)."""
    data_root_from_env: bool = True
    """True: an unset --data-root saves ``$OMNIVEC_DATA`` into the run's config; False: the config's own
    ``data_root`` stays and the readers resolve ``$OMNIVEC_DATA`` when they run."""
    short_run_schedule: bool = False
    """True: warmup and the log interval shrink to a tenth of a short run's steps. False: the presets set both
    for their own budgets (and saved configs stay as they were)."""
    limits_cap_sizes: bool = False
    """True: the config has no cap fields, --train-limit / --test-limit cap ``num_train`` / ``num_test`` (a family
    that derives every task from its dataset at those sizes); False: they set ``train_limit`` / ``test_limit``."""

    @property
    def description(self) -> str:
        """The family in a sentence, for messages (``an OmniVec run (...)``)."""
        return FAMILY_DESCRIPTIONS[self.name]

    def preset(self, name: str) -> Any:
        """A complete config of the named size (``omnivec config show``)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def load(self, run_dir: str | Path, weights: str) -> tuple[Any, Any]:
        """The model of one of this family's run folders, in eval mode, and its config."""
        raise NotImplementedError  # pragma: no cover - abstract

    def save(self, model: Any, cfg: Any, run_dir: str | Path) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def evaluate(
        self, model: Any, run: str | Path, tasks: Sequence[str] | None, data: str | None, decoding: Any, limit: int
    ) -> dict[str, dict[str, Any]]:
        """``{task: {"metric", "value", ...}}`` on the tasks' test splits (``model.run_config`` says where);
        ``decoding`` (a :class:`~omnivec.tasks.seq2seq.Decoding` or None) is a generating family's."""
        raise NotImplementedError  # pragma: no cover - abstract

    def check_predict(self, run: str | Path, text: str | None) -> None:
        """Refuse, before the model is loaded, a ``predict`` this family cannot answer (a ``--text`` prompt)."""

    def predict_files(
        self, model: Any, task: str, paths: Sequence[str | Path], text: str | None, batch_size: int
    ) -> list[dict[str, Any]]:
        """One JSON record per input file (``omnivec predict``) from the run's loaded ``model``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def backbone(self, model: Any) -> OmniModel:
        """The shared encoders + trunk: the embedding path ``embed`` computes and ``export`` ships."""
        raise NotImplementedError  # pragma: no cover - abstract

    def backbone_config(self, cfg: Any) -> ModelConfig:
        """The shared encoders' and trunk's config inside the run config ``cfg``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def describe(self, cfg: Any) -> dict[str, Any]:
        """``omnivec info``'s family part: ``tasks`` (name -> what the family says of it) and any part of its
        own (the decoder)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def serve_tasks(self, model: Any) -> list[dict[str, Any]]:
        """The tasks a server of this run can be asked (``GET /info``)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def task_rows(self) -> list[TaskRow]:
        """Every registered task this family trains on (``omnivec tasks``)."""
        raise NotImplementedError  # pragma: no cover - abstract
