"""The user's own files as seq2seq tasks: ``--manifest KIND=TRAIN[,VAL]`` (:mod:`omnivec.families.unival.manifest`
reads the rows) trains, evaluates and generates as the built-in tasks do.

A manifest gives one task per modality its files have, ``manifest_<kind>_<modality>``:

=========================  ===========================================  ======================================
task                       prompt (as the built-in task of that kind)   answer / reference (metric)
=========================  ===========================================  ======================================
manifest_caption_<m>       what does the <m> describe?                  every caption / all of them (CIDEr-D)
manifest_vqa_<m>           the question                                 the most frequent answer / VQA score
manifest_grounding_image   which region does the text " ... " describe? 4 ``<bin_i>`` / the box (acc@IoU≥0.5)
=========================  ===========================================  ======================================

``<m>`` is image, video, audio, text or points; a text file is read into the prompt (as ``summarize_text``), every
other file into its encoder, decoded exactly as ``omnivec generate`` decodes a file of that kind
(:func:`omnivec.families.unival.config.file_read_options`), so ``omnivec generate RUN --task caption --input x.wav``
finds ``manifest_caption_audio`` in the run (:func:`omnivec.families.unival.generate.resolve_task`).

The files come from :attr:`UnivalRunConfig.manifest` (kind -> ``[train]`` or ``[train, val]``, absolute paths, kept
in the run's ``config.yaml`` so evaluate, merge --eval, --resume and serve find them). Without VAL a seeded 10 % of
a task's files (at least one) is held out. Training sees every caption of a file (one example each); a held-out
file is one example scored against all its captions. Unusable rows and files that do not decode are
:class:`~omnivec.data.base.Skipped`: training drops and reports them (``skipped.jsonl``), evaluation counts them;
with ``strict`` they raise, naming the manifest and the row.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from omnivec.data.base import Skipped
from omnivec.errors import DataError, OmnivecError
from omnivec.families.unival import prompts as P
from omnivec.families.unival.config import UnivalRunConfig, file_read_options, parse_files_flag
from omnivec.families.unival.manifest import (
    MANIFEST_KINDS,
    Entry,
    Manifest,
    ManifestKind,
    read_manifest,
    trained_answer,
    vqa_reference,
)
from omnivec.families.unival.task_registry import Example, Seq2SeqTask, register
from omnivec.tasks.locations import pixel_box_to_tokens

MAX_LEN = {"caption": 30, "vqa": 8, "grounding": 4}
"""Default answer length at generation, by manifest kind."""


def task_name(kind: str, modality: str) -> str:
    return f"manifest_{kind}_{modality}"


def manifest_task(short: str, modality: str) -> str | None:
    """The manifest task a short ``--task`` name (caption, vqa, grounding) means for a file of ``modality``."""
    kind = MANIFEST_KINDS.get(short)
    return task_name(short, modality) if kind is not None and modality in kind.modalities else None


class ManifestDataset(Dataset):
    """Lazy ``(raw input, answer, reference)`` examples of one manifest task; a file is decoded when read. Each
    item is an entry and which of its answers is the target (-1: a held-out file, scored against all)."""

    def __init__(
        self, manifest: Manifest, modality: str, items: list[tuple[Entry, int]], options: dict[str, Any], cfg: Any
    ) -> None:
        self.manifest, self.modality, self.items, self.options = manifest, modality, items, options
        self.num_bins, self.strict = cfg.model.num_bins, cfg.strict

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, path: str) -> tuple[Any, tuple[int, int] | None]:
        from omnivec.data.readers import ReadOptions, read_sample
        from omnivec.data.readers.image import decode_image
        from omnivec.data.readers.text import read_text

        opts = ReadOptions(**self.options)
        if self.modality == "image":  # its size as stored: the box is in those pixels
            return decode_image(Path(path), path, opts.image_size, opts.channels, opts.max_image_pixels)
        if self.modality == "text":
            return read_text(path, opts.max_text_bytes), None
        return read_sample(path, self.modality, opts), None

    def __getitem__(self, i: int) -> Example:
        entry, j = self.items[i]
        try:
            if entry.bad:
                raise DataError(self.manifest.path, entry.bad)
            sample, size = self._read(entry.path)
        except DataError as e:
            if self.strict:
                raise DataError(e.path, e.reason if entry.bad else f"row {entry.row}: {e.reason}") from None
            return Skipped(str(e.path), e.reason), "", None
        return self._example(entry, j, sample, size)

    def _example(self, entry: Entry, j: int, sample: Any, size: tuple[int, int] | None) -> Example:
        kind = self.manifest.kind.name
        if kind == "caption":
            return sample, entry.answers[max(j, 0)], list(entry.answers)
        if kind == "vqa":
            return (sample, entry.text), trained_answer(entry.answers), vqa_reference(entry.answers)
        assert entry.box is not None
        if size is None:  # text only (the tokenizer corpus): the bins are special tokens anyway
            return (sample, entry.text), "", None
        w, h = size
        x0, y0, x1, y1 = entry.box
        box = torch.tensor([x0 / w, y0 / h, x1 / w, y1 / h], dtype=torch.float32)
        return (sample, entry.text), "".join(pixel_box_to_tokens(entry.box, w, h, self.num_bins)), box

    def text_examples(self, limit: int) -> list[Example]:
        """Up to ``limit`` examples with no file decoded (input None), for the tokenizer's corpus."""
        usable = [(e, j) for e, j in self.items if not e.bad][:limit]
        return [self._example(e, j, None if self.modality != "text" else "", None) for e, j in usable]


