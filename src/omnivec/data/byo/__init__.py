"""Bring your own data: a folder of class subfolders or a CSV/TSV/JSONL manifest, read lazily
(:mod:`.folder`), and turned into a catalogue task for a run (:mod:`.entry`).

``omnivec train --train DIR`` stores a spec (:func:`byo_spec`) in ``RunConfig.byo``; the catalogue builds the
task from it (:func:`byo_entry`), so ``omnivec evaluate RUN`` rebuilds the same splits. ``omnivec pretrain
--train DIR`` stores a spec whose labels are optional (a flat folder of files is one unlabelled set).
"""

from omnivec.data.byo.entry import (
    BYO_IMAGE_SIZE,
    byo_entry,
    byo_name,
    byo_options,
    byo_spec,
    holdout,
    load_user,
    relabel,
)
from omnivec.data.byo.folder import (
    FolderDataset,
    SkipLog,
    export_image_folder,
    from_folder,
    from_manifest,
    load_byo,
    require_readable,
    scan,
)

__all__ = [
    "BYO_IMAGE_SIZE",
    "FolderDataset",
    "SkipLog",
    "byo_entry",
    "byo_name",
    "byo_options",
    "byo_spec",
    "export_image_folder",
    "from_folder",
    "from_manifest",
    "holdout",
    "load_byo",
    "load_user",
    "relabel",
    "require_readable",
    "scan",
]
