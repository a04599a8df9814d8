"""UnIVAL's TSV files as seq2seq tasks: data prepared for UnIVAL (the OFA formats read by
:mod:`omnivec.families.unival.tsv`) trains and evaluates as is.

Every TSV task takes the prompt, kind and metric of an existing seq2seq task (the table :data:`TSV_TASKS`, the
one place the mapping lives), so a model trained on ``tsv_caption`` answers ``caption_image`` prompts alike:

================  ===============  ==========================================  =================================
task              reads as         answer (training target)                    reference (metric)
================  ===============  ==========================================  =================================
tsv_caption       caption_image    the first caption of the row                every caption (CIDEr-D)
tsv_vqa           vqa_image        the most confident answer (OFA)             answer -> confidence (VQA score)
tsv_refcoco       grounding_image  4 ``<bin_i>``: pixel box / decoded size     the normalised box (acc@IoU≥0.5)
tsv_snli_ve       matching_image   yes / no / maybe (UnIVAL's SNLI-VE labels)  the same (accuracy)
tsv_pretrain_*    by row type      caption, qa, visual_grounding rows of a pretraining file, as the three above
================  ===============  ==========================================  =================================

The files come from :attr:`UnivalRunConfig.tsv` (schema -> ``[train]`` or ``[train, test]``); without a test
file a seeded 10% of the training rows is held out. A file is indexed once (byte offset of each line); rows are
parsed and images decoded only when a sample is read, resized to ``image_size`` in the image encoder's channels
exactly as ``omnivec generate`` reads image files. Relative image paths resolve against the TSV's folder. A row
that cannot be read (column count, answers, region, label, image) becomes :class:`~omnivec.data.base.Skipped`
naming file and line: training drops and reports it (``skipped.jsonl``), evaluation counts it; with
``strict`` it raises instead. Pretraining files' ``video_caption`` / ``audio_caption`` rows are not used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from omnivec.data.base import Skipped
from omnivec.errors import DataError, OmnivecError
from omnivec.families.unival import (
    derived_tasks,  # noqa: F401  (registers the built-in tasks a TSV task is like)
    tsv,
)
from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS, Example, Seq2SeqTask, register
from omnivec.nn.encoders.image import ImageEncoderConfig
from omnivec.nn.encoders.image_resnet import ImageResNetConfig
from omnivec.tasks.locations import pixel_box_to_tokens

if TYPE_CHECKING:
    from omnivec.families.unival.config import UnivalRunConfig

SNLI_ANSWERS = {"entailment": "yes", "contradiction": "no", "neutral": "maybe"}
"""UnIVAL/OFA's SNLI-VE targets."""

Size = tuple[int, int]


