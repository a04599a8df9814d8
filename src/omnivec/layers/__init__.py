"""Modality-agnostic building blocks."""

from omnivec.layers.attention import Attention, Block, DropPath, Mlp
from omnivec.layers.patch import patchify, unpatchify
from omnivec.layers.pos import sincos_1d, sincos_nd

__all__ = ["Attention", "Block", "DropPath", "Mlp", "patchify", "sincos_1d", "sincos_nd", "unpatchify"]
