"""Modality-agnostic building blocks."""

from omnivec.nn.layers.attention import Attention, Block, DropPath, Mlp
from omnivec.nn.layers.patch import patchify, unpatchify
from omnivec.nn.layers.pos import sincos_1d, sincos_nd

__all__ = ["Attention", "Block", "DropPath", "Mlp", "patchify", "sincos_1d", "sincos_nd", "unpatchify"]
