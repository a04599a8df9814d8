"""ViT and ViT-MAE (``model_type`` vit, vit_mae) <-> the image encoder + shared trunk.

ViT (Dosovitskiy et al. 2021, §3.1): one conv patch embedding (our ``linear`` stem), a class token, learned absolute
positions over (1 + patches), pre-norm blocks, a final LayerNorm. Our model prepends its class token *after* the
encoder adds positions, so the class token's position (row 0 of the table) is folded into ``cls_token``; the patch
rows become the encoder's learned ``pos_table``. ViT-MAE's encoder is the same network with fixed sine-cosine
positions stored as a (frozen) table: it imports the same way, and its table is trained like a learned one after
import. Pixels: ``preprocessor_config.json``'s ``image_mean``/``image_std`` become the encoder's per-channel
normalisation (images in [0, 1], i.e. after HF's ``rescale_factor`` 1/255), its ``size`` the size files are read
at. Not converted: ViT's pooler (dense + tanh on the class token; our vectorizer reads the class token itself), an
MAE decoder, classification heads.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from omnivec.config import EncoderConfig, ModelConfig, RunConfig, from_dict
from omnivec.hf.base import (
    CONVERTERS,
    Converter,
    HFExport,
    Imported,
    ImportOptions,
    SourceState,
    check_plain_gelu,
    fine_tune_schedule,
    give_rules,
    head_dims,
    take_rules,
    vit_block_rules,
)
from omnivec.hf.folder import HFFolder, require
from omnivec.nn.encoders.image import ImageEncoderConfig
from omnivec.nn.model import OmniModel

IMAGENET_STANDARD = [0.5, 0.5, 0.5]
"""transformers' ViTImageProcessor default mean and std, used when a folder has no preprocessor_config.json."""


def _pixels(folder: HFFolder, channels: int) -> tuple[list[float], list[float], list[str]]:
    pre = folder.preprocessor()
    notes = [] if pre else ["no preprocessor_config.json: image mean/std 0.5 (transformers' ViT default)"]
    mean = [float(v) for v in pre.get("image_mean", IMAGENET_STANDARD)]
    std = [float(v) for v in pre.get("image_std", IMAGENET_STANDARD)]
    if not pre.get("do_normalize", True):
        mean, std = [0.0] * channels, [1.0] * channels
    require(folder, "num_channels", len(mean) == len(std) == channels, "one image_mean/image_std per channel")
    return mean, std, notes


def square(folder: HFFolder, key: str) -> int:
    """A side that config.json may write as 224 or [224, 224]; only square images and patches are converted."""
    value = folder.cfg(key)
    sides = value if isinstance(value, list) else [value]
    require(folder, key, len(set(sides)) == 1 and all(isinstance(v, int) for v in sides), "one square side")
    return int(sides[0])


class ViTConverter(Converter):
    model_type = "vit"

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:
        D, nh, ratio = head_dims(folder, "hidden_size", "num_attention_heads", "intermediate_size")
        depth, size, p = (
            int(folder.cfg("num_hidden_layers")),
            square(folder, "image_size"),
            square(folder, "patch_size"),
        )
        C = int(folder.cfg("num_channels", 3))
        check_plain_gelu(folder)
        require(folder, "qkv_bias", bool(folder.cfg("qkv_bias", True)), "attention without biases is not converted")
        require(folder, "image_size", size % p == 0, f"a multiple of patch_size {p}")
        mean, std, notes = _pixels(folder, C)
        g = size // p
        image = dict(name="image_patch", in_chans=C, patch_size=p, stem="linear", mean=mean, std=std,
                     pos_embed="learned", pos_grid=[g, g])  # fmt: skip
        model_cfg = ModelConfig(
            embed_dim=D, depth=depth, num_heads=nh, mlp_ratio=ratio, layer_scale=0.0, vectorizer="cls",
            norm_eps=float(folder.cfg("layer_norm_eps", 1e-12)),
            encoders={"image": from_dict(EncoderConfig, image, "encoders.image")},
        )  # fmt: skip
        own = OmniModel(model_cfg).state_dict()
        pos = folder.take("embeddings.position_embeddings", (1, g * g + 1, D))
        state = take_rules(folder, vit_block_rules(depth), own)
        state.update({
            "encoders.image.proj.weight": folder.take("embeddings.patch_embeddings.projection.weight", (D, C, p, p)),
            "encoders.image.proj.bias": folder.take("embeddings.patch_embeddings.projection.bias", (D,)),
            "encoders.image.pos_table": pos[:, 1:],
            "cls_token": folder.take("embeddings.cls_token", (1, 1, D)) + pos[:, :1],
            "modality_embed.image": torch.zeros(1, 1, D),
        })  # fmt: skip
        cfg = RunConfig(preset="small", model=model_cfg, train=fine_tune_schedule())
        return Imported("omnivec", cfg, state, None, notes)

    def to_hf(self, model: nn.Module) -> HFExport | None:
        model = cast(OmniModel, model)  # as_hf asks this converter about OmniVec models only
        c = model.cfg
        spec = c.encoders.get("image")
        fits = (
            isinstance(spec, ImageEncoderConfig) and list(c.encoders) == ["image"] and spec.stem == "linear"
            and spec.pos_embed == "learned" and c.vectorizer == "cls" and c.num_meta_tokens == 0
            and c.layer_scale == 0 and not c.post_norm and len(set(spec.pos_grid)) == 1
        )  # fmt: skip
        if not fits or not isinstance(spec, ImageEncoderConfig):
            return None
        s = SourceState(model)
        D, g, p = c.embed_dim, spec.pos_grid[0], spec.patch_size
        patches = s["encoders.image.pos_table"] + s["modality_embed.image"]  # the modality embedding folded in
        state = give_rules(s, vit_block_rules(c.depth))
        state.update({
            "embeddings.patch_embeddings.projection.weight": s["encoders.image.proj.weight"],
            "embeddings.patch_embeddings.projection.bias": s["encoders.image.proj.bias"],
            "embeddings.position_embeddings": torch.cat([torch.zeros(1, 1, D), patches], dim=1),
            "embeddings.cls_token": s["cls_token"],
        })  # fmt: skip
        C = int(spec.in_chans)
        mean, std = spec.mean, spec.std
        config = {
            "model_type": "vit", "architectures": ["ViTModel"], "hidden_size": D, "num_hidden_layers": c.depth,
            "num_attention_heads": c.num_heads, "intermediate_size": int(D * c.mlp_ratio), "hidden_act": "gelu",
            "layer_norm_eps": c.norm_eps, "image_size": g * p, "patch_size": p, "num_channels": C, "qkv_bias": True,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "encoder_stride": p,
        }  # fmt: skip
        pre = {
            "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": g * p, "width": g * p},
            "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
            "image_mean": mean if isinstance(mean, list) else [mean] * C,
            "image_std": std if isinstance(std, list) else [std] * C,
        }  # fmt: skip
        notes = ["not exported: ViTModel's pooler (transformers initialises it fresh)"]
        return HFExport(config, state, pre, notes, s.unread())


CONVERTERS.register("vit")(ViTConverter)


@CONVERTERS.register("vit_mae")
class ViTMAEConverter(ViTConverter):
    model_type = "vit_mae"

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:
        imported = super().to_omnivec(folder, options)
        imported.notes.append("the MAE's fixed sine-cosine position table is imported as a learned table")
        return imported
