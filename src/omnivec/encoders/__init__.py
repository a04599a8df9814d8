"""Modality encoders. Importing this package registers every built-in encoder by name."""

from omnivec.encoders import audio, image, points, text, video  # noqa: F401  (registration side effects)
from omnivec.encoders import audio_cnn14, image_resnet, video_conv3d  # noqa: F401,E402  (UnIVAL CNNs)
from omnivec.encoders.base import ENCODERS, Encoder, build_encoder

__all__ = ["ENCODERS", "Encoder", "build_encoder"]
