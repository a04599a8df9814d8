"""The data layer: everything that turns files, generators or a user's folder into ``(sample, target)`` splits.

===================  ======================================================================================
base.py              the sample contract (:class:`SampleDataset`, :class:`TaskSplits`, :class:`Skipped`)
task_catalog.py      the task catalogue: task name -> :class:`TaskEntry` (modality, kind, group, builder)
real_tasks.py        the catalogue's real-data and derived tasks (``mnist``, ``digit-scenes``, ...)
synthetic/           the built-in generated data (``shapes``, ``tones``, ...), nothing to download
readers/             one file of a standard format -> one sample
datasets/            named real datasets: cards (files, sha256, licences), verification, download, loaders
derived/             tasks composed from real data (digit scenes, moving digits, digit points, spoken captions)
byo/                 bring-your-own folders and manifests, and the catalogue tasks made from them
stream.py            seeded, resumable batch streams for training
root.py, cache.py    where data and caches live; parameter-keyed ``.npz`` caches
prepare.py           ``omnivec data prepare``: build the caches ahead of training
resample.py          band-limited audio resampling (readers, FSDD and the audio encoder share it)
===================  ======================================================================================

Three words, three things: a *dataset* is files with splits (``datasets/``), a *task* is a catalogue entry a
run trains on (``task_catalog.py``), a task *kind* is how a batch becomes a loss and a metric
(:mod:`omnivec.tasks`).
"""
