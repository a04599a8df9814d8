"""BART (``model_type`` bart) <-> the UnIVAL encoder-decoder, which the UnIVAL reference initialises from BART-base.

BART (Lewis et al. 2020, §2.1): one shared token embedding, learned positions looked up at ``position + 2`` (its
``BartLearnedPositionalEmbedding`` offset; rows 0 and 1 are never read, so the import keeps rows 2.. and the
export puts two zero rows back), an embedding LayerNorm in the encoder and in the decoder, post-norm blocks, no
final norms, and the output projection tied to the token embedding. The encoder becomes the text encoder +
``post_norm`` trunk, the decoder the ``post_norm`` text decoder with ``decoder_embed_norm``. The tokenizer is the
checkpoint's byte-level BPE with the ``<bin_0>``... location tokens appended (their embedding rows start fresh),
as UnIVAL/OFA append them to BART's vocabulary. The image, video and audio encoders of the UnIVAL preset are
added freshly initialised (the reference's are not BART's either). Not converted: a non-zero
``final_logits_bias`` (an error), ``scale_embedding`` (an error), classification heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from torch import nn

from omnivec.config import EncoderConfig, from_dict
from omnivec.errors import CheckpointError
from omnivec.families.unival.model import TIED, UnivalModel
from omnivec.hf.base import (
    CONVERTERS,
    Converter,
    HFExport,
    Imported,
    ImportOptions,
    Rule,
    SourceState,
    check_plain_gelu,
    fine_tune_schedule,
    give_rules,
    head_dims,
    layer_rules,
    take_rules,
)
from omnivec.hf.folder import HFFolder, require
from omnivec.hf.tokenizer_files import read_tokenizer
from omnivec.nn.encoders.text import TextEncoderConfig
from omnivec.nn.tokenizer import TextTokenizer
from omnivec.tasks.locations import special_tokens

OFFSET = 2
"""BART looks positions up at index position + 2."""
TEXT = "backbone.encoders.text."


SELF_ATTN: list[Rule] = [
    ("qkv", tuple(f"self_attn.{n}_proj" for n in "qkv")),
    ("proj", ("self_attn.out_proj",)),
]
ENCODER_LAYER: list[Rule] = [
    *(("attn." + o, h) for o, h in SELF_ATTN),
    ("norm1", ("self_attn_layer_norm",)),
    ("mlp.fc1", ("fc1",)),
    ("mlp.fc2", ("fc2",)),
    ("norm2", ("final_layer_norm",)),
]
"""A BART encoder layer (post-norm) -> a trunk block."""
DECODER_LAYER: list[Rule] = [
    *(("self_attn." + o, h) for o, h in SELF_ATTN),
    ("norm1", ("self_attn_layer_norm",)),
    ("cross_attn.q", ("encoder_attn.q_proj",)),
    ("cross_attn.kv", ("encoder_attn.k_proj", "encoder_attn.v_proj")),
    ("cross_attn.proj", ("encoder_attn.out_proj",)),
    ("norm2", ("encoder_attn_layer_norm",)),
    ("mlp.fc1", ("fc1",)),
    ("mlp.fc2", ("fc2",)),
    ("norm3", ("final_layer_norm",)),
]
"""A BART decoder layer (post-norm) -> a text-decoder block."""


def bart_rules(enc_depth: int, dec_depth: int) -> list[Rule]:
    return [
        (TEXT + "embed_norm", ("encoder.layernorm_embedding",)),
        *layer_rules(enc_depth, "encoder.layers.{i}.", "backbone.trunk.blocks.{i}.", ENCODER_LAYER),
        ("decoder.embed_norm", ("decoder.layernorm_embedding",)),
        *layer_rules(dec_depth, "decoder.layers.{i}.", "decoder.blocks.{i}.", DECODER_LAYER),
    ]


def _shared_embedding(folder: HFFolder, V: int, D: int) -> torch.Tensor:
    """The token embedding under whichever of its tied names the file kept."""
    names = ("shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")
    found = [n for n in names if folder.has(n)]
    if not found:
        return folder.take(names[0], (V, D))  # the error names the key
    weight = folder.take(found[0], (V, D))
    for other in found[1:]:  # tied copies: taken, so they are not reported as left over
        folder.take(other, (V, D))
    return weight


@CONVERTERS.register("bart")
class BartConverter(Converter):
    model_type = "bart"
    family = "unival"

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:
        from omnivec.families.unival.config import UnivalModelConfig, UnivalRunConfig, unival_preset

        D, nh, ratio = head_dims(folder, "d_model", "encoder_attention_heads", "encoder_ffn_dim")
        V, P = int(folder.cfg("vocab_size")), int(folder.cfg("max_position_embeddings"))
        enc, dec = int(folder.cfg("encoder_layers")), int(folder.cfg("decoder_layers"))
        check_plain_gelu(folder, "activation_function")
        require(folder, "scale_embedding", not folder.cfg("scale_embedding", False), "scaled embeddings")
        require(folder, "decoder_attention_heads", folder.cfg("decoder_attention_heads") == nh, "as the encoder's")
        require(folder, "decoder_ffn_dim", folder.cfg("decoder_ffn_dim") == folder.cfg("encoder_ffn_dim"), "same")
        base = read_tokenizer(folder.path, "bpe")
        require(folder, "vocab_size", base.vocab_size <= V, f"at least the tokenizer's {base.vocab_size}")
        n = base.vocab_size  # the tokenizer's own tokens; the location tokens follow them
        base.tk.add_special_tokens(special_tokens(options.num_bins))
        tokenizer = TextTokenizer(base.tk)
        run = unival_preset("tiny", options.num_bins)
        backbone = run.model.backbone
        backbone.embed_dim, backbone.depth, backbone.num_heads, backbone.mlp_ratio = D, enc, nh, ratio
        backbone.post_norm, backbone.norm_eps = True, 1e-5
        text = dict(name="text_embedding", vocab_size=tokenizer.vocab_size, max_length=P, bigram_buckets=0,
                    embed_norm=True, lowercase=False)  # fmt: skip
        backbone.encoders["text"] = from_dict(EncoderConfig, text, "encoders.text")
        model_cfg = UnivalModelConfig(backbone=backbone, decoder_depth=dec, decoder_max_length=P,
                                      num_bins=options.num_bins, decoder_embed_norm=True)  # fmt: skip
        own = UnivalModel(model_cfg, tokenizer).state_dict()
        state = take_rules(folder, bart_rules(enc, dec), own)
        embed = own[TEXT + "token_embed.weight"].clone()  # fresh rows for the location tokens
        embed[:n] = _shared_embedding(folder, V, D)[:n]
        state.update({
            TEXT + "token_embed.weight": embed,
            "decoder.embed.weight": embed,
            TEXT + "pos_embed": folder.take("encoder.embed_positions.weight", (P + OFFSET, D))[None, OFFSET:],
            "decoder.pos_embed": folder.take("decoder.embed_positions.weight", (P + OFFSET, D))[OFFSET:],
            "backbone.modality_embed.text": torch.zeros(1, 1, D),
        })  # fmt: skip
        if folder.has("final_logits_bias") and bool(folder.take("final_logits_bias").abs().sum()):
            raise CheckpointError(folder.weights_path, "non-zero: not converted", "final_logits_bias")
        cfg = UnivalRunConfig(preset="small", model=model_cfg, train=fine_tune_schedule())
        notes = [f"{options.num_bins} location tokens appended (fresh embedding rows)",
                 "image, video and audio encoders: the UnIVAL preset's, freshly initialised"]  # fmt: skip
        if n < V:
            notes.append(f"embedding rows {n}..{V - 1} (no token in the tokenizer) are not converted")
        return Imported("unival", cfg, state, tokenizer, notes)

    tied = TIED

    def build(self, imported: Imported) -> nn.Module:
        """The UnIVAL encoder-decoder (BART is one)."""
        assert imported.tokenizer is not None
        return UnivalModel(imported.config.model, imported.tokenizer, imported.config.image_size)

    def save(self, model: nn.Module, imported: Imported, out: Path) -> None:
        from omnivec.families.unival.model import save_unival

        save_unival(model, imported.config, out)  # type: ignore[arg-type]

    def to_hf(self, model: nn.Module) -> HFExport | None:
        model = cast(UnivalModel, model)  # as_hf asks this converter about UnIVAL models only
        c, b = model.cfg, model.cfg.backbone
        spec = b.encoders["text"]
        if not isinstance(spec, TextEncoderConfig):
            return None
        fits = b.post_norm and c.decoder_embed_norm and spec.embed_norm and not spec.bigram_buckets
        same_sizes = b.norm_eps == spec.embed_norm_eps and spec.max_length == c.decoder_max_length
        if not fits or spec.type_embed or not same_sizes:  # BartConfig has one eps and one position count
            return None
        s = SourceState(model)
        # the text modality embedding is added after the embedding LayerNorm: it folds into that norm's bias
        s[TEXT + "embed_norm.bias"] = s[TEXT + "embed_norm.bias"] + s["backbone.modality_embed.text"].view(-1)
        state = give_rules(s, bart_rules(b.depth, c.decoder_depth))
        D, P = b.embed_dim, int(spec.max_length)
        pad2 = torch.zeros(OFFSET, D)
        embed = s[TEXT + "token_embed.weight"]
        state.update({
            "shared.weight": embed,
            "encoder.embed_positions.weight": torch.cat([pad2, s[TEXT + "pos_embed"][0]]),
            "decoder.embed_positions.weight": torch.cat([pad2, s["decoder.pos_embed"]]),
        })  # fmt: skip
        if c.decoder_max_length != P:
            return None  # BartConfig has one max_position_embeddings
        tk = model.tokenizer
        config = {
            "model_type": "bart", "architectures": ["BartForConditionalGeneration"], "vocab_size": embed.shape[0],
            "d_model": D, "encoder_layers": b.depth, "decoder_layers": c.decoder_depth,
            "encoder_attention_heads": b.num_heads, "decoder_attention_heads": b.num_heads,
            "encoder_ffn_dim": int(D * b.mlp_ratio), "decoder_ffn_dim": int(D * b.mlp_ratio),
            "activation_function": "gelu", "max_position_embeddings": P, "scale_embedding": False,
            "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "tie_word_embeddings": True,
            "pad_token_id": tk.pad_id, "bos_token_id": tk.bos_id, "eos_token_id": tk.eos_id,
            "decoder_start_token_id": tk.bos_id, "forced_eos_token_id": tk.eos_id,
        }  # fmt: skip
        others = sorted(m for m in b.encoders if m != "text")
        notes = [f"not exported: the {', '.join(others)} encoders (BART has none)"] if others else []
        notes.append("decoder_start_token_id is <s>, the token omnivec's decoder starts from")
        return HFExport(config, state, {}, notes, s.unread())
