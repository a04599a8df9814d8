"""ResNet-style image encoder (UnIVAL encodes images with a ResNet before its transformer, arXiv 2307.16184
§3.1): a conv stem and residual stages (stride 2 each) -> a (h, w) feature map -> (B, h*w, D) tokens with 2-D
sine-cosine positions. Selectable beside ``image_patch`` with ``encoders.image.name: image_resnet``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from omnivec.config.encoder import EncoderConfig
from omnivec.nn.encoders.base import ENCODERS, Unmaskable
from omnivec.nn.encoders.image import ImageEncoder
from omnivec.types import EncoderInput, Tokens


@dataclass
class ImageResNetConfig(EncoderConfig):
    in_chans: int = 3
    """Input channels; 1-channel images are repeated when the encoder expects 3."""
    width: int = 32
    """Channels of the first stage; each later stage doubles them."""
    stages: int = 2
    """Residual stages after the stem, each halving the resolution (total stride 2 ** (stages + 1))."""
    patch_size: int = 8
    """The total stride, 2 ** (stages + 1); image sides must be divisible by it (checked like patches)."""


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch-free GroupNorm (batch-size independent, merge-friendly) and a skip."""

    def __init__(self, cin: int, cout: int, stride: int, conv: type[nn.Module] = nn.Conv2d) -> None:
        super().__init__()
        norm = nn.GroupNorm
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.n1 = norm(min(8, cout), cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.n2 = norm(min(8, cout), cout)
        self.skip = (
            nn.Sequential(conv(cin, cout, 1, stride, bias=False), norm(min(8, cout), cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.n1(self.conv1(x)))
        return self.act(self.n2(self.conv2(y)) + self.skip(x))


@ENCODERS.register("image_resnet")
class ImageResNetEncoder(Unmaskable, ImageEncoder):
    Config = ImageResNetConfig  # type: ignore[assignment]

    def __init__(self, cfg: ImageResNetConfig, embed_dim: int) -> None:
        if cfg.patch_size != 2 ** (cfg.stages + 1):
            cfg.patch_size = 2 ** (cfg.stages + 1)
        nn.Module.__init__(self)
        self.cfg = cfg
        self.embed_dim = embed_dim
        self.patch = (cfg.patch_size, cfg.patch_size)
        w = cfg.width
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_chans, w, 3, 2, 1, bias=False), nn.GroupNorm(min(8, w), w), nn.ReLU()
        )
        chans = [w * 2**i for i in range(cfg.stages + 1)]
        self.stages = nn.Sequential(*(BasicBlock(chans[i], chans[i + 1], 2) for i in range(cfg.stages)))
        self.proj = nn.Conv2d(chans[-1], embed_dim, 1)

    def forward(self, inp: EncoderInput) -> Tokens:
        x, size = self._padded(inp)
        return self.to_tokens(self.proj(self.stages(self.stem(x))))._replace(size=size)  # stride = patch
