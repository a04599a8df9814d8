"""Generation from files (``omnivec generate``, ``omnivec predict`` on a UnIVAL run): each file is read with the
real-data readers by its extension, the task resolved from a short name (``caption`` -> ``caption_<modality>``),
and one record written per input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.errors import OmnivecError

TASK_ALIASES = {
    "caption": "caption",
    "vqa": "vqa_image",
    "grounding": "grounding_image",
    "matching": "matching_image",
    "classify": "classify_image",
    "summarize": "summarize_text",
}


def resolve_task(task: str, modality: str) -> str:
    """``caption`` -> ``caption_<modality>``; short names (vqa, grounding, …) -> the registered task."""
    from omnivec.families.unival.task_registry import TASKS

    if task in TASKS:
        return task
    if task == "caption":
        return f"caption_{modality}"
    if task in TASK_ALIASES:
        return TASK_ALIASES[task]
    raise OmnivecError(f"unknown --task {task!r}; expected caption, {', '.join(TASK_ALIASES)} or {', '.join(TASKS)}")


def generate_records(
    model: Any,
    task: str,
    paths: Sequence[str | Path],
    text: str | None = None,
    beam: int = 1,
    max_len: int | None = None,
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Read every file with the real-data readers, generate with ``model`` (a UnIVAL run's), one record per input.

    Image/video/audio/text files are told apart by extension; ``text`` is the question (vqa), the phrase
    (grounding) or the caption (matching) asked of every file. Grounding records also hold ``box``:
    ``[x0, y0, x1, y1]`` in pixels of the file's image as stored (before the resize to the run's size), or
    None when the output is not four location tokens.
    """
    from omnivec.data.readers import modality_of
    from omnivec.data.readers.text import read_text_prefix
    from omnivec.families.unival.tasks import get_seq2seq_task
    from omnivec.tasks import seq2seq_kind
    from omnivec.tasks.locations import Grounding

    groups: dict[str, list[tuple[int, Path, Any]]] = {}
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise OmnivecError(f"input {p} is not a file")
        mod = modality_of(p)
        modality = mod.value if mod is not None else "text"
        name = resolve_task(task, modality)
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
        spec = get_seq2seq_task(name)
        outs = model.generate(
            name, [s for _, _, s in items], beam=beam, max_len=max_len or spec.max_len, batch_size=batch_size
        )
        for (i, p, _), o in zip(items, outs):
            rec: dict[str, Any] = {"input": str(p), "task": name, "output": o, **({"text": text} if text else {})}
            if isinstance(o, Grounding):  # the box in pixels of the file as stored
                rec["output"] = o.text
                rec["box"] = list(o.box) if o.box is not None else None
            records[i] = rec
    return [r for r in records if r is not None]
