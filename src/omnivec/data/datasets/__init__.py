"""Named real datasets: files staged under the data root, with fixed, documented splits and sha256 verification.

=============  ============================================================================================
cards.py       :data:`DATASETS`, one card per dataset: files, sha256s, licence, citation, splits, URLs
verify.py      is a dataset there and intact: :func:`is_present`, :func:`verify_dataset`, :func:`check`
download.py    fetch from the canonical URLs: resumable, verified, atomic
loading.py     :data:`LOADERS`, :func:`load_dataset`, seeded subsets (:func:`subsample`)
images.py      MNIST, Fashion-MNIST (IDX)
fsdd.py        the Free Spoken Digit Dataset (WAV)
text.py        Banking77 (CSV), SciTLDR (JSONL)
=============  ============================================================================================

A dataset is files with splits; the *tasks* trained on them (``mnist``, ``digit-scenes``, ...) are catalogue
entries, :mod:`omnivec.data.real_tasks`. Importing this package registers every loader. Dataset cards for
readers: ``docs/data.md``.
"""

from omnivec.data.datasets.cards import DATASETS, DatasetInfo, FileInfo, TreeInfo, info
from omnivec.data.datasets.fsdd import SpokenDigitDataset, fsdd_cache_params, fsdd_split, load_fsdd
from omnivec.data.datasets.images import digit_arrays, load_fashion_mnist, load_mnist
from omnivec.data.datasets.loading import LOADERS, LazySeq, load_dataset, subsample
from omnivec.data.datasets.text import SummaryDataset, load_banking77, load_scitldr, load_scitldr_split
from omnivec.data.datasets.verify import (
    CheckReport,
    check,
    dataset_dir,
    fsdd_files,
    is_present,
    list_datasets,
    tree_digest,
    verify_dataset,
    verify_file,
)

__all__ = [
    "DATASETS",
    "LOADERS",
    "CheckReport",
    "DatasetInfo",
    "FileInfo",
    "LazySeq",
    "SpokenDigitDataset",
    "SummaryDataset",
    "TreeInfo",
    "check",
    "dataset_dir",
    "digit_arrays",
    "fsdd_cache_params",
    "fsdd_files",
    "fsdd_split",
    "info",
    "is_present",
    "list_datasets",
    "load_banking77",
    "load_dataset",
    "load_fashion_mnist",
    "load_fsdd",
    "load_mnist",
    "load_scitldr",
    "load_scitldr_split",
    "subsample",
    "tree_digest",
    "verify_dataset",
    "verify_file",
]
