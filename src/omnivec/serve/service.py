"""The model behind the server: one loaded run (either family), an optional index, and the batcher that runs
every model call. Routes (:mod:`omnivec.serve.app`) decode requests and await these methods; nothing here
knows about HTTP except :class:`~omnivec.serve.uploads.BadRequest` for a client's mistake.

Batch keys say what may run together: ``("embed", modality, task)``, ``("predict", task)`` and
``("generate", task, decoding)`` -- the same operation on the same modality (and, for generation, the same
decoding options), so one collate and one forward serve them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from omnivec.errors import OmnivecError
from omnivec.serve.batching import Batcher
from omnivec.serve.memory import DecodeGate, trim
from omnivec.serve.uploads import BadRequest, Decoded


@dataclass
class ServeConfig:
    """How ``omnivec serve`` runs a model."""

    index: str | None = None
    """An index from ``omnivec index`` for /search (None: /search answers 404)."""
    device: str = "auto"
    """auto: CUDA when present, else the CPU."""
    max_batch: int = 32
    """Requests run together in one forward pass (1: every request alone)."""
    max_wait_ms: float = 5.0
    """How long the first request of a batch waits for others to join."""
    max_upload_mb: float = 25.0
    """Request bodies above this are refused with 413 before they are read."""
    max_k: int = 100
    """The most neighbours /search returns."""
    max_text_kb: float = 256.0
    """A text input (field or .txt upload) above this many KiB of UTF-8 is refused with 413: the model reads
    its first ``max_length`` tokens, and tokenizing megabytes stalled every other request."""
    header_timeout_s: float = 10.0
    """A connection whose request head is not complete this long after it opened (or after the request's first
    byte) is closed."""
    body_timeout_s: float = 60.0
    """A request body not fully received this long after its headers is refused with 408."""
    keep_alive_s: int = 5
    """An idle keep-alive connection is closed after this many seconds."""
    max_connections: int = 128
    """Requests beyond this many open connections (or running requests) get 503 until some finish."""
    max_decodes: int = 2
    """Uploads decoded at the same time; more wait their turn. Each decode may take up to its reader limit
    (a 2^25-pixel image: ~128 MiB, plus the decoder's own buffers), so this bounds the server's memory."""
    beam: int = 1
    """UnIVAL generation: the beam size of a request that names none (its ``beam`` field, up to ``max_beam``)."""
    max_beam: int = 8
    """The widest beam a request may ask for (a beam of k costs about k times a greedy answer)."""
    no_repeat_ngram: int = 3
    """UnIVAL generation: no phrase of this many tokens twice in an answer (0: off), unless the request says."""
    length_penalty: float = 1.0
    """UnIVAL beam search: score / length ** this, unless the request says."""
    max_len: int = 0
    """UnIVAL generation: the longest answer in tokens (0: the task's), unless the request says."""

    def decoding(self, fields: Any = None) -> Any:
        """A request's :class:`~omnivec.tasks.seq2seq.Decoding`: its fields ``max_len``, ``beam`` (up to
        ``max_beam``), ``no_repeat_ngram``, ``length_penalty`` (a :class:`~omnivec.serve.uploads.Payload`), else
        these defaults."""
        from omnivec.tasks.seq2seq import Decoding

        if fields is None:
            return Decoding(self.max_len, self.beam, self.no_repeat_ngram, self.length_penalty)
        return Decoding(
            fields.int_field("max_len", self.max_len, 0, 1024),
            fields.int_field("beam", self.beam, 1, max(self.max_beam, self.beam)),
            fields.int_field("no_repeat_ngram", self.no_repeat_ngram, 0, 64),
            fields.float_field("length_penalty", self.length_penalty, -10.0, 10.0),
        )


GENERIC_RUN_NAMES = {"run", "best", "omnivec", "unival", "model", "out"}


def run_label(run_dir: Path) -> str:
    """How the page names the run: its folder's name, with its parent's when the name alone says nothing
    (the quickstart's ``runs/quickstart/run`` is ``quickstart/run``, a kept best step ``b77/best``)."""
    run_dir = Path(run_dir).resolve()
    if run_dir.name in GENERIC_RUN_NAMES and run_dir.parent.name:
        return f"{run_dir.parent.name}/{run_dir.name}"
    return run_dir.name


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x


class Service:
    """A run folder ready to answer: embed, predict, generate, search."""

    def __init__(self, run: str | Path, cfg: ServeConfig) -> None:
        from omnivec.api.load import load
        from omnivec.api.search import Index
        from omnivec.families.registry import family

        self.cfg = cfg
        self.run_dir = Path(run)
        self.model: Any = load(run, cfg.device)
        self.family = family(self.model.family)
        self.device = str(next(self.model.parameters()).device)
        self.index = Index.open(cfg.index) if cfg.index else None
        if self.index is not None and self.index.emb.task is not None:
            self.index.check_query_modality(self.model, self.index.emb.modality)  # the index is this run's
        self.batcher = Batcher(self._trimmed_batch, cfg.max_batch, cfg.max_wait_ms)
        self.decode_gate = DecodeGate(cfg.max_decodes)

    # ------------------------------------------------------------------ what the run offers

    @property
    def modalities(self) -> list[str]:
        return list(self.model.encoders.keys())

    def tasks(self) -> list[dict[str, Any]]:
        """Every task of the run: for OmniVec its heads, for UnIVAL the seq2seq tasks it can be asked."""
        return self.family.serve_tasks(self.model)

    def info(self) -> dict[str, Any]:
        from omnivec.serve.uploads import _extensions

        index = None
        if self.index is not None:
            e = self.index.emb
            index = {
                "size": len(e.ids),
                "modality": e.modality,
                "space": e.space,
                "labels": sorted(set(e.labels) - {""}),
                "thumbnails": e.thumbnails is not None,
                "query_modalities": self.query_modalities(),
            }
        return {
            "run": run_label(self.run_dir),
            "family": self.family.name,
            "device": self.device,
            "modalities": {m: sorted(_extensions(m)) for m in self.modalities},
            "tasks": self.tasks(),
            "index": index,
            "batching": {"max_batch": self.cfg.max_batch, "max_wait_ms": self.cfg.max_wait_ms}
            | self.batcher.stats.as_dict(),
            "limits": {
                "max_upload_mb": self.cfg.max_upload_mb,
                "max_k": self.cfg.max_k,
                "max_text_kb": self.cfg.max_text_kb,
                "header_timeout_s": self.cfg.header_timeout_s,
                "body_timeout_s": self.cfg.body_timeout_s,
                "keep_alive_s": self.cfg.keep_alive_s,
                "max_connections": self.cfg.max_connections,
            }
            | self.decode_gate.as_dict(),
        }

    def query_modalities(self) -> list[str]:
        if self.index is None:
            return []
        task = self.index.emb.task
        if task is None:
            return [self.index.emb.modality]
        t = self.model.task(task)
        return [t.modality, t.pair_modality]

    def read_options(self, modality: str) -> dict[str, Any]:
        return dict(self.model.read_options(modality))

    # ------------------------------------------------------------------ the batched model calls

    def _trimmed_batch(self, key: Hashable, items: list[Any]) -> list[Any]:
        """A batch, then the C heap trimmed: a batch's activations are freed into glibc's heap, not the OS's."""
        try:
            return self._run_batch(key, items)
        finally:
            trim()

    def _run_batch(self, key: Hashable, items: list[Any]) -> list[Any]:
        from omnivec.api.embed import embed_samples

        parts: tuple[Any, ...] = tuple(key)  # type: ignore[arg-type]
        op, rest = parts[0], parts[1:]
        if op == "embed":
            modality, task = rest
            return list(embed_samples(self.model, modality, items, task).float().cpu().numpy())
        if op == "predict":  # items: (sample, its size as uploaded): dense predictions come back at that size
            samples, sizes = zip(*items, strict=True)
            return [_jsonable(y) for y in self.model.predict(rest[0], list(samples), list(sizes))]
        if op == "generate":
            task, d = rest
            return self.model.generate(task, items, d.beam, d.max_len, d.no_repeat_ngram, d.length_penalty)
        raise ValueError(f"unknown batch operation {op!r}")

    async def _call(self, key: Hashable, item: Any) -> Any:
        try:
            return await asyncio.wrap_future(self.batcher.submit(key, item))
        except OmnivecError as e:  # the model refused the input (shape, length, vocabulary): the client's
            raise BadRequest(str(e)) from None

    async def embed(self, x: Decoded, task: str | None) -> list[float]:
        if task is not None:
            if self.family.generates:
                raise BadRequest("a UnIVAL run has no retrieval task to project through; omit 'task'")
            self.retrieval_task(task, x.modality)
        v = await self._call(("embed", x.modality, task), x.sample)
        return [float(f) for f in v]

    def retrieval_task(self, task: str, modality: str) -> None:
        try:
            self.model.retrieval_head(task, modality)
        except OmnivecError as e:
            raise BadRequest(str(e), 404 if task not in self.model.tasks else 400) from None

    def omnivec_task(self, task: str) -> Any:
        if task not in self.model.tasks:
            raise BadRequest(f"unknown task {task!r}; this run has: {', '.join(self.model.tasks) or '(none)'}", 404)
        return self.model.tasks[task]

    async def predict(self, task: str, x: Decoded) -> Any:
        cfg = self.omnivec_task(task)
        if x.modality != cfg.modality:
            raise BadRequest(f"task {task!r} takes {cfg.modality} input, not {x.modality}")
        return await self._call(("predict", task), (x.sample, (x.height, x.width) if x.height else None))

    def seq2seq_task(self, task: str, modality: str) -> Any:
        from omnivec.families.unival.generate import resolve_task
        from omnivec.families.unival.tasks import get_seq2seq_task

        if not self.family.generates:
            raise BadRequest(f"generation needs a UnIVAL run (an encoder-decoder); {self.run_dir.name} is OmniVec")
        try:
            spec = get_seq2seq_task(resolve_task(task, modality, self.model.run_config.tasks))
        except OmnivecError as e:
            raise BadRequest(str(e), 404) from None
        if (spec.modality or "text") != modality:
            raise BadRequest(f"task {spec.name!r} takes {spec.modality or 'text'} input, not {modality}")
        return spec

    async def generate(self, task: str, x: Decoded, text: str | None, decoding: Any = None) -> dict[str, Any]:
        """Generated text under ``decoding`` (None: the server's defaults); for grounding also ``box``
        ``[x0, y0, x1, y1]`` in pixels of the uploaded image."""
        from omnivec.tasks.locations import Grounding
        from omnivec.tasks.seq2seq import seq2seq_kind

        spec = self.seq2seq_task(task, x.modality)
        asks = seq2seq_kind(spec.kind).input_text
        item: Any = x.sample
        if asks:
            if not text or not text.strip():
                raise BadRequest(f"task {spec.name} needs a 'text' field: the {asks}")
            item = (x.sample, text)
        out = await self._call(("generate", spec.name, decoding or self.cfg.decoding()), item)
        rec: dict[str, Any] = {"task": spec.name, "kind": spec.kind, "output": out}
        if isinstance(out, Grounding):
            rec["output"] = out.text
            rec["box"] = self._box_in_upload(out.box, x) if out.box is not None else None
        return rec

    @staticmethod
    def _box_in_upload(box: tuple[float, ...], x: Decoded) -> list[float]:
        """The model gives the box in pixels of the image it saw (resized to the run's size); scale it to the
        upload's own pixels."""
        h, w = torch.as_tensor(x.sample).shape[-2:]
        sx, sy = (x.width / int(w), x.height / int(h)) if x.width else (1.0, 1.0)
        return [round(box[0] * sx, 2), round(box[1] * sy, 2), round(box[2] * sx, 2), round(box[3] * sy, 2)]

    async def search(self, x: Decoded, k: int) -> list[dict[str, Any]]:
        if self.index is None:
            raise BadRequest("this server has no index: start it with `omnivec serve RUN --index INDEX`", 404)
        if x.modality not in self.query_modalities():
            raise BadRequest(
                f"the index holds {self.index.emb.modality} in space {self.index.emb.space}; a {x.modality} query "
                f"is not comparable (query with: {', '.join(self.query_modalities())})"
            )
        v = await self._call(("embed", x.modality, self.index.emb.task), x.sample)
        hits = self.index.neighbours(v, k)[0]
        for h in hits:
            h["thumbnail"] = f"/index/thumbnail/{h['row']}" if self.index.emb.thumbnails is not None else None
        return hits

    def thumbnail_png(self, row: int) -> bytes:
        """Row ``row``'s thumbnail as PNG, from the index file itself (no path is opened)."""
        import io

        from PIL import Image

        if self.index is None or self.index.emb.thumbnails is None:
            raise BadRequest("this server's index has no thumbnails", 404)
        thumbs = self.index.emb.thumbnails
        if not 0 <= row < len(thumbs):
            raise BadRequest(f"row {row} is outside the index (0..{len(thumbs) - 1})", 404)
        buf = io.BytesIO()
        Image.fromarray(thumbs[row]).save(buf, format="PNG")
        return buf.getvalue()