def _items(entries: list[Entry], train: bool, kind: str) -> list[tuple[Entry, int]]:
    """Training: one item per caption of a file; testing (and the other kinds): one per file."""
    if not train or kind != "caption":
        return [(e, -1) for e in entries]
    return [(e, j) for e in entries for j in range(len(e.answers))]


def _holdout(m: Manifest, entries: list[Entry], seed: int, name: str) -> tuple[list[Entry], list[Entry]]:
    if len(entries) < 2:
        raise DataError(m.path, f"{name}: too few usable files for a 10% holdout; give a VAL manifest (KIND=TRAIN,VAL)")
    perm = np.random.default_rng([seed, 27]).permutation(len(entries))
    n_test = max(1, round(0.1 * len(entries)))
    return [entries[j] for j in sorted(perm[n_test:])], [entries[j] for j in sorted(perm[:n_test])]


def build(kind: str, modality: str, cfg: UnivalRunConfig) -> tuple[ManifestDataset, ManifestDataset]:
    """The train and test splits of ``manifest_<kind>_<modality>`` from ``cfg.manifest``."""
    name = task_name(kind, modality)
    files = cfg.manifest.get(kind)
    if not files:
        raise OmnivecError(f"task {name} reads a {kind} manifest: pass --manifest {kind}=TRAIN[,VAL]")
    train = read_manifest(files[0], kind)
    if modality not in train.entries:
        raise DataError(train.path, f"no usable {modality} files for task {name}")
    options = file_read_options(cfg.model, modality, cfg.image_size)
    if len(files) > 1:
        val = read_manifest(files[1], kind)
        test, bad_test = val.entries.get(modality, []), val.unusable(modality)
        if not test:
            raise DataError(val.path, f"no usable {modality} files for task {name}")
        tr, te = train.entries[modality], test
        test_split = ManifestDataset(val, modality, _items(te, False, kind) + [(b, -1) for b in bad_test], options, cfg)
    else:
        tr, te = _holdout(train, train.entries[modality], cfg.train.seed, name)
        test_split = ManifestDataset(train, modality, _items(te, False, kind), options, cfg)
    bad = [(b, -1) for b in train.unusable(modality)]
    return ManifestDataset(train, modality, _items(tr, True, kind) + bad, options, cfg), test_split


def task_names(sources: dict[str, list[str]]) -> list[str]:
    """The tasks of ``kind -> files``: one per modality the training manifest's usable files have."""
    return [task_name(kind, m) for kind, files in sources.items() for m in read_manifest(files[0], kind).modalities]


def parse_source(spec: str) -> tuple[str, list[str]]:
    """``"caption=train.jsonl[,val.jsonl]"`` -> ("caption", [absolute train path, absolute val path])."""
    return parse_files_flag("--manifest", spec, list(MANIFEST_KINDS), "KIND", "VAL")


def _prompt(kind: ManifestKind, modality: str) -> Any:
    """raw input -> (prompt, sample): a text file's words go into the prompt, any other file to its encoder."""

    def ask(raw: Any) -> tuple[str, Any]:
        if kind.name == "caption":
            sample, prompt = raw, P.caption_prompt(modality)
        else:
            if not (isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], str)):
                raise OmnivecError(f"a {kind.name} task's input is a pair (file or sample, text)")
            sample, text = raw
            prompt = P.vqa_prompt(text) if kind.name == "vqa" else P.grounding_prompt(text)
        if modality == "text":
            return prompt + " " + str(sample or ""), None
        return prompt, sample

    return ask


def _register() -> None:
    for kind in MANIFEST_KINDS.values():
        for modality in kind.modalities:
            register(
                Seq2SeqTask(
                    task_name(kind.name, modality),
                    kind.kind,
                    modality,
                    f"a {kind.name} manifest's {modality} files",
                    partial(build, kind.name, modality),
                    _prompt(kind, modality),
                    MAX_LEN[kind.name],
                    "manifest",
                )
            )


_register()
