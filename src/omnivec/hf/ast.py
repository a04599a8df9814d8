"""AST (``model_type`` audio-spectrogram-transformer) -> the ``audio_ast`` encoder + shared trunk.

AST (Gong et al. 2021): a ViT over overlapping spectrogram patches with *two* prefix tokens, a class token and
DeiT's distillation token, each with its own row of the learned position table. They become the model's class
token and one meta token (``num_meta_tokens: 1``), their position rows folded in; the blocks are ViT's. The
feature settings (sampling rate, mel bins, frame count, mean/std) come from ``preprocessor_config.json`` when the
folder has one. Not converted: the classification head (``classifier.*``); our vectorizer reads the class token,
where HF's pooler averages the class and distillation tokens. No HF export (AST is import-only here).
"""

from __future__ import annotations

import torch

from omnivec.config import EncoderConfig, ModelConfig, RunConfig, from_dict
from omnivec.hf.base import (
    CONVERTERS,
    Converter,
    Imported,
    ImportOptions,
    check_plain_gelu,
    fine_tune_schedule,
    head_dims,
    take_rules,
    vit_block_rules,
)
from omnivec.hf.folder import HFFolder, require
from omnivec.nn.model import OmniModel


@CONVERTERS.register("audio-spectrogram-transformer")
class ASTConverter(Converter):
    model_type = "audio-spectrogram-transformer"

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:
        D, nh, ratio = head_dims(folder, "hidden_size", "num_attention_heads", "intermediate_size")
        depth, p = int(folder.cfg("num_hidden_layers")), int(folder.cfg("patch_size"))
        check_plain_gelu(folder)
        require(folder, "qkv_bias", bool(folder.cfg("qkv_bias", True)), "attention without biases is not converted")
        pre = folder.preprocessor()
        bins, frames = int(folder.cfg("num_mel_bins")), int(folder.cfg("max_length"))
        require(folder, "num_mel_bins", int(pre.get("num_mel_bins", bins)) == bins, "the feature extractor's")
        require(folder, "max_length", int(pre.get("max_length", frames)) == frames, "the feature extractor's")
        audio = dict(name="audio_ast", sample_rate=int(pre.get("sampling_rate", 16000)), num_mel_bins=bins,
                     max_length=frames, patch_size=p, frequency_stride=int(folder.cfg("frequency_stride")),
                     time_stride=int(folder.cfg("time_stride")))  # fmt: skip
        if pre.get("do_normalize", True):
            audio.update(mean=float(pre.get("mean", -4.2677393)), std=float(pre.get("std", 4.5689974)))
        else:
            audio.update(mean=0.0, std=0.5)  # (x - 0) / (2 * 0.5) leaves the features as they are
        model_cfg = ModelConfig(
            embed_dim=D, depth=depth, num_heads=nh, mlp_ratio=ratio, layer_scale=0.0, vectorizer="cls",
            num_meta_tokens=1, norm_eps=float(folder.cfg("layer_norm_eps", 1e-12)),
            encoders={"audio": from_dict(EncoderConfig, audio, "encoders.audio")},
        )  # fmt: skip
        model = OmniModel(model_cfg)
        own = model.state_dict()
        n = own["encoders.audio.pos_table"].shape[1]
        pos = folder.take("embeddings.position_embeddings", (1, n + 2, D))
        state = take_rules(folder, vit_block_rules(depth), own)
        state.update({
            "encoders.audio.proj.weight": folder.take("embeddings.patch_embeddings.projection.weight", (D, 1, p, p)),
            "encoders.audio.proj.bias": folder.take("embeddings.patch_embeddings.projection.bias", (D,)),
            "encoders.audio.pos_table": pos[:, 2:],
            "cls_token": folder.take("embeddings.cls_token", (1, 1, D)) + pos[:, :1],
            "meta_tokens.audio": folder.take("embeddings.distillation_token", (1, 1, D)) + pos[:, 1:2],
            "modality_embed.audio": torch.zeros(1, 1, D),
        })  # fmt: skip
        notes = [] if pre else ["no preprocessor_config.json: AudioSet feature settings (16 kHz, mean/std)"]
        cfg = RunConfig(preset="small", model=model_cfg, train=fine_tune_schedule())
        return Imported("omnivec", cfg, state, None, notes)
