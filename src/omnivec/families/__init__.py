"""Model families: what a run folder can hold. Each family is one registration (:mod:`omnivec.families.registry`)
that owns its config class and how its runs are built, loaded, saved, evaluated, predicted with, served and
exported; callers ask the registry, never the model's class.

- ``omnivec``: encoders -> trunk -> vectorizer -> task heads (:mod:`omnivec.families.omnivec`);
- ``unival``: the encoder-decoder answering in text (:mod:`omnivec.families.unival`).

Kept empty of imports: importing a family's module (``omnivec.families.unival.model``) runs this file first.
"""
