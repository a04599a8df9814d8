"""Byte-level BPE trained locally with HF ``tokenizers`` (never downloaded), saved in the run folder as
``tokenizer.json``. Byte-level means no text is ever out of vocabulary.

Texts are cut before they reach the Rust tokenizer, whose cost grows with the text (and whose BPE trainer is
quadratic in the longest word: 100 k characters without a space take 5 s, a million minutes): encoding keeps
:meth:`TextTokenizer.char_budget` characters, enough for ``max_length`` tokens of the longest token in the
vocabulary several times over, so the ids kept are those of the whole text; training sees the first
:data:`TRAIN_CHARS` of each text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from omnivec.errors import OmnivecError
from omnivec.types import EncoderInput

PAD, BOS, EOS, UNK, MASK = "<pad>", "<s>", "</s>", "<unk>", "<mask>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, MASK]
WORDPIECE_NAMES = {PAD: "[PAD]", BOS: "[CLS]", EOS: "[SEP]", UNK: "[UNK]", MASK: "[MASK]"}
"""An imported BERT tokenizer names its special tokens this way; each role takes the first name it has."""


TRAIN_CHARS = 1 << 15
"""Characters of each text the tokenizer is trained on (a text without a space costs ~1 s at this length)."""

BUDGET_FACTOR = 4
"""Characters kept per token of ``max_length``, in units of the vocabulary's longest token: normalisation may
fold a few characters into one (NFKC), so one token can cover more characters than its own length."""


class TextTokenizer:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tk = tokenizer
        self.longest_token = max((len(t) for t in tokenizer.get_vocab(with_added_tokens=True)), default=1)
        self.pad_id = self._id(PAD)
        self.bos_id = self._id(BOS)
        self.eos_id = self._id(EOS)
        self.mask_id = self._id(MASK)
        self.unk_id = self._id(UNK)

    def _id(self, token: str) -> int:
        for name in (token, WORDPIECE_NAMES[token]):
            i = self.tk.token_to_id(name)
            if i is not None:
                return int(i)
        raise OmnivecError(f"tokenizer lacks the special token {token!r} (or {WORDPIECE_NAMES[token]!r})")

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int, extra_tokens: Sequence[str] = (), lowercase: bool = False
    ) -> TextTokenizer:
        """``lowercase`` folds case before BPE (as uncased BERT and TF-IDF do): "Card" and "card" share tokens,
        which helps classifiers trained on a few thousand sentences; generation keeps case (the default)."""
        norm = [normalizers.NFKC(), normalizers.Lowercase()] if lowercase else [normalizers.NFKC()]
        tk = Tokenizer(models.BPE(unk_token=UNK))
        tk.normalizer = normalizers.Sequence(norm)
        tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tk.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size - len(extra_tokens),
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tk.train_from_iterator((t[:TRAIN_CHARS] for t in texts), trainer=trainer)
        if extra_tokens:
            tk.add_special_tokens(list(extra_tokens))
        return cls(tk)

    @classmethod
    def load(cls, path: str | Path) -> TextTokenizer:
        path = Path(path)
        if not path.is_file():
            raise OmnivecError(f"tokenizer file {path} does not exist")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
            raise OmnivecError(f"{path}: not a valid tokenizer file ({e})") from None

    def save(self, path: str | Path) -> None:
        from omnivec.training.checkpoint import atomic_write_text

        atomic_write_text(Path(path), self.tk.to_str())

    def fingerprint(self) -> str:
        """See :func:`fingerprint`."""
        return fingerprint(json.loads(self.tk.to_str()))

    @property
    def vocab_size(self) -> int:
        return int(self.tk.get_vocab_size())

    def char_budget(self, max_length: int) -> int:
        """Characters of a text kept before tokenizing it for at most ``max_length`` tokens."""
        return max_length * self.longest_token * BUDGET_FACTOR + 16

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """Token ids of ``text``; with ``max_length``, its first ``max_length`` ids, of a text cut first to
        :meth:`char_budget` characters."""
        if max_length is None:
            return list(self.tk.encode(text).ids)
        return list(self.tk.encode(text[: self.char_budget(max_length)]).ids[:max_length])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tk.decode(list(ids), skip_special_tokens=True)).strip()

    def batch(self, texts: Sequence[str], max_length: int) -> EncoderInput:
        """Texts -> (B, L) int64 ids right-padded with ``<pad>``, plus lengths; truncated to ``max_length``
        (each text cut to :meth:`char_budget` characters first)."""
        budget = self.char_budget(max_length)
        encs = [e.ids[:max_length] for e in self.tk.encode_batch([t[:budget] for t in texts])]
        unk = self._id(UNK)
        encs = [ids if ids else [unk] for ids in encs]  # an empty text still has one token
        lengths = torch.tensor([len(e) for e in encs])
        ids = torch.full((len(encs), int(lengths.max())), self.pad_id, dtype=torch.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e)] = torch.tensor(e)
        return EncoderInput(ids, lengths)


RUNTIME_SETTINGS = ("version", "truncation", "padding")
"""Parts of a tokenizer.json that do not change which ids a text becomes (omnivec truncates and pads itself)."""


def fingerprint(spec: dict[str, object]) -> str:
    """sha256 of a tokenizer.json's content that decides which ids a text becomes and which text ids decode to:
    the vocabulary and merges, the added tokens, the normalizer, pre-tokenizer, post-processor and decoder -- all
    but :data:`RUNTIME_SETTINGS`. Two runs whose fingerprints differ give the same token id different meanings."""
    kept = {k: v for k, v in spec.items() if k not in RUNTIME_SETTINGS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """:func:`fingerprint` of a tokenizer.json file, read as JSON (no tokenizer is built)."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OmnivecError(f"{path}: not a readable tokenizer file ({e})") from None
    if not isinstance(spec, dict):
        raise OmnivecError(f"{path}: not a tokenizer file (expected a JSON object)")
    return fingerprint(spec)
