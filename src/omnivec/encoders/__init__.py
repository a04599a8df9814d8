"""Modality encoders. Importing this package registers every built-in encoder by name."""

from omnivec.encoders import audio, image, points, text, video  # noqa: F401  (registration side effects)
from omnivec.encoders.base import ENCODERS, Encoder, build_encoder

__all__ = ["ENCODERS", "Encoder", "build_encoder"]
