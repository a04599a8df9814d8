"""A checkpoint's tokenizer, read with the ``tokenizers`` library from its files (never transformers):
``tokenizer.json`` when there is one, else BERT's ``vocab.txt`` or BART's ``vocab.json`` + ``merges.txt``, rebuilt
with the pre- and post-processing transformers' fast tokenizers give them (``[CLS] ... [SEP]``, ``<s> ... </s>``).
Its ids are the checkpoint's, so the imported embedding rows mean what they meant."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers.implementations import BertWordPieceTokenizer

from omnivec.errors import CheckpointError
from omnivec.hf.folder import read_json
from omnivec.nn.tokenizer import TextTokenizer

TOKENIZER_JSON = "tokenizer.json"
BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _bert_vocab(folder: Path) -> Tokenizer:
    cfg_path = folder / "tokenizer_config.json"
    lower = bool(read_json(cfg_path).get("do_lower_case", True)) if cfg_path.is_file() else True
    return BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lower)._tokenizer


def _bart_bpe(folder: Path) -> Tokenizer:
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    tk = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([t for t in BART_SPECIALS if tk.token_to_id(t) is not None])
    bos, eos = tk.token_to_id("<s>"), tk.token_to_id("</s>")
    if bos is None or eos is None:
        raise CheckpointError(vocab, "has no <s> or </s> token")
    tk.post_processor = processors.RobertaProcessing(("</s>", eos), ("<s>", bos), add_prefix_space=False)
    return tk


def read_tokenizer(folder: Path, kind: str) -> TextTokenizer:
    """The folder's tokenizer; ``kind`` (wordpiece or bpe) says which legacy files to try without a
    tokenizer.json."""
    path = folder / TOKENIZER_JSON
    if path.is_file():
        try:
            tk = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            raise CheckpointError(path, f"not a valid tokenizer file ({e})") from None
    elif kind == "wordpiece" and (folder / "vocab.txt").is_file():
        tk = _bert_vocab(folder)
    elif kind == "bpe" and (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        tk = _bart_bpe(folder)
    else:
        legacy = "vocab.txt" if kind == "wordpiece" else "vocab.json + merges.txt"
        raise CheckpointError(folder, f"no tokenizer: expected {TOKENIZER_JSON} or {legacy}")
    tk.no_truncation()
    tk.no_padding()
    try:
        return TextTokenizer(tk)
    except Exception as e:
        raise CheckpointError(path, str(e)) from None