def _caption(rec: tsv.CaptionRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    captions = [c.strip() for c in rec.captions if c.strip()] or [""]
    return image, captions[0], captions


def _vqa(rec: tsv.VQARecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    best = max(rec.answers, key=lambda a: rec.answers[a])  # the first of equally confident answers
    return (image, rec.question), best, rec.answers


def _grounding(rec: tsv.RefcocoRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    """The pixel box normalised by the decoded image's size: a square resize keeps normalised coordinates."""
    if size is None:  # text only (the tokenizer corpus): the bins are special tokens anyway
        return (image, rec.text), "", None
    w, h = size
    x0, y0, x1, y1 = rec.box
    box = torch.tensor([x0 / w, y0 / h, x1 / w, y1 / h], dtype=torch.float32)
    return (image, rec.text), "".join(pixel_box_to_tokens(rec.box, w, h, num_bins)), box


def _entailment(rec: tsv.SnliVeRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    answer = SNLI_ANSWERS[rec.label]
    return (image, rec.hypothesis), answer, answer


def _pretrain_caption(rec: tsv.PretrainRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    return _caption(tsv.CaptionRecord(rec.uniq_id, "", rec.caption.split("&&"), rec.objects, rec.image), image, size, 0)


def _pretrain_qa(rec: tsv.PretrainRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    answers = tsv.parse_answers(rec.refs)  # validated by the reader
    return _vqa(tsv.VQARecord(rec.uniq_id, "", rec.question, answers, rec.objects, rec.image), image, size, 0)


def _pretrain_grounding(rec: tsv.PretrainRecord, image: Tensor | None, size: Size | None, num_bins: int) -> Example:
    box = tsv.parse_region(rec.refs)  # validated by the reader
    return _grounding(tsv.RefcocoRecord(rec.uniq_id, "", rec.caption, box, rec.image), image, size, num_bins)


@dataclass(frozen=True)
class TsvTask:
    schema: str
    """The file's column schema (:data:`omnivec.families.unival.tsv.COLUMNS`)."""
    like: str
    """The seq2seq task whose prompt, kind, modality, answer length and metric the rows take."""
    example: Callable[[Any, Tensor | None, Size | None, int], Example]
    """(record, image or None, decoded (width, height) or None, num_bins) -> (raw input, answer, reference)."""
    row_type: str = ""
    """Pretraining files: only rows of this ``type``."""


TSV_TASKS: dict[str, TsvTask] = {
    "tsv_caption": TsvTask("caption", "caption_image", _caption),
    "tsv_vqa": TsvTask("vqa", "vqa_image", _vqa),
    "tsv_refcoco": TsvTask("refcoco", "grounding_image", _grounding),
    "tsv_snli_ve": TsvTask("snli_ve", "matching_image", _entailment),
    "tsv_pretrain_caption": TsvTask("pretrain", "caption_image", _pretrain_caption, "caption"),
    "tsv_pretrain_qa": TsvTask("pretrain", "vqa_image", _pretrain_qa, "qa"),
    "tsv_pretrain_grounding": TsvTask("pretrain", "grounding_image", _pretrain_grounding, "visual_grounding"),
}
"""Task name -> how a row of which file becomes an example of which existing task."""

ROW_TYPES = [t.row_type for t in TSV_TASKS.values() if t.row_type]


# ---------------------------------------------------------------------------------------------- datasets

_INDEX: dict[tuple[str, int, int], list[tuple[int, int, str]]] = {}


def index(path: Path) -> list[tuple[int, int, str]]:
    """``(byte offset, line number, last column)`` of every row, cached per file version; one cheap pass."""
    if not path.is_file():
        raise DataError(path, "file does not exist")
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _INDEX:
        _INDEX[key] = [
            (offset, lineno, line.rsplit(b"\t", 1)[-1].strip().decode("utf-8", "replace"))
            for offset, lineno, line in tsv.lines(path)
        ]
    return _INDEX[key]


def _rows(path: Path, task: TsvTask) -> list[tuple[int, int]]:
    rows = index(path)
    if not task.row_type:
        return [(o, n) for o, n, _ in rows]
    # a row whose type cannot be read goes with the first type the file has, where reading it reports why
    present = [t for t in ROW_TYPES if any(kind == t for _, _, kind in rows)]
    untyped_to = present[0] if present else ROW_TYPES[0]
    return [
        (o, n)
        for o, n, kind in rows
        if kind == task.row_type or (kind not in tsv.PRETRAIN_TYPES and task.row_type == untyped_to)
    ]


class TsvDataset(Dataset):
    """Lazy ``(raw input, answer, reference)`` examples of one TSV task: a row is parsed and its image decoded
    when read; an unreadable row is ``(Skipped(file, "line N, column …: reason"), "", None)`` unless strict."""

    def __init__(
        self,
        path: Path,
        rows: list[tuple[int, int]],
        task: TsvTask,
        num_bins: int,
        image_size: int,
        channels: int,
        strict: bool = False,
    ) -> None:
        self.path, self.rows, self.task = path, rows, task
        self.num_bins, self.image_size, self.channels, self.strict = num_bins, image_size, channels, strict

    def __len__(self) -> int:
        return len(self.rows)

    def _record(self, i: int) -> Any:
        offset, lineno = self.rows[i]
        return tsv.parse_line(self.path, lineno, tsv.read_line(self.path, offset), self.task.schema)

    def __getitem__(self, i: int) -> Example:
        try:
            rec = self._record(i)
            try:
                image, size = tsv.load_image(rec.image, self.path.parent, self.image_size, self.channels)
            except DataError as e:
                column = tsv.COLUMNS[self.task.schema].index("image")
                hint = _not_an_image(rec.image)
                raise DataError(self.path, f"line {self.rows[i][1]}, column {column + 1} (image): {e}{hint}") from None
            return self.task.example(rec, image, size, self.num_bins)
        except DataError as e:
            if self.strict:
                raise
            return Skipped(e.path, e.reason), "", None

    def text_examples(self, limit: int) -> list[Example]:
        """Up to ``limit`` examples with no image decoded (input image None), for the tokenizer's corpus;
        malformed rows are left out (they are reported when read for training), or raise when strict."""
        out = []
        for i in range(min(len(self), limit)):
            try:
                out.append(self.task.example(self._record(i), None, None, self.num_bins))
            except DataError:
                if self.strict:
                    raise
        return out


def _not_an_image(value: str) -> str:
    """What to do about an audio/video/text/point-cloud file in an image column: a manifest takes it."""
    from omnivec.data.byo.folder import file_modality

    try:
        mod = file_modality(value.strip()) if len(value) < 4096 else None
    except (DataError, OSError):
        return ""
    if mod is None or mod.value == "image":
        return ""
    return f" ({mod.value} file: UnIVAL's TSV schemas hold images; --manifest KIND=TRAIN[,VAL] takes {mod.value} files)"


def _split(path: Path, rows: list[tuple[int, int]], seed: int, fraction: float = 0.1) -> tuple[list[Any], list[Any]]:
    """A seeded holdout: ``fraction`` of the rows (at least one) for testing, the rest for training."""
    if len(rows) < 2:
        raise DataError(path, "too few rows for a 10% holdout; give a test file: --tsv SCHEMA=TRAIN,TEST")
    perm = np.random.default_rng([seed, 10]).permutation(len(rows))
    n_test = max(1, round(fraction * len(rows)))
    return [rows[j] for j in sorted(perm[n_test:])], [rows[j] for j in sorted(perm[:n_test])]


def build(name: str, cfg: UnivalRunConfig) -> tuple[TsvDataset, TsvDataset]:
    """The train and test splits of TSV task ``name`` from ``cfg.tsv``."""
    task = TSV_TASKS[name]
    files = cfg.tsv.get(task.schema)
    if not files:
        raise OmnivecError(f"task {name} reads a UnIVAL {task.schema} TSV file: pass --tsv {task.schema}=TRAIN[,TEST]")
    encoder = cfg.model.backbone.encoders.get("image")
    if encoder is None:
        raise OmnivecError(f"task {name} needs an image encoder")
    if not isinstance(encoder, (ImageEncoderConfig, ImageResNetConfig)):
        raise OmnivecError(f"task {name} reads images into an image_patch or image_resnet encoder, not {encoder.name}")
    channels = int(encoder.in_chans)

    def dataset(path: Path, rows: list[tuple[int, int]]) -> TsvDataset:
        if not rows:
            what = f"rows of type {task.row_type}" if task.row_type else "rows"
            raise DataError(path, f"no {what} for task {name}")
        return TsvDataset(path, rows, task, cfg.model.num_bins, cfg.image_size, channels, cfg.strict)

    train_path = Path(files[0])
    rows = _rows(train_path, task)
    if len(files) > 1:
        test_path = Path(files[1])
        return dataset(train_path, rows), dataset(test_path, _rows(test_path, task))
    train_rows, test_rows = _split(train_path, rows, cfg.train.seed)
    return dataset(train_path, train_rows), dataset(train_path, test_rows)


def task_names(sources: dict[str, list[str]]) -> list[str]:
    """The TSV tasks of ``schema -> files``: ``tsv_<schema>``; a pretraining file gives one task per row type it
    holds (caption, qa, visual_grounding)."""
    names = []
    for schema, files in sources.items():
        if schema != "pretrain":
            names.append(f"tsv_{schema}")
            continue
        kinds = {kind for _, _, kind in index(Path(files[0]))}
        found = [n for n, t in TSV_TASKS.items() if t.schema == "pretrain" and t.row_type in kinds]
        if not found:
            raise DataError(files[0], f"no rows of type {', '.join(ROW_TYPES)} (the image tasks)")
        names += found
    return names


def parse_source(spec: str) -> tuple[str, list[str]]:
    """``"caption=train.tsv[,test.tsv]"`` -> ("caption", [absolute train path, absolute test path])."""
    from omnivec.families.unival.config import parse_files_flag

    return parse_files_flag("--tsv", spec, list(tsv.COLUMNS), "SCHEMA", "TEST")


def _register() -> None:
    for name, t in TSV_TASKS.items():
        like = SEQ2SEQ_TASKS.get(t.like)  # a built-in task, registered by importing derived_tasks
        source = f"{t.row_type} rows of a pretraining" if t.row_type else f"a {t.schema}"
        register(
            Seq2SeqTask(
                name,
                like.kind,
                like.modality,
                f"{source} TSV file, as {t.like}",
                partial(build, name),
                like.prompt,
                like.max_len,
                "tsv",
            )
        )


_register()
