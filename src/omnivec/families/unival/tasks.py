"""Seq2seq tasks: data, UnIVAL-style prompts and text targets, registered by name in :data:`SEQ2SEQ_TASKS`.

Every task turns a raw input into ``(prompt text, modality sample or None)`` and a target into answer text;
the model never knows which task it serves except through the prompt (UnIVAL §3). Everything else a task
needs (loss, metrics, decoding constraints, the output's format) comes from its kind
(:mod:`omnivec.tasks.seq2seq`), so a new task is one :func:`register` call naming a kind. Data are the derived
digit tasks (``omnivec.data.derived``: scenes with captions, questions and boxes; moving-digit captions;
spoken-digit captions) and SciTLDR, all under the real-data root; a task whose data are absent raises
:class:`~omnivec.errors.OmnivecError` naming the dataset.

| task | input | prompt | answer | kind: metric |
|---|---|---|---|---|
| caption_image | scene image | what does the image describe? | caption | captioning: CIDEr-D (+BLEU-4, ROUGE-L) |
| vqa_image | (image, question) | the question | word | vqa: VQA accuracy |
| grounding_image | (image, "the 7") | which region does the text … describe? | 4 ``<bin_i>`` | grounding: acc@IoU≥0.5 |
| region_image | (image, 4 ``<bin_i>``) | what does the region describe? region: … | phrase | grounded: accuracy |
| matching_image | (image, caption) | does the image describe " … "? | yes / no | matching: accuracy |
| classify_image | scene image | what does the image show? | digit count | classification: accuracy |
| caption_video | moving-digit clip | what does the video describe? | caption | captioning: CIDEr-D |
| caption_audio | spoken digit | what does the audio describe? | caption | captioning: CIDEr-D |
| summarize_text | abstract | what is the summary of the text? | TLDR | summarization: ROUGE-1/2/L |

The task type and registry live in :mod:`omnivec.families.unival.task_registry`, the built-in tasks in
:mod:`omnivec.families.unival.derived_tasks`, the TSV-file tasks in :mod:`omnivec.families.unival.tsv_tasks`, the
tasks of the user's own files (``manifest_<kind>_<modality>``) in :mod:`omnivec.families.unival.manifest_tasks`;
this module imports them all (registration order: derived, manifest, TSV) and is where tasks are looked up.
"""

from __future__ import annotations

from omnivec.errors import OmnivecError
from omnivec.families.unival import (  # noqa: F401  (registration side effects)
    derived_tasks,
    manifest_tasks,
    tsv_tasks,
)
from omnivec.families.unival.task_registry import SEQ2SEQ_TASKS, Seq2SeqTask


def get_seq2seq_task(name: str) -> Seq2SeqTask:
    """The registered task ``name``; an unknown name is an :class:`~omnivec.errors.OmnivecError` listing the
    known ones."""
    if name not in SEQ2SEQ_TASKS:
        raise OmnivecError(f"unknown seq2seq task {name!r}; expected one of {', '.join(SEQ2SEQ_TASKS)}")
    return SEQ2SEQ_TASKS.get(name)
