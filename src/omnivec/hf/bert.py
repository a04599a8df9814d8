"""BERT (``model_type`` bert) <-> the text encoder + shared trunk.

BERT (Devlin et al. 2019, §3): word + token-type + learned absolute position embeddings, summed in that order and
LayerNorm-ed, then post-norm blocks (no final norm). Converted as the text encoder's ``type_embed`` (segment 0's
row: omnivec feeds one segment), ``pos_embed`` and ``embed_norm``, and a ``post_norm`` trunk. The tokenizer is the
checkpoint's own (WordPiece with ``[CLS] ... [SEP]``). Not converted: the pooler, the MLM / NSP heads, the other
token-type rows.
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
from omnivec.nn.model import OmniModel

TEXT = "encoders.text."


BERT_LAYER: list[Rule] = [
    ("attn.qkv", tuple(f"attention.self.{n}" for n in ("query", "key", "value"))),
    ("attn.proj", ("attention.output.dense",)),
    ("norm1", ("attention.output.LayerNorm",)),
    ("mlp.fc1", ("intermediate.dense",)),
    ("mlp.fc2", ("output.dense",)),
    ("norm2", ("output.LayerNorm",)),
]
"""A BERT layer (post-norm) -> a trunk block."""


def bert_rules(depth: int) -> list[Rule]:
    embed: Rule = (TEXT + "embed_norm", ("embeddings.LayerNorm",))
    return [embed, *layer_rules(depth, "encoder.layer.{i}.", "trunk.blocks.{i}.", BERT_LAYER)]


@CONVERTERS.register("bert")
class BertConverter(Converter):
    model_type = "bert"

    def to_omnivec(self, folder: HFFolder, options: ImportOptions) -> Imported:
        D, nh, ratio = head_dims(folder, "hidden_size", "num_attention_heads", "intermediate_size")
        depth, V = int(folder.cfg("num_hidden_layers")), int(folder.cfg("vocab_size"))
        P, types = int(folder.cfg("max_position_embeddings")), int(folder.cfg("type_vocab_size", 2))
        eps = float(folder.cfg("layer_norm_eps", 1e-12))
        check_plain_gelu(folder)
        kind = folder.cfg("position_embedding_type", "absolute")
        require(folder, "position_embedding_type", kind == "absolute", "only absolute positions are converted")
        text = dict(name="text_embedding", vocab_size=V, max_length=P, bigram_buckets=0, type_embed=True,
                    embed_norm=True, embed_norm_eps=eps)  # fmt: skip
        model_cfg = ModelConfig(
            embed_dim=D, depth=depth, num_heads=nh, mlp_ratio=ratio, layer_scale=0.0, vectorizer="mean",
            post_norm=True, norm_eps=eps, encoders={"text": from_dict(EncoderConfig, text, "encoders.text")},
        )  # fmt: skip
        own = OmniModel(model_cfg).state_dict()
        state = take_rules(folder, bert_rules(depth), own)
        state.update({
            TEXT + "token_embed.weight": folder.take("embeddings.word_embeddings.weight", (V, D)),
            TEXT + "pos_embed": folder.take("embeddings.position_embeddings.weight", (P, D))[None],
            TEXT + "type_embed": folder.take("embeddings.token_type_embeddings.weight", (types, D))[None, :1],
            "modality_embed.text": torch.zeros(1, 1, D),
        })  # fmt: skip
        tokenizer = read_tokenizer(folder.path, "wordpiece")
        require(folder, "vocab_size", tokenizer.vocab_size <= V, f"at least the tokenizer's {tokenizer.vocab_size}")
        cfg = RunConfig(preset="small", model=model_cfg, train=fine_tune_schedule())
        notes = ["token-type rows other than segment 0 are not converted (omnivec feeds one segment)"] * (types > 1)
        return Imported("omnivec", cfg, state, tokenizer, notes)

    def to_hf(self, model: nn.Module) -> HFExport | None:
        model = cast(OmniModel, model)  # as_hf asks this converter about OmniVec models only
        c = model.cfg
        spec = c.encoders.get("text")
        fits = (
            isinstance(spec, TextEncoderConfig)
            and list(c.encoders) == ["text"]
            and c.post_norm
            and spec.type_embed
            and spec.embed_norm
            and not spec.bigram_buckets
            and c.num_meta_tokens == 0
            and c.vectorizer != "cls"
            and c.layer_scale == 0
            and float(spec.embed_norm_eps) == c.norm_eps
        )  # fmt: skip  (BertConfig has one layer_norm_eps for the embeddings and the blocks)
        if not fits or not isinstance(spec, TextEncoderConfig):
            return None
        s = SourceState(model)
        # the modality embedding is added after the embedding LayerNorm: it folds into that norm's bias
        s[TEXT + "embed_norm.bias"] = s[TEXT + "embed_norm.bias"] + s["modality_embed.text"].view(-1)
        state = give_rules(s, bert_rules(c.depth))
        state.update({
            "embeddings.word_embeddings.weight": s[TEXT + "token_embed.weight"],
            "embeddings.position_embeddings.weight": s[TEXT + "pos_embed"][0],
            "embeddings.token_type_embeddings.weight": s[TEXT + "type_embed"][0],
        })  # fmt: skip
        D = c.embed_dim
        config = {
            "model_type": "bert", "architectures": ["BertModel"], "vocab_size": int(spec.vocab_size),
            "hidden_size": D, "num_hidden_layers": c.depth, "num_attention_heads": c.num_heads,
            "intermediate_size": int(D * c.mlp_ratio), "hidden_act": "gelu", "max_position_embeddings":
            int(spec.max_length), "type_vocab_size": 1, "layer_norm_eps": float(spec.embed_norm_eps),
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "position_embedding_type": "absolute",
            "pad_token_id": model.tokenizer.pad_id if model.tokenizer is not None else 0,
        }  # fmt: skip
        notes = ["not exported: BertModel's pooler (transformers initialises it fresh)"]
        return HFExport(config, state, {}, notes, s.unread())
