"""Generation from files (``omnivec generate``, ``omnivec predict`` on a UnIVAL run): each file is read with the
real-data readers by its extension, the task resolved from a short name (``caption`` -> ``caption_<modality>``),
and one record written per input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError
from omnivec.tasks.seq2seq import Decoding

TASK_ALIASES = {
    "caption": "caption",
    "vqa": "vqa_image",
    "grounding": "grounding_image",
    "matching": "matching_image",
    "classify": "classify_image",
    "summarize": "summarize_text",
}
"""Short task names -> the built-in task (``caption`` -> ``caption_<modality>``)."""

SHORT_KINDS = {
    "caption": "captioning",
    "vqa": "vqa",
    "grounding": "grounding",
    "matching": "matching",
    "classify": "classification",
    "summarize": "summarization",
}
"""Short task names -> the seq2seq kind they ask for."""


def resolve_task(task: str, modality: str, run_tasks: Sequence[str] = ()) -> str:
    """The task a ``--task`` names for an input of ``modality``: a registered task name as is; a short name
    (caption, vqa, grounding, ...) -> the first of ``run_tasks`` (the run's own, in training order) of that kind
    and modality, else the built-in task (``caption`` -> ``caption_<modality>``), else the manifest task of
    that kind and modality (``vqa`` on a .wav -> ``manifest_vqa_audio``: its prompt)."""
    from omnivec.families.unival.tasks import SEQ2SEQ_TASKS

    if task in SEQ2SEQ_TASKS:
        return task
    if task not in TASK_ALIASES:
        raise OmnivecError(
            f"unknown --task {task!r}; expected caption, {', '.join(TASK_ALIASES)} or {', '.join(SEQ2SEQ_TASKS)}"
        )
    kind = SHORT_KINDS[task]
    for name in run_tasks:
        spec = SEQ2SEQ_TASKS.get(name) if name in SEQ2SEQ_TASKS else None
        if spec is not None and spec.kind == kind and (spec.modality or "text") == modality:
            return name
    built_in = f"caption_{modality}" if task == "caption" else TASK_ALIASES[task]
    if built_in in SEQ2SEQ_TASKS and SEQ2SEQ_TASKS.get(built_in).modality == modality:
        return built_in
    from omnivec.families.unival.manifest_tasks import manifest_task

    return manifest_task(task, modality) or built_in


def generate_records(
    model: Any,
    task: str,
    paths: Sequence[str | Path],
    text: str | None = None,
    decoding: Decoding | None = None,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Read every file with the real-data readers, generate with ``model`` (a UnIVAL run's) under ``decoding``
    (None: :class:`~omnivec.tasks.seq2seq.Decoding`'s defaults), one record per input; a short ``task`` resolves
    per file (:func:`resolve_task`, the run's own tasks first).

    Image/video/audio/text files are told apart by extension; ``text`` is the question (vqa), the phrase
    (grounding) or the caption (matching) asked of every file. Grounding records also hold ``box``:
    ``[x0, y0, x1, y1]`` in pixels of the file's image as stored (before the resize to the run's size), or
    None when the output is not four location tokens; the box is ordered (x0 <= x1, y0 <= y1) and inside the
    image.
    """
    from omnivec.data.byo.folder import file_modality
    from omnivec.data.readers.text import read_text_prefix
    from omnivec.families.unival.tasks import get_seq2seq_task
    from omnivec.tasks import seq2seq_kind
    from omnivec.tasks.locations import Grounding

    groups: dict[str, list[tuple[int, Path, Any]]] = {}
    run_tasks = getattr(getattr(model, "run_config", None), "tasks", [])
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise OmnivecError(f"input {p} is not a file")
        mod = file_modality(p)  # .npy/.npz: video or points by the array's shape
        modality = mod.value if mod is not None else "text"
        name = resolve_task(task, modality, run_tasks)
        spec = get_seq2seq_task(name)
        if spec.modality != modality:
            raise OmnivecError(f"{p}: task {name} takes {spec.modality} input, not {modality}")
        item: Any = p if modality != "text" else read_text_prefix(p)  # its first MAX_TEXT_BYTES
        asks = seq2seq_kind(spec.kind).input_text
        if asks:
            if not text:
                raise OmnivecError(f"task {name} needs --text (the {asks})")
            item = (item, text)
        groups.setdefault(name, []).append((i, p, item))
    records: list[dict[str, Any] | None] = [None] * len(paths)
    for name, items in groups.items():
        d = decoding or Decoding()
        outs = model.generate(
            name, [s for _, _, s in items], d.beam, d.max_len, d.no_repeat_ngram, d.length_penalty, batch_size
        )
        for (i, p, _), o in zip(items, outs):
            rec: dict[str, Any] = {"input": str(p), "task": name, "output": o, **({"text": text} if text else {})}
            if isinstance(o, Grounding):  # the box in pixels of the file as stored
                rec["output"] = o.text
                rec["box"] = list(o.box) if o.box is not None else None
            records[i] = rec
    return [r for r in records if r is not None]
