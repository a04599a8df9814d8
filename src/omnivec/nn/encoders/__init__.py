"""Modality encoders. Importing this package registers every built-in encoder by name."""

from omnivec.nn.encoders import audio, audio_ast, audio_cnn14, image, image_resnet, points, text, video, video_conv3d  # noqa: F401  (registration side effects)  # noqa: F401,E402  (UnIVAL CNNs)
from omnivec.nn.encoders.base import ENCODERS, Encoder, build_encoder

__all__ = ["ENCODERS", "Encoder", "build_encoder"]
