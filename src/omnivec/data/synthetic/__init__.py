"""The built-in generated datasets, one per modality (two for images), with nothing to download.

Each generator is ``(split, num_samples, seed, **size_kwargs) -> SampleDataset`` and is a pure function of
(split, seed): the same call gives byte-identical samples on any machine, and "train" and "test" draw from
different streams. Labels are things a model has to learn (shape, direction of motion, pitch contour, topic,
solid) with the easy shortcuts (brightness, size, length, loudness, position, orientation) randomised away.
:data:`GENERATORS` lists them; :func:`make_splits` turns one into the train/test pair a task trains on (the
catalogue's ``shapes``, ``scenes``, ``motion``, ``tones``, ``topics``, ``solids``).

=============  ============================================================================================
generators.py  :data:`GENERATORS` (a :class:`~omnivec.registry.Registry`), :func:`make_splits`
vision.py      shapes, shape scenes (segmentation), motion (video)
signals.py     tones (audio), solids (point clouds)
text.py        topics
common.py      seeding, balanced labels, compact pixel storage
=============  ============================================================================================
"""

from omnivec.data.synthetic.generators import GENERATORS, GeneratorInfo, make_splits
from omnivec.data.synthetic.signals import solids, tones
from omnivec.data.synthetic.text import topic_corpus, topics
from omnivec.data.synthetic.vision import motion, shape_scenes, shapes

__all__ = [
    "GENERATORS",
    "GeneratorInfo",
    "make_splits",
    "motion",
    "shape_scenes",
    "shapes",
    "solids",
    "tones",
    "topic_corpus",
    "topics",
]
