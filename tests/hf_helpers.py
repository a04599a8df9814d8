"""Tiny randomly initialised transformers models of every supported ``model_type``, saved with
``save_pretrained`` (and their tokenizer / preprocessor files) into a folder, as a user's downloaded checkpoint
would be. Every parameter, LayerNorms included, is drawn at random, so a swapped or missing tensor shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

WORDS = ["the", "red", "blue", "cat", "dog", "runs", "sleeps", "here", "there", "fast", "slow", "and", "is"]
TEXTS = ["the red cat runs fast", "blue dog", "the dog is here and the cat is there", "slow cat sleeps"]


def randomise(model: Any, seed: int = 0) -> Any:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def vit_folder(path: Path, mae: bool = False) -> tuple[Any, Path]:
    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
              patch_size=8, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # fmt: skip
    if mae:
        model = transformers.ViTMAEModel(transformers.ViTMAEConfig(**kw, mask_ratio=0.0))
    else:
        model = transformers.ViTModel(transformers.ViTConfig(**kw))
    randomise(model)
    model.save_pretrained(path)
    proc = transformers.ViTImageProcessor(image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.3, 0.25], size=32)
    proc.save_pretrained(path)
    return model, path


def vit_pixels(path: Path, images: torch.Tensor) -> torch.Tensor:
    """HF's own preprocessing of images already in [0, 1] at the model's size."""
    proc = transformers.ViTImageProcessor.from_pretrained(path)
    return proc(images=list(images), do_rescale=False, do_resize=False, return_tensors="pt").pixel_values


def wordpiece_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz")]
    vocab += list("abcdefghijklmnopqrstuvwxyz")
    tk = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]",
                                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    fast.save_pretrained(path)
    return fast


def bert_folder(path: Path) -> tuple[Any, Any, Path]:
    tok = wordpiece_tokenizer(path)
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=40, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0)  # fmt: skip
    model = randomise(transformers.BertModel(cfg))
    model.save_pretrained(path)
    return model, tok, path


def bpe_files(path: Path) -> None:
    """BART's legacy tokenizer files (vocab.json + merges.txt), trained locally."""
    from tokenizers import ByteLevelBPETokenizer

    tk = ByteLevelBPETokenizer()
    tk.train_from_iterator(TEXTS * 10, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path.mkdir(parents=True, exist_ok=True)
    tk.save_model(str(path))


def bart_folder(path: Path) -> tuple[Any, Any, Path]:
    bpe_files(path)
    tok = transformers.BartTokenizer(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"))
    cfg = transformers.BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=2,
                                  encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                                  decoder_ffn_dim=64, max_position_embeddings=48, dropout=0.0, attention_dropout=0.0,
                                  activation_dropout=0.0)  # fmt: skip
    model = randomise(transformers.BartForConditionalGeneration(cfg))
    with torch.no_grad():
        model.final_logits_bias.zero_()  # a buffer; BART-base's is zero
    model.save_pretrained(path)
    return model, tok, path


AST_KW = dict(num_mel_bins=16, max_length=40)


def ast_folder(path: Path) -> tuple[Any, Any, Path]:
    cfg = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                 patch_size=8, frequency_stride=4, time_stride=6, hidden_dropout_prob=0.0,
                                 attention_probs_dropout_prob=0.0, **AST_KW)  # fmt: skip
    model = randomise(transformers.ASTModel(cfg))
    model.save_pretrained(path)
    fe = transformers.ASTFeatureExtractor(**AST_KW, mean=-2.0, std=3.0)
    fe.save_pretrained(path)
    return model, fe, path


def waveforms(seed: int = 0) -> list[torch.Tensor]:
    """One clip shorter than max_length frames (zero-padded features), one longer (cut)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=g) * 0.3 for n in (4000, 8000)]
