"""3D-conv video encoder (UnIVAL encodes video with a 3D ResNeXt, arXiv 2307.16184 §3.1; this is a small
residual 3D CNN in that spirit): stem + residual 3D stages, each halving time and space -> (B, t*h*w, D)
tokens with 3-D sine-cosine positions. Selectable with ``encoders.video.name: video_conv3d``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from omnivec.nn.encoders.base import ENCODERS, Unmaskable
from omnivec.nn.encoders.image_resnet import BasicBlock
from omnivec.nn.encoders.video import ClipFilesConfig, VideoEncoder
from omnivec.types import EncoderInput, Tokens


@dataclass
class VideoConv3dConfig(ClipFilesConfig):
    in_chans: int = 3
    """Input channels; 1-channel clips are repeated."""
    width: int = 16
    """Channels of the stem; each stage doubles them."""
    stages: int = 2
    """Residual stages after the stem, each with stride 2 in time and space."""


@ENCODERS.register("video_conv3d")
class VideoConv3dEncoder(Unmaskable, VideoEncoder):
    Config = VideoConv3dConfig  # type: ignore[assignment]

    def __init__(self, cfg: VideoConv3dConfig, embed_dim: int) -> None:
        nn.Module.__init__(self)
        self.cfg = cfg
        self.embed_dim = embed_dim
        s = 2**cfg.stages
        # time is strided by the stages only; space also by the stem
        self.patch = (s, 2 * s, 2 * s)
        w = cfg.width
        self.stem = nn.Sequential(
            nn.Conv3d(cfg.in_chans, w, (3, 3, 3), (1, 2, 2), 1, bias=False),
            nn.GroupNorm(min(8, w), w),
            nn.ReLU(),
        )
        chans = [w * 2**i for i in range(cfg.stages + 1)]
        self.stages = nn.Sequential(*(BasicBlock(chans[i], chans[i + 1], 2, nn.Conv3d) for i in range(cfg.stages)))
        self.proj = nn.Conv3d(chans[-1], embed_dim, 1)

    def forward(self, inp: EncoderInput) -> Tokens:
        x, size = self._padded(inp)
        return self.to_tokens(self.proj(self.stages(self.stem(x))))._replace(size=size)  # stride = patch
