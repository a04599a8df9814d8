"""Seq2seq task kinds (the UnIVAL family): what an answer in text is for each kind of task.

A kind owns its loss, its metrics and primary metric, the constraints its answers are decoded under and what
:meth:`~omnivec.families.unival.model.UnivalModel.generate` returns for it, as :class:`~omnivec.tasks.base.TaskKind`
does for the OmniVec family's heads; training asks both through the same :class:`~omnivec.tasks.base.Kind`
interface (``forward`` the model teacher-forced, ``loss`` on its logits). A seq2seq task
(``omnivec.families.unival.tasks``) names its kind and brings only its data and prompt; the model and the
evaluation ask the kind, so adding a kind touches this file only.

| kind | answer | metrics (primary first) | decoding | output |
|---|---|---|---|---|
| captioning | caption | CIDEr-D, BLEU-4, ROUGE-L | free text | text |
| vqa | word | VQA accuracy | free text | text |
| grounding | 4 ``<bin_i>`` | acc@IoU≥0.5 | exactly four location tokens, no n-gram ban | :class:`Grounding` (pixels) |
| matching | yes / no (/ maybe) | accuracy | free text | text |
| classification | class name | accuracy | free text | text |
| grounded_captioning | the region's name | accuracy | free text | text |
| detection | per object: 4 ``<bin_i>`` + name | F1@IoU≥0.5, precision, recall | no n-gram ban | Detection list |
| summarization | summary | ROUGE-L, ROUGE-1, ROUGE-2 | free text | text |

Free text is decoded as the caller asks (:class:`Decoding`: beam, ``no_repeat_ngram`` -- 3 by default, as UnIVAL,
greedy or beam --, length penalty, max length), the same for every text task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from omnivec.errors import OmnivecError
from omnivec.registry import Registry
from omnivec.tasks import text_metrics as tm
from omnivec.tasks.base import Kind
from omnivec.tasks.locations import (
    Detection,
    Grounding,
    box_iou,
    parse_bins,
    parse_detections,
    text_to_pixel_box,
    tokens_to_box,
)


@dataclass(frozen=True)
class Decoding:
    """How answers are generated (:meth:`UnivalModel.generate_ids`): the caller's options -- ``max_len``, ``beam``,
    ``no_repeat_ngram``, ``length_penalty``, the same for every task -- and the constraints a kind adds to them
    (:meth:`Seq2SeqKind.decoding`: ``min_len``, ``allowed_ids``; grounding's four location tokens)."""

    max_len: int = 0
    """Longest answer in tokens (clipped to the decoder's maximum); 0: the task's default."""
    beam: int = 1
    """Beam size; 1 is greedy decoding."""
    no_repeat_ngram: int = 3
    """No n-gram of this size twice in an answer, greedy or beam (UnIVAL's 3); 0: off. Structured answers
    (location tokens) are decoded without it."""
    length_penalty: float = 1.0
    """Beam search ranks finished answers by sum log p / length ** length_penalty (greedy: unused)."""
    min_len: int = 0
    """Shortest answer: eos is not allowed before it."""
    allowed_ids: tuple[int, ...] | None = None
    """Only these token ids may be generated (None: any)."""

    def __post_init__(self) -> None:
        for name, low in (("max_len", 0), ("beam", 1), ("no_repeat_ngram", 0), ("min_len", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OmnivecError(f"generation option {name}: expected a whole number >= {low}, got {value!r}")
        if not math.isfinite(self.length_penalty):
            raise OmnivecError(f"generation option length_penalty: expected a finite number, got {self.length_penalty}")


class TeacherForced(NamedTuple):
    """A seq2seq model's teacher-forced pass over a batch (:meth:`Seq2SeqKind.forward`): the decoder's scores for
    each next answer token, and what only the model knows of how they are scored."""

    logits: Tensor
    """(B, T-1, V): at position t, the scores of target token t + 1 given the target's first t + 1 tokens."""
    pad_id: int
    """The padding id: those target positions are not scored."""
    label_smoothing: float
    """The model's label smoothing of the cross-entropy."""


class Seq2SeqKind(Kind):
    """Subclasses implement one kind. Stateless: :func:`seq2seq_kind` builds one per call."""

    primary_metric: str = "accuracy"
    """The metric :func:`omnivec.families.unival.scoring.evaluate` reports as ``value``."""
    best: float = 1.0
    """The primary metric of a perfect answer (CIDEr-D is on a 0-10 scale)."""
    input_text: str = ""
    """What the text of a ``(sample, text)`` input is (question, phrase, caption); empty: the input is the sample
    alone (or, for text tasks, the document)."""

    def forward(self, model: Any, task: Any, batch: Any) -> TeacherForced:
        """The model's decoder run on the batch's target (bos, answer, eos) given its prompt and sample."""
        return model.teacher_forced(task.modality, batch)

    def targets(self, batch: Any) -> Tensor:
        """The (B, T) target ids of a collated seq2seq batch (``Seq2SeqBatch.target``)."""
        return batch.target

    def loss(self, out: TeacherForced, targets: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Every built-in kind's: the label-smoothed cross-entropy on the answer tokens (eos included, pad not)."""
        logits, nxt = out.logits, targets[:, 1:]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), nxt.reshape(-1),
            ignore_index=out.pad_id, label_smoothing=out.label_smoothing,
        )  # fmt: skip
        return loss, {"loss": float(loss.detach())}

    def decoding(self, model: Any, asked: Decoding, max_len: int) -> Decoding:
        """The decoding of this kind's answers: the caller's options ``asked``, ``max_len`` (the task's default)
        where they leave it 0. Free text takes them as they are (the n-gram ban included)."""
        return replace(asked, max_len=asked.max_len or max_len)

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        """The metrics of a whole split (``primary_metric`` among them). ``num_bins``: the model's location
        bins."""
        raise NotImplementedError  # pragma: no cover - abstract

    def output(self, text: str, raw: Any, modality: str, num_bins: int) -> Any:
        """What ``generate`` returns for one input: the decoded text unless the kind says otherwise."""
        return text


SEQ2SEQ_KINDS: Registry[type[Seq2SeqKind]] = Registry("seq2seq task kind")


def seq2seq_kind(name: str) -> Seq2SeqKind:
    """The (stateless) implementation of a seq2seq task kind."""
    return SEQ2SEQ_KINDS.get(name)()


@SEQ2SEQ_KINDS.register("captioning")
class Captioning(Seq2SeqKind):
    primary_metric = "cider_d"
    best = 10.0

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        return tm.caption_metrics(predictions, references)


@SEQ2SEQ_KINDS.register("vqa")
class VQA(Seq2SeqKind):
    primary_metric = "vqa_acc"
    input_text = "question"

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        if references and isinstance(references[0], dict):  # answer -> confidence (UnIVAL's VQA files)
            return {"vqa_acc": tm.mean_vqa_score(predictions, references)}
        # one answer per derived question: ten identical "humans", so VQA accuracy is normalised exact match
        return {"vqa_acc": tm.mean_vqa_accuracy(predictions, [[r] * 10 for r in references])}


@SEQ2SEQ_KINDS.register("grounding")
class GroundingKind(Seq2SeqKind):
    """Answers are four location tokens; references are normalised ``(x0, y0, x1, y1)`` boxes."""

    primary_metric = "acc_iou50"
    input_text = "phrase"

    def decoding(self, model: Any, asked: Decoding, max_len: int) -> Decoding:
        """Exactly four location tokens, whatever the caller asks of the length; no n-gram ban (a box may
        repeat a coordinate); the beam and its length penalty as asked."""
        return replace(asked, max_len=4, min_len=4, allowed_ids=tuple(model.bin_ids), no_repeat_ngram=0)

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        boxes = []
        for p in predictions:  # a malformed answer is the empty box: it overlaps nothing
            try:
                bins = parse_bins(p)
                boxes.append(tokens_to_box(p, num_bins) if len(bins) == 4 else (0.0, 0.0, 0.0, 0.0))
            except OmnivecError:
                boxes.append((0.0, 0.0, 0.0, 0.0))
        ref = torch.stack([torch.as_tensor(r, dtype=torch.float64) for r in references])
        return {"acc_iou50": tm.grounding_accuracy(torch.tensor(boxes, dtype=torch.float64), ref)}

    def output(self, text: str, raw: Any, modality: str, num_bins: int) -> Grounding:
        """The box in pixels of the input image: a file's as stored (not its resize), a tensor's last two axes
        (height, width); None when ``text`` is not four location tokens."""
        w, h = _image_size(raw[0], modality)
        return Grounding(text, text_to_pixel_box(text, w, h, num_bins))


def _image_size(raw: Any, modality: str) -> tuple[int, int]:
    """(width, height) of an input image: a file's as stored (not its resize), a tensor's last two axes."""
    from omnivec.data.readers.inputs import is_path

    if is_path(raw, modality):
        from omnivec.data.readers.image import open_image

        with open_image(raw, raw) as im:  # the header only: the documented formats, nothing decoded
            return int(im.size[0]), int(im.size[1])
    h, w = torch.as_tensor(raw).shape[-2:]
    return int(w), int(h)


class _ExactMatch(Seq2SeqKind):
    primary_metric = "accuracy"

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        return {"accuracy": tm.exact_match(predictions, references)}


@SEQ2SEQ_KINDS.register("matching")
class Matching(_ExactMatch):
    """Image-text matching / visual entailment: yes, no (or maybe)."""

    input_text = "caption"


@SEQ2SEQ_KINDS.register("classification")
class TextClassification(_ExactMatch):
    """Classification as generation: the answer is the class name."""


@SEQ2SEQ_KINDS.register("grounded_captioning")
class GroundedCaptioning(_ExactMatch):
    """Grounded captioning (UnIVAL/OFA): a region given as four ``<bin_i>`` tokens in the prompt -> what is in it.
    The derived scenes' regions hold one object each, so the answer is its name and the metric exact match."""

    input_text = "region (four <bin_i> tokens)"


@SEQ2SEQ_KINDS.register("detection")
class DetectionKind(Seq2SeqKind):
    """Object detection as generation (OFA's detection pretraining, which UnIVAL inherits): every object as four
    location tokens followed by its name, in reading order. References are lists of ``(normalised box, name)``;
    a predicted object is right when an unmatched reference of the same name overlaps it at IoU >= 0.5 (each
    reference matched once, greedily in the order predicted)."""

    primary_metric = "f1_iou50"

    def decoding(self, model: Any, asked: Decoding, max_len: int) -> Decoding:
        """No n-gram ban: two objects of one name in one row legitimately repeat a name and a coordinate."""
        return replace(super().decoding(model, asked, max_len), no_repeat_ngram=0)

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        hits = n_pred = n_ref = 0
        for text, ref in zip(predictions, references):
            pred = parse_detections(text, num_bins)
            left = list(ref)
            for name, box in pred:
                for j, (rbox, rname) in enumerate(left):
                    if rname == name and float(box_iou(torch.tensor(box), torch.as_tensor(rbox))) >= 0.5:
                        hits += 1
                        del left[j]
                        break
            n_pred, n_ref = n_pred + len(pred), n_ref + len(ref)
        p, r = hits / max(1, n_pred), hits / max(1, n_ref)
        return {"f1_iou50": 2 * p * r / (p + r) if p + r else 0.0, "precision": p, "recall": r}

    def output(self, text: str, raw: Any, modality: str, num_bins: int) -> list[Detection]:
        """Every well-formed (box, name) in ``text``, boxes in pixels of the input image (as grounding's)."""
        w, h = _image_size(raw, modality)
        found = parse_detections(text, num_bins)
        return [Detection(name, (b[0] * w, b[1] * h, b[2] * w, b[3] * h)) for name, b in found]


@SEQ2SEQ_KINDS.register("summarization")
class Summarization(Seq2SeqKind):
    primary_metric = "rougeL"

    def score(self, predictions: Sequence[str], references: Sequence[Any], num_bins: int) -> dict[str, float]:
        r = tm.rouge(predictions, references)
        return {k: r[k] for k in ("rouge1", "rouge2", "rougeL") if k in r}


__all__ = [
    "SEQ2SEQ_KINDS",
    "VQA",
    "Captioning",
    "Decoding",
    "DetectionKind",
    "GroundedCaptioning",
    "GroundingKind",
    "Matching",
    "Seq2SeqKind",
    "Summarization",
    "TeacherForced",
    "TextClassification",
    "seq2seq_kind",
]
